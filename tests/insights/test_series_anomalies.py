"""Insights from stored series on SQLite and PostgreSQL: a day's mention spike and a drop, a host's CPU
anomaly, a shift in a product's net sentiment; steady series raise nothing; conditions that end resolve."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from opinara.config import Settings
from opinara.insights.anomalies import InsightService
from opinara.insights.series_anomalies import detect_level_shifts, detect_metric_anomalies, detect_volume_changes
from opinara.signals.points import Sample, SeriesKey
from opinara.signals.service import SeriesService

MIDNIGHT = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture
def services(store, tmp_path):
    settings = Settings(data_dir=tmp_path)
    return SeriesService(settings, store), InsightService(settings, store)


def daily(name: str, labels: dict, values: list[float]) -> list[Sample]:
    key = SeriesKey.of(name, labels)
    return [Sample(key, MIDNIGHT - timedelta(days=len(values) - 1 - i), v) for i, v in enumerate(values)]


def test_a_mention_spike_and_a_review_drop_are_insights(store, services):
    series, insights = services
    rng = random.Random(2)
    series.write(daily("mentions_daily_tag", {"tag": "acme"}, [rng.randint(10, 16) for _ in range(42)] + [95]))
    series.write(daily("reviews_daily", {"product": "aurora-x2"}, [rng.randint(38, 46) for _ in range(42)] + [4]))
    series.write(daily("mentions_daily", {"monitor": "steady"}, [rng.randint(38, 46) for _ in range(43)]))
    report = detect_volume_changes(store, insights, MIDNIGHT + timedelta(minutes=15))
    assert (report.judged, report.raised, report.created) == (3, 2, 2)
    found = {i.type: i for i in insights.list().insights}
    assert found["volume_spike"].entity == {"tag": "acme"}
    assert found["volume_spike"].message.startswith("Mentions of tag acme rose to 95 on 2026-11-22")
    assert found["volume_drop"].entity == {"product": "aurora-x2"} and "fell to 4" in found["volume_drop"].message
    calmer = [Sample(SeriesKey.of("mentions_daily_tag", {"tag": "acme"}), MIDNIGHT + timedelta(days=1), 13)]
    calmer += [Sample(SeriesKey.of("reviews_daily", {"product": "aurora-x2"}), MIDNIGHT + timedelta(days=1), 41)]
    series.write(calmer)
    later = detect_volume_changes(store, insights, MIDNIGHT + timedelta(days=1, minutes=15))
    assert later.resolved == 2 and insights.list(status="open").insights == []


def test_a_host_cpu_spike_is_a_metric_anomaly_and_steady_hosts_are_not(store, services):
    series, insights = services
    rng = random.Random(5)
    start = MIDNIGHT - timedelta(hours=30)
    for host, spike in (("web-1", True), ("web-2", False)):
        key = SeriesKey.of("host_cpu_usage", {"host": host})
        values = [40 + rng.gauss(0, 3) for _ in range(30 * 60)]
        if spike:
            values[-10:] = [97.0] * 10
        series.write([Sample(key, start + timedelta(minutes=m), v) for m, v in enumerate(values)])
    now = start + timedelta(minutes=30 * 60)
    report = detect_metric_anomalies(store, insights, now, timedelta(hours=1))
    assert (report.judged, report.raised) == (2, 1)
    [anomaly] = insights.list(type="metric_anomaly").insights
    assert anomaly.entity == {"host": "web-1", "series": "host_cpu_usage"}
    assert anomaly.message.startswith("Cpu usage on web-1 went to 97") and anomaly.evidence["figures"]["value"] == 97.0


def test_a_net_sentiment_shift_is_a_level_shift(store, services):
    series, insights = services
    rng = random.Random(8)
    values = [0.42 + rng.gauss(0, 0.02) for _ in range(40)] + [0.25 + rng.gauss(0, 0.02) for _ in range(4)]
    series.write(daily("net_sentiment_daily", {"product": "aurora-x2"}, values))
    series.write(daily("net_sentiment_daily", {"product": "steady"}, [0.4 + rng.gauss(0, 0.02) for _ in range(44)]))
    report = detect_level_shifts(store, insights, MIDNIGHT + timedelta(minutes=15))
    assert (report.judged, report.raised) == (2, 1)
    [shift] = insights.list(type="level_shift").insights
    assert shift.entity == {"product": "aurora-x2"} and "shifted from +0.4" in shift.message
