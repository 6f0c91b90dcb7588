"""Reviews: filters, search and paging; each review with its analysis and highlighted spans."""

from __future__ import annotations

import streamlit as st

from opinara.dashboard.common import api_errors, client, no_data, product_label, stars
from opinara.dashboard.highlight import escape, highlight, spans_from_review
from opinara.insights.aggregates import AGGREGATE_MIN_QUALITY

PAGE_SIZE = 20
st.title("Reviews")
api = client()
with api_errors():
    products = api.products()

with st.form("review_filters"):
    left, middle, right = st.columns(3)
    choices = {"All products": None, **{product_label(p): p.external_id for p in products}}
    product = choices[left.selectbox("Product", list(choices))]
    sentiment = middle.selectbox("Sentiment", ["any", "positive", "negative", "neutral", "mixed"])
    aspect = right.text_input("Aspect", placeholder="battery")
    search = st.text_input("Search text", placeholder="a word or phrase")
    dates = st.date_input("Dates", (), help="leave empty for all dates")
    st.form_submit_button("Apply")

filters = {
    "product": product,
    "sentiment": None if sentiment == "any" else sentiment,
    "aspect": aspect.strip().lower() or None,
    "q": search.strip() or None,
    "since": dates[0].isoformat() if len(dates) >= 1 else None,
    "until": dates[1].isoformat() if len(dates) == 2 else None,
}
key = repr(sorted(filters.items()))
if st.session_state.get("review_filters_key") != key:  # new filters start at the first page
    st.session_state["review_filters_key"] = key
    st.session_state["review_cursors"] = [None]
cursors: list[int | None] = st.session_state["review_cursors"]

with api_errors():
    page = api.reviews(**filters, cursor=cursors[-1], limit=PAGE_SIZE)
if not page.reviews:
    no_data("No reviews match." if any(filters.values()) else "No reviews yet.")
    st.stop()

st.caption(f"Page {len(cursors)} · newest first")
for review in page.reviews:
    sentiment_label = review.sentiment.label if review.sentiment and review.sentiment.label else "not analyzed"
    with st.container(border=True):
        st.markdown(f"**{stars(review.rating)}** · `{sentiment_label}` · {review.day} · {review.product.external_id}")
        st.markdown(highlight(review.text, spans_from_review(review.text, review.aspects)), unsafe_allow_html=True)
        if review.aspects:
            st.caption(", ".join(f"{escape(a.term)} ({a.polarity})" for a in review.aspects))
        if review.quality_score < AGGREGATE_MIN_QUALITY:
            st.caption(f"left out of the figures: {', '.join(review.quality_flags) or 'low quality'}")

back, forward = st.columns(2)
if back.button("← Newer", disabled=len(cursors) == 1):
    cursors.pop()
    st.rerun()
if forward.button("Older →", disabled=page.next_cursor is None):
    cursors.append(page.next_cursor)
    st.rerun()
