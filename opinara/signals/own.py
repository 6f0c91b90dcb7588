"""Opinara's own signals as series, with no setup: what the store and the process already know.

``collect(store, settings, now, deltas)`` returns samples for ``SeriesService.write``; it writes nothing
itself. Two cadences:

- Daily, once a UTC day is complete (``settle`` after its end) and for at most ``lookback_days`` back:
  review and mention volume and net sentiment per product, aspect, monitor and tag, and cost per key.
  A daily point is stamped at the **end** of its day (the midnight that closes it), so a one-day window
  ending now (``cost_daily``'s rule) holds the last complete day. A day already collected is not
  collected again: with its samples comes a marker point, ``own_signals_daily_samples`` (how many
  samples that day gave), and a day with a marker is skipped, across restarts and workers alike.
  Until the samples are written, every call returns them again, the same; once written, a second write
  of them is only duplicates. A product, aspect, monitor or tag with nothing that day has no point that
  day: a gap, never a zero.
- Every minute (``now`` truncated to the minute): queue depth and failing monitors from the store, and
  the API's error ratio, p99 latency, cache hit ratio and median job time from the process's Prometheus
  metrics, as increases since the previous collection (``Deltas``). Without traffic in between there is
  no point, not a zero. Calls within the same minute return the same samples.

Labels: ``product`` is the product's external id (``source:external_id`` when two sources use the same
id), ``aspect`` the aspect group, ``monitor`` the monitor's name, ``key`` the API key's name.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opinara.config import Settings
from opinara.signals.points import Sample, SeriesKey
from opinara.signals.service import labels_key
from opinara.store.db import Store
from opinara.store.models import (
    ApiKey,
    AspectDaily,
    Job,
    KeyUsage,
    MetricPoint,
    MetricSeries,
    Monitor,
    MonitorDaily,
    Product,
)

DAILY_MARKER = "own_signals_daily_samples"
RANK_DAYS = 28  # products and aspects are ranked by their volume over the four weeks ending with the day
DEFAULT_TOP_PRODUCTS = 50
DEFAULT_TOP_ASPECTS = 10
DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_SETTLE = timedelta(minutes=10)  # late usage flushes and ingests of the day just ended
# What the monitor runner writes when it pauses a monitor (``monitors.schedule.decide``); a user's pause
# reason is free text, so a monitor paused by a person is told apart by this.
_ERROR_PAUSE = re.compile(r"^(authentication failed|\d+ failed runs in a row)")


def collect(
    store: Store,
    settings: Settings,
    now: datetime,
    deltas: Deltas | None = None,
    *,
    top_products: int = DEFAULT_TOP_PRODUCTS,
    top_aspects: int = DEFAULT_TOP_ASPECTS,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    settle: timedelta = DEFAULT_SETTLE,
) -> list[Sample]:
    """Opinara's own samples at ``now``: the minute's figures, and the daily ones of every complete day of
    the last ``lookback_days`` not collected yet. ``deltas`` holds the previous snapshot of the process's
    metrics; without it the Prometheus-derived series are left out. ``top_products`` and ``top_aspects``
    (per product) cap the per-product series of a pass."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    samples: list[Sample] = []
    with store.session() as session:
        samples += queue_depth(session, minute)
        samples += monitor_failing(session, minute)
        for day in pending_days(session, now, lookback_days, settle, settings.metrics_raw_retention_days):
            daily = [
                *review_signals(session, day, top_products, top_aspects),
                *monitor_signals(session, day),
                *cost_signals(session, settings, day),
            ]
            samples += daily
            samples.append(Sample(SeriesKey.of(DAILY_MARKER, {}), day_instant(day), float(len(daily))))
    if deltas is not None:
        samples += deltas.samples(minute)
    return samples


def day_instant(day: date) -> datetime:
    """The instant a daily point of ``day`` is stamped with: the end of the day, UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), UTC)


def pending_days(
    session: Session, now: datetime, lookback_days: int, settle: timedelta, retention_days: float
) -> list[date]:
    """The complete days (ended at least ``settle`` ago) of the last ``lookback_days``, oldest first,
    that have no ``own_signals_daily_samples`` point yet. A day whose points are within an hour of
    being deleted as old raw points (``retention_days``) is left alone: with its marker gone, it would
    be collected again and its points added to the rollups a second time."""
    last = (now - settle).astimezone(UTC).date() - timedelta(days=1)
    oldest = now - timedelta(days=retention_days) + timedelta(hours=1)
    days = [last - timedelta(days=n) for n in range(lookback_days)]
    days = [day for day in days if day_instant(day) > oldest]
    if not days:
        return []
    done = set(
        session.scalars(
            select(MetricPoint.at)
            .join(MetricSeries, MetricSeries.id == MetricPoint.series_id)
            .where(
                MetricSeries.name == DAILY_MARKER,
                MetricSeries.labels_key == labels_key(()),
                MetricPoint.at.in_([day_instant(day) for day in days]),
            )
        )
    )
    return sorted(day for day in days if day_instant(day) not in done)


def _net(positive: int, negative: int, mentions: int) -> float:
    return (positive - negative) / mentions


# -- daily: products and aspects ---------------------------------------------------------------------


def review_signals(session: Session, day: date, top_products: int, top_aspects: int) -> list[Sample]:
    """Per product, for the ``top_products`` with the most reviews over the ``RANK_DAYS`` ending with
    ``day`` (ties: lower id first), from ``aspect_daily``:

    - ``reviews_daily{product}``: reviews counted that day (the review-level row's mentions);
    - ``net_sentiment_daily{product}``: (positive - negative) / reviews, -1..1;
    - ``aspect_negative_share_daily{product,aspect}``: negative / mentions of the aspect group that day,
      0..1, for the product's ``top_aspects`` groups by mentions over the same weeks.

    Only what had reviews (mentions) that day has a point."""
    if top_products <= 0:
        return []
    at = day_instant(day)
    since = day - timedelta(days=RANK_DAYS - 1)
    volume = func.sum(AspectDaily.mentions)
    ranked = session.execute(
        select(AspectDaily.product_id)
        .where(AspectDaily.aspect_group == "", AspectDaily.day >= since, AspectDaily.day <= day)
        .group_by(AspectDaily.product_id)
        .having(volume > 0)
        .order_by(volume.desc(), AspectDaily.product_id)
        .limit(top_products)
    ).scalars()
    products = list(ranked)
    if not products:
        return []
    names = product_labels(session, products)
    aspects = _top_aspects(session, products, since, day, top_aspects)
    rows = session.execute(
        select(
            AspectDaily.product_id,
            AspectDaily.aspect_group,
            AspectDaily.mentions,
            AspectDaily.positive,
            AspectDaily.negative,
        )
        .where(AspectDaily.day == day, AspectDaily.product_id.in_(products))
        .order_by(AspectDaily.product_id, AspectDaily.aspect_group)
    ).all()
    samples = []
    for product_id, group, mentions, positive, negative in rows:
        if mentions <= 0:
            continue
        product = names[product_id]
        if group == "":
            samples.append(Sample(SeriesKey.of("reviews_daily", {"product": product}), at, float(mentions)))
            samples.append(
                Sample(
                    SeriesKey.of("net_sentiment_daily", {"product": product}),
                    at,
                    _net(positive, negative, mentions),
                )
            )
        elif group in aspects.get(product_id, ()):
            key = SeriesKey.of("aspect_negative_share_daily", {"product": product, "aspect": group})
            samples.append(Sample(key, at, negative / mentions))
    return samples


def _top_aspects(session: Session, products: Sequence[int], since: date, day: date, top: int) -> dict[int, set[str]]:
    """Each product's ``top`` aspect groups by mentions over ``since..day`` (ties: by name)."""
    if top <= 0:
        return {}
    volume = func.sum(AspectDaily.mentions).label("volume")
    rows = session.execute(
        select(AspectDaily.product_id, AspectDaily.aspect_group, volume)
        .where(
            AspectDaily.product_id.in_(products),
            AspectDaily.aspect_group != "",
            AspectDaily.day >= since,
            AspectDaily.day <= day,
        )
        .group_by(AspectDaily.product_id, AspectDaily.aspect_group)
    ).all()
    ranked: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for product_id, group, total in rows:
        if total and total > 0:
            ranked[product_id].append((-int(total), group))
    return {product_id: {group for _, group in sorted(entries)[:top]} for product_id, entries in ranked.items()}


def product_labels(session: Session, product_ids: Sequence[int]) -> dict[int, str]:
    """The ``product`` label of each product: its external id, or ``source:external_id`` where another
    source has a product with the same external id."""
    rows = session.execute(
        select(Product.id, Product.source, Product.external_id).where(Product.id.in_(product_ids))
    ).all()
    shared = set(
        session.scalars(
            select(Product.external_id)
            .where(Product.external_id.in_({external for _, _, external in rows}))
            .group_by(Product.external_id)
            .having(func.count() > 1)
        )
    )
    return {
        product_id: f"{source}:{external}" if external in shared else external for product_id, source, external in rows
    }


# -- daily: monitors and tags ------------------------------------------------------------------------


def monitor_signals(session: Session, day: date) -> list[Sample]:
    """Per monitor and per tag, from ``monitor_daily``'s mention-level rows:

    - ``mentions_daily{monitor}``: mentions the monitor stored for that day;
    - ``net_sentiment_daily_monitor{monitor}``: (positive - negative) / mentions, -1..1;
    - ``mentions_daily_tag{tag}``: the mentions of the monitors that carry the tag, summed;
    - ``net_sentiment_daily_tag{tag}``: the net sentiment of those mentions together.

    Only monitors and tags with mentions that day have a point."""
    at = day_instant(day)
    rows = session.execute(
        select(Monitor.name, Monitor.tags, MonitorDaily.mentions, MonitorDaily.positive, MonitorDaily.negative)
        .join(Monitor, Monitor.id == MonitorDaily.monitor_id)
        .where(MonitorDaily.day == day, MonitorDaily.aspect_group == "", MonitorDaily.mentions > 0)
        .order_by(Monitor.name)
    ).all()
    samples = []
    tags: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for name, monitor_tags, mentions, positive, negative in rows:
        samples.append(Sample(SeriesKey.of("mentions_daily", {"monitor": name}), at, float(mentions)))
        net = _net(positive, negative, mentions)
        samples.append(Sample(SeriesKey.of("net_sentiment_daily_monitor", {"monitor": name}), at, net))
        for tag in set(monitor_tags or ()):
            totals = tags[tag]
            totals[0], totals[1], totals[2] = totals[0] + mentions, totals[1] + positive, totals[2] + negative
    for tag, (mentions, positive, negative) in sorted(tags.items()):
        samples.append(Sample(SeriesKey.of("mentions_daily_tag", {"tag": tag}), at, float(mentions)))
        samples.append(
            Sample(SeriesKey.of("net_sentiment_daily_tag", {"tag": tag}), at, _net(positive, negative, mentions))
        )
    return samples


# -- daily: cost per key -----------------------------------------------------------------------------


def cost_signals(session: Session, settings: Settings, day: date) -> list[Sample]:
    """``cost_daily{key}``: the texts the key had analyzed that UTC day / 1000 x the price per 1,000 texts
    of the default backend (``settings.cost_per_1000_texts[settings.backend]``), in the configured
    currency. ``key_usage`` counts texts per key and day without the backend that analyzed them, so all
    are priced at the default backend's price. A key with no usage row that day has no point; with no
    price for the default backend, there is no cost series at all (rather than a made-up zero)."""
    price = settings.cost_per_1000_texts.get(settings.backend)
    if price is None:
        return []
    at = day_instant(day)
    rows = session.execute(
        select(ApiKey.name, KeyUsage.texts)
        .join(ApiKey, ApiKey.id == KeyUsage.key_id)
        .where(KeyUsage.day == day)
        .order_by(ApiKey.name)
    ).all()
    return [Sample(SeriesKey.of("cost_daily", {"key": name}), at, texts / 1000 * price) for name, texts in rows]


# -- minutely: the store -----------------------------------------------------------------------------


def queue_depth(session: Session, minute: datetime) -> list[Sample]:
    """``queue_depth``: jobs waiting in the queue (``jobs`` rows with status queued), at every
    collection: an empty queue is a true zero."""
    waiting = session.scalar(select(func.count()).select_from(Job).where(Job.status == "queued")) or 0
    return [Sample(SeriesKey.of("queue_depth", {}), minute, float(waiting))]


def monitor_failing(session: Session, minute: datetime) -> list[Sample]:
    """``monitor_failing{monitor}``: 1 while the monitor's last run failed or the runner paused it for
    errors, else 0; for every active monitor and every monitor paused by errors (one paused by a person
    has no point)."""
    rows = session.execute(
        select(Monitor.name, Monitor.state, Monitor.paused_reason, Monitor.last_status).order_by(Monitor.name)
    ).all()
    samples = []
    for name, state, reason, last_status in rows:
        error_paused = state == "paused" and bool(reason) and _ERROR_PAUSE.match(reason) is not None
        if state != "active" and not error_paused:
            continue
        failing = error_paused or last_status == "failed"
        samples.append(Sample(SeriesKey.of("monitor_failing", {"monitor": name}), minute, 1.0 if failing else 0.0))
    return samples


# -- minutely: the process's Prometheus metrics ------------------------------------------------------


def process_metrics() -> Iterable[Metric]:
    """This deployment's metrics as ``/metrics`` serves them: merged over the server processes in
    multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``), else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry.collect()
    return REGISTRY.collect()


Buckets = tuple[tuple[float, float], ...]  # (upper bound, cumulative count), by bound, +Inf last


@dataclass(frozen=True)
class Snapshot:
    """Counter totals read at one moment, summed over their labels."""

    requests: float = 0.0
    errors: float = 0.0  # 5xx responses
    latency: Buckets = ()
    cache_hits: float = 0.0  # first level (memory)
    cache_lookups: float = 0.0
    jobs: Buckets = ()

    def counters(self) -> tuple[float, ...]:
        return (self.requests, self.errors, self.cache_hits, self.cache_lookups)


def snapshot(metrics: Iterable[Metric]) -> Snapshot:
    """The totals ``Deltas`` compares, from Prometheus metric families."""
    requests = errors = hits = lookups = 0.0
    latency: dict[float, float] = defaultdict(float)
    jobs: dict[float, float] = defaultdict(float)
    for metric in metrics:
        for sample in metric.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "opinara_http_requests_total":
                requests += value
                errors += value if labels.get("status", "").startswith("5") else 0.0
            elif name == "opinara_http_request_duration_seconds_bucket":
                latency[float(labels["le"])] += value
            elif name == "opinara_cache_lookups_total" and labels.get("level") == "memory":
                lookups += value
                hits += value if labels.get("outcome") == "hit" else 0.0
            elif name == "opinara_job_duration_seconds_bucket":
                jobs[float(labels["le"])] += value
    return Snapshot(requests, errors, tuple(sorted(latency.items())), hits, lookups, tuple(sorted(jobs.items())))


def _bucket_delta(now: Buckets, before: Buckets) -> Buckets | None:
    """Increase per bucket; None when a count went down (the counters were reset)."""
    earlier = dict(before)
    delta = tuple((bound, count - earlier.get(bound, 0.0)) for bound, count in now)
    return None if any(count < 0 for _, count in delta) else delta


def bucket_quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile of a histogram's cumulative buckets, as Prometheus's ``histogram_quantile``
    reckons it: linear within the bucket it falls in (the first from 0), and the highest finite bound
    when it falls in +Inf. None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def delta_samples(before: Snapshot, now: Snapshot, minute: datetime) -> list[Sample]:
    """The minute's samples from the increase between two snapshots:

    - ``api_error_ratio``: 5xx responses / responses, 0..1;
    - ``api_latency_p99_seconds``: p99 of request latency, from the latency histogram;
    - ``cache_hit_ratio``: first-level (memory) cache hits / lookups, 0..1;
    - ``job_duration_seconds_p50``: median run time of the jobs that finished, from the job histogram.

    Each only with traffic of its own in between; nothing at all when a counter went down (reset)."""
    increase = [b - a for a, b in zip(before.counters(), now.counters(), strict=True)]
    latency = _bucket_delta(now.latency, before.latency)
    jobs = _bucket_delta(now.jobs, before.jobs)
    if any(value < 0 for value in increase) or latency is None or jobs is None:
        return []
    requests, errors, hits, lookups = increase
    samples = []
    if requests > 0:
        samples.append(Sample(SeriesKey.of("api_error_ratio", {}), minute, errors / requests))
    p99 = bucket_quantile(0.99, latency)
    if p99 is not None:
        samples.append(Sample(SeriesKey.of("api_latency_p99_seconds", {}), minute, p99))
    if lookups > 0:
        samples.append(Sample(SeriesKey.of("cache_hit_ratio", {}), minute, hits / lookups))
    p50 = bucket_quantile(0.5, jobs)
    if p50 is not None:
        samples.append(Sample(SeriesKey.of("job_duration_seconds_p50", {}), minute, p50))
    return samples


class Deltas:
    """The state the caller keeps between collections: the previous snapshot of the process's metrics.

    The first call only takes a snapshot (the interval before it is unknown). A later call in a new
    minute compares with the previous snapshot and keeps the new one; a call in the same minute returns
    that minute's samples again without reading, so an interval is never split or counted twice."""

    def __init__(self, read: Callable[[], Iterable[Metric]] = process_metrics) -> None:
        self._read = read
        self._previous: Snapshot | None = None
        self._minute: datetime | None = None
        self._samples: list[Sample] = []

    def samples(self, minute: datetime) -> list[Sample]:
        if minute != self._minute:
            current = snapshot(self._read())
            previous, self._previous, self._minute = self._previous, current, minute
            self._samples = [] if previous is None else delta_samples(previous, current, minute)
        return list(self._samples)
