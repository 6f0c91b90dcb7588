"""The analysis service behind the API: one analyzer and batcher per (backend, model), and the cache."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from opinara.analysis.pipeline import AnalyzeOptions, Analyzer
from opinara.analysis.schema import SCHEMA_VERSION
from opinara.config import Backend, Settings
from opinara.errors import InputError
from opinara.observability.metrics import TEXTS_ANALYZED
from opinara.privacy import deployment_secret
from opinara.serving.batcher import DynamicBatcher
from opinara.serving.cache import ResultCache, cache_key


@dataclass
class LoadedAnalyzer:
    analyzer: Analyzer
    batcher: DynamicBatcher
    version: str  # everything about the model that changes results: the cache key's model part


def analyzer_settings(settings: Settings, backend: Backend | None, model: str | None) -> Settings:
    """The settings for a request's backend and model, refusing models the server does not allow."""
    if model is not None and model != settings.model and model not in settings.allowed_models:
        allowed = ", ".join(settings.allowed_models) or "none configured"
        raise InputError(f"model {model!r} is not allowed on this server (OPINARA_ALLOWED_MODELS: {allowed})")
    update: dict[str, object] = {}
    if backend is not None and backend != settings.backend:
        update["backend"] = backend
        update["model"] = model
    elif model is not None:
        update["model"] = model
    return settings.model_copy(update=update) if update else settings


def options_key(options: AnalyzeOptions, settings: Settings) -> str:
    aspects = settings.aspects if options.aspects is None else options.aspects
    redact = settings.redact_pii if options.redact_pii is None else options.redact_pii
    return f"aspects={aspects};redact={redact};pii={settings.pii};lang={options.language}"


class AnalysisService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ResultCache(settings.cache_size, settings.cache_ttl_seconds, settings.redis_url)
        self._secret = deployment_secret(settings)
        self._loaded: dict[tuple[str, str | None], LoadedAnalyzer] = {}
        self._lock = threading.Lock()

    def _key(self, backend: Backend | None, model: str | None) -> tuple[str, str | None]:
        backend = backend or self.settings.backend
        if model is None and backend == self.settings.backend:
            model = self.settings.model
        return backend, model

    def load(self, backend: Backend | None = None, model: str | None = None) -> LoadedAnalyzer:
        """The analyzer for a backend and model, loaded once (blocking: call from a thread)."""
        key = self._key(backend, model)
        loaded = self._loaded.get(key)
        if loaded is not None:
            return loaded
        chosen = analyzer_settings(self.settings, backend, model)
        with self._lock:
            loaded = self._loaded.get(key)
            if loaded is None:
                analyzer = Analyzer(chosen)
                if chosen.aspects:
                    _ = analyzer.aspects  # load the tagger now, not on the first request
                info = analyzer.backend.info
                version = f"{info.backend}:{info.name}@{info.version}:{info.runtime}:{chosen.aspect_extractor}:{SCHEMA_VERSION}"

                def run(texts: list[str], options: AnalyzeOptions, analyzer: Analyzer = analyzer) -> list[bytes]:
                    return [result.model_dump_json().encode() for result in analyzer.analyze(texts, options)]

                batcher = DynamicBatcher(
                    run,
                    info.backend,
                    self.settings.batch_max_size,
                    self.settings.batch_max_wait_ms,
                    max_queued_texts=self.settings.batch_queue_max_texts,
                    max_queued_chars=self.settings.batch_queue_max_chars,
                )
                loaded = self._loaded[key] = LoadedAnalyzer(analyzer, batcher, version)
            return loaded

    @property
    def loaded_models(self) -> list[str]:
        return [loaded.version for loaded in self._loaded.values()]

    async def analyze(
        self, texts: list[str], options: AnalyzeOptions, backend: Backend | None = None, model: str | None = None
    ) -> tuple[list[bytes], int]:
        """Serialized results in input order, and how many came from the cache."""
        loaded = self._loaded.get(self._key(backend, model)) or await asyncio.to_thread(self.load, backend, model)
        opts = options_key(options, loaded.analyzer.settings)
        keys = [cache_key(text, loaded.version, opts, self.settings.redis_prefix, self._secret) for text in texts]
        if self.cache.shared:  # Redis: a network call, never on the event loop
            results = await run_in_threadpool(self.cache.get_many, keys)
        else:
            results = self.cache.get_many(keys) if self.cache.enabled else [None] * len(texts)
        missing = [i for i, value in enumerate(results) if value is None]
        if missing:
            fresh = await loaded.batcher.submit([texts[i] for i in missing], options)
            for i, value in zip(missing, fresh, strict=True):
                results[i] = value
            stored = {keys[i]: value for i, value in zip(missing, fresh, strict=True)}
            if self.cache.shared:  # written before the answer, so the next request on any server finds it
                await run_in_threadpool(self.cache.set_many, stored)
            else:
                self.cache.set_many(stored)
            TEXTS_ANALYZED.labels(loaded.analyzer.backend.info.backend, "api").inc(len(missing))
        return [value for value in results if value is not None], len(texts) - len(missing)

    def close(self) -> None:
        for loaded in self._loaded.values():
            loaded.batcher.close()
