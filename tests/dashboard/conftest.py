"""A real API with the demo reviews (and a few that the aggregates leave out), and the dashboard's
settings pointing at it with the key `opinara serve --demo --dashboard` gives it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from opinara.demo.seed import DEMO_SOURCE, rotate_dashboard_key
from opinara.ingest.runner import Ingester, IngestOptions
from tests.api.server import RunningApi, running_demo_api

# Three more reviews of the earbuds, filed under two more variants (ASINs) of the family: two spam,
# one a long text copied from another author. They are stored, and left out of the aggregates.
LEFT_OUT = [
    {"asin": "aurora-x2-black", "user_id": "extra-1", "text": "BEST EARBUDS EVER!!! BUY NOW AT WWW.CHEAP-BUDS.EXAMPLE"},
    {"asin": "aurora-x2-black", "user_id": "extra-2", "text": "Sooooooooo good, visit https://cheap-buds.example now"},
    {
        "asin": "aurora-x2-white",
        "user_id": "extra-3",
        "text": "The sound quality is fantastic for the price. Bass is punchy without drowning the vocals.",
    },
]
STORED, COUNTED = 72 + len(LEFT_OUT), 72


@pytest.fixture(scope="package")
def demo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    folder = tmp_path_factory.mktemp("dashboard-api")
    with running_demo_api(folder) as api:
        extra = folder / "left-out.jsonl"
        rows = [{"parent_asin": "aurora-x2", "rating": 5, "timestamp": 1772712000000, **row} for row in LEFT_OUT]
        extra.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        analyzer = api.platform.analysis.load().analyzer
        Ingester(api.platform.store, analyzer).ingest(extra, IngestOptions(source=DEMO_SOURCE))
        yield api


@pytest.fixture(scope="package")
def demo_key(demo_api: RunningApi) -> str:
    """The demo dashboard's key: analyze, read and ingest, no admin."""
    return rotate_dashboard_key(demo_api.platform.store)


@pytest.fixture(scope="package")
def admin_key(demo_api: RunningApi) -> str:
    return demo_api.key("dashboard-admin", "analyze,read,ingest,admin")


@pytest.fixture(autouse=True)
def no_dashboard_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the password they mean to; none leaks in from the environment."""
    monkeypatch.delenv("OPINARA_DASHBOARD_PASSWORD", raising=False)
    monkeypatch.delenv("OPINARA_CONFIG_FILE", raising=False)


@pytest.fixture
def dashboard_env(monkeypatch: pytest.MonkeyPatch, demo_api: RunningApi, demo_key: str) -> RunningApi:
    monkeypatch.setenv("OPINARA_API_URL", demo_api.url)
    monkeypatch.setenv("OPINARA_API_KEY", demo_key)
    return demo_api
