"""Monitors under real worker processes on PostgreSQL and Redis: two workers share 50 due monitors and run
each once; a worker killed with SIGKILL mid-run leaves its monitor to be run again, not stuck; paused
monitors stay paused and schedules survive a restart of every process."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from opinara.config import Settings
from opinara.monitors.models import MonitorSpec
from opinara.monitors.runner import ORPHANED
from opinara.monitors.service import MonitorService, now
from opinara.store.db import open_store
from opinara.store.models import MonitorRun
from tests.conftest import require_redis
from tests.jobs.test_job_recovery import process
from tests.monitors.fake_services import FakeService, Reply, Request
from tests.monitors.test_hackernews import PATH, T0, story
from tests.store.conftest import postgres_schema_url

SECRET = "one-deployment-one-secret-0123456789"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    redis_url = require_redis()
    for url in postgres_schema_url():
        values = {
            "data_dir": str(tmp_path),
            "database_url": url,
            "redis_url": redis_url,
            "redis_prefix": f"monitors-{uuid.uuid4().hex[:8]}",
            "backend": "lexicon",
            "aspect_extractor": "rules",
            "secret_key": SECRET,
            "monitor_allowed_networks": "127.0.0.1/32",
            "monitor_threads": "3",
            "monitor_poll_seconds": "0.2",
            "monitor_run_lease_seconds": "3",
        }
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **{f"OPINARA_{k.upper()}": v for k, v in values.items()}}
        yield Settings(**{**values, "monitor_allowed_networks": ["127.0.0.1/32"]}), env


def per_query(slow: set[str] | None = None) -> Callable[[Request], Reply]:
    """An Algolia HN answer with one story per query: each monitor its own (``slow`` queries hang)."""

    def answer(request: Request) -> Reply:
        query = request.param("query") or ""
        number = int(query.removeprefix("q")) if query.startswith("q") else 0
        hit = story(number, T0 + number, title=f"Widget {number} works well")
        body = {"hits": [hit], "nbHits": 1, "page": 0, "nbPages": 1, "hitsPerPage": 20}
        return Reply.json(body, delay=30.0 if slow and query in slow else 0.0)

    return answer


def runs_by_monitor(store) -> Counter[int]:
    with store.session() as session:
        return Counter(session.scalars(select(MonitorRun.monitor_id).where(MonitorRun.status != "running")))


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_two_workers_share_50_due_monitors_and_run_each_once(deployment, tmp_path):
    settings, env = deployment
    store = open_store(settings)
    service = MonitorService(settings, store)
    with FakeService() as site:
        site.route(PATH, per_query())
        ids = []
        for i in range(50):
            spec = MonitorSpec(name=f"m{i}", connector="hackernews", params={"query": f"q{i}", "base_url": site.url})
            ids.append(service.create(spec).monitor.id)
            service.run_now(f"m{i}")
        with (
            process(["worker"], env, tmp_path / "worker-1.log") as first,
            process(["worker"], env, tmp_path / "worker-2.log") as second,
        ):
            wait_for(lambda: len(runs_by_monitor(store)) == 50, 120, "not every monitor ran")
            time.sleep(1.0)  # any second run would show up now
            runs = runs_by_monitor(store)
            for worker in (first, second):
                worker.send_signal(signal.SIGTERM)
        queries = Counter(request.param("query") for request in site.requests_to(PATH))
    assert sorted(runs) == sorted(ids) and set(runs.values()) == {1}, "each monitor once"
    assert set(queries.values()) == {1} and len(queries) == 50, "each source asked once"
    with store.session() as session:
        workers = {run.worker for run in session.scalars(select(MonitorRun))}  # host:pid:monitors
    assert len(workers) == 2, "both worker processes took monitors"
    store.engine.dispose()


def test_a_worker_killed_mid_run_leaves_the_monitor_to_run_again(deployment, tmp_path):
    settings, env = deployment
    store = open_store(settings)
    service = MonitorService(settings, store)
    with FakeService() as site:
        slow = {"q7"}
        site.route(PATH, per_query(slow))
        spec = MonitorSpec(name="stuck", connector="hackernews", params={"query": "q7", "base_url": site.url})
        monitor = service.create(spec).monitor
        service.run_now("stuck")
        with process(["worker"], env, tmp_path / "victim.log") as victim:
            wait_for(lambda: service.get("stuck").running, 60, "the run did not start")
            time.sleep(0.5)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
        assert service.get("stuck").running, "the dead worker's claim is still held"
        slow.clear()  # the service answers at once from now on
        with process(["worker"], env, tmp_path / "rescuer.log"):
            wait_for(lambda: service.get("stuck").last_status == "success", 60, "the monitor never ran again")
    monitor_after = service.get("stuck")
    assert monitor_after.running is False and monitor_after.next_run_at > now() + timedelta(minutes=10)
    assert runs_by_monitor(store)[monitor.id] >= 1
    with store.session() as session:
        history = list(session.scalars(select(MonitorRun).where(MonitorRun.monitor_id == monitor.id)))
    statuses = [(run.status, run.error) for run in sorted(history, key=lambda run: run.id)]
    assert statuses[0] == ("failed", ORPHANED), "the killed worker's run is closed, not left running"
    assert statuses[-1][0] == "success" and all(status != "running" for status, _ in statuses)
    store.engine.dispose()


def test_paused_monitors_stay_paused_and_schedules_survive_a_restart(deployment, tmp_path):
    settings, env = deployment
    store = open_store(settings)
    service = MonitorService(settings, store)
    with FakeService() as site:
        site.route(PATH, per_query())
        for name, query in (("kept", "q1"), ("resting", "q2")):
            service.create(
                MonitorSpec(name=name, connector="hackernews", params={"query": query, "base_url": site.url})
            )
            service.run_now(name)
        service.pause("resting", "holidays")
        with process(["worker"], env, tmp_path / "before.log"):
            wait_for(lambda: service.get("kept").last_status == "success", 60, "the active monitor did not run")
        planned = service.get("kept").next_run_at
        with process(["worker"], env, tmp_path / "after.log"):
            time.sleep(3.0)
        calls = Counter(request.param("query") for request in site.requests_to(PATH))
    assert service.get("kept").next_run_at == planned, "a restart keeps the schedule"
    assert calls == {"q1": 1}, "the paused monitor never ran; the active one ran once"
    resting = service.get("resting")
    assert (resting.state, resting.paused_reason, resting.last_run_at) == ("paused", "holidays", None)
    store.engine.dispose()
