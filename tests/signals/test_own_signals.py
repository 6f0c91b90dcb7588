"""Opinara's own signals (SQLite and PostgreSQL): figures equal to hand-computed ones, a day collected
once however often it is asked for, gaps kept as gaps, the product cap, and deltas of the process's
Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import select, update

from opinara.access.keys import create_key
from opinara.config import Settings
from opinara.ingest.runner import Ingester
from opinara.monitors.models import MonitorSpec
from opinara.monitors.service import MonitorService
from opinara.observability.metrics import LATENCY_BUCKETS, REQUESTS
from opinara.signals.own import (
    DAILY_MARKER,
    Deltas,
    bucket_quantile,
    collect,
    day_instant,
    process_metrics,
    snapshot,
)
from opinara.signals.points import Sample
from opinara.signals.service import SeriesService
from opinara.store.models import Job, KeyUsage, Monitor, MonitorDaily
from tests.store.conftest import make_store

ROWS = [
    # product, rating, date, text (the lexicon analyzer's verdicts are in the comments)
    ("kettle", 5, "2026-03-01", "The handle is comfortable."),  # positive; handle +
    ("kettle", 1, "2026-03-01", "The lid is awful and it leaks."),  # negative; lid -
    ("kettle", 2, "2026-03-02", "The lid is terrible."),  # negative; lid -
    ("kettle", 4, "2026-03-02", "Comfortable handle."),  # positive; handle +
    ("kettle", 1, "2026-03-02", "The lid is bad but the handle is great."),  # positive; lid -, handle +
    ("toaster", 3, "2026-03-02", "The timer is terrible."),  # negative; timer -
    ("mug", 5, "2026-03-01", "Lovely mug."),  # positive; mug +
]
NOW = datetime(2026, 3, 4, 12, 0, 30, tzinfo=UTC)  # complete days: 03-01 .. 03-03 (lookback 3)
MINUTE = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
MAR1, MAR2, MAR3 = day_instant(date(2026, 3, 1)), day_instant(date(2026, 3, 2)), day_instant(date(2026, 3, 3))


@pytest.fixture(params=["sqlite", "postgresql"])
def loaded(request, tmp_path, lexicon_analyzer):
    """Reviews of three products, four monitors (one failing, one paused by errors, one by a person),
    two keys with usage, and jobs in the queue."""
    for store in make_store(request.param, tmp_path):
        settings = Settings(data_dir=tmp_path)  # backend encoder: 0.01 per 1,000 texts
        path = tmp_path / "shop.csv"
        lines = ["product_id,rating,date,text"] + [f'{p},{r},{d},"{t}"' for p, r, d, t in ROWS]
        path.write_text("\n".join(lines) + "\n")
        Ingester(store, lexicon_analyzer).ingest(path)

        monitors = MonitorService(settings, store)
        for name, tags in [("acme", ["acme", "brands"]), ("rival", ["brands"]), ("broken", []), ("quiet", [])]:
            monitors.create(MonitorSpec(name=name, connector="webhook", tags=tags))
        monitors.pause("quiet")
        _, shop = create_key(store, "shop", "analyze", "600/minute")
        _, idle = create_key(store, "idle", "analyze", "600/minute")
        with store.session() as session:
            session.execute(update(Monitor).where(Monitor.name == "rival").values(last_status="failed"))
            session.execute(
                update(Monitor)
                .where(Monitor.name == "broken")
                .values(state="paused", paused_reason="10 failed runs in a row; last: HTTP 500", last_status="failed")
            )
            ids = {name: id_ for name, id_ in session.execute(select(Monitor.name, Monitor.id))}
            day = date(2026, 3, 2)
            session.add_all(
                [
                    MonitorDaily(monitor_id=ids["acme"], aspect_group="", day=day, mentions=4, positive=3, negative=1),
                    MonitorDaily(monitor_id=ids["acme"], aspect_group="price", day=day, mentions=2, negative=2),
                    MonitorDaily(monitor_id=ids["rival"], aspect_group="", day=day, mentions=2, positive=0, negative=2),
                    KeyUsage(key_id=shop.id, day=day, requests=10, texts=2500, characters=10**5),
                    KeyUsage(key_id=idle.id, day=day, requests=3, texts=0, characters=0),
                    *[
                        Job(id=f"job{n}", kind="analyze", status=status, created_at=NOW)
                        for n, status in enumerate(["queued", "queued", "running", "succeeded"])
                    ],
                ]
            )
        yield store, settings


def _figures(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...], datetime], float]:
    figures = {(s.key.name, s.key.labels, s.at): s.value for s in samples}
    assert len(figures) == len(samples), "one sample per series and instant"
    return figures


def _only(samples: list[Sample], name: str) -> dict[tuple[tuple[tuple[str, str], ...], datetime], float]:
    return {(s.key.labels, s.at): s.value for s in samples if s.key.name == name}


def test_collecting_twice_gives_the_same_samples_and_writing_twice_stores_nothing_new(loaded):
    store, settings = loaded
    first, second = collect(store, settings, NOW), collect(store, settings, NOW)
    assert first == second and first
    series = SeriesService(settings, store)
    assert series.write(first) == (len(first), 0)
    assert series.write(second) == (0, len(second))
    again = collect(store, settings, NOW + timedelta(seconds=20))
    assert {s.key.name for s in again} == {"queue_depth", "monitor_failing"}, "collected days are not asked again"
    assert series.write(again) == (0, len(again))


def test_daily_figures_equal_the_hand_computed_ones(loaded):
    store, settings = loaded
    samples = collect(store, settings, NOW)
    figures = _figures(samples)
    kettle, toaster, mug = ((("product", p),) for p in ("kettle", "toaster", "mug"))
    assert _only(samples, "reviews_daily") == {
        (kettle, MAR1): 2.0,
        (mug, MAR1): 1.0,
        (kettle, MAR2): 3.0,
        (toaster, MAR2): 1.0,
    }
    assert _only(samples, "net_sentiment_daily") == pytest.approx(
        {(kettle, MAR1): 0.0, (mug, MAR1): 1.0, (kettle, MAR2): 1 / 3, (toaster, MAR2): -1.0}
    )

    def aspect(product: str, group: str) -> tuple[tuple[str, str], ...]:
        return (("aspect", group), ("product", product))

    assert _only(samples, "aspect_negative_share_daily") == {
        (aspect("kettle", "handle"), MAR1): 0.0,
        (aspect("kettle", "lid"), MAR1): 1.0,
        (aspect("mug", "mug"), MAR1): 0.0,
        (aspect("kettle", "handle"), MAR2): 0.0,
        (aspect("kettle", "lid"), MAR2): 1.0,
        (aspect("toaster", "timer"), MAR2): 1.0,
    }
    assert _only(samples, "mentions_daily") == {
        ((("monitor", "acme"),), MAR2): 4.0,
        ((("monitor", "rival"),), MAR2): 2.0,
    }
    assert _only(samples, "net_sentiment_daily_monitor") == {
        ((("monitor", "acme"),), MAR2): 0.5,
        ((("monitor", "rival"),), MAR2): -1.0,
    }
    assert _only(samples, "mentions_daily_tag") == {((("tag", "acme"),), MAR2): 4.0, ((("tag", "brands"),), MAR2): 6.0}
    assert _only(samples, "net_sentiment_daily_tag") == {
        ((("tag", "acme"),), MAR2): 0.5,
        ((("tag", "brands"),), MAR2): 0.0,
    }
    assert _only(samples, "cost_daily") == pytest.approx(
        {((("key", "idle"),), MAR2): 0.0, ((("key", "shop"),), MAR2): 2500 / 1000 * 0.01}
    )
    # The marker of each day counts the day's other samples.
    assert _only(samples, DAILY_MARKER) == {((), MAR1): 7.0, ((), MAR2): 17.0, ((), MAR3): 0.0}
    assert figures[("queue_depth", (), MINUTE)] == 2.0
    assert _only(samples, "monitor_failing") == {
        ((("monitor", "acme"),), MINUTE): 0.0,
        ((("monitor", "broken"),), MINUTE): 1.0,
        ((("monitor", "rival"),), MINUTE): 1.0,
    }, "a monitor paused by a person has no point"


def test_a_day_without_reviews_has_no_point_not_a_zero(loaded):
    store, settings = loaded
    samples = collect(store, settings, NOW)
    on_mar3 = {s.key.name for s in samples if s.at == MAR3}
    assert on_mar3 == {DAILY_MARKER}
    assert not any(s.key.labels == (("product", "mug"),) and s.at == MAR2 for s in samples)


def test_a_day_is_collected_once_it_has_settled(loaded):
    store, settings = loaded
    early = collect(store, settings, datetime(2026, 3, 3, 0, 5, tzinfo=UTC), lookback_days=1)
    assert _only(early, DAILY_MARKER) == {((), MAR1): 7.0}, "03-02 ended five minutes ago: not settled yet"
    later = collect(store, settings, datetime(2026, 3, 3, 0, 15, tzinfo=UTC), lookback_days=1)
    assert _only(later, DAILY_MARKER) == {((), MAR2): 17.0}
    SeriesService(settings, store).write(later)
    assert not _only(collect(store, settings, NOW), "reviews_daily").get(((("product", "kettle"),), MAR2))
    assert _only(collect(store, settings, NOW), DAILY_MARKER) == {((), MAR1): 7.0, ((), MAR3): 0.0}


def test_the_product_and_aspect_caps(loaded):
    store, settings = loaded
    samples = collect(store, settings, NOW, top_products=1, top_aspects=1)
    products = {dict(s.key.labels).get("product") for s in samples if s.key.name.startswith(("reviews", "aspect"))}
    assert products == {"kettle"}, "kettle has the most reviews over the four weeks"
    # handle and lid tie on mentions (3 each): the name decides
    assert {dict(s.key.labels)["aspect"] for s in samples if s.key.name == "aspect_negative_share_daily"} == {"handle"}
    # Ranked over four weeks, not per day: on 03-02 the second product is the mug (1 review, lower id
    # than the toaster), which had none that day, so 03-02 has only the kettle.
    two = collect(store, settings, NOW, top_products=2)
    assert {k for k, at in _only(two, "reviews_daily") if at == MAR2} == {(("product", "kettle"),)}


def _registry() -> tuple[CollectorRegistry, Counter, Histogram, Counter, Histogram]:
    registry = CollectorRegistry()
    requests = Counter("opinara_http_requests", "", ["route", "method", "status"], registry=registry)
    latency = Histogram(
        "opinara_http_request_duration_seconds",
        "",
        ["route", "method", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    cache = Counter("opinara_cache_lookups", "", ["level", "outcome"], registry=registry)
    jobs = Histogram("opinara_job_duration_seconds", "", ["kind"], buckets=(0.1, 0.5, 1, 5, 10, 30), registry=registry)
    return registry, requests, latency, cache, jobs


def test_deltas_give_the_interval_figures_and_nothing_without_traffic():
    registry, requests, latency, cache, jobs = _registry()
    deltas = Deltas(registry.collect)
    minute = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    requests.labels("/old", "GET", "500").inc(50)  # before the first snapshot: not counted
    assert deltas.samples(minute) == [], "the first call only takes a snapshot"
    for n in range(100):
        status = "500" if n < 5 else "200"
        requests.labels("/v1/analyze", "POST", status).inc()
        latency.labels("/v1/analyze", "POST", status).observe(3.0 if n >= 98 else 0.004)
    cache.labels("memory", "hit").inc(3)
    cache.labels("memory", "miss").inc(1)
    cache.labels("redis", "miss").inc(10)
    jobs.labels("analyze").observe(7.0)
    later = minute + timedelta(minutes=1)
    got = {s.key.name: s.value for s in deltas.samples(later)}
    assert got == pytest.approx(
        {
            "api_error_ratio": 0.05,
            "api_latency_p99_seconds": 2.5 + 2.5 * (99 - 98) / 2,  # rank 99 in the (2.5, 5] bucket
            "cache_hit_ratio": 0.75,
            "job_duration_seconds_p50": 7.5,  # half way through the (5, 10] bucket
        }
    )
    assert all(s.at == later for s in deltas.samples(later))
    requests.labels("/v1/analyze", "POST", "200").inc()  # within the same minute: counted in the next one
    assert {s.key.name: s.value for s in deltas.samples(later)} == got, "the same minute gives the same samples"
    assert {s.key.name: s.value for s in deltas.samples(later + timedelta(minutes=1))} == {"api_error_ratio": 0.0}
    assert deltas.samples(later + timedelta(minutes=2)) == [], "no traffic: no point, not a zero"


def test_a_counter_reset_gives_no_point():
    first, requests, *_ = _registry()
    readings = iter([first, first, _registry()[0]])
    requests.labels("/", "GET", "200").inc(5)
    deltas = Deltas(lambda: next(readings).collect())
    minute = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    deltas.samples(minute)
    requests.labels("/", "GET", "200").inc(5)
    assert [s.key.name for s in deltas.samples(minute + timedelta(minutes=1))] == ["api_error_ratio"]
    assert deltas.samples(minute + timedelta(minutes=2)) == [], "the counters restarted (a new process)"


def test_the_process_metrics_are_read():
    before = snapshot(process_metrics())
    REQUESTS.labels("/own-signals-test", "GET", "503").inc()
    after = snapshot(process_metrics())
    assert (after.requests - before.requests, after.errors - before.errors) == (1.0, 1.0)


def test_bucket_quantile_follows_histogram_quantile():
    assert bucket_quantile(0.5, ((1.0, 0.0), (float("inf"), 0.0))) is None
    assert bucket_quantile(0.5, ((1.0, 2.0), (2.0, 4.0), (float("inf"), 4.0))) == 1.0
    assert bucket_quantile(0.99, ((1.0, 0.0), (2.0, 1.0), (float("inf"), 10.0))) == 2.0, "+Inf: the highest bound"
