"""Text utilities with character offsets: sentence splitting and words."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(
    r"""(?<=[.!?…])["')\]]*\s+(?=["'(\[]?[A-Z0-9\u00C0-\u024F¿¡])|\n\s*\n|\n(?=\s*[-*•]\s)|(?<=[.!?])\s*\n"""
)
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "approx",
        "inc",
        "ltd",
        "co",
        "no",
        "fig",
        "vol",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_WORD = re.compile(r"[\w][\w'’\-]*", re.UNICODE)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)``, trimmed of surrounding whitespace; never empty for non-blank text."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start : match.start()].rstrip()
        last_word = before.rsplit(None, 1)[-1].rstrip(".").lower() if before.split() else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return [trimmed for s, e in spans if (trimmed := _trim(text, s, e))[0] < trimmed[1]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def words(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Word spans in ``text[start:end]`` (letters, digits, inner apostrophes and hyphens)."""
    end = len(text) if end is None else end
    return [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
