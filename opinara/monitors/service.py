"""Monitor rows: create, read, edit, pause, resume, run now, remove; and the atomic claim of due monitors.

The ``monitors`` row is the truth about a schedule. A worker claims a due monitor with one conditional
UPDATE (due, active, and not held by a live worker), so a monitor never runs twice at once, whatever the
number of workers; a worker that dies mid-run stops beating, and after ``monitor_run_lease_seconds`` the
monitor is claimable again."""

from __future__ import annotations

import secrets as random_secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from opinara.config import Settings
from opinara.errors import JobConflict, NotFoundError
from opinara.insights.models import ProductRef
from opinara.insights.queries import find_product
from opinara.monitors import connectors, secrets
from opinara.monitors.connectors.base import CONNECTORS
from opinara.monitors.models import (
    CreatedMonitor,
    MonitorChanges,
    MonitorInfo,
    MonitorList,
    MonitorSpec,
    Removed,
    RunInfo,
    RunPage,
)
from opinara.monitors.schedule import first_run
from opinara.store.db import Store
from opinara.store.models import Monitor, MonitorRun, Product, Review
from opinara.validation import numeric_id

NEVER = datetime(9999, 1, 1, tzinfo=UTC)  # a webhook monitor is pushed to, never scheduled


def now() -> datetime:
    return datetime.now(UTC)


def connector_name(short: str) -> str:
    return f"connector.{short}.v1"


def _connector(name: str) -> Any:
    connectors.load()
    return CONNECTORS.create(name)


def _split(connector: Any, params: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(plain params, secret params) of a connector's checked params."""
    checked = connector.validate(params)
    hidden = {k: v for k, v in checked.items() if k in connector.secret_params}
    return {k: v for k, v in checked.items() if k not in connector.secret_params}, hidden


def find_monitor(session: Session, ref: str, lock: bool = False) -> Monitor:
    """A monitor by name or number."""
    condition = Monitor.name == ref
    if (number := numeric_id(ref)) is not None:
        condition = or_(condition, Monitor.id == number)
    query = select(Monitor).where(condition).order_by(Monitor.id)
    monitor = session.scalars(query.with_for_update() if lock else query).first()
    if monitor is None:
        raise NotFoundError(f"no monitor {ref!r}")
    return monitor


def describe(settings: Settings, monitor: Monitor, product: Product | None) -> MonitorInfo:
    hidden = secrets.masked(secrets.unseal(settings, monitor.secrets))
    return MonitorInfo(
        id=monitor.id,
        name=monitor.name,
        connector=monitor.connector,
        params={**monitor.params, **hidden},
        interval_seconds=monitor.interval_seconds,
        tags=list(monitor.tags),
        product=ProductRef(id=product.id, external_id=product.external_id, title=product.title) if product else None,
        state=monitor.state,  # type: ignore[arg-type]
        paused_reason=monitor.paused_reason,
        next_run_at=monitor.next_run_at,
        last_run_at=monitor.last_run_at,
        last_status=monitor.last_status,
        last_error=monitor.last_error,
        failures=monitor.failures,
        running=monitor.worker is not None,
        created_at=monitor.created_at,
        updated_at=monitor.updated_at,
    )


def _info(session: Session, settings: Settings, monitor: Monitor) -> MonitorInfo:
    product = session.get(Product, monitor.product_id) if monitor.product_id is not None else None
    return describe(settings, monitor, product)


class MonitorService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def create(self, spec: MonitorSpec, key_id: int | None = None) -> CreatedMonitor:
        name = connector_name(spec.connector)
        connector = _connector(name)
        plain, hidden = _split(connector, dict(spec.params))
        webhook_secret = None
        if spec.connector == "webhook":
            webhook_secret = "whsec_" + random_secrets.token_urlsafe(32)
            hidden["secret"] = webhook_secret
        current = now()
        with self.store.session() as session:
            if session.scalars(select(Monitor.id).where(Monitor.name == spec.name)).first() is not None:
                raise JobConflict(f"a monitor named {spec.name!r} exists")
            product = find_product(session, spec.product) if spec.product else None
            monitor = Monitor(
                name=spec.name,
                connector=name,
                params=plain,
                secrets=secrets.seal(self.settings, hidden),
                interval_seconds=spec.every,
                tags=sorted(set(spec.tags)),
                product_id=product.id if product else None,
                state="active",
                cursor={},
                next_run_at=NEVER if spec.connector == "webhook" else first_run(current, spec.every),
                failures=0,
                key_id=key_id,
                created_at=current,
                updated_at=current,
            )
            session.add(monitor)
            session.flush()
            return CreatedMonitor(monitor=describe(self.settings, monitor, product), webhook_secret=webhook_secret)

    def list(self) -> MonitorList:
        with self.store.session() as session:
            monitors = list(session.scalars(select(Monitor).order_by(Monitor.id)))
            return MonitorList(monitors=[_info(session, self.settings, m) for m in monitors])

    def get(self, ref: str) -> MonitorInfo:
        with self.store.session() as session:
            return _info(session, self.settings, find_monitor(session, ref))

    def update(self, ref: str, changes: MonitorChanges) -> MonitorInfo:
        with self.store.session() as session:
            monitor = find_monitor(session, ref, lock=True)
            if changes.params is not None:
                connector = _connector(monitor.connector)
                merged = {**monitor.params, **secrets.unseal(self.settings, monitor.secrets), **changes.params}
                merged = {k: v for k, v in merged.items() if v != ""}
                keep = {k: v for k, v in merged.items() if k == "secret" and monitor.connector.endswith(".webhook.v1")}
                plain, hidden = _split(connector, {k: v for k, v in merged.items() if k not in keep})
                monitor.params, monitor.secrets = plain, secrets.seal(self.settings, {**hidden, **keep})
            if changes.every is not None:
                monitor.interval_seconds = changes.every
            if changes.tags is not None:
                monitor.tags = sorted(set(changes.tags))
            if changes.product is not None:
                monitor.product_id = find_product(session, changes.product).id if changes.product else None
            monitor.updated_at = now()
            return _info(session, self.settings, monitor)

    def pause(self, ref: str, reason: str = "paused by a user") -> MonitorInfo:
        return self._set(ref, state="paused", paused_reason=reason)

    def resume(self, ref: str) -> MonitorInfo:
        with self.store.session() as session:
            monitor = find_monitor(session, ref, lock=True)
            monitor.state, monitor.paused_reason, monitor.failures = "active", None, 0
            if not monitor.connector.endswith(".webhook.v1"):
                monitor.next_run_at = first_run(now(), monitor.interval_seconds)
            monitor.updated_at = now()
            return _info(session, self.settings, monitor)

    def run_now(self, ref: str) -> MonitorInfo:
        """Due now: the next free worker runs it (a paused monitor is refused)."""
        with self.store.session() as session:
            monitor = find_monitor(session, ref, lock=True)
            if monitor.state != "active":
                raise JobConflict(f"monitor {monitor.name!r} is paused ({monitor.paused_reason}); resume it first")
            monitor.next_run_at = now()
            return _info(session, self.settings, monitor)

    def _set(self, ref: str, **values: Any) -> MonitorInfo:
        with self.store.session() as session:
            monitor = find_monitor(session, ref, lock=True)
            for name, value in values.items():
                setattr(monitor, name, value)
            monitor.updated_at = now()
            return _info(session, self.settings, monitor)

    def remove(self, ref: str) -> Removed:
        """Delete the monitor with its runs, mentions and aggregates."""
        with self.store.session() as session:
            monitor = find_monitor(session, ref, lock=True)
            count = session.scalar(select(func.count()).select_from(Review).where(Review.monitor_id == monitor.id))
            session.execute(delete(Review).where(Review.monitor_id == monitor.id))
            session.delete(monitor)
            return Removed(monitor=monitor.name, mentions=count or 0)

    def runs(self, ref: str, cursor: int | None = None, limit: int = 50) -> RunPage:
        """A page of the monitor's runs, newest first."""
        with self.store.session() as session:
            monitor = find_monitor(session, ref)
            query = select(MonitorRun).where(MonitorRun.monitor_id == monitor.id).order_by(MonitorRun.id.desc())
            if cursor is not None:
                query = query.where(MonitorRun.id < cursor)
            rows = list(session.scalars(query.limit(limit + 1)))
            page = rows[:limit]
            return RunPage(runs=[run_info(r) for r in page], next_cursor=page[-1].id if len(rows) > limit else None)

    def claim_due(self, worker: str, limit: int, when: datetime | None = None) -> list[int]:
        """Take up to ``limit`` due monitors for ``worker``, earliest due first; each is taken by exactly
        one worker.

        One statement claims the batch: an UPDATE of the due monitors that are still claimable, so two
        workers never both get one (SQLite runs writes one at a time; PostgreSQL locks the rows, and
        ``SKIP LOCKED`` lets a second worker take the next ones instead of waiting for the first)."""
        current = when or now()
        stale = current - timedelta(seconds=self.settings.monitor_run_lease_seconds)
        claimable = and_(
            Monitor.state == "active",
            Monitor.next_run_at <= current,
            or_(Monitor.worker.is_(None), Monitor.heartbeat_at < stale),
        )
        due = select(Monitor.id).where(claimable).order_by(Monitor.next_run_at).limit(limit)
        if self.store.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # A CTE, materialized: PostgreSQL may otherwise run a locking subquery again for every row it
        # updates, and its LIMIT with it.
        batch = due.cte("due").prefix_with("MATERIALIZED")
        claim = (
            update(Monitor)
            .where(Monitor.id.in_(select(batch.c.id)), claimable)  # claimable again: checked under the lock
            .values(worker=worker, heartbeat_at=current)
            .returning(Monitor.id, Monitor.next_run_at)
            .execution_options(synchronize_session=False)
        )
        with self.store.session() as session:
            claimed = session.execute(claim).all()
        return [monitor_id for monitor_id, _ in sorted(claimed, key=lambda row: (row[1], row[0]))]

    def next_due(self) -> datetime | None:
        """When the earliest active monitor is due (for the scheduler's sleep)."""
        with self.store.session() as session:
            return session.scalar(select(func.min(Monitor.next_run_at)).where(Monitor.state == "active"))


def run_info(run: MonitorRun) -> RunInfo:
    return RunInfo(
        id=run.id,
        monitor_id=run.monitor_id,
        status=run.status,  # type: ignore[arg-type]
        due_at=run.due_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        lag_seconds=round(max((run.started_at - run.due_at).total_seconds(), 0.0), 3),
        http_calls=run.http_calls,
        fetched=run.fetched,
        new=run.new,
        duplicates=run.duplicates,
        rejected=run.rejected,
        error=run.error,
        cursor_before=run.cursor_before,
        cursor_after=run.cursor_after,
        next_run_at=run.next_run_at,
    )
