"""PII detection and redaction with Presidio: pattern recognizers always, person names when spaCy is present.

Presidio never reaches the network here: the spaCy model is handed over already loaded (so Presidio
never tries to download one) and tldextract's suffix-list download is switched off.
"""

from __future__ import annotations

import logging

from opinara.analysis.schema import AnalysisResult, PiiEntity

log = logging.getLogger(__name__)

# Presidio's entity names -> Opinara's.
ENTITY_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "PERSON": "PERSON",
}
MIN_SCORE = 0.4


class PiiDetector:
    """``pii.presidio.v1``: finds email, phone, credit card, IBAN, US SSN, IP address and person names."""

    name = "pii.presidio.v1"

    def __init__(self, with_names: bool = True) -> None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine

        from opinara.analysis.spacy_model import english_model_name, load_english

        model_name = english_model_name() if with_names else None
        if model_name:
            engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model_name}])
            engine.nlp = {"en": load_english(disable=("lemmatizer",))}
        else:
            if with_names:
                log.warning("no spaCy English model: PII detection finds patterns only, not person names")
            engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
            engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
        self.entities = [e for e in ENTITY_TYPES if model_name or e != "PERSON"]
        self.engine = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])

    def __call__(self, texts: list[str]) -> list[list[PiiEntity]]:
        out = []
        for text in texts:
            found = self.engine.analyze(text=text, language="en", entities=self.entities, score_threshold=MIN_SCORE)
            out.append(
                _without_overlaps(
                    [
                        PiiEntity(type=ENTITY_TYPES[r.entity_type], start=r.start, end=r.end, score=round(r.score, 3))
                        for r in found
                    ]
                )
            )
        return out


def _without_overlaps(entities: list[PiiEntity]) -> list[PiiEntity]:
    """Keep the higher-scoring (then longer) entity where two overlap; sorted by start."""
    kept: list[PiiEntity] = []
    for entity in sorted(entities, key=lambda e: (-e.score, -(e.end - e.start))):
        if all(entity.end <= k.start or entity.start >= k.end for k in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: e.start)


def redact(text: str, entities: list[PiiEntity]) -> str:
    """Replace each entity with ``<TYPE>``; entities must not overlap."""
    parts, cursor = [], 0
    for entity in sorted(entities, key=lambda e: e.start):
        parts.append(text[cursor : entity.start])
        parts.append(f"<{entity.type}>")
        cursor = entity.end
    parts.append(text[cursor:])
    return "".join(parts)


def _masked(text: str, start: int, end: int, entities: list[PiiEntity]) -> str | None:
    """The span ``text[start:end]`` with the entities it overlaps redacted; None when it overlaps none."""
    inside = [e for e in entities if e.start < end and e.end > start]
    if not inside:
        return None
    clipped = [
        e.model_copy(update={"start": max(e.start, start) - start, "end": min(e.end, end) - start}) for e in inside
    ]
    return redact(text[start:end], clipped)


def mask_pii(result: AnalysisResult, text: str) -> AnalysisResult:
    """``result`` with every string taken from ``text`` (aspect terms, opinions, explanation words) that
    overlaps a PII entity redacted; offsets stay those of ``text``."""
    entities = result.pii

    def fix(item, start: int, end: int):  # type: ignore[no-untyped-def]
        masked = _masked(text, start, end, entities)
        return item if masked is None else item.model_copy(update={"text": masked})

    aspects = []
    for aspect in result.aspects:
        update: dict[str, object] = {"opinions": [fix(o, o.start, o.end) for o in aspect.opinions]}
        term = _masked(text, aspect.start, aspect.end, entities)
        if term is not None:  # the group is the term's canonical form: it would repeat the entity too
            update |= {"term": term, "group": term}
        aspects.append(aspect.model_copy(update=update))
    explanation = [fix(item, item.start, item.end) for item in result.explanation]
    return result.model_copy(update={"aspects": aspects, "explanation": explanation})
