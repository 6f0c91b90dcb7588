"""Review and result text as HTML with aspect terms, opinion words and PII highlighted (text escaped)."""

from __future__ import annotations

import html
import re
import string
from typing import Any

from opinara.insights.models import ReviewAspect

COLORS = {"positive": "#c8ecd0", "negative": "#f8cfcf", "neutral": "#e4e4e4", "mixed": "#fbe7b5"}
PII_COLOR = "#d9d2f5"
OPINION_STYLE = "text-decoration: underline 2px; font-weight: 600"
OPINION_WINDOW = 80  # characters around an aspect searched for its opinion words (stored without offsets)
# Every ASCII punctuation mark as a character reference, which Markdown shows as the character and never
# reads as syntax: a review's "$20 or $30" is no formula, and a mention's ![](https://tracker) no image.
_LITERAL = {ord(c): f"&#{ord(c)};" for c in string.punctuation} | {
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
}


def escape(text: str) -> str:
    """``text`` for ``st.markdown``, with or without HTML: shown as written, nothing in it markup."""
    return text.translate(_LITERAL)


def spans_from_result(result: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    """``(start, end, css, title)`` for an analysis result: aspects, their opinions, PII."""
    spans: list[tuple[int, int, str, str]] = []
    for aspect in result.get("aspects", []):
        label = aspect["sentiment"]["label"]
        spans.append(
            (aspect["start"], aspect["end"], f"background:{COLORS.get(label, '#eee')}", f"{aspect['group']}: {label}")
        )
        spans += [
            (o["start"], o["end"], OPINION_STYLE, f"opinion on {aspect['term']}") for o in aspect.get("opinions", [])
        ]
    spans += [(p["start"], p["end"], f"background:{PII_COLOR}", f"PII: {p['type']}") for p in result.get("pii", [])]
    return spans


def spans_from_review(text: str, aspects: list[ReviewAspect]) -> list[tuple[int, int, str, str]]:
    """Spans for a stored review: aspect offsets are stored; opinion words are found near their aspect."""
    spans: list[tuple[int, int, str, str]] = []
    for aspect in aspects:
        color = COLORS.get(aspect.polarity, "#eee")
        spans.append((aspect.start, aspect.end, f"background:{color}", f"{aspect.group}: {aspect.polarity}"))
        left, right = max(0, aspect.start - OPINION_WINDOW), min(len(text), aspect.end + OPINION_WINDOW)
        for opinion in aspect.opinions:
            match = re.search(rf"\b{re.escape(opinion)}\b", text[left:right], re.IGNORECASE)
            if match:
                spans.append((left + match.start(), left + match.end(), OPINION_STYLE, f"opinion on {aspect.term}"))
    return spans


def highlight(text: str, spans: list[tuple[int, int, str, str]]) -> str:
    """HTML for ``text`` with non-overlapping spans styled (the first of overlapping spans wins)."""
    chosen: list[tuple[int, int, str, str]] = []
    for span in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        start, end = span[0], span[1]
        if 0 <= start < end <= len(text) and all(end <= s or start >= e for s, e, _, _ in chosen):
            chosen.append(span)
    out, position = [], 0
    for start, end, style, title in sorted(chosen):
        out.append(escape(text[position:start]))
        out.append(f'<span style="{style}; border-radius:3px; padding:0 2px" title="{html.escape(title)}">')
        out.append(escape(text[start:end]) + "</span>")
        position = end
    out.append(escape(text[position:]))
    return "".join(out).replace("\n", "<br>")
