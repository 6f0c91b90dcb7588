"""POST /v1/metrics and /v1/series over a real server: what hosts send is stored, bad points are named,
a metrics key writes and does nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opinara.config import Settings
from tests.api.server import RunningApi, running_api

HOST = {
    "timestamp": "2026-11-23T10:00:00Z",
    "hostname": "web-1",
    "cpuUsage": 75.5,
    "memoryUsage": 82.3,
    "diskIO": 200.5,
    "networkIO": 150.2,
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("metrics-api"),
        backend="lexicon",
        aspects=False,
        embedded_workers=0,
        monitor_threads=0,
        metrics_max_points=1000,
        max_body_bytes=200_000,
    )
    with running_api(settings, preload=False) as running:
        yield running


@pytest.fixture(scope="module")
def host_key(api: RunningApi) -> str:
    return api.key("web-1-agent", "metrics")


@pytest.fixture(scope="module")
def reader(api: RunningApi) -> str:
    return api.key("metrics-reader", "read")


def test_a_host_sample_is_stored_and_read_back(api, host_key, reader):
    with api.client(host_key) as client:
        answer = client.post("/v1/metrics", json=HOST)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"stored": 4, "duplicates": 0, "rejected": []}
        assert client.post("/v1/metrics", json=[HOST]).json() == {"stored": 0, "duplicates": 4, "rejected": []}
    with api.client(reader) as client:
        names = {s["name"] for s in client.get("/v1/series", params={"prefix": "host_"}).json()["series"]}
        assert names == {"host_cpu_usage", "host_memory_usage", "host_disk_io", "host_network_io"}
        data = client.get(
            "/v1/series/host_cpu_usage",
            params={"labels": "host=web-1", "from": "2026-11-23T09:00:00Z", "to": "2026-11-23T11:00:00Z"},
        ).json()
        assert data["step"] == "raw" and [(p["at"], p["value"]) for p in data["points"]] == [
            ("2026-11-23T10:00:00Z", 75.5)
        ]
        hourly = client.get(
            "/v1/series/host_cpu_usage", params={"labels": "host=web-1", "from": "2026-11-01", "step": "1h"}
        ).json()
        assert [(p["count"], p["value"]) for p in hourly["points"]] == [(1, 75.5)]


def test_bad_points_are_named_and_the_rest_stored(api, host_key):
    body = [
        {"series": "queue_depth", "labels": {"host": "web-1"}, "points": [["2026-11-23T10:00:00Z", 3], ["soon", 4]]},
        {**HOST, "hostname": "web-2", "cpuUsage": None},
        {"series": "bad name", "points": [["2026-11-23T10:00:00Z", 1]]},
    ]
    with api.client(host_key) as client:
        answer = client.post("/v1/metrics", json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["stored"] == 4 and result["duplicates"] == 0
    assert {r["where"] for r in result["rejected"]} == {"0.points[1]", "1.cpuUsage", "2"}


def test_a_body_that_is_not_json_objects_is_a_problem_and_stores_nothing(api, host_key):
    with api.client(host_key) as client:
        for body in (b"not json", b"42", b'"text"'):
            answer = client.post("/v1/metrics", content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
        too_big = client.post(
            "/v1/metrics", json={"series": "q", "points": [[1_700_000_000 + i, i] for i in range(20_000)]}
        )
        assert too_big.status_code == 413
        over = client.post(
            "/v1/metrics", json={"series": "q2", "points": [[1_700_000_000 + i, i] for i in range(1500)]}
        )
        assert over.json()["stored"] == 1000 and "limit of 1000" in over.json()["rejected"][0]["reason"]


def test_a_metrics_key_writes_and_does_nothing_else(api, host_key, reader):
    with api.client(host_key) as client:
        for method, path in (("GET", "/v1/series"), ("GET", "/v1/keys/me"), ("POST", "/v1/analyze")):
            assert client.request(method, path, json={"text": "hi"}).status_code == 403, path
    with api.client(reader) as client:
        assert client.post("/v1/metrics", json=HOST).status_code == 403


def test_bad_read_parameters_are_problems(api, reader):
    with api.client(reader) as client:
        cases = [
            ("/v1/series/host_cpu_usage", {"labels": "host"}),
            ("/v1/series/host_cpu_usage", {"labels": "host=web-1", "from": "3000-01-01T00:00:00Z"}),
            ("/v1/series/host_cpu_usage", {"labels": "host=web-1", "step": "5m"}),
            ("/v1/series/no_such_series", {}),
            (
                "/v1/series/host_cpu_usage",
                {"labels": "host=web-1", "from": "2026-11-23T12:00:00Z", "to": "2026-11-23T11:00:00Z"},
            ),
        ]
        statuses = [client.get(path, params=params).status_code for path, params in cases]
    assert statuses == [422, 422, 422, 404, 422]
