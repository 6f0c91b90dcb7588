"""Product x aspect group x day aggregates: incremented as reviews are stored, rebuilt from scratch on demand.

Both paths apply the same rules, so a rebuild gives identical numbers: a review counts when its
quality score is at least ``AGGREGATE_MIN_QUALITY``; the product's review-level totals live under the
aspect group ``""``; ratings are summed in hundredths of a star, as integers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Integer, and_, case, cast, delete, func, literal, select
from sqlalchemy.orm import Session

from opinara.ingest.quality import AGGREGATE_MIN_QUALITY
from opinara.store.models import Analysis, AspectDaily, AspectMention, Review

REVIEW_LEVEL = ""
COUNTERS = ("mentions", "positive", "negative", "neutral", "mixed", "rating_centi_sum", "rating_count")
Key = tuple[int, str, date]


@dataclass(frozen=True)
class StoredReview:
    """What the aggregates need of one stored review."""

    product_id: int
    day: date
    rating: float | None
    label: str | None
    quality_score: float
    aspects: list[tuple[str, str]]  # (group, polarity)


def centi(rating: float | None) -> int:
    return round(rating * 100) if rating is not None else 0


def deltas(reviews: Iterable[StoredReview]) -> dict[Key, dict[str, int]]:
    """The counter increments that ``reviews`` add."""
    out: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for review in reviews:
        if review.quality_score < AGGREGATE_MIN_QUALITY:
            continue
        rated = review.rating is not None
        rows = [(REVIEW_LEVEL, review.label), *review.aspects]
        for group, label in rows:
            counters = out[(review.product_id, group, review.day)]
            counters["mentions"] += 1
            if label in ("positive", "negative", "neutral", "mixed"):
                counters[label] += 1
            counters["rating_centi_sum"] += centi(review.rating)
            counters["rating_count"] += int(rated)
    return out


def apply(session: Session, increments: dict[Key, dict[str, int]]) -> None:
    """Add increments to the stored aggregates (an upsert that adds, on SQLite and PostgreSQL)."""
    if not increments:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    rows = [
        {"product_id": product, "aspect_group": group, "day": day, **counters}
        for (product, group, day), counters in sorted(increments.items())
    ]
    statement = insert(AspectDaily)
    table = AspectDaily.__table__
    statement = statement.on_conflict_do_update(
        index_elements=["product_id", "aspect_group", "day"],
        set_={name: table.c[name] + statement.excluded[name] for name in COUNTERS},
    )
    session.execute(statement, rows)


def rebuild(session: Session, product_ids: list[int] | None = None) -> int:
    """Recompute the aggregates from reviews, analyses and mentions; returns the rows written."""
    scope = Review.product_id.in_(product_ids) if product_ids else literal(True)
    session.execute(
        delete(AspectDaily).where(AspectDaily.product_id.in_(product_ids) if product_ids else literal(True))
    )
    good = and_(Review.quality_score >= AGGREGATE_MIN_QUALITY, scope)

    def count(column: object, value: str) -> object:
        return func.sum(case((column == value, 1), else_=0))

    rated = case((Review.rating.is_not(None), 1), else_=0)
    rating_centi = func.coalesce(cast(func.round(Review.rating * 100), Integer), 0)
    review_level = (
        select(
            Review.product_id,
            literal(REVIEW_LEVEL).label("aspect_group"),
            Review.day,
            func.count().label("mentions"),
            *(count(Analysis.label, name).label(name) for name in ("positive", "negative", "neutral", "mixed")),
            func.sum(rating_centi).label("rating_centi_sum"),
            func.sum(rated).label("rating_count"),
        )
        .join(Analysis, Analysis.review_id == Review.id, isouter=True)
        .where(good)
        .group_by(Review.product_id, Review.day)
    )
    aspect_level = (
        select(
            Review.product_id,
            AspectMention.aspect_group,
            Review.day,
            func.count().label("mentions"),
            *(count(AspectMention.polarity, name).label(name) for name in ("positive", "negative", "neutral", "mixed")),
            func.sum(rating_centi).label("rating_centi_sum"),
            func.sum(rated).label("rating_count"),
        )
        .join(AspectMention, AspectMention.review_id == Review.id)
        .where(good)
        .group_by(Review.product_id, AspectMention.aspect_group, Review.day)
    )
    written = 0
    for query in (review_level, aspect_level):
        rows = [dict(row._mapping) for row in session.execute(query)]
        if rows:
            session.execute(AspectDaily.__table__.insert(), rows)
            written += len(rows)
    return written
