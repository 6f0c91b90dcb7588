"""One module per dashboard page; each renders itself when Streamlit runs it (not named pages/: that
folder name would switch on Streamlit's automatic page discovery next to st.navigation)."""
