"""Monitor runs end to end on SQLite and PostgreSQL, against a local Hacker News (Algolia) service: items
become analyzed mentions once, every run is recorded with its counts and cursors, the schedule follows
the outcome (rate limits, failures, authentication), and the scheduler claims and runs due monitors."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from opinara.config import Settings
from opinara.insights.mentions import list_mentions, monitor_trends
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.models import MonitorSpec
from opinara.monitors.runner import MonitorRunner
from opinara.monitors.scheduler import MonitorScheduler
from opinara.monitors.service import MonitorService, now
from opinara.serving.service import AnalysisService
from opinara.store.models import MonitorDaily, Review
from tests.monitors.fake_services import FakeService, Reply
from tests.monitors.test_hackernews import PATH, T0, AlgoliaIndex, story


@pytest.fixture
def service_site():
    with FakeService() as site:
        yield site


@pytest.fixture
def parts(store, tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        backend="lexicon",
        aspect_extractor="rules",
        monitor_allowed_networks=["127.0.0.1/32"],
        monitor_timeout_seconds=2.0,
        monitor_failures_before_pause=3,
    )
    analysis = AnalysisService(settings)  # loads the lexicon analyzer on the first run
    service = MonitorService(settings, store)
    runner = MonitorRunner(settings, store, analysis, HostLimiter(settings))
    yield settings, service, runner
    analysis.close()


def make(service: MonitorService, site: FakeService, name: str = "hn") -> int:
    spec = MonitorSpec(
        name=name, connector="hackernews", params={"query": "widget", "base_url": site.url}, every="15m", tags=["acme"]
    )
    return service.create(spec).monitor.id


def run_now(service: MonitorService, runner: MonitorRunner, name: str = "hn"):
    monitor = service.run_now(name)
    assert service.claim_due("test-worker", 10) == [monitor.id]
    return runner.run(monitor.id, "test-worker")


def test_a_run_stores_new_items_once_and_records_itself(parts, service_site, store):
    _, service, runner = parts
    hits = [story(1, T0, title="Show HN: Widget 1 is great"), story(2, T0 + 60, title="Widget 2 broke, awful")]
    service_site.route(PATH, AlgoliaIndex(hits))
    make(service, service_site)
    first = run_now(service, runner)
    hits.append(story(3, T0 + 120, title="Widget 3 is fine"))
    second = run_now(service, runner)
    third = run_now(service, runner)
    assert (first.status, first.fetched, first.new, first.http_calls) == ("success", 2, 2, 1)
    assert (second.new, third.new, third.fetched) == (1, 0, 0)
    assert first.cursor_after != first.cursor_before and third.cursor_after == third.cursor_before
    with store.session() as session:
        page = list_mentions(session, monitor="hn")
        trends = monitor_trends(session, "hn")
        daily = session.scalar(select(func.sum(MonitorDaily.mentions)).where(MonitorDaily.aspect_group == ""))
    texts = {m.external_id: m for m in page.mentions}
    assert set(texts) == {"1", "2", "3"} and texts["2"].sentiment.label == "negative"
    assert texts["1"].url and texts["1"].author != "user1" and texts["1"].source == "hackernews"
    assert daily == 3 and sum(p.mentions for p in trends.periods) == 3
    monitor = service.get("hn")
    assert (monitor.last_status, monitor.failures, monitor.running) == ("success", 0, False)
    assert timedelta(minutes=14) < monitor.next_run_at - now() <= timedelta(minutes=15)


def test_a_rate_limited_run_waits_what_the_service_said(parts, service_site):
    _, service, runner = parts
    service_site.route(PATH, Reply.json({"message": "slow down"}, status=429, headers={"Retry-After": "120"}))
    make(service, service_site)
    run = run_now(service, runner)
    monitor = service.get("hn")
    assert (run.status, run.new) == ("rate_limited", 0)
    assert timedelta(seconds=110) < monitor.next_run_at - now() <= timedelta(seconds=121)
    assert monitor.state == "active" and monitor.failures == 0


def test_failures_back_off_and_pause_the_monitor_after_a_few(parts, service_site):
    _, service, runner = parts
    service_site.route(PATH, Reply.json({"message": "boom"}, status=503))
    make(service, service_site)
    runs = [run_now(service, runner) for _ in range(3)]
    monitor = service.get("hn")
    assert [r.status for r in runs] == ["failed"] * 3
    assert runs[0].error == f"{service_site.url.split('//')[1].split(':')[0]} answered 503"
    assert monitor.state == "paused" and monitor.paused_reason.startswith("3 failed runs in a row")
    assert service.claim_due("w", 10, when=now() + timedelta(days=2)) == []


def test_refused_credentials_pause_at_once_with_the_reason(parts, service_site):
    _, service, runner = parts
    service_site.route(PATH, Reply.json({"message": "Invalid Application-ID or API key"}, status=403))
    make(service, service_site)
    run = run_now(service, runner)
    monitor = service.get("hn")
    assert run.status == "failed" and monitor.state == "paused"
    assert monitor.paused_reason.startswith("authentication failed")


def test_the_scheduler_claims_due_monitors_and_runs_each_once(parts, service_site, store):
    settings, service, runner = parts
    service_site.route(PATH, AlgoliaIndex([story(i, T0 + i, title=f"Widget {i} works") for i in range(5)]))
    for i in range(6):
        make(service, service_site, f"hn-{i}")
        service.run_now(f"hn-{i}")
    scheduler = MonitorScheduler(settings, service, runner, threads=2)
    started = time.monotonic()
    while time.monotonic() - started < 30:
        scheduler.tick()
        if all(service.get(f"hn-{i}").last_status for i in range(6)) and not any(
            service.get(f"hn-{i}").running for i in range(6)
        ):
            break
        time.sleep(0.05)
    scheduler.stop()
    statuses = [service.get(f"hn-{i}").last_status for i in range(6)]
    assert statuses == ["success"] * 6
    assert [len(service.runs(f"hn-{i}").runs) for i in range(6)] == [1] * 6
    with store.session() as session:
        stored = session.scalar(select(func.count()).select_from(Review).where(Review.kind == "mention"))
    assert stored == 5, "six monitors saw the same five posts: each stored once (by source and id)"
