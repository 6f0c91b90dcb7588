"""Overview: volume and sentiment over time, products ranked, aspects that moved most."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from opinara.dashboard import charts
from opinara.dashboard.common import api_errors, client, no_data

st.title("Overview")
api = client()
with api_errors():
    by = st.segmented_control("Period", ["day", "week", "month"], default="month", key="overview_by") or "month"
    overview = api.overview(by)
    products = api.products()
if not overview["periods"]:
    no_data()
    st.stop()

total = sum(p["mentions"] for p in overview["periods"])
positive = sum(p["positive"] for p in overview["periods"])
negative = sum(p["negative"] for p in overview["periods"])
left, middle, right = st.columns(3)
left.metric("Reviews", f"{total:,}")
middle.metric("Products", len(products))
right.metric("Net sentiment", f"{(positive - negative) / total:+.2f}")
st.plotly_chart(charts.volume_and_mix(overview["periods"]), key="volume")
st.plotly_chart(charts.products_ranked(products), key="ranked")

st.subheader("Aspects that improved or declined")
last = date.fromisoformat(overview["dates"]["last"])
first = date.fromisoformat(overview["dates"]["first"])
chosen = st.date_input("Period", (max(first, last - timedelta(days=60)), last), key="changes_period")
if isinstance(chosen, tuple) and len(chosen) == 2:
    with api_errors():
        moved = api.aspect_changes(chosen[0].isoformat(), chosen[1].isoformat())
    st.caption(f"Compared with {moved['previous']['start']} to {moved['previous']['end']}.")
    improved, declined = st.columns(2)
    for column, name, title in ((improved, "improved", "Improved most"), (declined, "declined", "Declined most")):
        with column:
            if moved[name]:
                st.plotly_chart(charts.changes(moved[name], title), key=f"changes_{name}")
            else:
                st.info(f"No aspect {name} between the two periods (aspects need mentions in both).")
else:
    st.caption("Choose a start and an end date.")
