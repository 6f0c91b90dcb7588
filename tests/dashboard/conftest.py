"""A real API with the demo reviews, and the dashboard's settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.server import RunningApi, running_demo_api


@pytest.fixture(scope="package")
def demo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    with running_demo_api(tmp_path_factory.mktemp("dashboard-api")) as api:
        yield api


@pytest.fixture(scope="package")
def demo_key(demo_api: RunningApi) -> str:
    return demo_api.key("dashboard", "analyze,read,admin")


@pytest.fixture
def dashboard_env(monkeypatch: pytest.MonkeyPatch, demo_api: RunningApi, demo_key: str) -> RunningApi:
    monkeypatch.setenv("OPINARA_API_URL", demo_api.url)
    monkeypatch.setenv("OPINARA_API_KEY", demo_key)
    return demo_api
