"""Insights raised by detectors: stored once per type and entity, updated while they last, then resolved.

Invariant: at most one unresolved insight per (type, entity) — a partial unique index holds it even when
two evaluators race; the loser of the race updates the winner's row. While a condition lasts, each
evaluation refreshes the insight (severity, message, evidence, score, last seen) instead of adding one.
An insight whose condition ended is resolved ("condition ended"); a person may acknowledge or resolve it
too. After it is resolved, the same type and entity opens again only once ``insight_cooldown_seconds``
have passed, so a condition that flickers around its threshold is one insight, not a stream of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from opinara.config import Settings
from opinara.errors import JobConflict, NotFoundError
from opinara.store.db import Store
from opinara.store.models import Insight

InsightType = Literal[
    "volume_spike", "volume_drop", "sentiment_dip", "emerging_aspect", "metric_anomaly", "level_shift", "no_data"
]
Severity = Literal["info", "warning", "critical"]
Status = Literal["open", "acknowledged", "resolved"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
CONDITION_ENDED = "condition ended"


class InsightCandidate(BaseModel):
    """What a detector found, before it is stored."""

    type: InsightType
    severity: Severity
    entity_kind: Literal["product_aspect", "product", "monitor", "tag", "host", "series"]
    entity: dict[str, Any] = Field(description="The entity's ids and names, e.g. product, aspect")
    message: str = Field(description="One sentence a person reads in one breath")
    evidence: dict[str, Any] = Field(description="Window, baseline, figures, detector and score, example ids")
    detector: str
    score: float = Field(ge=0, le=1)

    def entity_key(self) -> str:
        pairs = ",".join(f"{name}={self.entity[name]}" for name in sorted(self.entity) if not name.endswith("_name"))
        return f"{self.entity_kind}:{pairs}"[:255]


class InsightInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    type: InsightType
    severity: Severity
    status: Status
    entity_kind: str
    entity: dict[str, Any]
    message: str
    evidence: dict[str, Any]
    detector: str
    score: float
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


class Raised(BaseModel):
    insight: InsightInfo
    created: bool  # a new insight (notify), not the refresh of an open one


class InsightPage(BaseModel):
    insights: list[InsightInfo]
    next_cursor: int | None


class InsightService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def raise_insight(self, candidate: InsightCandidate, now: datetime | None = None) -> Raised | None:
        """Open an insight, or refresh the open one for its type and entity; None while the same type and
        entity is cooling down after a resolution."""
        current = now or datetime.now(UTC)
        key = candidate.entity_key()
        with self.store.session() as session:
            for _attempt in range(2):
                row = session.scalars(
                    select(Insight).where(
                        Insight.type == candidate.type, Insight.entity_key == key, Insight.status != "resolved"
                    )
                ).first()
                if row is not None:
                    _refresh(row, candidate, current)
                    session.flush()
                    return Raised(insight=InsightInfo.model_validate(row), created=False)
                cooling = session.scalar(
                    select(Insight.id).where(
                        Insight.type == candidate.type,
                        Insight.entity_key == key,
                        Insight.resolved_at > current - timedelta(seconds=self.settings.insight_cooldown_seconds),
                    )
                )
                if cooling is not None:
                    return None
                row = Insight(
                    type=candidate.type,
                    status="open",
                    entity_kind=candidate.entity_kind,
                    entity_key=key,
                    detector=candidate.detector,
                    first_seen=current,
                )
                _refresh(row, candidate, current)
                try:
                    with session.begin_nested():  # a savepoint: losing the race keeps the transaction
                        session.add(row)
                except IntegrityError:  # another evaluator opened it a moment ago: refresh theirs
                    continue
                return Raised(insight=InsightInfo.model_validate(row), created=True)
        raise JobConflict(f"insight {candidate.type} for {key} changed twice while being raised")

    def resolve_ended(self, detector: str, types: list[str], present: set[str], now: datetime | None = None) -> int:
        """Resolve the unresolved insights of ``detector`` and ``types`` whose entity is not ``present``
        (their condition ended); returns how many."""
        current = now or datetime.now(UTC)
        with self.store.session() as session:
            rows = session.scalars(
                select(Insight).where(
                    Insight.detector == detector, Insight.type.in_(types), Insight.status != "resolved"
                )
            ).all()
            ended = [row for row in rows if row.entity_key not in present]
            for row in ended:
                row.status, row.resolved_at, row.resolved_by = "resolved", current, CONDITION_ENDED
        return len(ended)

    def list(
        self,
        status: Status | None = None,
        type: str | None = None,
        severity: Severity | None = None,
        entity_kind: str | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> InsightPage:
        """Newest first; ``severity`` is the least severity shown."""
        query = select(Insight).order_by(Insight.id.desc()).limit(limit + 1)
        if status is not None:
            query = query.where(Insight.status == status)
        if type is not None:
            query = query.where(Insight.type == type)
        if severity is not None:
            query = query.where(Insight.severity.in_(SEVERITIES[SEVERITIES.index(severity) :]))
        if entity_kind is not None:
            query = query.where(Insight.entity_kind == entity_kind)
        if cursor is not None:
            query = query.where(Insight.id < cursor)
        with self.store.session() as session:
            rows = list(session.scalars(query))
            page = [InsightInfo.model_validate(row) for row in rows[:limit]]
        return InsightPage(insights=page, next_cursor=page[-1].id if len(rows) > limit else None)

    def get(self, insight_id: int) -> InsightInfo:
        with self.store.session() as session:
            row = session.get(Insight, insight_id)
            if row is None:
                raise NotFoundError(f"no insight {insight_id}")
            return InsightInfo.model_validate(row)

    def acknowledge(self, insight_id: int, by: str, now: datetime | None = None) -> InsightInfo:
        """Someone is on it: open -> acknowledged (a resolved insight stays resolved)."""
        return self._mark(insight_id, "acknowledged", by, now or datetime.now(UTC))

    def resolve(self, insight_id: int, by: str, now: datetime | None = None) -> InsightInfo:
        return self._mark(insight_id, "resolved", by, now or datetime.now(UTC))

    def _mark(self, insight_id: int, status: Status, by: str, current: datetime) -> InsightInfo:
        values: dict[str, Any] = {"status": status}
        if status == "acknowledged":
            values.update(acknowledged_at=current, acknowledged_by=by)
        else:
            values.update(resolved_at=current, resolved_by=by)
        with self.store.session() as session:
            session.execute(
                update(Insight).where(Insight.id == insight_id, Insight.status != "resolved").values(**values)
            )
        return self.get(insight_id)


def _refresh(row: Insight, candidate: InsightCandidate, current: datetime) -> None:
    row.severity = candidate.severity
    row.message = candidate.message
    row.evidence = candidate.evidence
    row.score = candidate.score
    row.entity = candidate.entity
    row.last_seen = current
