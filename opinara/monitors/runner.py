"""Runs one claimed monitor: fetch what is new, store it as mentions, record the run, schedule the next.

The items, the monitor's new cursor, its schedule and the run's record are written in one transaction:
a worker that dies before it leaves the cursor where it was, and the next run fetches the same items
again, which the store recognizes by source and id (nothing is lost, nothing is stored twice). While the
run works, a heartbeat keeps the claim; a run whose monitor was taken over does not write.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from opinara.config import Settings
from opinara.errors import InputError, JobConflict, OpinaraError
from opinara.heartbeat import Heartbeats
from opinara.ingest.records import RecordWriter, Target
from opinara.ingest.review_formats import RecordProblem, ReviewRecord
from opinara.monitors import connectors, secrets, webhooks
from opinara.monitors.connectors.base import (
    CONNECTORS,
    FetchResult,
    Item,
    Limits,
    SourceAuthError,
    SourceError,
    SourceRateLimited,
)
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.http import HttpSession, NetworkPolicy, PerThreadTransport
from opinara.monitors.models import EventsAccepted, RejectedEvent, RunInfo, RunStatus
from opinara.monitors.schedule import decide
from opinara.monitors.service import now, run_info
from opinara.observability.metrics import MONITOR_ITEMS, MONITOR_LAG, MONITOR_RUNS
from opinara.privacy import Pseudonymizer
from opinara.serving.service import AnalysisService
from opinara.store.db import Store
from opinara.store.models import ApiKey, Monitor, MonitorRun

log = logging.getLogger(__name__)
MAX_KEY_CHARS = 128
ORPHANED = "the worker stopped during the run"


@dataclass
class _Outcome:
    status: RunStatus
    result: FetchResult | None = None
    error: str | None = None
    retry_after: float | None = None
    auth_failed: bool = False
    http_calls: int = 0


def mention_key(connector: str, params: dict[str, str], item: Item) -> str:
    """The stored key of a mention: its id at the service; a feed's id qualified by the feed (feeds may
    number their entries 1, 2, 3), and a hash when it would be longer than the column."""
    external = item.external_id
    if connector == "connector.rss.v1" and not external.startswith(("http://", "https://")):
        external = f"{params.get('url', '')}#{external}"
    key = f"id:{external}"
    return key if len(key) <= MAX_KEY_CHARS else "id:sha256:" + hashlib.sha256(external.encode()).hexdigest()


def source_of(connector: str) -> str:
    """``reddit`` for ``connector.reddit.v1``: mentions are unique by source and id across monitors."""
    return connector.split(".")[1]


class MonitorRunner:
    def __init__(
        self, settings: Settings, store: Store, analysis: AnalysisService, hosts: HostLimiter, transport: object = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.analysis = analysis
        self.hosts = hosts
        # Tests hand a transport; production reuses one guarded transport per thread, run after run.
        self.transport = transport or PerThreadTransport(NetworkPolicy.from_settings(settings))
        self.authors = Pseudonymizer.for_settings(settings)
        self._beats = Heartbeats(settings.monitor_run_lease_seconds / 3)
        self._writer: RecordWriter | None = None

    def run(self, monitor_id: int, worker: str) -> RunInfo | None:
        """Run a monitor this worker has claimed; None when the claim was lost before it started."""
        with self.store.session() as session:
            monitor = session.get(Monitor, monitor_id)
            if monitor is None or monitor.worker != worker:
                return None
            started = now()
            # A run still "running" was left by a worker that stopped during it (this worker holds the
            # claim now): it ends as failed, so the history never shows two runs at once.
            session.execute(
                update(MonitorRun)
                .where(MonitorRun.monitor_id == monitor.id, MonitorRun.status == "running")
                .values(status="failed", finished_at=started, error=ORPHANED)
            )
            run = MonitorRun(
                monitor_id=monitor.id,
                status="running",
                due_at=monitor.next_run_at,
                started_at=started,
                cursor_before=dict(monitor.cursor),
                worker=worker,
                http_calls=0,
                fetched=0,
                new=0,
                duplicates=0,
                rejected=0,
            )
            session.add(run)
            session.flush()
            snapshot = _Snapshot.of(monitor, run.id)
        MONITOR_LAG.observe(max((started - snapshot.due).total_seconds(), 0.0))
        clock = time.monotonic()
        with self._beats.hold(lambda: self._beat(monitor_id, worker)) as lost:
            outcome, values = self._fetch(snapshot)
            info = self._finish(snapshot, worker, outcome, values, lost=lost.is_set())
        MONITOR_RUNS.labels(source_of(snapshot.connector), info.status).inc()
        log.info(
            "monitor run finished",
            extra={
                "monitor_id": monitor_id,
                "monitor": snapshot.name,
                "run_id": info.id,
                "status": info.status,
                "new": info.new,
                "seconds": round(time.monotonic() - clock, 3),
            },
        )
        return info

    def accept_events(self, ref: str, header: str | None, body: bytes, received: float) -> EventsAccepted:
        """A webhook delivery: verified against the monitor's secret, its items stored as mentions (a
        resent item id is a duplicate, not a second mention), and recorded as a run."""
        from opinara.monitors.service import find_monitor

        with self.store.session() as session:
            monitor = find_monitor(session, ref)
            if not monitor.connector.endswith(".webhook.v1"):
                raise InputError(f"monitor {monitor.name!r} is not a webhook monitor")
            secret = secrets.unseal(self.settings, monitor.secrets).get("secret", "")
            webhooks.verify(secret.encode(), header, body, received, self.settings.webhook_tolerance_seconds)
            if monitor.state != "active":
                raise JobConflict(f"monitor {monitor.name!r} is paused ({monitor.paused_reason})")
            items, problems = webhooks.parse_events(body)
            snapshot = _Snapshot.of(monitor, 0)
            current = now()
            run = MonitorRun(
                monitor_id=monitor.id,
                status="success",
                due_at=current,
                started_at=current,
                finished_at=current,
                cursor_before={},
                cursor_after={},
                http_calls=0,
                fetched=len(items) + len(problems),
                new=0,
                duplicates=0,
                rejected=len(problems),
            )
            if items:
                stored = self._store(session, snapshot, items)
                run.new, run.duplicates, run.rejected = stored.stored, stored.duplicates, run.rejected + stored.refused
            monitor.last_run_at, monitor.last_status, monitor.last_error = current, "success", None
            session.add(run)
            session.flush()
            MONITOR_RUNS.labels("webhook", "success").inc()
            return EventsAccepted(
                run_id=run.id,
                received=run.fetched,
                new=run.new,
                duplicates=run.duplicates,
                rejected=[RejectedEvent(index=i, reason=reason) for i, reason in problems],
            )

    def _beat(self, monitor_id: int, worker: str) -> bool:
        with self.store.session() as session:
            result = session.execute(
                update(Monitor).where(Monitor.id == monitor_id, Monitor.worker == worker).values(heartbeat_at=now())
            )
            return result.rowcount == 1

    def _fetch(self, snapshot: _Snapshot) -> tuple[_Outcome, dict[str, str]]:
        values: dict[str, str] = {}
        if snapshot.connector.endswith(".webhook.v1"):
            return _Outcome("skipped", error="webhook monitors are pushed to, not fetched"), values
        session: HttpSession | None = None
        try:
            values = secrets.resolve(secrets.unseal(self.settings, snapshot.secrets))
            connectors.load()
            connector = CONNECTORS.create(snapshot.connector)
            limits = Limits(self.settings.monitor_max_items, self.settings.monitor_max_pages)
            session = HttpSession(self.settings, self.hosts, self.transport)  # type: ignore[arg-type]
            result = connector.fetch(session, {**snapshot.params, **values}, snapshot.cursor, limits)
            status: RunStatus = "partial" if result.partial else "success"
            return _Outcome(status, result, http_calls=session.calls), values
        except SourceRateLimited as exc:
            return _Outcome(
                "rate_limited", error=exc.message, retry_after=exc.retry_after, http_calls=_calls(session)
            ), values
        except SourceAuthError as exc:
            return _Outcome("failed", error=exc.message, auth_failed=True, http_calls=_calls(session)), values
        except (SourceError, OpinaraError) as exc:
            return _Outcome("failed", error=exc.message, http_calls=_calls(session)), values
        except Exception as exc:  # a connector bug: the run fails, the worker goes on
            log.exception("monitor run failed", extra={"monitor": snapshot.name})
            return _Outcome(
                "failed", error=f"internal error ({type(exc).__name__})", http_calls=_calls(session)
            ), values
        finally:
            if session is not None:
                session.close()

    def _finish(
        self, snapshot: _Snapshot, worker: str, outcome: _Outcome, values: dict[str, str], lost: bool
    ) -> RunInfo:
        current = now()
        error = secrets.mask_in(outcome.error, values) if outcome.error else None
        result = outcome.result or FetchResult()
        with self.store.session() as session:
            monitor = session.scalars(select(Monitor).where(Monitor.id == snapshot.id).with_for_update()).first()
            run = session.get(MonitorRun, snapshot.run_id)
            assert run is not None
            run.finished_at, run.http_calls, run.fetched = current, outcome.http_calls, len(result.items)
            if monitor is None or lost or monitor.worker != worker:
                run.status, run.error = "skipped", "the monitor was removed or taken over by another worker"
                return run_info(run)
            status = outcome.status
            if result.items and status in ("success", "partial"):
                stored = self._store(session, snapshot, result.items)
                run.new, run.duplicates, run.rejected = stored.stored, stored.duplicates, stored.refused
                MONITOR_ITEMS.labels(source_of(snapshot.connector), "new").inc(stored.stored)
            run.rejected += len(result.rejected)
            MONITOR_ITEMS.labels(source_of(snapshot.connector), "fetched").inc(len(result.items))
            decision = decide(
                status,
                snapshot.due,
                current,
                snapshot.interval,
                monitor.failures,
                retry_after=outcome.retry_after,
                auth_failed=outcome.auth_failed,
                error=error,
                max_failures=self.settings.monitor_failures_before_pause,
                max_backoff=self.settings.monitor_max_backoff_seconds,
            )
            if status in ("success", "partial"):
                monitor.cursor = result.cursor
            run.status, run.error, run.cursor_after = status, error, dict(monitor.cursor)
            monitor.next_run_at, monitor.failures = decision.next_run_at, decision.failures
            if decision.pause_reason and monitor.state == "active":
                monitor.state, monitor.paused_reason = "paused", decision.pause_reason
            monitor.worker, monitor.heartbeat_at = None, None
            monitor.last_run_at, monitor.last_status, monitor.last_error = current, status, error
            run.next_run_at = monitor.next_run_at if monitor.state == "active" else None
            return run_info(run)

    def _store(self, session, snapshot: _Snapshot, items: list[Item]):  # type: ignore[no-untyped-def]
        records = [
            (
                position,
                ReviewRecord(
                    product="",
                    variant="",
                    text=item.text,
                    review_key=mention_key(snapshot.connector, snapshot.params, item),
                    title=item.title,
                    author_hash=self.authors(item.author),
                    created_at=item.published_at,
                    url=item.url,
                ),
            )
            for position, item in enumerate(items)
        ]
        loaded = self.analysis.load()
        # A webhook's item ids are its sender's: unique within that monitor, not across senders.
        webhook = snapshot.connector.endswith(".webhook.v1")
        source = f"webhook-{snapshot.id}" if webhook else source_of(snapshot.connector)
        target = Target(source, "mention", snapshot.id, redact=snapshot.redact or self.settings.redact_pii)

        def reject(position: int, problem: RecordProblem) -> None:
            log.warning("mention refused: %s", problem.reason(private=True), extra={"monitor": snapshot.name})

        writer = self._writer
        if writer is None or writer.analyzer is not loaded.analyzer:
            writer = self._writer = RecordWriter(loaded.analyzer)  # holds no state between writes
        return writer.write(session, target, records, reject)


@dataclass(frozen=True)
class _Snapshot:
    """What a run needs of its monitor, read once when it starts."""

    id: int
    run_id: int
    name: str
    connector: str
    params: dict[str, str]
    secrets: str | None
    cursor: dict
    interval: int
    due: datetime
    redact: bool

    @classmethod
    def of(cls, monitor: Monitor, run_id: int) -> _Snapshot:
        from sqlalchemy.orm import object_session

        session = object_session(monitor)
        key = session.get(ApiKey, monitor.key_id) if session is not None and monitor.key_id is not None else None
        return cls(
            monitor.id,
            run_id,
            monitor.name,
            monitor.connector,
            dict(monitor.params),
            monitor.secrets,
            dict(monitor.cursor),
            monitor.interval_seconds,
            monitor.next_run_at,
            bool(key and key.redact_pii),
        )


def _calls(session: HttpSession | None) -> int:
    return session.calls if session is not None else 0
