"""Insight queries over the aggregates, review counts and mentions: products, aspects, trends, drivers.

Every function reads; none writes. Each is bounded: lists are paged, one product's answer reads only
that product's rows, and sums are computed by the database. Results are the typed models of
``insights.models``, which the API serves as they are."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from opinara.errors import InputError, NotFoundError
from opinara.insights.aggregates import AGGREGATE_MIN_QUALITY, REVIEW_LEVEL
from opinara.insights.models import (
    AspectChange,
    AspectChanges,
    AspectCounts,
    AspectDetail,
    AspectExample,
    DateRange,
    DateSpan,
    Driver,
    Drivers,
    Overview,
    OverviewPeriod,
    Period,
    ProductAspects,
    ProductInsight,
    ProductPage,
    ProductRef,
    SentimentMix,
    TrendPeriod,
    Trends,
)
from opinara.store.models import AspectDaily, AspectMention, Product, ProductReviewCount, ProductVariant, Review
from opinara.validation import numeric_id

COUNTS = ("mentions", "positive", "negative", "neutral", "mixed", "rating_centi_sum", "rating_count")
MIX = COUNTS[:5]  # the sentiment mix: mentions and each label
SNIPPET_RADIUS = 70
EXAMPLE_CANDIDATES = 50


def net(positive: int, negative: int, total: int) -> float:
    """Net sentiment in [-1, 1]: (positive - negative) / total."""
    return round((positive - negative) / total, 4) if total else 0.0


def find_product(session: Session, ref: str) -> Product:
    """A product by its external id, the id of one of its variants (an ASIN of the family), or its number."""
    product = session.scalars(select(Product).where(Product.external_id == ref).order_by(Product.id)).first()
    if product is None:
        product = session.scalars(
            select(Product)
            .join(ProductVariant, ProductVariant.product_id == Product.id)
            .where(ProductVariant.external_id == ref)
            .order_by(Product.id)
        ).first()
    if product is None and (number := numeric_id(ref)) is not None:
        product = session.get(Product, number)
    if product is None:
        raise NotFoundError(f"no product {ref!r}")
    return product


def ref(product: Product) -> ProductRef:
    return ProductRef(id=product.id, external_id=product.external_id, title=product.title)


def _totals(session: Session, product_ids: list[int]) -> dict[tuple[int, str], dict[str, int]]:
    columns = [func.sum(getattr(AspectDaily, c)).label(c) for c in COUNTS]
    query = (
        select(AspectDaily.product_id, AspectDaily.aspect_group, *columns)
        .where(AspectDaily.product_id.in_(product_ids))
        .group_by(AspectDaily.product_id, AspectDaily.aspect_group)
    )
    return {
        (row.product_id, row.aspect_group): {c: int(getattr(row, c) or 0) for c in COUNTS}
        for row in session.execute(query)
    }


def _aspect_counts(group: str, counts: dict[str, int]) -> AspectCounts:
    return AspectCounts(
        group=group,
        mentions=counts["mentions"],
        positive=counts["positive"],
        negative=counts["negative"],
        neutral=counts["neutral"],
        net_sentiment=net(counts["positive"], counts["negative"], counts["mentions"]),
    )


def _average_rating(counts: dict[str, int]) -> float | None:
    return round(counts["rating_centi_sum"] / 100 / counts["rating_count"], 3) if counts["rating_count"] else None


def _insights(session: Session, products: list[Product], top: int, min_mentions: int) -> list[ProductInsight]:
    ids = [p.id for p in products]
    if not ids:
        return []
    groups: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    for (product_id, group), counts in _totals(session, ids).items():
        groups[product_id][group] = counts
    review_counts: dict[int, dict[str, int]] = defaultdict(dict)
    for row in session.execute(select(ProductReviewCount).where(ProductReviewCount.product_id.in_(ids))).scalars():
        review_counts[row.product_id][row.reason] = row.reviews
    variants: dict[int, list[str]] = defaultdict(list)
    for product_id, external in session.execute(
        select(ProductVariant.product_id, ProductVariant.external_id)
        .where(ProductVariant.product_id.in_(ids))
        .order_by(ProductVariant.external_id)
    ):
        variants[product_id].append(external)
    out = []
    for product in products:
        by_group = groups.get(product.id, {})
        review_level = by_group.get(REVIEW_LEVEL, dict.fromkeys(COUNTS, 0))
        aspects = [
            _aspect_counts(g, c) for g, c in by_group.items() if g != REVIEW_LEVEL and c["mentions"] >= min_mentions
        ]
        positive = sorted(
            (a for a in aspects if a.net_sentiment > 0), key=lambda a: (a.negative - a.positive, -a.mentions, a.group)
        )
        negative = sorted(
            (a for a in aspects if a.net_sentiment < 0), key=lambda a: (a.positive - a.negative, -a.mentions, a.group)
        )
        counts = review_counts.get(product.id, {})
        out.append(
            ProductInsight(
                id=product.id,
                external_id=product.external_id,
                title=product.title,
                source=product.source,
                category=product.category,
                variants=variants.get(product.id) or [product.external_id],
                reviews=counts.get("stored", 0),
                counted_reviews=counts.get("counted", 0),
                excluded={k: v for k, v in sorted(counts.items()) if k not in ("stored", "counted") and v},
                average_rating=_average_rating(review_level),
                sentiment=SentimentMix(**{k: review_level[k] for k in ("positive", "negative", "neutral", "mixed")}),
                net_sentiment=net(review_level["positive"], review_level["negative"], review_level["mentions"]),
                top_positive_aspects=positive[:top],
                top_negative_aspects=negative[:top],
            )
        )
    return out


def products(
    session: Session, top: int = 3, min_mentions: int = 2, cursor: int | None = None, limit: int = 100
) -> ProductPage:
    """A page of products (families) by id with their counts, sentiment mix and top aspects."""
    query = select(Product).order_by(Product.id).limit(limit + 1)
    if cursor is not None:
        query = query.where(Product.id > cursor)
    rows = list(session.scalars(query))
    page = rows[:limit]
    return ProductPage(
        products=_insights(session, page, top, min_mentions),
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


def product(session: Session, ref_: str, top: int = 5, min_mentions: int = 2) -> ProductInsight:
    """One product's entry, from its own rows only."""
    return _insights(session, [find_product(session, ref_)], top, min_mentions)[0]


def _snippet(text: str, start: int, end: int) -> str:
    left, right = max(0, start - SNIPPET_RADIUS), min(len(text), end + SNIPPET_RADIUS)
    return ("…" if left else "") + text[left:right].replace("\n", " ") + ("…" if right < len(text) else "")


def _examples(session: Session, product_id: int, group: str, count: int) -> list[AspectExample]:
    rows = session.execute(
        select(AspectMention.start, AspectMention.end, AspectMention.polarity, Review.text, Review.id)
        .join(Review, Review.id == AspectMention.review_id)
        .where(
            AspectMention.product_id == product_id,
            AspectMention.aspect_group == group,
            Review.quality_score >= AGGREGATE_MIN_QUALITY,
        )
        .order_by(AspectMention.id)
        .limit(EXAMPLE_CANDIDATES)
    ).all()
    chosen, polarities = [], set()
    for row in rows:  # prefer examples of different polarities
        if row.polarity not in polarities:
            polarities.add(row.polarity)
            chosen.append(row)
    chosen += [r for r in rows if r not in chosen]
    return [
        AspectExample(review_id=r.id, polarity=r.polarity, snippet=_snippet(r.text, r.start, r.end))
        for r in chosen[:count]
    ]


def aspects(session: Session, ref_: str, sort: str = "mentions", limit: int = 20, examples: int = 2) -> ProductAspects:
    """A product's aspect groups with counts, net sentiment and up to ``examples`` snippets each (no
    example query at all when ``examples`` is 0)."""
    if sort not in ("mentions", "net"):
        raise InputError(f"sort must be mentions or net, not {sort!r}")
    product = find_product(session, ref_)
    entries = [_aspect_counts(g, c) for (_, g), c in _totals(session, [product.id]).items() if g != REVIEW_LEVEL]
    if sort == "mentions":
        entries.sort(key=lambda a: (-a.mentions, a.group))
    else:
        entries.sort(key=lambda a: (-a.net_sentiment, -a.mentions, a.group))
    details = [
        AspectDetail(
            **entry.model_dump(), examples=_examples(session, product.id, entry.group, examples) if examples else []
        )
        for entry in entries[:limit]
    ]
    return ProductAspects(product=ref(product), aspects=details)


def period_start(day: date, by: Period) -> date:
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day


def _check_period(by: str) -> None:
    if by not in ("day", "week", "month"):
        raise InputError(f"--by must be day, week or month, not {by!r}")


def by_period(rows: Iterable[Any], by: Period, names: tuple[str, ...]) -> list[tuple[date, dict[str, int]]]:
    """Daily rows summed into periods (``name`` columns), oldest first."""
    buckets: dict[date, dict[str, int]] = {}
    for row in rows:
        bucket = buckets.setdefault(period_start(row.day, by), defaultdict(int))
        for name in names:
            bucket[name] += int(getattr(row, name) or 0)
    return sorted(buckets.items())


def trends(session: Session, ref_: str, aspect: str | None = None, by: Period = "month") -> Trends:
    """Mentions and net sentiment per period, for the product or one of its aspect groups."""
    _check_period(by)
    product = find_product(session, ref_)
    group = REVIEW_LEVEL if aspect is None else aspect
    rows = session.execute(
        select(AspectDaily)
        .where(AspectDaily.product_id == product.id, AspectDaily.aspect_group == group)
        .order_by(AspectDaily.day)
    ).scalars()
    periods = [
        TrendPeriod(
            period=start,
            mentions=counts["mentions"],
            positive=counts["positive"],
            negative=counts["negative"],
            net_sentiment=net(counts["positive"], counts["negative"], counts["mentions"]),
            average_rating=_average_rating(counts),
        )
        for start, counts in by_period(rows, by, COUNTS)
    ]
    return Trends(product=ref(product), aspect=aspect, by=by, periods=periods)


def drivers(session: Session, ref_: str, low_rating: float = 2.0, min_mentions: int = 3, limit: int = 10) -> Drivers:
    """Which aspects' sentiment best explains low star ratings, summed by the database.

    For each aspect group: how many rated reviews mention it negatively, their average rating against
    the product's, and the share of low-rated reviews (``rating <= low_rating``) that complain about it.
    ``impact`` = rating drop x share of reviews with that complaint: the stars the complaint costs the
    product's average.
    """
    product = find_product(session, ref_)
    good = and_(
        Review.product_id == product.id, Review.quality_score >= AGGREGATE_MIN_QUALITY, Review.rating.is_not(None)
    )
    is_low = Review.rating <= low_rating
    rated, rating_sum, low = session.execute(
        select(func.count(), func.sum(Review.rating), func.sum(case((is_low, 1), else_=0))).where(good)
    ).one()
    if not rated:
        return Drivers(product=ref(product), reviews=0, average_rating=None, low_rated_reviews=0, drivers=[])
    mean = float(rating_sum) / rated
    low = int(low or 0)
    # One row per (review, group, polarity): a review that complains twice about the battery counts once.
    opinions = (
        select(AspectMention.review_id, AspectMention.aspect_group, AspectMention.polarity, Review.rating)
        .join(Review, Review.id == AspectMention.review_id)
        .where(good, AspectMention.polarity.in_(("negative", "positive")))
        .distinct()
        .subquery()
    )
    negative = opinions.c.polarity == "negative"
    negatives = func.sum(case((negative, 1), else_=0))
    rows = session.execute(
        select(
            opinions.c.aspect_group,
            negatives.label("negative"),
            func.sum(case((opinions.c.polarity == "positive", 1), else_=0)).label("positive"),
            func.sum(case((negative, opinions.c.rating), else_=0.0)).label("negative_rating_sum"),
            func.sum(case((and_(negative, opinions.c.rating <= low_rating), 1), else_=0)).label("negative_low"),
        )
        .group_by(opinions.c.aspect_group)
        .having(negatives >= min_mentions)
    ).all()
    out = []
    for row in rows:
        negative_mean = float(row.negative_rating_sum) / row.negative
        drop = mean - negative_mean
        out.append(
            Driver(
                group=row.aspect_group,
                negative_reviews=row.negative,
                positive_reviews=int(row.positive),
                average_rating_when_negative=round(negative_mean, 3),
                rating_drop=round(drop, 3),
                share_of_low_ratings=round(int(row.negative_low) / low, 4) if low else 0.0,
                impact=round(drop * row.negative / rated, 4),
            )
        )
    out.sort(key=lambda d: (-d.impact, d.group))
    return Drivers(
        product=ref(product), reviews=rated, average_rating=round(mean, 3), low_rated_reviews=low, drivers=out[:limit]
    )


def overview(session: Session, by: Period = "month") -> Overview:
    """Review volume and sentiment mix per period over every product, and the first and last day."""
    _check_period(by)
    rows = session.execute(
        select(AspectDaily.day, *(func.sum(getattr(AspectDaily, c)).label(c) for c in MIX))
        .where(AspectDaily.aspect_group == REVIEW_LEVEL)
        .group_by(AspectDaily.day)
    )
    periods = [
        OverviewPeriod(
            period=start,
            **{name: counts[name] for name in MIX},
            net_sentiment=net(counts["positive"], counts["negative"], counts["mentions"]),
        )
        for start, counts in by_period(rows, by, MIX)
    ]
    return Overview(by=by, periods=periods, dates=date_range(session))


def aspect_changes(session: Session, start: date, end: date, min_mentions: int = 3, limit: int = 10) -> AspectChanges:
    """Aspects whose net sentiment rose or fell most in [start, end] against the period of equal length before.

    Only (product, aspect) pairs with at least ``min_mentions`` mentions in both periods count."""
    if start > end:
        raise InputError(f"start ({start}) is after end ({end})")
    try:
        before_start = start - (end - start) - timedelta(days=1)
    except OverflowError:
        raise InputError(f"the period before {start} would start before year 1") from None

    def totals(first: date, last: date) -> dict[tuple[int, str], tuple[int, int, int]]:
        rows = session.execute(
            select(
                AspectDaily.product_id,
                AspectDaily.aspect_group,
                func.sum(AspectDaily.mentions),
                func.sum(AspectDaily.positive),
                func.sum(AspectDaily.negative),
            )
            .where(AspectDaily.aspect_group != REVIEW_LEVEL, AspectDaily.day >= first, AspectDaily.day <= last)
            .group_by(AspectDaily.product_id, AspectDaily.aspect_group)
        )
        return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in rows}

    now, before = totals(start, end), totals(before_start, start - timedelta(days=1))
    kept = {k: v for k, v in now.items() if k in before and v[0] >= min_mentions and before[k][0] >= min_mentions}
    names = {p.id: ref(p) for p in session.scalars(select(Product).where(Product.id.in_({k[0] for k in kept})))}
    changes = []
    for key, (mentions, positive, negative) in kept.items():
        was = net(before[key][1], before[key][2], before[key][0])
        is_now = net(positive, negative, mentions)
        changes.append(
            AspectChange(
                product=names[key[0]],
                group=key[1],
                mentions=mentions,
                previous_mentions=before[key][0],
                net_sentiment=is_now,
                previous_net_sentiment=was,
                change=round(is_now - was, 4),
            )
        )
    improved = sorted((c for c in changes if c.change > 0), key=lambda c: (-c.change, c.group))
    declined = sorted((c for c in changes if c.change < 0), key=lambda c: (c.change, c.group))
    return AspectChanges(
        period=DateSpan(start=start, end=end),
        previous=DateSpan(start=before_start, end=start - timedelta(days=1)),
        improved=improved[:limit],
        declined=declined[:limit],
    )


def date_range(session: Session) -> DateRange:
    """The first and last review day in the store."""
    first, last = session.execute(
        select(func.min(Review.day), func.max(Review.day)).where(Review.kind == "review")
    ).one()
    return DateRange(first=first, last=last)
