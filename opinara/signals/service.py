"""Metric series in the database: points written once, rolled up as they arrive, read at a step.

Invariant: for every series, step (60 and 3600 seconds) and bucket, the rollup row holds the count, sum,
min and max of the raw points of that bucket as they were first stored. It holds because a point is
stored once (``(series, instant)`` is the key; a point sent again is a duplicate and changes nothing)
and the rollups are updated, in the same transaction, by exactly the points the insert reports as new.
Raw points are kept ``metrics_raw_retention_days`` and rollups longer, so a long range is read from the
rollups and a gap stays a gap: no bucket is made up for an instant that has no point.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from opinara.config import Settings
from opinara.errors import InputError, NotFoundError
from opinara.signals.points import Refused, Sample, SeriesKey, read_payload
from opinara.store.db import Store
from opinara.store.models import MetricPoint, MetricRollup, MetricSeries
from opinara.store.writes import insert_statement

STEPS = (60, 3600)
Step = Literal["auto", "raw", "1m", "1h"]
STEP_SECONDS = {"raw": 0, "1m": 60, "1h": 3600}
MAX_READ_POINTS = 20_000


class RefusedPoint(BaseModel):
    where: str = Field(description="The item, and within it the field or point: 3, 3.cpuUsage, 3.points[5]")
    reason: str


class MetricsWritten(BaseModel):
    stored: int
    duplicates: int = Field(description="Points already stored for that series and instant (kept as first sent)")
    rejected: list[RefusedPoint]


class SeriesInfo(BaseModel):
    name: str
    labels: dict[str, str]


class SeriesList(BaseModel):
    series: list[SeriesInfo]
    next_cursor: int | None


class SeriesPoint(BaseModel):
    at: datetime
    value: float = Field(description="The point's value; for a rollup step, the mean of the bucket")
    count: int = 1
    low: float
    high: float


class SeriesData(BaseModel):
    name: str
    labels: dict[str, str]
    step: Literal["raw", "1m", "1h"]
    points: list[SeriesPoint]


def labels_key(labels: Iterable[tuple[str, str]]) -> str:
    """The canonical form of sorted labels, short enough for an indexed column."""
    text = ",".join(f"{name}={value}" for name, value in labels)
    return text if len(text) <= 200 else "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def bucket_of(moment: datetime, step: int) -> datetime:
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % step, UTC)


class SeriesService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._ids: dict[SeriesKey, int] = {}  # series are never renamed; a removed one is dropped from here

    def write_payload(self, body: object, now: datetime | None = None) -> MetricsWritten:
        """Store what a host posted: every good point, and say where and why the others were refused."""
        samples, refused = read_payload(body, now or datetime.now(UTC), self.settings.metrics_max_points)
        stored, duplicates = self.write(samples)
        return MetricsWritten(stored=stored, duplicates=duplicates, rejected=[_refused(r) for r in refused])

    def write(self, samples: list[Sample]) -> tuple[int, int]:
        """Store samples in one transaction; returns (stored, duplicates)."""
        if not samples:
            return 0, 0
        with self.store.session() as session:
            ids = self._series_ids(session, {sample.key for sample in samples})
            # In key order, so concurrent writers lock rows in one order and never deadlock (PostgreSQL).
            rows = sorted(
                ({"series_id": ids[s.key], "at": s.at, "value": s.value} for s in samples),
                key=lambda row: (row["series_id"], row["at"]),
            )
            statement = insert_statement(session, MetricPoint).on_conflict_do_nothing()
            inserted = session.execute(
                statement.returning(MetricPoint.series_id, MetricPoint.at, MetricPoint.value), rows
            ).all()
            self._roll_up(session, inserted)
        return len(inserted), len(rows) - len(inserted)

    def _series_ids(self, session: Session, keys: set[SeriesKey]) -> dict[SeriesKey, int]:
        missing = sorted((key for key in keys if key not in self._ids), key=lambda k: (k.name, k.labels))
        if missing:
            now = datetime.now(UTC)
            rows = [
                {"name": k.name, "labels": dict(k.labels), "labels_key": labels_key(k.labels), "created_at": now}
                for k in missing
            ]
            session.execute(insert_statement(session, MetricSeries).on_conflict_do_nothing(), rows)
            wanted = {(k.name, labels_key(k.labels)): k for k in missing}
            found = session.execute(
                select(MetricSeries.id, MetricSeries.name, MetricSeries.labels_key).where(
                    MetricSeries.name.in_({k.name for k in missing})
                )
            )
            for series_id, name, key in found:
                if (name, key) in wanted:
                    self._ids[wanted[(name, key)]] = series_id
        return {key: self._ids[key] for key in keys}

    def _roll_up(self, session: Session, inserted: list[tuple[int, datetime, float]]) -> None:
        figures: dict[tuple[int, int, datetime], list[float]] = defaultdict(
            lambda: [0, 0.0, float("inf"), -float("inf")]
        )
        for series_id, at, value in inserted:
            for step in STEPS:
                entry = figures[(series_id, step, bucket_of(at, step))]
                entry[0] += 1
                entry[1] += value
                entry[2] = min(entry[2], value)
                entry[3] = max(entry[3], value)
        if not figures:
            return
        rows = [
            {"series_id": s, "step": step, "bucket": b, "count": int(f[0]), "total": f[1], "low": f[2], "high": f[3]}
            for (s, step, b), f in sorted(figures.items())
        ]
        statement = insert_statement(session, MetricRollup)
        least, greatest = (func.least, func.greatest) if self.store.dialect == "postgresql" else (func.min, func.max)
        table = MetricRollup.__table__.c
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["series_id", "step", "bucket"],
                set_={
                    "count": table.count + statement.excluded.count,
                    "total": table.total + statement.excluded.total,
                    "low": least(table.low, statement.excluded.low),
                    "high": greatest(table.high, statement.excluded.high),
                },
            ),
            rows,
        )

    def list_series(self, prefix: str | None, cursor: int | None, limit: int) -> SeriesList:
        query = select(MetricSeries).order_by(MetricSeries.id).limit(limit + 1)
        if prefix:
            query = query.where(MetricSeries.name.startswith(prefix, autoescape=True))
        if cursor is not None:
            query = query.where(MetricSeries.id > cursor)
        with self.store.session() as session:
            rows = list(session.scalars(query))
        page = rows[:limit]
        return SeriesList(
            series=[SeriesInfo(name=row.name, labels=row.labels) for row in page],
            next_cursor=page[-1].id if len(rows) > limit else None,
        )

    def read(self, name: str, labels: dict[str, str], start: datetime, end: datetime, step: Step) -> SeriesData:
        """The series' points in ``[start, end)``: raw, or per 1-minute or 1-hour bucket (``auto``: raw up
        to six hours, minutes up to a week, hours beyond)."""
        if end <= start:
            raise InputError("to must be after from")
        key = SeriesKey.of(name, labels)
        chosen = _auto_step(end - start) if step == "auto" else step
        with self.store.session() as session:
            series_id = session.scalar(
                select(MetricSeries.id).where(
                    MetricSeries.name == name, MetricSeries.labels_key == labels_key(key.labels)
                )
            )
            if series_id is None:
                raise NotFoundError(f"no series {key.text()}")
            if chosen == "raw":
                query = (
                    select(MetricPoint.at, MetricPoint.value)
                    .where(MetricPoint.series_id == series_id, MetricPoint.at >= start, MetricPoint.at < end)
                    .order_by(MetricPoint.at)
                    .limit(MAX_READ_POINTS)
                )
                points = [SeriesPoint(at=at, value=v, low=v, high=v) for at, v in session.execute(query)]
            else:
                rollup = MetricRollup
                query = (
                    select(rollup.bucket, rollup.count, rollup.total, rollup.low, rollup.high)
                    .where(
                        rollup.series_id == series_id,
                        rollup.step == STEP_SECONDS[chosen],
                        rollup.bucket >= bucket_of(start, STEP_SECONDS[chosen]),
                        rollup.bucket < end,
                    )
                    .order_by(rollup.bucket)
                    .limit(MAX_READ_POINTS)
                )
                points = [
                    SeriesPoint(at=b, value=total / count, count=count, low=low, high=high)
                    for b, count, total, low, high in session.execute(query)
                ]
        return SeriesData(name=name, labels=dict(key.labels), step=chosen, points=points)

    def cleanup(self, now: datetime | None = None) -> dict[str, int]:
        """Delete raw points and rollups past their retention; returns how many rows of each went."""
        current = now or datetime.now(UTC)
        settings = self.settings
        with self.store.session() as session:
            raw = session.execute(
                delete(MetricPoint).where(
                    MetricPoint.at < current - timedelta(days=settings.metrics_raw_retention_days)
                )
            ).rowcount
            minutes = session.execute(
                delete(MetricRollup).where(
                    MetricRollup.step == 60,
                    MetricRollup.bucket < current - timedelta(days=settings.metrics_minute_retention_days),
                )
            ).rowcount
            hours = session.execute(
                delete(MetricRollup).where(
                    MetricRollup.step == 3600,
                    MetricRollup.bucket < current - timedelta(days=settings.metrics_hour_retention_days),
                )
            ).rowcount
        return {"points": raw or 0, "minute_rollups": minutes or 0, "hour_rollups": hours or 0}


def _auto_step(span: timedelta) -> Literal["raw", "1m", "1h"]:
    if span <= timedelta(hours=6):
        return "raw"
    return "1m" if span <= timedelta(days=7) else "1h"


def _refused(refused: Refused) -> RefusedPoint:
    return RefusedPoint(where=refused.where, reason=refused.reason)
