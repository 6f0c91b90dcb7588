"""``aspects.rules.v1``: opinion targets from spaCy's parse and YAKE, with no trained model.

Candidates are noun chunks (determiners and pronouns dropped) and nouns that YAKE ranks as key
phrases; a candidate is kept when an opinion word is linked to it, through the parse (an adjective
modifying it, or the complement of a copula whose subject it is) or in its clause.
"""

from __future__ import annotations

from typing import Any

from opinara.analysis.aspects.base import build_aspects
from opinara.analysis.aspects.opinions import link_opinions, opinion_lexicon
from opinara.analysis.schema import Aspect
from opinara.analysis.spacy_model import load_english

Spans = list[tuple[int, int]]
_SKIP_POS = frozenset({"DET", "PRON", "PUNCT", "NUM", "ADJ", "ADV", "CCONJ", "PART", "AUX"})
_GENERIC = frozenset(
    [
        "thing",
        "things",
        "product",
        "item",
        "one",
        "it",
        "everything",
        "anything",
        "something",
        "lot",
        "bit",
        "time",
        "way",
    ]
)


class RulesExtractor:
    name = "aspects.rules.v1"

    def __init__(self) -> None:
        self.nlp = load_english(disable=("ner", "lemmatizer"))
        import yake

        self.yake = yake.KeywordExtractor(lan="en", n=2, top=5, dedupLim=0.9)

    def candidates(self, doc: Any, text: str) -> list[tuple[int, int]]:
        spans: dict[tuple[int, int], None] = {}
        for chunk in doc.noun_chunks:
            tokens = [t for t in chunk if t.pos_ not in _SKIP_POS]
            while tokens and tokens[0].pos_ not in ("NOUN", "PROPN"):
                tokens = tokens[1:]
            if tokens and tokens[-1].pos_ in ("NOUN", "PROPN") and tokens[-1].lower_ not in _GENERIC:
                spans[(tokens[0].idx, tokens[-1].idx + len(tokens[-1]))] = None
        lowered = text.lower()
        for phrase, _score in self.yake.extract_keywords(text) if len(text) > 20 else []:
            start = lowered.find(phrase.lower())
            if start >= 0:
                tokens = [t for t in doc if start <= t.idx < start + len(phrase)]
                if tokens and all(t.pos_ in ("NOUN", "PROPN") for t in tokens):
                    spans[(start, start + len(phrase))] = None
        # Keep the longest of overlapping candidates.
        kept: list[tuple[int, int]] = []
        for start, end in sorted(spans, key=lambda s: s[0] - s[1]):
            if all(end <= a or start >= b for a, b in kept):
                kept.append((start, end))
        return sorted(kept)

    def _parse_linked(self, doc: Any, span: tuple[int, int]) -> bool:
        lexicon = opinion_lexicon()
        for token in doc:
            if not (span[0] <= token.idx < span[1]) or token.pos_ not in ("NOUN", "PROPN"):
                continue
            if any(child.dep_ == "amod" and child.lower_ in lexicon for child in token.children):
                return True
            head = token.head
            if token.dep_ == "nsubj" and any(
                c.dep_ in ("acomp", "attr") and c.lower_ in lexicon for c in head.children
            ):
                return True
        return False

    def __call__(self, texts: list[str], sentences: list[Spans], tokens: list[Any] | None = None) -> list[list[Aspect]]:
        spans = []
        for text, doc, sents in zip(texts, self.nlp.pipe(texts, batch_size=64), sentences, strict=True):
            candidates = self.candidates(doc, text)
            linked = link_opinions(text, candidates, sents)
            spans.append(
                [span for span, ops in zip(candidates, linked, strict=True) if ops or self._parse_linked(doc, span)]
            )
        return self.classify(texts, sentences, spans)

    def classify(
        self, texts: list[str], sentences: list[Spans], spans: list[Spans], tokens: list[Any] | None = None
    ) -> list[list[Aspect]]:
        """Aspects for given spans, polarity from their opinion words."""
        return [
            build_aspects(text, doc_spans, sents)
            for text, doc_spans, sents in zip(texts, spans, sentences, strict=True)
        ]
