"""Product x aspect group x day aggregates and review counts per product: incremented as reviews are
stored, moved when two products turn out to be one family, rebuilt from scratch on demand.

All paths apply the same rules, so a rebuild gives identical numbers: a review counts when its
quality score is at least ``AGGREGATE_MIN_QUALITY``; the product's review-level totals live under the
aspect group ``""``; ratings are summed in hundredths of a star, as integers. Every stored review
adds one to its product's ``stored`` count, and either one to ``counted`` or one to each of its
quality flags, so ``stored = counted + reviews left out`` always holds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Integer, and_, case, cast, delete, func, literal, select
from sqlalchemy.orm import Session

from opinara.store.models import Analysis, AspectDaily, AspectMention, ProductReviewCount, Review
from opinara.store.writes import insert_statement

AGGREGATE_MIN_QUALITY = 0.5
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
    flags: list[str] = field(default_factory=list)


@dataclass
class Deltas:
    """Increments to the aspect aggregates and to the review counts per (product, reason)."""

    aspects: dict[Key, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: dict.fromkeys(COUNTERS, 0)))
    counts: Counter[tuple[int, str]] = field(default_factory=Counter)


def centi(rating: float | None) -> int:
    return round(rating * 100) if rating is not None else 0


def reasons(quality_score: float, flags: Iterable[str]) -> list[str]:
    """The review-count reasons one review adds to: ``stored``, then ``counted`` or its flags."""
    return ["stored", "counted"] if quality_score >= AGGREGATE_MIN_QUALITY else ["stored", *flags]


def deltas(reviews: Iterable[StoredReview]) -> Deltas:
    """The increments that ``reviews`` add."""
    out = Deltas()
    for review in reviews:
        for reason in reasons(review.quality_score, review.flags):
            out.counts[(review.product_id, reason)] += 1
        if review.quality_score < AGGREGATE_MIN_QUALITY:
            continue
        rated = review.rating is not None
        for group, label in [(REVIEW_LEVEL, review.label), *review.aspects]:
            counters = out.aspects[(review.product_id, group, review.day)]
            counters["mentions"] += 1
            if label in ("positive", "negative", "neutral", "mixed"):
                counters[label] += 1
            counters["rating_centi_sum"] += centi(review.rating)
            counters["rating_count"] += int(rated)
    return out


def apply(session: Session, increments: Deltas) -> None:
    """Add increments to the stored aggregates and counts (upserts that add, on SQLite and PostgreSQL)."""
    if increments.aspects:
        rows = [
            {"product_id": product, "aspect_group": group, "day": day, **counters}
            for (product, group, day), counters in sorted(increments.aspects.items())
        ]
        statement = insert_statement(session, AspectDaily)
        table = AspectDaily.__table__
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["product_id", "aspect_group", "day"],
                set_={name: table.c[name] + statement.excluded[name] for name in COUNTERS},
            ),
            rows,
        )
    if increments.counts:
        statement = insert_statement(session, ProductReviewCount)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["product_id", "reason"],
                set_={"reviews": ProductReviewCount.__table__.c.reviews + statement.excluded.reviews},
            ),
            [{"product_id": p, "reason": r, "reviews": n} for (p, r), n in sorted(increments.counts.items())],
        )


def move(session: Session, source: int, target: int) -> None:
    """Add product ``source``'s aggregates and counts to ``target``'s and remove them from ``source``
    (its reviews are moving to ``target``: both are one product family)."""
    moved = Deltas()
    for row in session.scalars(select(AspectDaily).where(AspectDaily.product_id == source)):
        moved.aspects[(target, row.aspect_group, row.day)] = {name: getattr(row, name) for name in COUNTERS}
    for row in session.scalars(select(ProductReviewCount).where(ProductReviewCount.product_id == source)):
        moved.counts[(target, row.reason)] = row.reviews
    session.execute(delete(AspectDaily).where(AspectDaily.product_id == source))
    session.execute(delete(ProductReviewCount).where(ProductReviewCount.product_id == source))
    apply(session, moved)


def rebuild(session: Session, product_ids: list[int] | None = None) -> int:
    """Recompute the aggregates and review counts from reviews, analyses and mentions; returns the
    aggregate rows written."""
    scope = and_(Review.kind == "review", Review.product_id.in_(product_ids) if product_ids else literal(True))
    for model in (AspectDaily, ProductReviewCount):
        session.execute(delete(model).where(model.product_id.in_(product_ids) if product_ids else literal(True)))
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
    counts: Counter[tuple[int, str]] = Counter()
    for product_id, total, counted in session.execute(
        select(
            Review.product_id, func.count(), func.sum(case((Review.quality_score >= AGGREGATE_MIN_QUALITY, 1), else_=0))
        )
        .where(scope)
        .group_by(Review.product_id)
    ):
        counts[(product_id, "stored")] = total
        counts[(product_id, "counted")] = int(counted or 0)
    for product_id, flags in session.execute(
        select(Review.product_id, Review.quality_flags).where(scope, Review.quality_score < AGGREGATE_MIN_QUALITY)
    ):
        for flag in flags or []:
            counts[(product_id, flag)] += 1
    apply(session, Deltas(counts=+counts))
    return written
