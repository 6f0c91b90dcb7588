"""The Streamlit dashboard: what customers think of each product and feature, read through the REST API."""
