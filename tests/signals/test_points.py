"""Reading what hosts POST: host samples and named series; bad points refused with where they are."""

from datetime import UTC, datetime

from opinara.signals.points import SeriesKey, host_series, read_payload

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOST = {
    "timestamp": "2026-11-23T10:00:00Z",
    "hostname": "web-1",
    "cpuUsage": 75.5,
    "memoryUsage": 82.3,
    "diskIO": 200.5,
    "networkIO": 150.2,
}


def test_a_host_sample_becomes_one_series_per_field():
    samples, refused = read_payload(HOST, NOW, 1000)
    assert refused == []
    got = {(s.key.name, s.key.labels, s.at, s.value) for s in samples}
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert got == {
        ("host_cpu_usage", (("host", "web-1"),), at, 75.5),
        ("host_memory_usage", (("host", "web-1"),), at, 82.3),
        ("host_disk_io", (("host", "web-1"),), at, 200.5),
        ("host_network_io", (("host", "web-1"),), at, 150.2),
    }
    assert host_series("networkIO") == "host_network_io" and host_series("loadAvg1m") == "host_load_avg1m"


def test_named_series_with_offsets_and_unix_seconds():
    body = [
        {
            "series": "queue_depth",
            "labels": {"queue": "default", "host": "web-1"},
            "points": [["2026-11-23T11:00:00+01:00", 12], [1795430400, 3.5]],
        }
    ]
    samples, refused = read_payload(body, NOW, 1000)
    assert refused == []
    assert samples[0].key == SeriesKey("queue_depth", (("host", "web-1"), ("queue", "default")))
    assert samples[0].at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC) and samples[0].value == 12.0
    assert samples[1].at == datetime.fromtimestamp(1795430400, UTC)
    assert samples[0].key.text() == 'queue_depth{host="web-1",queue="default"}'


def test_bad_points_are_refused_with_where_they_are_and_the_rest_kept():
    body = [
        {**HOST, "cpuUsage": "high", "diskIO": True},
        {"series": "q", "points": [["2026-11-23T10:00:00Z", 1], ["yesterday", 2], ["2026-11-23T10:01:00Z", None]]},
        {"series": "9bad", "points": [[1, 1]]},
        {"series": "q", "labels": {"__name": "x"}, "points": [[1, 1]]},
        {"hostname": "web-2", "timestamp": "2030-01-01T00:00:00Z", "cpuUsage": 1},
        "not an object",
        {"what": "is this"},
        {"series": "q", "points": []},
        {"hostname": "web-3", "timestamp": "2026-11-23T10:00:00Z"},
        {"series": "q", "points": [["2026-11-23T10:00:00Z", float("nan")], [1], [10**400, 1], [1, 10**400]]},
    ]
    samples, refused = read_payload(body, NOW, 1000)
    where = {r.where: r.reason for r in refused}
    assert set(where) == {
        "0.cpuUsage",
        "0.diskIO",
        "1.points[1]",
        "1.points[2]",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9.points[0]",
        "9.points[1]",
        "9.points[2]",
        "9.points[3]",
    }
    assert "finite number" in where["0.cpuUsage"] and "an hour from now" in where["4"]
    assert "ISO 8601" in where["1.points[1]"] and "series must be a name" in where["2"]
    assert sorted((s.key.name, s.value) for s in samples) == [
        ("host_memory_usage", 82.3),
        ("host_network_io", 150.2),
        ("q", 1.0),
    ]


def test_points_over_the_limit_are_refused():
    body = {"series": "q", "points": [[1_700_000_000 + i, i] for i in range(10)]}
    samples, refused = read_payload(body, NOW, 4)
    assert len(samples) == 4 and len(refused) == 1 and "limit of 4" in refused[0].reason
