"""Monitor x aspect group x day aggregates of mentions: incremented as mentions are stored, rebuilt on demand.

The same rules as the review aggregates (``aggregates``): a mention counts when its quality score is at
least ``AGGREGATE_MIN_QUALITY``; the monitor's mention-level totals live under the aspect group ``""``.
Tag figures are sums over the monitors that carry the tag."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, delete, func, literal, select
from sqlalchemy.orm import Session

from opinara.insights.aggregates import AGGREGATE_MIN_QUALITY, REVIEW_LEVEL
from opinara.store.models import Analysis, AspectMention, MonitorDaily, Review
from opinara.store.writes import insert_statement

COUNTERS = ("mentions", "positive", "negative", "neutral", "mixed")
LABELS = COUNTERS[1:]
Key = tuple[int, str, date]


@dataclass(frozen=True)
class StoredMention:
    monitor_id: int
    day: date
    label: str | None
    quality_score: float
    aspects: list[tuple[str, str]]  # (group, polarity)


def deltas(mentions: Iterable[StoredMention]) -> dict[Key, dict[str, int]]:
    out: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for mention in mentions:
        if mention.quality_score < AGGREGATE_MIN_QUALITY:
            continue
        for group, label in [(REVIEW_LEVEL, mention.label), *mention.aspects]:
            counters = out[(mention.monitor_id, group, mention.day)]
            counters["mentions"] += 1
            if label in LABELS:
                counters[label] += 1
    return out


def apply(session: Session, increments: dict[Key, dict[str, int]]) -> None:
    """Add increments to the stored aggregates (an upsert that adds, on SQLite and PostgreSQL)."""
    if not increments:
        return
    statement = insert_statement(session, MonitorDaily)
    table = MonitorDaily.__table__
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["monitor_id", "aspect_group", "day"],
            set_={name: table.c[name] + statement.excluded[name] for name in COUNTERS},
        ),
        [
            {"monitor_id": monitor, "aspect_group": group, "day": day, **counters}
            for (monitor, group, day), counters in sorted(increments.items())
        ],
    )


def rebuild(session: Session, monitor_ids: list[int] | None = None) -> int:
    """Recompute the aggregates from the stored mentions; returns the rows written."""
    scope = Review.monitor_id.in_(monitor_ids) if monitor_ids else Review.monitor_id.is_not(None)
    session.execute(
        delete(MonitorDaily).where(MonitorDaily.monitor_id.in_(monitor_ids) if monitor_ids else literal(True))
    )
    good = and_(Review.kind == "mention", Review.quality_score >= AGGREGATE_MIN_QUALITY, scope)

    def count(column: object, value: str) -> object:
        return func.sum(case((column == value, 1), else_=0))

    mention_level = (
        select(
            Review.monitor_id,
            literal(REVIEW_LEVEL).label("aspect_group"),
            Review.day,
            func.count().label("mentions"),
            *(count(Analysis.label, name).label(name) for name in LABELS),
        )
        .join(Analysis, Analysis.review_id == Review.id, isouter=True)
        .where(good)
        .group_by(Review.monitor_id, Review.day)
    )
    aspect_level = (
        select(
            Review.monitor_id,
            AspectMention.aspect_group,
            Review.day,
            func.count().label("mentions"),
            *(count(AspectMention.polarity, name).label(name) for name in LABELS),
        )
        .join(AspectMention, AspectMention.review_id == Review.id)
        .where(good)
        .group_by(Review.monitor_id, AspectMention.aspect_group, Review.day)
    )
    written = 0
    for query in (mention_level, aspect_level):
        rows = [dict(row._mapping) for row in session.execute(query)]
        if rows:
            session.execute(MonitorDaily.__table__.insert(), rows)
            written += len(rows)
    return written
