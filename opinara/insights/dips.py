"""Sentiment dips and emerging aspects: a product's complaints about one aspect (or the talk of an aspect
that used to be rare) rising this week against the weeks before.

For each product and aspect group, from the product x aspect x day aggregates: this week's negative
mentions of the aspect out of the product's reviews, against the same share over the ``weeks`` weeks
before (``detector.proportion.v1``, which counts what small numbers can say). A rise it calls real is
a ``sentiment_dip`` insight for that product and aspect, with the figures, the windows and up to five
reviews that drove it; an open dip whose rise is gone is resolved. The pure part (``find_dips``) reads
rows; ``detect_sentiment_dips`` reads the database and raises the insights.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select

from opinara.insights.aggregates import REVIEW_LEVEL
from opinara.insights.anomalies import InsightCandidate, InsightService, Severity
from opinara.signals.detectors.proportion import ProportionRise, ShareChange
from opinara.store.db import Store
from opinara.store.models import AspectDaily, AspectMention, Product, Review

WEEK = timedelta(days=7)
MAX_EXAMPLES = 5
EMERGING_BASELINE_SHARE = 0.02  # an aspect under this share of a product's reviews before was rare


@dataclass(frozen=True)
class Dip:
    product_id: int
    group: str
    change: ShareChange


class DipReport(BaseModel):
    evaluated: int  # product x aspect pairs with volume this week
    raised: int
    created: int
    resolved: int


def find_dips(
    rows: list[tuple[int, str, date, int, int]],
    end: date,
    weeks: int,
    test: ProportionRise,
    counted: Literal["negative", "mentions"] = "negative",
) -> tuple[list[Dip], int]:
    """``rows`` are (product, group, day, mentions, negative) aggregates in the last ``weeks + 1`` weeks
    before ``end``; returns the rises of each aspect's ``counted`` (its negative mentions, or all its
    mentions) as a share of the product's reviews, and how many product x aspect pairs were judged."""
    start = end - WEEK
    reviews: dict[tuple[int, bool], int] = defaultdict(int)  # (product, this week?) -> reviews
    negative: dict[tuple[int, str, bool], int] = defaultdict(int)
    for product, group, day, mentions, negatives in rows:
        current = day >= start
        if group == REVIEW_LEVEL:
            reviews[(product, current)] += mentions
        else:
            negative[(product, group, current)] += negatives if counted == "negative" else mentions
    pairs = {(product, group) for product, group, current in negative if current}
    dips = []
    for product, group in sorted(pairs):
        change = test.test(
            min(negative[(product, group, True)], reviews[(product, True)]),
            reviews[(product, True)],
            min(negative[(product, group, False)], reviews[(product, False)]),
            reviews[(product, False)],
        )
        if change.alert:
            dips.append(Dip(product, group, change))
    return dips, len(pairs)


def severity_of(change: ShareChange, alpha: float) -> Severity:
    """Critical for a large rise beyond doubt, warning for a clear one, info otherwise."""
    if change.ratio >= 3 and change.p_value <= alpha / 100:
        return "critical"
    return "warning" if change.ratio >= 2 else "info"


def detect_sentiment_dips(
    store: Store, insights: InsightService, now: datetime, weeks: int, test: ProportionRise | None = None
) -> DipReport:
    """Judge every product x aspect with reviews in the week before ``now``; raise and resolve dips."""
    test = test or ProportionRise()
    end = now.date() + timedelta(days=1)
    first = end - WEEK * (weeks + 1)
    with store.session() as session:
        rows = _aggregate_rows(session, first, end)
        dips, evaluated = find_dips(rows, end, weeks, test)
        titles = _titles(session, {dip.product_id for dip in dips})
        examples = {(dip.product_id, dip.group): dip_examples(session, dip, end) for dip in dips}
    created = 0
    present = set()
    for dip in dips:
        candidate = dip_insight(
            dip, titles.get(dip.product_id), examples[(dip.product_id, dip.group)], end, weeks, test
        )
        present.add(candidate.entity_key())
        raised = insights.raise_insight(candidate, now)
        created += int(bool(raised and raised.created))
    resolved = insights.resolve_ended(ProportionRise.name, ["sentiment_dip"], present, now)
    return DipReport(evaluated=evaluated, raised=len(dips), created=created, resolved=resolved)


def detect_emerging_aspects(
    store: Store, insights: InsightService, now: datetime, weeks: int, test: ProportionRise | None = None
) -> DipReport:
    """Aspects that were rare in a product's reviews (under ``EMERGING_BASELINE_SHARE`` over the weeks
    before) and are now a clearly larger share this week: ``emerging_aspect`` insights."""
    test = test or ProportionRise(min_ratio=3.0)
    end = now.date() + timedelta(days=1)
    with store.session() as session:
        rows = _aggregate_rows(session, end - WEEK * (weeks + 1), end)
        rises, evaluated = find_dips(rows, end, weeks, test, counted="mentions")
        rises = [r for r in rises if _baseline_share(r.change) < EMERGING_BASELINE_SHARE]
        titles = _titles(session, {r.product_id for r in rises})
    created, present = 0, set()
    for rise in rises:
        change, name = rise.change, titles.get(rise.product_id) or f"product {rise.product_id}"
        candidate = InsightCandidate(
            type="emerging_aspect",
            severity=severity_of(change, test.alpha),
            entity_kind="product_aspect",
            entity={"product": rise.product_id, "aspect": rise.group, "product_name": name},
            message=(
                f"{rise.group.capitalize()} is new in {name} reviews: {change.count} of {change.total} this week "
                f"({change.rate:.0%}), against {_baseline_share(change):.0%} over the {weeks} weeks before"
            ),
            evidence={
                "window": {"start": (end - WEEK).isoformat(), "end": (end - timedelta(days=1)).isoformat()},
                "figures": {
                    "mentions": change.count,
                    "reviews": change.total,
                    "baseline_mentions": change.baseline_count,
                    "baseline_reviews": change.baseline_total,
                    "ratio": round(change.ratio, 2),
                    "p_value": change.p_value,
                },
                "detector": ProportionRise.name,
                "score": round(change.score, 4),
            },
            detector=ProportionRise.name,
            score=change.score,
        )
        present.add(candidate.entity_key())
        raised = insights.raise_insight(candidate, now)
        created += int(bool(raised and raised.created))
    resolved = insights.resolve_ended(ProportionRise.name, ["emerging_aspect"], present, now)
    return DipReport(evaluated=evaluated, raised=len(rises), created=created, resolved=resolved)


def _baseline_share(change: ShareChange) -> float:
    return change.baseline_count / change.baseline_total if change.baseline_total else 0.0


def _aggregate_rows(session: Any, first: date, end: date) -> list[tuple[int, str, date, int, int]]:
    query = select(
        AspectDaily.product_id, AspectDaily.aspect_group, AspectDaily.day, AspectDaily.mentions, AspectDaily.negative
    ).where(AspectDaily.day >= first, AspectDaily.day < end)
    return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def _titles(session: Any, products: set[int]) -> dict[int, str]:
    query = select(Product.id, Product.title, Product.external_id).where(Product.id.in_(products))
    return {product: title or external for product, title, external in session.execute(query)}


def dip_examples(session: object, dip: Dip, end: date) -> list[int]:
    query = (
        select(Review.id)
        .join(AspectMention, AspectMention.review_id == Review.id)
        .where(
            AspectMention.product_id == dip.product_id,
            AspectMention.aspect_group == dip.group,
            AspectMention.polarity == "negative",
            Review.day >= end - WEEK,
            Review.day < end,
        )
        .distinct()
        .order_by(Review.id.desc())
        .limit(MAX_EXAMPLES)
    )
    return list(session.scalars(query))  # type: ignore[attr-defined]


def dip_insight(
    dip: Dip, title: str | None, examples: list[int], end: date, weeks: int, test: ProportionRise
) -> InsightCandidate:
    change = dip.change
    name = title or f"product {dip.product_id}"
    before = change.baseline_count / change.baseline_total if change.baseline_total else 0.0
    message = (
        f"Complaints about {dip.group} on {name} rose from {before:.0%} to {change.rate:.0%} of reviews this week "
        f"({change.count} of {change.total}), {change.ratio:.1f} times the {weeks}-week baseline"
    )
    start = end - WEEK
    return InsightCandidate(
        type="sentiment_dip",
        severity=severity_of(change, test.alpha),
        entity_kind="product_aspect",
        entity={"product": dip.product_id, "aspect": dip.group, "product_name": name},
        message=message,
        evidence={
            "window": {"start": start.isoformat(), "end": (end - timedelta(days=1)).isoformat()},
            "baseline": {
                "start": (start - WEEK * weeks).isoformat(),
                "end": (start - timedelta(days=1)).isoformat(),
                "weeks": weeks,
            },
            "figures": {
                "negative": change.count,
                "reviews": change.total,
                "share": round(change.rate, 4),
                "baseline_negative": change.baseline_count,
                "baseline_reviews": change.baseline_total,
                "baseline_share": round(before, 4),
                "ratio": round(change.ratio, 2),
                "p_value": change.p_value,
            },
            "detector": ProportionRise.name,
            "score": round(change.score, 4),
            "examples": examples,
        },
        detector=ProportionRise.name,
        score=change.score,
    )
