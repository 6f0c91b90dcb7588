"""``aspects.tagger.v1``: opinion targets tagged by the opinion model's B/I/O head, polarity by its
aspect-polarity head; reuses the sentiment backend's encoder pass when it made one."""

from __future__ import annotations

from typing import Any

from opinara.analysis.aspects.base import build_aspects
from opinara.analysis.opinion_model import DocTokens, OpinionModel
from opinara.analysis.schema import Aspect

Spans = list[tuple[int, int]]


class TaggerExtractor:
    name = "aspects.tagger.v1"

    def __init__(self, model: OpinionModel) -> None:
        self.model = model

    def __call__(self, texts: list[str], sentences: list[Spans], tokens: list[Any] | None = None) -> list[list[Aspect]]:
        docs: list[DocTokens] = tokens if tokens is not None else self.model.encode(texts)
        spans = [_clean(self.model.tag_spans(doc), text) for doc, text in zip(docs, texts, strict=True)]
        return self.classify(texts, sentences, spans, docs)

    def classify(
        self, texts: list[str], sentences: list[Spans], spans: list[Spans], tokens: list[Any] | None = None
    ) -> list[list[Aspect]]:
        """Aspects (polarity, opinions, group) for given spans."""
        docs: list[DocTokens] = tokens if tokens is not None else self.model.encode(texts)
        return [
            build_aspects(text, doc_spans, sents, self.model.aspect_polarity(doc, doc_spans))
            for text, doc, doc_spans, sents in zip(texts, docs, spans, sentences, strict=True)
        ]


def _clean(spans: Spans, text: str) -> Spans:
    """Drop spans with no letter, strip edge punctuation."""
    out = []
    for start, end in spans:
        while start < end and not text[start].isalnum():
            start += 1
        while end > start and not text[end - 1].isalnum():
            end -= 1
        if any(c.isalpha() for c in text[start:end]):
            out.append((start, end))
    return out
