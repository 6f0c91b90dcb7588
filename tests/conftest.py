"""Shared fixtures: settings on a temporary data directory, the shared labeled data, analyzers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from opinara.config import Settings

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_shared(*parts: str) -> Path:
    """A path under ../shared/data; skip when absent, fail under CI=true."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"shared data not found at {path}"
        if IN_CI:
            pytest.fail(message + " (CI=true: shared data must be present)")
        pytest.skip(message)
    return path


REDIS_URL = os.environ.get("OPINARA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    """The test Redis URL; skip when Redis is unreachable, fail under CI=true."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: Redis must be available)")
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the session, so the ONNX export happens once."""
    return tmp_path_factory.mktemp("opinara-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture(scope="session")
def analyzer(settings: Settings):
    """The default analyzer: encoder backend on ONNX Runtime, tagger aspects."""
    from opinara.analysis.pipeline import Analyzer

    return Analyzer(settings)


@pytest.fixture(scope="session")
def lexicon_analyzer(settings: Settings):
    from opinara.analysis.pipeline import Analyzer

    return Analyzer(settings.model_copy(update={"backend": "lexicon", "aspect_extractor": "rules"}))
