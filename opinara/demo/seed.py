"""Seed the store with the demo reviews (once: re-running finds them all stored), the demo API keys, and
a day of host metrics with two insights, so the Insights and Hosts pages have something to show."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import func, select, update

from opinara.access.keys import create_key
from opinara.analysis.pipeline import Analyzer
from opinara.config import Settings
from opinara.demo import load_demo_reviews
from opinara.ingest.runner import Ingester, IngestOptions, IngestSummary
from opinara.insights.anomalies import InsightCandidate, InsightService
from opinara.insights.dips import WEEK, dip_examples, dip_insight, find_dips
from opinara.signals.detectors.proportion import ProportionRise
from opinara.signals.detectors.robust import RobustBaseline
from opinara.signals.points import Sample, SeriesKey, host_series
from opinara.signals.service import SeriesService
from opinara.store.db import Store
from opinara.store.models import ApiKey, AspectDaily, Insight, MetricSeries, Product, Review
from opinara.store.writes import upsert_product_metadata

DEMO_SOURCE = "demo"
DEMO_KEY_NAME = "demo"
DEMO_DASHBOARD_KEY_NAME = "demo-dashboard"
# Never admin: every dashboard visitor acts with this key. alerts: acknowledge and resolve insights.
DASHBOARD_SCOPES = ["analyze", "read", "ingest", "monitor", "alerts"]
DEMO_RATE_LIMIT = "6000/minute"
DEMO_HOSTS = ("web-1", "web-2", "db-1")
SPIKE_HOST = "web-2"  # its CPU spikes for SPIKE_MINUTES, SPIKE_AGO before the seeding
SPIKE_AGO = timedelta(hours=5)
SPIKE_MINUTES = 25
DEMO_DIP_WEEKS = 4
# The demo's 72 reviews are far too few for the real thresholds (30 reviews a week); a lenient test finds
# the aspect whose complaints rose most in the demo's last week, reported as the detector reports a dip.
DEMO_DIP_TEST = ProportionRise(alpha=0.45, min_ratio=1.0, min_total=1, min_count=1)


def demo_file(settings: Settings) -> Path:
    """The demo reviews in the Amazon 2023 schema, written once into the data folder."""
    path = settings.data_dir / "demo" / "reviews-amazon-2023.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for review in load_demo_reviews():
            day = datetime.fromisoformat(review.date).replace(hour=12, tzinfo=UTC)
            row = {
                "parent_asin": review.product_id,
                "asin": review.product_id,
                "user_id": review.id,
                "rating": review.rating,
                "timestamp": int(day.timestamp() * 1000),
                "text": review.text,
            }
            lines.append(json.dumps(row, ensure_ascii=False))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def seed_reviews(store: Store, analyzer: Analyzer) -> IngestSummary:
    reviews = load_demo_reviews()
    titles = {r.product_id: r.product for r in reviews}
    with store.session() as session:
        upsert_product_metadata(
            session, DEMO_SOURCE, [{"external_id": k, "title": v, "category": None} for k, v in titles.items()]
        )
    return Ingester(store, analyzer).ingest(demo_file(analyzer.settings), IngestOptions(source=DEMO_SOURCE))


def rotate_key(store: Store, name: str, scopes: list[str]) -> str:
    """A fresh key named ``name``; the previous one is revoked and renamed (keys are shown once, never stored)."""
    with store.session() as session:
        old = session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
        if old is not None:
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == old.id)
                .values(name=f"{name}-{old.id}", revoked_at=old.revoked_at or datetime.now(UTC))
            )
    key, _ = create_key(store, name, scopes, DEMO_RATE_LIMIT)
    return key


def rotate_demo_key(store: Store) -> str:
    """A fresh all-scopes demo key for the person who started the demo; the previous one is revoked."""
    return rotate_key(store, DEMO_KEY_NAME, ["analyze", "read", "ingest", "admin"])


def rotate_dashboard_key(store: Store) -> str:
    """A fresh key for the demo dashboard, without admin (its visitors are anonymous); the previous one
    is revoked."""
    return rotate_key(store, DEMO_DASHBOARD_KEY_NAME, DASHBOARD_SCOPES)


class SignalsSeeded(BaseModel):
    points: int  # host metric points stored now (0 when the demo hosts were already there)
    insights: int  # insights raised now (0 when they were already there)


def seed_signals(
    store: Store, series: SeriesService, insights: InsightService, now: datetime | None = None
) -> SignalsSeeded:
    """A day of one-minute host metrics for the demo hosts (with a CPU spike on one), and two insights:
    a sentiment dip from the demo reviews' last week and the spike's metric anomaly. Once: hosts and
    insights already there are left as they are."""
    current = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    with store.session() as session:
        seeded = session.scalar(select(func.count()).select_from(MetricSeries).where(MetricSeries.name.like("host_%")))
    points = 0
    raised = 0
    if not seeded:
        samples = host_samples(current)
        points, _ = series.write(samples)
        spike = _spike_insight(samples, current)
        if spike is not None:
            raised += _raise_once(store, insights, *spike)
    dip = _demo_dip(store)
    if dip is not None:
        raised += _raise_once(store, insights, dip, [current])
    return SignalsSeeded(points=points, insights=raised)


def host_samples(end: datetime, hours: int = 24) -> list[Sample]:
    """One-minute samples of the four IOps metrics for each demo host over the ``hours`` before ``end``:
    a daily rhythm, noise, and the CPU spike on SPIKE_HOST (deterministic: the same every time)."""
    noise = random.Random(7)  # made-up data: the same every time
    spike_start = end - SPIKE_AGO
    samples = []
    for index, host in enumerate(DEMO_HOSTS):
        base = 20.0 + 12 * index
        for minute in range(hours * 60, 0, -1):
            at = end - timedelta(minutes=minute)
            day = math.sin(2 * math.pi * (at.hour * 60 + at.minute) / 1440 - math.pi / 2)  # low at night
            cpu = base + 10 * day + noise.gauss(0, 2.0)
            if host == SPIKE_HOST and spike_start <= at < spike_start + timedelta(minutes=SPIKE_MINUTES):
                cpu = 93 + noise.gauss(0, 2.0)
            values = {
                "cpuUsage": min(max(cpu, 0.0), 100.0),
                "memoryUsage": min(55.0 + 4 * index + 3 * day + noise.gauss(0, 0.8), 100.0),
                "diskIO": max(120.0 + 40 * index + 35 * day + noise.gauss(0, 12.0), 0.0),
                "networkIO": max(150.0 + 60 * day + noise.gauss(0, 15.0), 0.0),
            }
            samples += [
                Sample(SeriesKey.of(host_series(field), {"host": host}), at, round(value, 2))
                for field, value in values.items()
            ]
    return samples


def _spike_insight(samples: list[Sample], end: datetime) -> tuple[InsightCandidate, list[datetime]] | None:
    """The spike as ``detector.robust.v1`` sees it on the CPU series: the insight and when it was raised
    (at the onset) and seen last (at the end of the spike)."""
    name = host_series("cpuUsage")
    cpu = sorted((s.at, s.value) for s in samples if s.key == SeriesKey.of(name, {"host": SPIKE_HOST}))
    detector = RobustBaseline()
    for at, value in cpu:
        verdict = detector.update(at, value)
        if verdict.alert:
            break
    else:
        return None
    until = at + timedelta(minutes=SPIKE_MINUTES)
    expected = round(verdict.expected or 0.0, 1)
    severity = "critical" if value >= 90 else "warning"
    candidate = InsightCandidate(
        type="metric_anomaly",
        severity=severity,
        entity_kind="host",
        entity={"host": SPIKE_HOST},
        message=f"CPU usage on {SPIKE_HOST} jumped to {value:.0f}% where about {expected:.0f}% was expected",
        evidence={
            "window": {"start": at.isoformat(), "end": until.isoformat()},
            "baseline": {"start": cpu[0][0].isoformat(), "end": at.isoformat(), "weeks": 0},
            "figures": {
                "value": value,
                "expected": expected,
                "spread": round(verdict.spread or 0.0, 2),
                "deviation": round(verdict.deviation or 0.0, 1),
            },
            "series": name,
            "labels": {"host": SPIKE_HOST},
            "detector": RobustBaseline.name,
            "score": round(verdict.score, 4),
            "examples": [],
        },
        detector=RobustBaseline.name,
        score=verdict.score,
    )
    return candidate, [at, min(until, end)]


def _demo_dip(store: Store) -> InsightCandidate | None:
    """The sentiment dip of the demo reviews' last week, with its figures and example reviews."""
    with store.session() as session:
        last: date | None = session.scalar(select(func.max(Review.day)).where(Review.source == DEMO_SOURCE))
        if last is None:
            return None
        end = last + timedelta(days=1)
        rows = session.execute(
            select(
                AspectDaily.product_id,
                AspectDaily.aspect_group,
                AspectDaily.day,
                AspectDaily.mentions,
                AspectDaily.negative,
            ).where(AspectDaily.day >= end - WEEK * (DEMO_DIP_WEEKS + 1), AspectDaily.day < end)
        )
        dips, _ = find_dips([tuple(row) for row in rows], end, DEMO_DIP_WEEKS, DEMO_DIP_TEST)  # type: ignore[misc]
        if not dips:
            return None
        dip = max(dips, key=lambda d: (d.change.score, -d.product_id, d.group))
        product = session.get(Product, dip.product_id)
        examples = dip_examples(session, dip, end)
    title = (product.title or product.external_id) if product else None
    return dip_insight(dip, title, examples, end, DEMO_DIP_WEEKS, DEMO_DIP_TEST)


def _raise_once(store: Store, insights: InsightService, candidate: InsightCandidate, seen: list[datetime]) -> int:
    """Raise ``candidate`` (first seen at ``seen[0]``, refreshed at the rest) unless an insight of its type
    and entity exists already, in any state; 1 when raised."""
    with store.session() as session:
        there = session.scalar(
            select(Insight.id).where(Insight.type == candidate.type, Insight.entity_key == candidate.entity_key())
        )
    if there is not None:
        return 0
    for moment in seen:
        insights.raise_insight(candidate, moment)
    return 1
