"""The Analyzer: language -> sentences -> sentiment -> aspects -> PII -> explanation, on batches.

Components are built from settings through the registry (``sentiment.encoder.v1`` and so on). If
the default sentiment model cannot load, the analyzer falls back to the lexicon backend, logs a
warning and says so in every result's ``warnings``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from opinara.analysis import registry
from opinara.analysis.aspects.base import AspectExtractor
from opinara.analysis.pii import mask_pii, redact
from opinara.analysis.schema import AnalysisResult, ExplanationItem, Language, ModelInfo, Notice, SentenceResult
from opinara.analysis.sentiment.base import Prediction, SentimentBackend, to_sentiment
from opinara.analysis.text import split_sentences
from opinara.config import Settings
from opinara.errors import InputError, ModelLoadError

log = logging.getLogger(__name__)
# A language guess this sure is trusted enough to refuse a text the backend cannot read.
UNSUPPORTED_LANGUAGE_CONFIDENCE = 0.5


@dataclass(frozen=True)
class AnalyzeOptions:
    """Per-call options; None means the analyzer's setting."""

    aspects: bool | None = None
    redact_pii: bool | None = None
    language: str | None = None  # a hint that replaces detection


class Analyzer:
    """Text in, :class:`AnalysisResult` out. Build once, call many times; not thread-safe while loading."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.notices: list[Notice] = []
        self.component = ""
        self.backend = self._build_backend()
        self.language = registry.create("language.lingua.v1", self.settings)
        self._aspects: AspectExtractor | None = None
        self._pii: Any = None

    def _build_backend(self) -> SentimentBackend:
        self.component = f"sentiment.{'vader' if self.settings.backend == 'lexicon' else self.settings.backend}.v1"
        try:
            return registry.create(self.component, self.settings)
        except ModelLoadError as exc:
            if self.settings.backend != "encoder" or self.settings.model:
                raise
            message = f"the default encoder model could not load ({exc.message}); using the lexicon backend"
            log.warning(message)
            self.notices.append(Notice(code="backend_fallback", message=message))
            self.component = "sentiment.vader.v1"
            return registry.create(self.component, self.settings)

    @property
    def model_info(self) -> ModelInfo:
        """The sentiment model and the component that runs it."""
        return self.backend.info.model_copy(update={"component": self.component})

    @property
    def aspects(self) -> AspectExtractor:
        if self._aspects is None:
            name = f"aspects.{self.settings.aspect_extractor}.v1"
            try:
                self._aspects = registry.create(name, self.settings, backend=self.backend)
            except ModelLoadError as exc:
                message = f"the aspect tagger could not load ({exc.message}); using rule-based aspects"
                log.warning(message)
                self.notices.append(Notice(code="aspects_fallback", message=message))
                self._aspects = registry.create("aspects.rules.v1", self.settings)
        return self._aspects

    @property
    def pii(self) -> Any:
        if self._pii is None:
            self._pii = registry.create("pii.presidio.v1", self.settings)
        return self._pii

    def redact(self, texts: list[str]) -> list[str]:
        """``texts`` with every PII entity replaced by ``<TYPE>``: what is stored when redaction is on."""
        return [redact(text, found) for text, found in zip(texts, self.pii(texts), strict=True)]

    def analyze(self, texts: list[str], options: AnalyzeOptions | None = None) -> list[AnalysisResult]:
        """Analyze a batch; results come back in input order.

        With redaction on, no string of a result repeats PII: an aspect term, opinion or explanation
        word that overlaps an entity is replaced by the entity's ``<TYPE>``, so a result can be cached
        and stored without the raw text."""
        options = options or AnalyzeOptions()
        for index, text in enumerate(texts):
            if len(text) > self.settings.max_text_chars:
                raise InputError(
                    f"text {index} has {len(text)} characters; the limit is {self.settings.max_text_chars}"
                )
        want_aspects = self.settings.aspects if options.aspects is None else options.aspects
        want_redaction = self.settings.redact_pii if options.redact_pii is None else options.redact_pii
        want_pii = want_redaction or self.settings.pii

        languages = (
            [Language(code=options.language.lower(), confidence=1.0)] * len(texts)
            if options.language
            else self.language(texts)
        )
        sentences = [split_sentences(text) for text in texts]
        warnings: list[list[Notice]] = [list(self.notices) for _ in texts]
        supported = []
        for index, (text, language) in enumerate(zip(texts, languages, strict=True)):
            if not text.strip():
                warnings[index].append(Notice(code="empty_text", message="the text is empty"))
            elif self._unsupported(language):
                warnings[index].append(
                    Notice(
                        code="unsupported_language",
                        message=f"the {self.backend.info.backend} backend does not support language {language.code!r}",
                    )
                )
            else:
                supported.append(index)

        predictions: dict[int, Prediction] = {}
        if supported:
            batch = self.backend.predict([texts[i] for i in supported], [sentences[i] for i in supported])
            predictions = dict(zip(supported, batch, strict=True))
        aspects: dict[int, list] = {}
        if want_aspects and supported:
            tokens = [predictions[i].tokens for i in supported]
            found = self.aspects(
                [texts[i] for i in supported],
                [sentences[i] for i in supported],
                tokens if all(t is not None for t in tokens) else None,
            )
            aspects = dict(zip(supported, found, strict=True))
        pii = self.pii(texts) if want_pii else [[] for _ in texts]

        model = self.model_info.model_copy(update={"aspects": self.aspects.name if want_aspects else None})
        results = []
        for index, text in enumerate(texts):
            prediction = predictions.get(index)
            result = AnalysisResult(
                text_length=len(text),
                language=languages[index],
                sentiment=self._sentiment(prediction, aspects.get(index, [])),
                sentences=self._sentences(sentences[index], prediction),
                aspects=aspects.get(index, []),
                pii=pii[index],
                redacted_text=redact(text, pii[index]) if want_redaction else None,
                explanation=self._explanation(text, prediction),
                model=model,
                warnings=warnings[index],
            )
            results.append(mask_pii(result, text) if want_redaction and pii[index] else result)
        return results

    def analyze_stream(self, texts: Iterable[str], options: AnalyzeOptions | None = None) -> Iterator[AnalysisResult]:
        """Analyze an iterable lazily, ``batch_size`` texts at a time; memory stays flat."""
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) >= self.settings.batch_size:
                yield from self.analyze(batch, options)
                batch = []
        if batch:
            yield from self.analyze(batch, options)

    def _unsupported(self, language: Language) -> bool:
        supported = self.backend.languages
        return bool(
            supported is not None
            and language.code is not None
            and language.code not in supported
            and language.confidence >= UNSUPPORTED_LANGUAGE_CONFIDENCE
        )

    @staticmethod
    def _sentiment(prediction: Prediction | None, aspects: list) -> Any:
        if prediction is None:
            return None
        parts = list(prediction.sentence_probs)
        parts.extend(
            [[a.sentiment.scores.negative, a.sentiment.scores.neutral, a.sentiment.scores.positive] for a in aspects]
        )
        return to_sentiment(prediction.probs, parts)

    @staticmethod
    def _sentences(spans: list[tuple[int, int]], prediction: Prediction | None) -> list[SentenceResult]:
        if prediction is None:
            return [SentenceResult(start=s, end=e, sentiment=None) for s, e in spans]
        return [
            SentenceResult(start=s, end=e, sentiment=to_sentiment(p))
            for (s, e), p in zip(spans, prediction.sentence_probs, strict=True)
        ]

    def _explanation(self, text: str, prediction: Prediction | None) -> list[ExplanationItem]:
        if prediction is None:
            return []
        ranked = sorted(prediction.word_weights, key=lambda w: -abs(w[2]))[: self.settings.explanation_size]
        return [ExplanationItem(text=text[s:e], start=s, end=e, weight=w) for s, e, w in ranked if w]
