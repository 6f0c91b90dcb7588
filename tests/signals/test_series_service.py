"""Series in the database (SQLite and PostgreSQL): points stored once, rollups equal to the raw points,
reads at a step, gaps kept as gaps, retention."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from opinara.config import Settings
from opinara.errors import InputError, NotFoundError
from opinara.signals.points import Sample, SeriesKey
from opinara.signals.service import SeriesService, bucket_of
from opinara.store.models import MetricPoint, MetricRollup
from tests.store.conftest import make_store

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
CPU = SeriesKey.of("host_cpu_usage", {"host": "web-1"})


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request, tmp_path):
    for store in make_store(request.param, tmp_path):
        yield SeriesService(Settings(data_dir=tmp_path), store)


def test_a_point_sent_again_is_a_duplicate_and_changes_nothing(service):
    first = [Sample(CPU, T0 + timedelta(seconds=10 * i), float(i)) for i in range(30)]
    assert service.write(first) == (30, 0)
    again = [*first[:10], Sample(CPU, T0 + timedelta(seconds=10), 999.0), Sample(CPU, T0 + timedelta(hours=1), 5.0)]
    assert service.write(again) == (1, 11)
    data = service.read("host_cpu_usage", {"host": "web-1"}, T0, T0 + timedelta(hours=2), "raw")
    assert len(data.points) == 31 and data.points[1].value == 1.0, "the first value sent is kept"


def test_rollups_equal_the_raw_points_of_their_buckets(service):
    rng = random.Random(5)
    keys = [CPU, SeriesKey.of("queue_depth", {"queue": "default"})]
    samples = [
        Sample(rng.choice(keys), T0 + timedelta(seconds=rng.randrange(0, 3 * 3600)), rng.uniform(-5, 100))
        for _ in range(3000)
    ]
    for start in range(0, len(samples), 700):  # several writes, with duplicates across them
        service.write(samples[start : start + 700] + samples[: start // 7])
    with service.store.session() as session:
        raw = session.execute(select(MetricPoint.series_id, MetricPoint.at, MetricPoint.value)).all()
        rollups = session.execute(select(MetricRollup)).scalars().all()
    expected: dict[tuple[int, int, datetime], list[float]] = defaultdict(list)
    for series_id, at, value in raw:
        for step in (60, 3600):
            expected[(series_id, step, bucket_of(at, step))].append(value)
    assert len(rollups) == len(expected)
    for row in rollups:
        values = expected[(row.series_id, row.step, row.bucket)]
        assert row.count == len(values) and row.total == pytest.approx(sum(values))
        assert row.low == min(values) and row.high == max(values)


def test_reads_at_a_step_keep_gaps(service):
    samples = [Sample(CPU, T0 + timedelta(minutes=m), 10.0 + m % 2) for m in range(0, 180) if not 60 <= m < 120]
    service.write(samples)
    minutes = service.read("host_cpu_usage", {"host": "web-1"}, T0, T0 + timedelta(hours=3), "1m")
    assert len(minutes.points) == 120, "no bucket is made up for the missing hour"
    hours = service.read("host_cpu_usage", {"host": "web-1"}, T0, T0 + timedelta(hours=3), "1h")
    assert [(p.count, p.value, p.low, p.high) for p in hours.points] == [(60, 10.5, 10.0, 11.0), (60, 10.5, 10.0, 11.0)]
    auto = service.read("host_cpu_usage", {"host": "web-1"}, T0, T0 + timedelta(days=2), "auto")
    assert auto.step == "1m"
    assert service.read("host_cpu_usage", {"host": "web-1"}, T0, T0 + timedelta(days=30), "auto").step == "1h"
    with pytest.raises(NotFoundError):
        service.read("host_cpu_usage", {"host": "web-9"}, T0, T0 + timedelta(hours=1), "raw")
    with pytest.raises(InputError):
        service.read("host_cpu_usage", {"host": "web-1"}, T0, T0, "raw")


def test_series_are_listed_by_prefix(service):
    service.write([Sample(SeriesKey.of(f"host_{n}", {"host": "a"}), T0, 1.0) for n in ("cpu", "disk", "mem")])
    service.write([Sample(SeriesKey.of("queue_depth", {}), T0, 1.0)])
    first = service.list_series("host_", None, 2)
    rest = service.list_series("host_", first.next_cursor, 2)
    assert [s.name for s in first.series + rest.series] == ["host_cpu", "host_disk", "host_mem"]
    assert rest.next_cursor is None and service.list_series("host%", None, 10).series == []


def test_retention_deletes_raw_points_before_rollups(service):
    now = T0 + timedelta(days=60)
    service.write([Sample(CPU, T0 + timedelta(days=d), 1.0) for d in range(60)])
    removed = service.cleanup(now)
    assert removed == {"points": 53, "minute_rollups": 25, "hour_rollups": 0}
    hours = service.read("host_cpu_usage", {"host": "web-1"}, T0, now, "1h")
    assert len(hours.points) == 60, "hourly rollups outlive the raw points"
