"""The analysis components under versioned names (``opinara.registry``): language, PII, sentiment
backends and aspect extractors. ``create(name, settings, **context)`` builds one; heavy imports happen
only in the factory used."""

from __future__ import annotations

from typing import Any

from opinara.config import Settings
from opinara.registry import Registry

COMPONENTS: Registry[Any] = Registry("component")
register = COMPONENTS.register
names = COMPONENTS.names


def create(name: str, settings: Settings, **context: Any) -> Any:
    """Build the component registered under ``name`` from settings (and context such as the backend)."""
    return COMPONENTS.create(name, settings, **context)


def _opinion_model(settings: Settings, model: str | None = None) -> Any:
    from pathlib import Path

    from opinara.analysis.opinion_model import OpinionModel

    return OpinionModel.load(Path(model) if model else None, runtime=settings.runtime, cache_dir=settings.cache_dir)


@register("language.lingua.v1")
def _language(settings: Settings) -> Any:
    from opinara.analysis.language import LanguageDetector

    return LanguageDetector(settings.languages)


@register("pii.presidio.v1")
def _pii(settings: Settings) -> Any:
    from opinara.analysis.pii import PiiDetector

    return PiiDetector()


@register("sentiment.vader.v1")
def _vader(settings: Settings) -> Any:
    from opinara.analysis.sentiment.lexicon import LexiconBackend

    return LexiconBackend(settings.neutral_band)


@register("sentiment.encoder.v1")
def _encoder(settings: Settings) -> Any:
    from opinara.analysis.sentiment.encoder import EncoderBackend

    return EncoderBackend(_opinion_model(settings, settings.model))


@register("sentiment.transformer.v1")
def _transformer(settings: Settings) -> Any:
    from opinara.analysis.sentiment.transformer import TransformerBackend
    from opinara.errors import InputError

    if not settings.model:
        raise InputError("the transformer backend needs --model (a Hugging Face id or a local path)")
    return TransformerBackend(settings.model, runtime=settings.runtime, cache_dir=settings.cache_dir)


@register("aspects.tagger.v1")
def _tagger(settings: Settings, backend: Any = None) -> Any:
    from opinara.analysis.aspects.tagger import TaggerExtractor
    from opinara.analysis.sentiment.encoder import EncoderBackend

    model = backend.model if isinstance(backend, EncoderBackend) else _opinion_model(settings)
    return TaggerExtractor(model)


@register("aspects.rules.v1")
def _rules(settings: Settings, backend: Any = None) -> Any:
    from opinara.analysis.aspects.rules import RulesExtractor

    return RulesExtractor()
