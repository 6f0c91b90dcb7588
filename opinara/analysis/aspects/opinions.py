"""Opinion words for aspects, and a rule-based aspect polarity, without a parser.

An aspect's opinion words are sentiment-bearing words (VADER's lexicon plus product vocabulary) in
its clause, the clause being its sentence cut at contrast words ("but", "although") and semicolons.
Each opinion word goes to the nearest aspect in its clause. A negator up to three words before an
opinion word ("not", "never", "n't") joins the opinion and flips its valence.
"""

from __future__ import annotations

import functools
import math
import re

from opinara.analysis.schema import Span
from opinara.analysis.text import words

CONTRAST = frozenset(
    ["but", "however", "although", "though", "yet", "whereas", "while", "except", "unfortunately", "sadly"]
)
NEGATORS = frozenset(
    ["not", "no", "never", "none", "nothing", "hardly", "barely", "neither", "nor", "without", "cannot"]
)
# Product vocabulary VADER's lexicon lacks or scores for other senses (valence on VADER's -4..4 scale).
PRODUCT_LEXICON = {
    "dim": -1.5,
    "slow": -1.5,
    "laggy": -2.0,
    "flimsy": -2.0,
    "sturdy": 1.8,
    "overpriced": -2.0,
    "cheap": -0.8,
    "blurry": -1.8,
    "crisp": 1.8,
    "bright": 1.2,
    "loud": -0.5,
    "quiet": 0.8,
    "heavy": -0.8,
    "lightweight": 1.2,
    "responsive": 1.8,
    "unresponsive": -2.0,
    "durable": 1.8,
    "flawless": 2.5,
    "sluggish": -1.8,
    "noisy": -1.5,
    "tasty": 2.0,
    "delicious": 2.6,
    "bland": -1.5,
    "stale": -1.8,
    "soggy": -1.8,
    "overcooked": -1.8,
    "rude": -2.0,
    "attentive": 1.8,
    "friendly": 2.0,
    "fast": 1.2,
    "quick": 1.0,
    "small": -0.3,
    "tiny": -0.5,
    "broke": -2.0,
    "broken": -2.0,
    "cracked": -1.8,
    "defective": -2.3,
    "leaks": -1.8,
    "leaked": -1.8,
    "smooth": 1.2,
    "soft": 0.8,
    "comfortable": 1.8,
    "uncomfortable": -1.8,
    "itchy": -1.5,
    "greasy": -1.5,
    "sticky": -1.2,
    "fragrant": 1.2,
    "smells": -0.5,
    "stinks": -2.0,
    "worked": 0.8,
    "works": 0.8,
    "lasts": 1.0,
    "died": -2.0,
    "dies": -1.8,
    "crashes": -2.0,
    "overheats": -2.0,
    "pricey": -1.2,
    "affordable": 1.5,
    "reasonable": 1.0,
    "expensive": -1.2,
}
_STOP_OPINIONS = frozenset(
    ["yes", "no", "like", "please", "want", "ok", "okay", "well", "kind", "pretty", "support", "supports"]
)
MIN_VALENCE = 0.5
NEGATION_WINDOW = 3


@functools.lru_cache(maxsize=1)
def opinion_lexicon() -> dict[str, float]:
    """VADER's word valences (``|valence| >= 0.5``) overlaid with the product vocabulary."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    lexicon = {w: v for w, v in SentimentIntensityAnalyzer().lexicon.items() if abs(v) >= MIN_VALENCE and w.isalpha()}
    for word in _STOP_OPINIONS:
        lexicon.pop(word, None)
    lexicon.update(PRODUCT_LEXICON)
    return lexicon


def _clauses(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` at contrast words and semicolons."""
    cuts = {start}
    cuts.update(ws for ws, we in words(text, start, end) if text[ws:we].lower() in CONTRAST)
    cuts.update(start + m.start() for m in re.finditer(";", text[start:end]))
    ordered = sorted(cuts)
    return list(zip(ordered, [*ordered[1:], end], strict=True))


def link_opinions(
    text: str, aspects: list[tuple[int, int]], sentences: list[tuple[int, int]], max_opinions: int = 2
) -> list[list[tuple[Span, float]]]:
    """For each aspect span, its opinion spans with their valence (negation applied), nearest first."""
    lexicon = opinion_lexicon()
    result: list[list[tuple[Span, float]]] = [[] for _ in aspects]
    for s_start, s_end in sentences:
        inside = [i for i, (a, b) in enumerate(aspects) if a >= s_start and b <= s_end]
        if not inside:
            continue
        for c_start, c_end in _clauses(text, s_start, s_end):
            members = [i for i in inside if c_start <= aspects[i][0] < c_end]
            if not members:
                continue
            tokens = words(text, c_start, c_end)
            lowered = [text[a:b].lower().replace("’", "'") for a, b in tokens]
            for index, (w_start, w_end) in enumerate(tokens):
                valence = lexicon.get(lowered[index])
                if valence is None or any(a <= w_start < b for a, b in aspects):
                    continue
                nearest = min(members, key=lambda i: _distance(aspects[i], (w_start, w_end)))
                op_start = w_start
                for back in range(max(0, index - NEGATION_WINDOW), index):
                    if lowered[back] in NEGATORS or lowered[back].endswith("n't"):
                        op_start, valence = tokens[back][0], -valence * 0.75
                        break
                result[nearest].append((Span(text=text[op_start:w_end], start=op_start, end=w_end), valence))
    for i, found in enumerate(result):
        found.sort(key=lambda item: _distance(aspects[i], (item[0].start, item[0].end)))
        del found[max_opinions:]
    return result


def _distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, b[0] - a[1], a[0] - b[1])


def rule_polarity(valences: list[float]) -> float:
    """A compound score in [-1, 1] from opinion valences, normalized as VADER does."""
    total = sum(valences)
    return total / math.sqrt(total * total + 15.0) if total else 0.0
