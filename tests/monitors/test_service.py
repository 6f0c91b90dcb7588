"""The monitor service on SQLite and PostgreSQL: monitors made, shown with secrets masked, edited, paused,
resumed and removed; due monitors claimed by exactly one worker, and a dead worker's claim expiring."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update

from opinara.config import Settings
from opinara.errors import InputError, JobConflict, NotFoundError
from opinara.monitors.models import MonitorChanges, MonitorSpec
from opinara.monitors.service import MonitorService, now
from opinara.store.models import Monitor


@pytest.fixture
def service(store, tmp_path) -> MonitorService:
    return MonitorService(Settings(data_dir=tmp_path, monitor_run_lease_seconds=30), store)


def spec(name: str, connector: str = "hackernews", **params: str) -> MonitorSpec:
    return MonitorSpec(
        name=name, connector=connector, params=params or {"query": "opinara"}, every="15m", tags=["acme"]
    )


def test_a_monitor_is_created_with_its_schedule_spread_and_its_secrets_masked(service, store):
    created = service.create(spec("yt", "youtube", video_id="dQw4w9WgXcQ", api_key="AIzaSECRETKEY123"))
    referenced = service.create(spec("yt2", "youtube", video_id="abcdefghijk", api_key="env:YOUTUBE_KEY"))
    monitor = created.monitor
    assert (monitor.connector, monitor.interval_seconds, monitor.tags, monitor.state) == (
        "connector.youtube.v1",
        900,
        ["acme"],
        "active",
    )
    assert monitor.params == {"video_id": "dQw4w9WgXcQ", "api_key": "****", "base_url": "https://www.googleapis.com"}
    assert referenced.monitor.params["api_key"] == "env:YOUTUBE_KEY", "a reference is no secret"
    assert 0 <= (monitor.next_run_at - now()).total_seconds() <= 61
    with store.session() as session:
        row = session.scalars(select(Monitor).where(Monitor.name == "yt")).one()
    assert "AIzaSECRETKEY123" not in str(row.params) + str(row.secrets), "stored encrypted"
    assert created.webhook_secret is None


def test_a_webhook_monitor_gets_a_secret_shown_once_and_is_never_scheduled(service):
    created = service.create(MonitorSpec(name="support", connector="webhook"))
    assert created.webhook_secret and created.webhook_secret.startswith("whsec_")
    assert created.monitor.params == {"secret": "****"}
    assert created.monitor.next_run_at.year == 9999
    assert service.claim_due("w1", 10) == []


def test_bad_monitors_are_refused_with_a_reason(service):
    service.create(spec("dup"))
    with pytest.raises(JobConflict, match="exists"):
        service.create(spec("dup"))
    with pytest.raises(InputError):
        service.create(spec("no-query", "hackernews", tags="x"))  # hackernews needs a query
    with pytest.raises(ValidationError, match="at least 60 seconds"):
        MonitorSpec(name="fast", connector="rss", params={"url": "https://example.org/feed"}, every="30s")
    with pytest.raises(NotFoundError):
        service.get("nobody")


def test_edit_pause_resume_run_now_and_remove(service):
    service.create(spec("hn"))
    edited = service.update("hn", MonitorChanges(every="1h", tags=["acme", "rival"], params={"tags": "comment"}))
    assert (edited.interval_seconds, edited.tags, edited.params["tags"]) == (3600, ["acme", "rival"], "comment")
    paused = service.pause("hn", "holidays")
    assert (paused.state, paused.paused_reason) == ("paused", "holidays")
    with pytest.raises(JobConflict, match="paused"):
        service.run_now("hn")
    assert service.claim_due("w1", 10, when=now() + timedelta(days=1)) == [], "a paused monitor is never claimed"
    resumed = service.resume("hn")
    assert resumed.state == "active" and resumed.paused_reason is None
    assert service.run_now("hn").next_run_at <= now()
    assert service.remove("hn").mentions == 0
    with pytest.raises(NotFoundError):
        service.get("hn")


def test_each_due_monitor_is_claimed_by_exactly_one_of_many_workers(service):
    for i in range(30):
        service.create(spec(f"m{i}"))
    later = now() + timedelta(minutes=2)
    claimed: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        got: list[int] = []
        for _ in range(10):
            got += service.claim_due(name, 4, when=later)
        claimed[name] = got

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [m for got in claimed.values() for m in got]
    assert len(everything) == len(set(everything)) == 30, "every monitor once, none twice"


def test_a_dead_workers_claim_expires_after_the_lease(service, store):
    monitor = service.create(spec("orphan")).monitor
    later = now() + timedelta(minutes=2)
    assert service.claim_due("dead-worker", 5, when=later) == [monitor.id]
    assert service.claim_due("other", 5, when=later + timedelta(seconds=10)) == [], "still within the lease"
    assert service.claim_due("other", 5, when=later + timedelta(seconds=31)) == [monitor.id]
    with store.session() as session:
        session.execute(update(Monitor).values(worker=None))
