"""Overview: volume and sentiment over time, products ranked, aspects that moved most."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from opinara.dashboard import charts
from opinara.dashboard.common import api_errors, client, cut_notice, excluded_text, no_data, total_excluded

st.title("Overview")
api = client()
with api_errors():
    by = st.segmented_control("Period", ["day", "week", "month"], default="month", key="overview_by") or "month"
    overview = api.overview(by)
    products = api.products()
if not overview.periods:
    no_data()
    st.stop()

stored = sum(p.reviews for p in products)
counted = sum(p.counted_reviews for p in products)
mentions = sum(p.mentions for p in overview.periods)
positive = sum(p.positive for p in overview.periods)
negative = sum(p.negative for p in overview.periods)
first, second, third, fourth = st.columns(4)
first.metric("Reviews", f"{stored:,}", help="Every stored review")
second.metric("Counted reviews", f"{counted:,}", help="Reviews counted in the sentiment and aspect figures")
third.metric("Products", f"{len(products):,}")
fourth.metric("Net sentiment", f"{(positive - negative) / mentions:+.2f}" if mentions else "—")
excluded = total_excluded(products)
if excluded:
    st.caption(f"Left out of the figures (a review may have two reasons): {excluded_text(excluded)}.")
cut_notice(products)
st.plotly_chart(charts.volume_and_mix(overview.periods), key="volume")
st.plotly_chart(charts.products_ranked(products), key="ranked")

st.subheader("Aspects that improved or declined")
last, first_day = overview.dates.last, overview.dates.first
if last is None or first_day is None:
    st.stop()
chosen = st.date_input("Period", (max(first_day, last - timedelta(days=60)), last), key="changes_period")
if isinstance(chosen, tuple) and len(chosen) == 2 and all(isinstance(d, date) for d in chosen):
    with api_errors():
        moved = api.aspect_changes(chosen[0].isoformat(), chosen[1].isoformat())
    st.caption(f"Compared with {moved.previous.start} to {moved.previous.end}.")
    improved, declined = st.columns(2)
    for column, entries, name, title in (
        (improved, moved.improved, "improved", "Improved most"),
        (declined, moved.declined, "declined", "Declined most"),
    ):
        with column:
            if entries:
                st.plotly_chart(charts.changes(entries, title), key=f"changes_{name}")
            else:
                st.info(f"No aspect {name} between the two periods (aspects need mentions in both).")
else:
    st.caption("Choose a start and an end date.")
