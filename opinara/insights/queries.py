"""Insight queries over the aggregates and mentions: products, aspects, trends and drivers.

Every function reads; none writes. Results are plain dicts, ready for JSON (the CLI and the API)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opinara.errors import InputError, NotFoundError
from opinara.ingest.quality import AGGREGATE_MIN_QUALITY
from opinara.insights.aggregates import REVIEW_LEVEL
from opinara.store.models import AspectDaily, AspectMention, Product, Review

Period = Literal["day", "week", "month"]
COUNTS = ("mentions", "positive", "negative", "neutral", "mixed", "rating_centi_sum", "rating_count")
MIX = COUNTS[:5]  # the sentiment mix: mentions and each label
SNIPPET_RADIUS = 70


def net(positive: int, negative: int, total: int) -> float:
    """Net sentiment in [-1, 1]: (positive - negative) / total."""
    return round((positive - negative) / total, 4) if total else 0.0


def find_product(session: Session, ref: str) -> Product:
    """A product by its external id (asin, ...) or, failing that, by Opinara's numeric id."""
    product = session.scalars(select(Product).where(Product.external_id == ref).order_by(Product.id)).first()
    if product is None and ref.isdigit():
        product = session.get(Product, int(ref))
    if product is None:
        raise NotFoundError(f"no product {ref!r}")
    return product


def _totals(session: Session, product_ids: list[int] | None = None) -> dict[tuple[int, str], dict[str, int]]:
    columns = [func.sum(getattr(AspectDaily, c)).label(c) for c in COUNTS]
    query = select(AspectDaily.product_id, AspectDaily.aspect_group, *columns).group_by(
        AspectDaily.product_id, AspectDaily.aspect_group
    )
    if product_ids is not None:
        query = query.where(AspectDaily.product_id.in_(product_ids))
    return {
        (row.product_id, row.aspect_group): {
            k: int(v or 0) for k, v in row._mapping.items() if k not in ("product_id", "aspect_group")
        }
        for row in session.execute(query)
    }


def _aspect_entry(group: str, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "group": group,
        "mentions": counts["mentions"],
        "positive": counts["positive"],
        "negative": counts["negative"],
        "neutral": counts["neutral"],
        "net_sentiment": net(counts["positive"], counts["negative"], counts["mentions"]),
    }


def products(session: Session, top: int = 3, min_mentions: int = 2) -> list[dict[str, Any]]:
    """One entry per product: reviews, average rating, sentiment mix, net sentiment, top aspects."""
    totals = _totals(session)
    by_product: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    for (product_id, group), counts in totals.items():
        by_product[product_id][group] = counts
    out = []
    for product in session.scalars(select(Product).order_by(Product.id)):
        groups = by_product.get(product.id, {})
        review_level = groups.get(REVIEW_LEVEL, dict.fromkeys(COUNTS, 0))
        aspects = [
            _aspect_entry(g, c) for g, c in groups.items() if g != REVIEW_LEVEL and c["mentions"] >= min_mentions
        ]
        positive = sorted(
            (a for a in aspects if a["net_sentiment"] > 0),
            key=lambda a: (a["negative"] - a["positive"], -a["mentions"], a["group"]),
        )
        negative = sorted(
            (a for a in aspects if a["net_sentiment"] < 0),
            key=lambda a: (a["positive"] - a["negative"], -a["mentions"], a["group"]),
        )
        reviews = review_level["mentions"]
        out.append(
            {
                "id": product.id,
                "external_id": product.external_id,
                "source": product.source,
                "title": product.title,
                "category": product.category,
                "reviews": reviews,
                "average_rating": round(review_level["rating_centi_sum"] / 100 / review_level["rating_count"], 3)
                if review_level["rating_count"]
                else None,
                "sentiment": {k: review_level[k] for k in ("positive", "negative", "neutral", "mixed")},
                "net_sentiment": net(review_level["positive"], review_level["negative"], reviews),
                "top_positive_aspects": positive[:top],
                "top_negative_aspects": negative[:top],
            }
        )
    return out


def _snippet(text: str, start: int, end: int) -> str:
    left, right = max(0, start - SNIPPET_RADIUS), min(len(text), end + SNIPPET_RADIUS)
    return ("…" if left else "") + " ".join(text[left:right].split()) + ("…" if right < len(text) else "")


def aspects(
    session: Session, ref: str, sort: Literal["mentions", "net"] = "mentions", limit: int = 20, examples: int = 2
) -> dict[str, Any]:
    """A product's aspect groups ranked by mentions (or net sentiment), with example snippets."""
    product = find_product(session, ref)
    entries = [_aspect_entry(g, c) for (_, g), c in _totals(session, [product.id]).items() if g != REVIEW_LEVEL]
    key = (
        (lambda a: (-a["mentions"], a["group"]))
        if sort == "mentions"
        else (lambda a: (-a["net_sentiment"], -a["mentions"], a["group"]))
    )
    entries = sorted(entries, key=key)[:limit]
    for entry in entries:
        rows = session.execute(
            select(AspectMention.start, AspectMention.end, AspectMention.polarity, Review.text, Review.id)
            .join(Review, Review.id == AspectMention.review_id)
            .where(
                AspectMention.product_id == product.id,
                AspectMention.aspect_group == entry["group"],
                Review.quality_score >= AGGREGATE_MIN_QUALITY,
            )
            .order_by(AspectMention.id)
            .limit(50)
        ).all()
        chosen, polarities = [], set()
        for row in rows:  # prefer examples of different polarities
            if row.polarity not in polarities:
                polarities.add(row.polarity)
                chosen.append(row)
        chosen += [r for r in rows if r not in chosen]
        entry["examples"] = [
            {"review_id": r.id, "polarity": r.polarity, "snippet": _snippet(r.text, r.start, r.end)}
            for r in chosen[:examples]
        ]
    return {
        "product": {"id": product.id, "external_id": product.external_id, "title": product.title},
        "aspects": entries,
    }


def period_start(day: date, by: Period) -> date:
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day


def _check_period(by: str) -> None:
    if by not in ("day", "week", "month"):
        raise InputError(f"--by must be day, week or month, not {by!r}")


def _by_period(rows: Iterable[Any], by: Period, names: tuple[str, ...]) -> list[tuple[date, dict[str, int]]]:
    """Daily rows summed into periods (``name`` columns), oldest first."""
    buckets: dict[date, dict[str, int]] = {}
    for row in rows:
        bucket = buckets.setdefault(period_start(row.day, by), defaultdict(int))
        for name in names:
            bucket[name] += int(getattr(row, name) or 0)
    return sorted(buckets.items())


def trends(session: Session, ref: str, aspect: str | None = None, by: Period = "month") -> dict[str, Any]:
    """Mentions and net sentiment per period, for the product or one of its aspect groups."""
    _check_period(by)
    product = find_product(session, ref)
    group = REVIEW_LEVEL if aspect is None else aspect
    rows = session.execute(
        select(AspectDaily)
        .where(AspectDaily.product_id == product.id, AspectDaily.aspect_group == group)
        .order_by(AspectDaily.day)
    ).scalars()
    periods = [
        {
            "period": start.isoformat(),
            "mentions": counts["mentions"],
            "positive": counts["positive"],
            "negative": counts["negative"],
            "net_sentiment": net(counts["positive"], counts["negative"], counts["mentions"]),
            "average_rating": round(counts["rating_centi_sum"] / 100 / counts["rating_count"], 3)
            if counts["rating_count"]
            else None,
        }
        for start, counts in _by_period(rows, by, COUNTS)
    ]
    return {
        "product": {"id": product.id, "external_id": product.external_id, "title": product.title},
        "aspect": aspect,
        "by": by,
        "periods": periods,
    }


def drivers(
    session: Session, ref: str, low_rating: float = 2.0, min_mentions: int = 3, limit: int = 10
) -> dict[str, Any]:
    """Which aspects' sentiment best explains low star ratings.

    For each aspect group: how many rated reviews mention it negatively, their average rating against
    the product's, and the share of low-rated reviews (``rating <= low_rating``) that complain about it.
    ``impact`` = rating drop x share of reviews with that complaint: the stars the complaint costs the
    product's average.
    """
    product = find_product(session, ref)
    good = (Review.product_id == product.id, Review.quality_score >= AGGREGATE_MIN_QUALITY, Review.rating.is_not(None))
    ratings: dict[int, float] = {
        rid: rating for rid, rating in session.execute(select(Review.id, Review.rating).where(*good))
    }
    if not ratings:
        return {
            "product": {"id": product.id, "external_id": product.external_id, "title": product.title},
            "drivers": [],
            "reviews": 0,
        }
    mean = sum(ratings.values()) / len(ratings)
    low = {rid for rid, r in ratings.items() if r <= low_rating}
    by_group: dict[str, dict[str, set[int]]] = defaultdict(lambda: {"negative": set(), "positive": set()})
    for review_id, group, polarity in session.execute(
        select(AspectMention.review_id, AspectMention.aspect_group, AspectMention.polarity)
        .join(Review, Review.id == AspectMention.review_id)
        .where(*good)
    ):
        if polarity in ("negative", "positive"):
            by_group[group][polarity].add(review_id)
    out = []
    for group, sets in by_group.items():
        negative = sets["negative"]
        if len(negative) < min_mentions:
            continue
        negative_mean = sum(ratings[r] for r in negative) / len(negative)
        drop = mean - negative_mean
        out.append(
            {
                "group": group,
                "negative_reviews": len(negative),
                "positive_reviews": len(sets["positive"]),
                "average_rating_when_negative": round(negative_mean, 3),
                "rating_drop": round(drop, 3),
                "share_of_low_ratings": round(len(negative & low) / len(low), 4) if low else 0.0,
                "impact": round(drop * len(negative) / len(ratings), 4),
            }
        )
    out.sort(key=lambda d: (-d["impact"], d["group"]))
    return {
        "product": {"id": product.id, "external_id": product.external_id, "title": product.title},
        "reviews": len(ratings),
        "average_rating": round(mean, 3),
        "low_rated_reviews": len(low),
        "drivers": out[:limit],
    }


def overview(session: Session, by: Period = "month") -> dict[str, Any]:
    """Review volume and sentiment mix per period over every product."""
    _check_period(by)
    rows = session.execute(
        select(AspectDaily.day, *(func.sum(getattr(AspectDaily, c)).label(c) for c in MIX))
        .where(AspectDaily.aspect_group == REVIEW_LEVEL)
        .group_by(AspectDaily.day)
    )
    return {
        "by": by,
        "periods": [
            {
                "period": start.isoformat(),
                **{name: counts[name] for name in MIX},
                "net_sentiment": net(counts["positive"], counts["negative"], counts["mentions"]),
            }
            for start, counts in _by_period(rows, by, MIX)
        ],
    }


def aspect_changes(session: Session, start: date, end: date, min_mentions: int = 3, limit: int = 10) -> dict[str, Any]:
    """Aspects whose net sentiment rose or fell most in [start, end] against the period of equal length before.

    Only (product, aspect) pairs with at least ``min_mentions`` mentions in both periods count."""
    if start > end:
        raise InputError(f"start ({start}) is after end ({end})")
    before_start = start - (end - start) - timedelta(days=1)

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
    names = {p.id: (p.external_id, p.title) for p in session.scalars(select(Product))}
    changes = []
    for key, (mentions, positive, negative) in now.items():
        if key not in before or mentions < min_mentions or before[key][0] < min_mentions:
            continue
        was = net(before[key][1], before[key][2], before[key][0])
        is_now = net(positive, negative, mentions)
        changes.append(
            {
                "product": {"id": key[0], "external_id": names[key[0]][0], "title": names[key[0]][1]},
                "group": key[1],
                "mentions": mentions,
                "previous_mentions": before[key][0],
                "net_sentiment": is_now,
                "previous_net_sentiment": was,
                "change": round(is_now - was, 4),
            }
        )
    improved = sorted((c for c in changes if c["change"] > 0), key=lambda c: (-c["change"], c["group"]))
    declined = sorted((c for c in changes if c["change"] < 0), key=lambda c: (c["change"], c["group"]))
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "previous": {"start": before_start.isoformat(), "end": (start - timedelta(days=1)).isoformat()},
        "improved": improved[:limit],
        "declined": declined[:limit],
    }


def date_range(session: Session) -> dict[str, str | None]:
    """The first and last review day in the store."""
    first, last = session.execute(select(func.min(Review.day), func.max(Review.day))).one()
    return {"first": first.isoformat() if first else None, "last": last.isoformat() if last else None}
