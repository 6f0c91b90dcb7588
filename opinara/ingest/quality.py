"""Data-quality flags and a score for each review; low-quality reviews stay queryable but are left
out of aggregates (``score < insights.aggregates.AGGREGATE_MIN_QUALITY``)."""

from __future__ import annotations

import re

from opinara.analysis.schema import AnalysisResult

SHORT_WORDS = 3
# A text this long, found word for word under another author, was copied (spam, a template, a bot);
# a short one ("Great gift") is just what many people write.
COPIED_TEXT_WORDS = 12
# Detection is restricted to the configured languages, so a long text they all fit badly is likely another one.
UNSURE_LANGUAGE_MIN_CHARS = 80
UNSURE_LANGUAGE_CONFIDENCE = 0.1
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_REPEATED = re.compile(r"(.)\1{6,}")
_WORD = re.compile(r"\w+")
PENALTIES = {
    "empty": 1.0,
    "short": 0.3,
    "language": 0.6,  # not in a language the analysis supports
    "duplicate_text": 0.6,  # the same author's text again, or a long text copied from another author
    "spam": 0.6,
}


def spam_signals(text: str) -> bool:
    """Links, runs of one character, shouting, or a few words repeated over and over."""
    words = _WORD.findall(text.lower())
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) > 0.8
    repetitive = len(words) >= 12 and len(set(words)) / len(words) < 0.3
    return bool(_URL.search(text) or _REPEATED.search(text) or shouting or repetitive)


def is_duplicate_text(text: str, author: str | None, earlier_authors: set[str | None]) -> bool:
    """Whether ``text`` repeats an earlier review: the same author wrote it before, or it is long and
    another author wrote it word for word. ``earlier_authors``: the authors (None: anonymous) of stored
    reviews with the same text; an anonymous author is nobody's same author."""
    if not earlier_authors:
        return False
    if author is not None and author in earlier_authors:
        return True
    return len(_WORD.findall(text)) >= COPIED_TEXT_WORDS


def quality_flags(text: str, result: AnalysisResult, duplicate_text: bool) -> list[str]:
    """Flags for one review from its text and analysis; ``duplicate_text``: see :func:`is_duplicate_text`."""
    flags = []
    words = _WORD.findall(text)
    if not words:
        flags.append("empty")
    elif len(words) < SHORT_WORDS:
        flags.append("short")
    unsupported = any(w.code == "unsupported_language" for w in result.warnings)
    long_but_unsure = len(text) >= UNSURE_LANGUAGE_MIN_CHARS and result.language.confidence < UNSURE_LANGUAGE_CONFIDENCE
    if words and (unsupported or result.language.code is None or long_but_unsure):
        flags.append("language")
    if duplicate_text:
        flags.append("duplicate_text")
    if spam_signals(text):
        flags.append("spam")
    return flags


def quality_score(flags: list[str]) -> float:
    score = 1.0
    for flag in flags:
        score -= PENALTIES.get(flag, 0.0)
    return round(max(0.0, score), 3)
