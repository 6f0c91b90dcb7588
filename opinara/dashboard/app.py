"""The dashboard's entry point: ``opinara dashboard`` runs ``streamlit run`` on this file."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "views"

st.set_page_config(page_title="Opinara", page_icon=":material/forum:", layout="wide")
# Every page asks for the dashboard password first, if one is set (common.client).
navigation = st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(PAGES / "product.py", title="Product", icon=":material/inventory_2:"),
        st.Page(PAGES / "reviews.py", title="Reviews", icon=":material/reviews:"),
        st.Page(PAGES / "analyze.py", title="Analyze", icon=":material/search:"),
        st.Page(PAGES / "monitors.py", title="Monitors", icon=":material/travel_explore:"),
        st.Page(PAGES / "insights.py", title="Insights", icon=":material/insights:"),
        st.Page(PAGES / "hosts.py", title="Hosts", icon=":material/dns:"),
        st.Page(PAGES / "alerts.py", title="Alerts", icon=":material/notifications_active:"),
        st.Page(PAGES / "jobs.py", title="Jobs", icon=":material/schedule:"),
        st.Page(PAGES / "system.py", title="System", icon=":material/monitor_heart:"),
    ]
)
navigation.run()
