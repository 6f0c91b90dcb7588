"""``sentiment.vader.v1``: VADER through the ``vaderSentiment`` package, with word-level explanation.

Scores are VADER's own; this module only (a) skips VADER's per-character emoji pass when a text
has no emoji, which is most of the cost on short texts and changes no result, (b) keeps the
per-word valences VADER computes anyway, for the explanation, and (c) maps the compound score to
three probabilities with a neutral band, so that ``positive > negative`` exactly when compound > 0.
"""

from __future__ import annotations

import math
import re

import numpy as np
from vaderSentiment.vaderSentiment import BOOSTER_DICT, SentimentIntensityAnalyzer, SentiText

from opinara.analysis.schema import ModelInfo
from opinara.analysis.sentiment.base import Prediction

VADER_VERSION = "3.3.2"
_TOKEN = re.compile(r"\S+")


class _ExplainingVader(SentimentIntensityAnalyzer):
    """VADER that also returns each token's final valence."""

    def __init__(self) -> None:
        super().__init__()
        self._emoji_chars = frozenset(self.emojis)

    def scores_and_valences(self, text: str) -> tuple[float, list[str], list[float]]:
        if self._emoji_chars.isdisjoint(text):
            text = text.strip()
        else:
            return self._slow_path(text)
        sentitext = SentiText(text)
        tokens = sentitext.words_and_emoticons
        sentiments: list[float] = []
        for i, item in enumerate(tokens):
            lowered = item.lower()
            if lowered in BOOSTER_DICT or (lowered == "kind" and i < len(tokens) - 1 and tokens[i + 1].lower() == "of"):
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
        sentiments = self._but_check(tokens, sentiments)
        compound = self.score_valence(sentiments, text)["compound"]
        return compound, tokens, sentiments

    def _slow_path(self, text: str) -> tuple[float, list[str], list[float]]:
        # Emoji become words first, so the valences no longer line up with the text: no explanation.
        compound = self.polarity_scores(text)["compound"]
        return compound, [], []


def compound_to_probs(compound: float, band: float) -> np.ndarray:
    """Three probabilities from VADER's compound score.

    The neutral share is a Gaussian bump that equals one half at ``|compound| == band`` (so the label
    is neutral inside the band); the rest is split between positive and negative by a logistic of the
    compound, so ``positive > negative`` exactly when ``compound > 0``.
    """
    width = band / math.sqrt(math.log(2.0)) if band > 0 else 1e-9
    neutral = math.exp(-((compound / width) ** 2)) if band > 0 else 0.0
    positive_share = 1.0 / (1.0 + math.exp(-6.0 * compound))
    rest = 1.0 - neutral
    return np.array([rest * (1 - positive_share), neutral, rest * positive_share])


def _token_spans(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Where VADER's tokens (whitespace words, edge punctuation stripped) sit in the text."""
    spans, cursor = [], 0
    for token in tokens:
        start = text.find(token, cursor)
        if start < 0:
            spans.append((-1, -1))
            continue
        spans.append((start, start + len(token)))
        cursor = start + len(token)
    return spans


class LexiconBackend:
    """VADER sentiment with a neutral band (``|compound| < band`` is neutral)."""

    languages = frozenset({"en"})

    def __init__(self, neutral_band: float = 0.05) -> None:
        self.band = neutral_band
        self.vader = _ExplainingVader()
        self.info = ModelInfo(backend="lexicon", name="sentiment.vader.v1", version=VADER_VERSION)

    def predict(self, texts: list[str], sentences: list[list[tuple[int, int]]]) -> list[Prediction]:
        out = []
        for text, spans in zip(texts, sentences, strict=True):
            compound, tokens, valences = self.vader.scores_and_valences(text)
            probs = compound_to_probs(compound, self.band)
            located = _token_spans(text, tokens)
            weights = [(a, b, round(float(v), 4)) for (a, b), v in zip(located, valences, strict=True) if v and a >= 0]
            if len(spans) > 1 and tokens:
                # Each sentence from the valences VADER gave its words in the whole text: one pass, and
                # negation or "but" across a sentence boundary keeps its effect.
                sentence_probs = [
                    compound_to_probs(
                        self.vader.score_valence(
                            [v for (a, _), v in zip(located, valences, strict=True) if s <= a < e], text[s:e]
                        )["compound"],
                        self.band,
                    )
                    for s, e in spans
                ]
            else:
                sentence_probs = [probs] * len(spans)
            out.append(Prediction(probs, sentence_probs, weights))
        return out
