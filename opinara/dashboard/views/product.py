"""Product: rating vs sentiment, aspects, aspect trends, drivers of low ratings, example reviews."""

from __future__ import annotations

import streamlit as st

from opinara.dashboard import charts
from opinara.dashboard.common import api_errors, client, cut_notice, excluded_text, no_data, product_label, stars
from opinara.dashboard.highlight import highlight, spans_from_review

st.title("Product")
api = client()
with api_errors():
    products = api.products()
if not products:
    no_data("No products yet.")
    st.stop()

labels = {product_label(p): p for p in products}
wanted = st.query_params.get("product")
index = next((i for i, p in enumerate(products) if wanted in (p.external_id, *p.variants)), 0)
product = labels[st.selectbox("Product", list(labels), index=index, key="product_choice")]
cut_notice(products)
ref = product.external_id
st.query_params["product"] = ref

a, b, c, d = st.columns(4)
a.metric("Reviews", f"{product.reviews:,}", help="Every stored review of the product")
b.metric("Counted reviews", f"{product.counted_reviews:,}", help="Reviews counted in the figures below")
c.metric("Average rating", "—" if product.average_rating is None else f"{product.average_rating:.2f}")
d.metric("Net sentiment", f"{product.net_sentiment:+.2f}")
if product.excluded:
    st.caption(f"Left out of the figures (a review may have two reasons): {excluded_text(product.excluded)}.")
st.caption(f"Variants ({len(product.variants)}): {', '.join(product.variants)}")

with api_errors():
    trends = api.trends(ref)
    aspects = api.aspects(ref).aspects
    drivers = api.drivers(ref)
st.plotly_chart(charts.rating_vs_sentiment(trends.periods), key="rating_vs_sentiment")
if aspects:
    st.plotly_chart(charts.aspects_diverging(aspects), key="aspects")
    with api_errors():
        series = {x.group: api.trends(ref, aspect=x.group).periods for x in aspects[:5]}
    st.plotly_chart(charts.aspect_trends(series), key="aspect_trends")
else:
    st.info("No aspects found in this product's reviews yet.")

st.subheader("What drives low ratings")
if drivers.drivers:
    st.dataframe(
        [
            {
                "aspect": x.group,
                "negative reviews": x.negative_reviews,
                "avg rating when negative": x.average_rating_when_negative,
                "rating drop": x.rating_drop,
                "share of low ratings": f"{x.share_of_low_ratings:.0%}",
                "impact (stars)": x.impact,
            }
            for x in drivers.drivers
        ],
        hide_index=True,
    )
else:
    st.caption("Not enough rated reviews with complaints to tell.")

st.subheader("Example reviews")
if aspects:
    group = st.selectbox("Aspect", [x.group for x in aspects], key="example_aspect")
    with api_errors():
        examples = api.reviews(product=ref, aspect=group, limit=5).reviews
    for review in examples:
        label = review.sentiment.label if review.sentiment else "—"
        st.markdown(f"**{stars(review.rating)}** · {label} · {review.day}")
        st.markdown(highlight(review.text, spans_from_review(review.text, review.aspects)), unsafe_allow_html=True)
