"""Analyze: paste text; see sentiment, highlighted aspects and PII, and the explanation."""

from __future__ import annotations

import streamlit as st

from opinara.dashboard import charts
from opinara.dashboard.common import api_errors, client
from opinara.dashboard.highlight import highlight, spans_from_result

SAMPLE = "The battery life is great but the screen is dim. Call me at 555-123-4567 if you want it."
st.title("Analyze")
api = client()
text = st.text_area("Text", SAMPLE, height=140)
left, middle, right = st.columns(3)
backend = left.selectbox("Backend", ["server default", "encoder", "lexicon"])
aspects = middle.toggle("Aspects", value=True)
redact = right.toggle("Find and redact PII", value=True)
if not st.button("Analyze", type="primary"):
    st.stop()
if not text.strip():
    st.warning("Paste some text first.")
    st.stop()
with api_errors():
    result = api.analyze(
        text, backend=None if backend == "server default" else backend, aspects=aspects, redact_pii=redact
    )

sentiment = result["sentiment"]
a, b, c = st.columns(3)
a.metric("Sentiment", sentiment["label"] if sentiment else "—")
b.metric("Confidence", f"{sentiment['confidence']:.0%}" if sentiment else "—")
c.metric("Language", f"{result['language']['code'] or '?'} ({result['language']['confidence']:.0%})")
st.markdown(highlight(text, spans_from_result(result)), unsafe_allow_html=True)
st.caption("Aspects are shaded by their sentiment (green, red, grey); opinion words are underlined; PII is purple.")
for notice in result["warnings"]:
    st.warning(notice["message"])
if result["aspects"]:
    st.dataframe(
        [
            {
                "aspect": x["term"],
                "group": x["group"],
                "sentiment": x["sentiment"]["label"],
                "opinions": ", ".join(o["text"] for o in x["opinions"]),
            }
            for x in result["aspects"]
        ],
        hide_index=True,
    )
if result["explanation"]:
    st.plotly_chart(charts.explanation(result["explanation"]), key="explanation")
if result.get("redacted_text"):
    st.text_area("Redacted", result["redacted_text"], disabled=True)
st.caption(f"model: {result['model']['backend']} {result['model']['name']} {result['model']['version']}")
