"""What every aspect extractor returns, and how spans become :class:`Aspect` results."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from opinara.analysis.aspects.grouping import group_name
from opinara.analysis.aspects.opinions import link_opinions, rule_polarity
from opinara.analysis.schema import Aspect, AspectSentiment
from opinara.analysis.sentiment.base import polarity_label, to_scores
from opinara.analysis.sentiment.lexicon import compound_to_probs

RULE_NEUTRAL_BAND = 0.05
Spans = list[tuple[int, int]]


class AspectExtractor(Protocol):
    name: str

    def __call__(self, texts: list[str], sentences: list[Spans], tokens: list[Any] | None = None) -> list[list[Aspect]]:
        """Find the aspects of each text (``tokens``: the encoder pass, when one was made)."""

    def classify(
        self, texts: list[str], sentences: list[Spans], spans: list[Spans], tokens: list[Any] | None = None
    ) -> list[list[Aspect]]:
        """Aspects for spans given by the caller (used to score polarity on gold terms)."""


def build_aspects(
    text: str,
    spans: list[tuple[int, int]],
    sentences: list[tuple[int, int]],
    polarity: np.ndarray | None = None,
) -> list[Aspect]:
    """Aspects for ``spans``: opinion words linked by rules; polarity from ``polarity`` rows
    (negative, neutral, positive) when given, else from the opinion words' valences."""
    opinions = link_opinions(text, spans, sentences)
    aspects = []
    for index, ((start, end), linked) in enumerate(zip(spans, opinions, strict=True)):
        if polarity is not None:
            probs = polarity[index]
        else:
            probs = compound_to_probs(rule_polarity([v for _, v in linked]), RULE_NEUTRAL_BAND)
        term = text[start:end]
        aspects.append(
            Aspect(
                term=term,
                group=group_name(term),
                start=start,
                end=end,
                sentiment=AspectSentiment(label=polarity_label(probs), scores=to_scores(probs)),
                opinions=[span for span, _ in linked],
            )
        )
    return aspects
