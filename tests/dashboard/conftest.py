"""A real API with the demo reviews (and a few that the aggregates leave out), source monitors with
mentions pushed to them, and the dashboard's settings pointing at it with the key
`opinara serve --demo --dashboard` gives it. No monitor ever fetches: the API runs no monitor threads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from opinara.demo.seed import DEMO_SOURCE, rotate_dashboard_key
from opinara.ingest.runner import Ingester, IngestOptions
from opinara.monitors.models import MonitorSpec
from opinara.monitors.webhooks import SIGNATURE_HEADER, sign
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

# Pushed to the webhook monitors "acme-support" (tag acme) and "rival-support" (tag rival): the first
# delivery of each, then a second to acme-support that resends two items, adds one and has one bad item.
ACME_FIRST = [
    ("a-1", "The new checkout flow is fantastic, so fast!", 1),
    ("a-2", "Refund still missing after two weeks, terrible support.", 2),
    ("a-3", "Battery life on the Acme X2 is excellent and the screen is bright.", 4),
    ("a-4", "Paid $20 for *premium* shipping and the delivery was late again. Awful.", 6),
    ("a-5", "The app keeps crashing when I open the camera. Worst update ever.", 9),
    ("a-6", "Customer service answered in minutes, really helpful staff.", 12),
]
ACME_SECOND = [("a-7", "Love the sound quality of the Acme buds, the bass is great.", 0)]
RIVAL_FIRST = [
    ("r-1", "Rival support was slow and the battery died in a day.", 1),
    ("r-2", "Shipping from Rival was quick and the packaging was lovely.", 3),
    ("r-3", "The price of the Rival plan is far too high for what you get.", 8),
]
PAUSED_REASON = "paused after 10 failed runs in a row: connection refused"
MONITOR_KEY_SCOPES = "analyze,read,ingest,monitor"


def _items(rows: list[tuple[str, str, int]]) -> list[dict[str, str]]:
    today = datetime.now(UTC).replace(hour=9, minute=30, second=0, microsecond=0)
    return [
        {
            "id": external_id,
            "text": text,
            "author": f"customer-{external_id}",
            "url": f"https://support.example/t/{external_id}",
            "published_at": (today - timedelta(days=days_ago)).isoformat(),
        }
        for external_id, text, days_ago in rows
    ]


def deliver(api: RunningApi, monitor: str, secret: str, items: list[dict[str, str]]) -> dict:
    """Push ``items`` to a webhook monitor through the API, signed as a sender would."""
    body = json.dumps({"items": items}).encode()
    with api.client() as client:
        response = client.post(
            f"/v1/monitors/{monitor}/events",
            content=body,
            headers={
                "content-type": "application/json",
                SIGNATURE_HEADER: sign(secret.encode(), body, int(time.time())),
            },
        )
    assert response.status_code == 200, response.text
    return response.json()


def add_monitors(api: RunningApi) -> None:
    """Two webhook monitors with mentions; a Hacker News monitor paused before it ever ran; an RSS
    monitor that is due later. The last two point at a closed port, and never run here anyway."""
    monitors = api.platform.monitors
    acme = monitors.create(MonitorSpec(name="acme-support", connector="webhook", tags=["acme"])).webhook_secret
    rival = monitors.create(MonitorSpec(name="rival-support", connector="webhook", tags=["rival"])).webhook_secret
    nowhere = "http://127.0.0.1:9"
    monitors.create(
        MonitorSpec(
            name="hn-acme",
            connector="hackernews",
            params={"query": "acme", "base_url": nowhere},
            every=3600,
            tags=["acme", "hn"],
        )
    )
    monitors.pause("hn-acme", PAUSED_REASON)
    monitors.create(
        MonitorSpec(name="acme-blog", connector="rss", params={"url": f"{nowhere}/feed.xml"}, every=1800, tags=["acme"])
    )
    deliver(api, "acme-support", acme or "", _items(ACME_FIRST))
    deliver(api, "rival-support", rival or "", _items(RIVAL_FIRST))
    deliver(api, "acme-support", acme or "", [*_items(ACME_FIRST[:2] + ACME_SECOND), {"id": "a-bad"}])


@pytest.fixture(scope="package")
def demo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    folder = tmp_path_factory.mktemp("dashboard-api")
    with running_demo_api(folder, monitor_threads=0) as api:
        extra = folder / "left-out.jsonl"
        rows = [{"parent_asin": "aurora-x2", "rating": 5, "timestamp": 1772712000000, **row} for row in LEFT_OUT]
        extra.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        analyzer = api.platform.analysis.load().analyzer
        Ingester(api.platform.store, analyzer).ingest(extra, IngestOptions(source=DEMO_SOURCE))
        add_monitors(api)
        yield api


@pytest.fixture(scope="package")
def demo_key(demo_api: RunningApi) -> str:
    """The demo dashboard's key: analyze, read, ingest and monitor, no admin."""
    return rotate_dashboard_key(demo_api.platform.store)


@pytest.fixture(scope="package")
def monitor_key(demo_api: RunningApi) -> str:
    """A dashboard key that may also pause, resume and run monitors."""
    return demo_api.key("dashboard-monitors", MONITOR_KEY_SCOPES)


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
