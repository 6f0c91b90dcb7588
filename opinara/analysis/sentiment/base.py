"""The one interface every sentiment backend implements, and the label rules they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from opinara.analysis.schema import ModelInfo, Scores, Sentiment

NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2
LABELS = ("negative", "neutral", "positive")
# A text is "mixed" when it holds confident positive and confident negative parts and no side dominates.
MIXED_PART_CONFIDENCE = 0.6
MIXED_DOC_CEILING = 0.85


@dataclass
class Prediction:
    """A backend's output for one text: class probabilities (negative, neutral, positive), per-sentence
    probabilities, and word weights (start, end, weight) for the explanation."""

    probs: np.ndarray
    sentence_probs: list[np.ndarray] = field(default_factory=list)
    word_weights: list[tuple[int, int, float]] = field(default_factory=list)
    tokens: Any = None  # the encoder pass (DocTokens), when the backend made one that aspects can reuse


class SentimentBackend(Protocol):
    """``predict(texts, sentences) -> predictions``, one per text, in order."""

    info: ModelInfo
    languages: frozenset[str] | None  # None: any language

    def predict(self, texts: list[str], sentences: list[list[tuple[int, int]]]) -> list[Prediction]: ...


Probs = np.ndarray | list[float]


def to_scores(probs: Probs) -> Scores:
    """Probabilities as Scores, rounded so that they still sum to exactly 1."""
    neg, neu = round(float(probs[NEGATIVE]), 4), round(float(probs[NEUTRAL]), 4)
    return Scores(negative=neg, neutral=neu, positive=round(1.0 - neg - neu, 4))


def polarity_label(probs: Probs) -> str:
    values = [float(p) for p in probs]  # plain floats: numpy is slow on three numbers
    return LABELS[values.index(max(values))]


def to_sentiment(probs: Probs, parts: list[Probs] | None = None) -> Sentiment:
    """The document label: the most probable class, or ``mixed`` when confident parts disagree."""
    label = polarity_label(probs)
    confidence = max(float(p) for p in probs)
    if parts and confidence < MIXED_DOC_CEILING:
        has_pos = any(p[POSITIVE] >= MIXED_PART_CONFIDENCE for p in parts)
        has_neg = any(p[NEGATIVE] >= MIXED_PART_CONFIDENCE for p in parts)
        if has_pos and has_neg:
            label, confidence = "mixed", float(probs[POSITIVE] + probs[NEGATIVE])
    return Sentiment(label=label, scores=to_scores(probs), confidence=round(confidence, 4))
