"""Limits, usage, products and reviews, health and metrics on a real server (lexicon backend, demo data)."""

from __future__ import annotations

import re

import pytest

from opinara.access.keys import list_keys
from opinara.access.usage import usage
from opinara.config import Settings
from tests.api.server import RunningApi, running_api, running_demo_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> RunningApi:
    with running_demo_api(tmp_path_factory.mktemp("service-api"), embedded_workers=0) as running:
        yield running


@pytest.fixture(scope="module")
def reader(api: RunningApi) -> str:
    return api.key("reader", "read")


def test_the_rate_limit_answers_429_with_retry_after_and_ratelimit_headers(api):
    key = api.key("slow", "analyze", rate_limit="3/minute")
    with api.client(key) as client:
        answers = [client.post("/v1/analyze", json={"text": f"good {i}"}) for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert refused.headers["ratelimit-limit"] == "3"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["limit"] == "rate limit"


def test_the_daily_quota_counts_texts_and_refuses_past_it(api):
    key = api.key("quota", "analyze", daily_quota=5)
    with api.client(key) as client:
        first = client.post("/v1/analyze/batch", json={"texts": ["a fine day", "a bad day", "ok"]})
        too_many = client.post("/v1/analyze/batch", json={"texts": ["one", "two", "three"]})
        last = client.post("/v1/analyze/batch", json={"texts": ["four", "five"]})
        over = client.post("/v1/analyze", json={"text": "six"})
    assert first.status_code == 200
    assert too_many.status_code == 429 and too_many.json()["limit"] == "daily quota"
    assert "2 left today" in too_many.json()["detail"]
    assert last.status_code == 200
    assert over.status_code == 429 and int(over.headers["retry-after"]) > 0


def test_usage_is_recorded_per_key_and_day(api):
    key = api.key("metered", "analyze")
    with api.client(key) as client:
        client.post("/v1/analyze", json={"text": "twelve chars"})
        client.post("/v1/analyze/batch", json={"texts": ["abc", "de"]})
    api.platform.usage.flush()
    key_id = next(k.id for k in list_keys(api.platform.store) if k.name == "metered")
    [row] = usage(api.platform.store, key_id)
    assert (row.requests, row.texts, row.characters) == (2, 3, 17)


def test_products_aspects_trends_and_drivers(api, reader):
    with api.client(reader) as client:
        products = client.get("/v1/products").json()["products"]
        assert len(products) == 3 and all(p["source"] == "demo" for p in products)
        product = products[0]
        one = client.get(f"/v1/products/{product['external_id']}").json()
        by_id = client.get(f"/v1/products/{product['id']}").json()
        aspects = client.get(f"/v1/products/{product['external_id']}/aspects", params={"limit": 3}).json()
        trends = client.get(f"/v1/products/{product['external_id']}/trends", params={"by": "month"}).json()
        drivers = client.get(f"/v1/products/{product['external_id']}/drivers").json()
        missing = client.get("/v1/products/no-such-thing")
        bad_period = client.get(f"/v1/products/{product['external_id']}/trends", params={"by": "year"})
    assert one == by_id and one["reviews"] == product["reviews"] > 0
    assert 0 < len(aspects["aspects"]) <= 3 and aspects["aspects"][0]["mentions"] >= aspects["aspects"][-1]["mentions"]
    assert sum(p["mentions"] for p in trends["periods"]) == product["reviews"]
    assert drivers["reviews"] == product["reviews"]
    assert missing.status_code == 404 and "no-such-thing" in missing.json()["detail"]
    assert bad_period.status_code == 422


def test_reviews_filter_and_page_by_cursor_without_overlap(api, reader):
    seen: list[int] = []
    with api.client(reader) as client:
        cursor = None
        while True:
            params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/reviews", params=params).json()
            seen += [r["id"] for r in page["reviews"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        negative = client.get("/v1/reviews", params={"sentiment": "negative", "limit": 500}).json()["reviews"]
        battery = client.get("/v1/reviews", params={"aspect": "battery", "limit": 500}).json()["reviews"]
        search = client.get("/v1/reviews", params={"q": "BATTERY", "limit": 500}).json()["reviews"]
        dated = client.get("/v1/reviews", params={"since": "2026-04-01", "until": "2026-04-30", "limit": 500}).json()
        bad_date = client.get("/v1/reviews", params={"since": "yesterday"})
        bad_sentiment = client.get("/v1/reviews", params={"sentiment": "angry"})
    assert len(seen) == len(set(seen)) == 72 and seen == sorted(seen, reverse=True)
    assert negative and all(r["sentiment"]["label"] == "negative" for r in negative)
    assert battery and all(any(a["group"] == "battery" for a in r["aspects"]) for r in battery)
    for review in battery:
        for aspect in review["aspects"]:
            assert review["text"][aspect["start"] : aspect["end"]].lower() == aspect["term"].lower()
    assert search and all("battery" in r["text"].lower() for r in search)
    assert all("2026-04-01" <= r["day"] <= "2026-04-30" for r in dated["reviews"])
    assert bad_date.status_code == 422 and bad_sentiment.status_code == 422


def test_health_ready_and_detailed(api, reader):
    admin = api.key("operator", "admin")
    with api.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/health/ready")
        unauthenticated = client.get("/health/detailed")
        not_admin = client.get("/health/detailed", headers={"X-API-Key": reader})
        detailed = client.get("/health/detailed", headers={"X-API-Key": admin}).json()
    assert ready.status_code == 200 and ready.json()["checks"]["model"]["status"] == "up"
    assert unauthenticated.status_code == 401 and not_admin.status_code == 403
    assert set(detailed["components"]) >= {"database", "queue", "model", "cache", "rate_limits"}
    assert detailed["components"]["database"]["latency_ms"] >= 0
    assert detailed["versions"]["opinara"]


def test_ready_is_503_until_a_model_is_loaded(tmp_path):
    settings = Settings(data_dir=tmp_path, backend="lexicon", embedded_workers=0)
    with running_api(settings, preload=False) as cold, cold.client() as client:
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["model"]["status"] == "down"


def test_metrics_count_requests_inference_and_cache(api):
    key = api.key("scraped", "analyze")
    with api.client(key) as client:
        client.post("/v1/analyze", json={"text": "metrics please"})
        client.post("/v1/analyze", json={"text": "metrics please"})
        body = client.get("/metrics").text
    assert re.search(r'opinara_http_requests_total\{method="POST",route="/v1/analyze",status="200"\} \d+', body)
    assert (
        'opinara_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/analyze",status="200"}'
        in body
    )
    assert re.search(r'opinara_cache_lookups_total\{level="memory",outcome="hit"\} [1-9]', body)
    assert "opinara_inference_batch_size_bucket" in body and "opinara_queue_depth" in body
    assert re.search(r'opinara_rate_limited_total\{reason="rate limit"\} [1-9]', body)


def test_overview_and_aspect_changes(api, reader):
    with api.client(reader) as client:
        overview = client.get("/v1/overview", params={"by": "month"}).json()
        dates = overview["dates"]
        changes = client.get(
            "/v1/aspects/changes", params={"start": "2026-04-01", "end": "2026-05-31", "min_mentions": 1}
        ).json()
        backwards = client.get("/v1/aspects/changes", params={"start": "2026-05-01", "end": "2026-04-01"})
    assert sum(p["mentions"] for p in overview["periods"]) == 72
    assert all(p["positive"] + p["negative"] + p["neutral"] + p["mixed"] == p["mentions"] for p in overview["periods"])
    assert dates["first"] <= dates["last"]
    assert changes["previous"] == {"start": "2026-01-30", "end": "2026-03-31"}
    assert all(c["change"] > 0 for c in changes["improved"]) and all(c["change"] < 0 for c in changes["declined"])
    for change in changes["improved"] + changes["declined"]:
        assert change["change"] == round(change["net_sentiment"] - change["previous_net_sentiment"], 4)
    assert backwards.status_code == 422
