"""POST /v1/analyze and /v1/analyze/batch on a real server with the default (encoder) backend."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from opinara.config import Settings
from tests.api.server import RunningApi, running_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, data_dir) -> RunningApi:
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('api')}/opinara.db",
        max_batch_texts=5,
        max_text_chars=2000,
        max_body_bytes=64 * 1024,
        embedded_workers=0,
    )
    with running_api(settings) as running:
        yield running


@pytest.fixture(scope="module")
def key(api: RunningApi) -> str:
    return api.key("analyst", "analyze,read")


def test_analyze_returns_the_result_schema_with_aspect_offsets(api, key):
    text = "The battery life is great but the screen is dim."
    with api.client(key) as client:
        response = client.post("/v1/analyze", json={"text": text})
    assert response.status_code == 200
    result = response.json()
    assert result["model"]["backend"] == "encoder"
    assert abs(sum(result["sentiment"]["scores"].values()) - 1) < 1e-3
    aspects = {a["term"]: a for a in result["aspects"]}
    assert text[aspects["battery life"]["start"] : aspects["battery life"]["end"]] == "battery life"
    assert aspects["battery life"]["sentiment"]["label"] == "positive"
    assert aspects["screen"]["sentiment"]["label"] == "negative"
    assert result["language"]["code"] == "en"


def test_batch_keeps_input_order_and_options(api, key):
    texts = ["I love this blender.", "Terrible support, I want a refund.", "Call me at 555-123-4567."]
    with api.client(key) as client:
        response = client.post("/v1/analyze/batch", json={"texts": texts, "aspects": False, "redact_pii": True})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["text_length"] for r in results] == [len(t) for t in texts]
    assert results[0]["sentiment"]["label"] == "positive"
    assert results[1]["sentiment"]["label"] == "negative"
    assert all(r["aspects"] == [] for r in results)
    assert "555-123-4567" not in results[2]["redacted_text"]


def test_a_repeated_text_is_served_from_the_cache_unchanged(api, key):
    body = {"text": "The hinge creaks but the keyboard feels solid."}
    with api.client(key) as client:
        first = client.post("/v1/analyze", json=body)
        second = client.post("/v1/analyze", json=body)
    assert first.headers["x-cache"] == "miss"
    assert second.headers["x-cache"] == "hit"
    assert first.json() == second.json()


def test_concurrent_requests_are_answered_each_with_its_own_result(api, key):
    texts = [f"Review {i}: the {'fan is loud' if i % 2 else 'display is gorgeous'}." for i in range(24)]
    with api.client(key) as client, concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda t: client.post("/v1/analyze", json={"text": t, "aspects": False}), texts))
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["text_length"] for r in responses] == [len(t) for t in texts]
    labels = [r.json()["sentiment"]["label"] for r in responses]
    assert labels[0] == "positive" and labels[1] == "negative"


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/v1/analyze", {"text": "x" * 2001}, 413, "2001 characters; the limit is 2000"),
        ("/v1/analyze/batch", {"texts": ["a"] * 6}, 413, "6 texts; the limit is 5"),
        ("/v1/analyze", {"text": "ok", "backend": "magic"}, 422, "backend"),
        ("/v1/analyze", {"text": "ok", "colour": "red"}, 422, "colour"),
        ("/v1/analyze", {"text": 42}, 422, "text"),
        ("/v1/analyze", {"text": "ok", "language": "english"}, 422, "language"),
        ("/v1/analyze", {"text": "ok", "model": "/etc/passwd"}, 422, "not allowed"),
        ("/v1/analyze/batch", {"texts": []}, 422, "texts"),
    ],
)
def test_bad_requests_get_problem_details_that_say_what_is_wrong(api, key, path, body, status, needle):
    with api.client(key) as client:
        response = client.post(path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and needle in problem["detail"] + str(problem.get("errors", ""))
    assert problem["request_id"] == response.headers["x-request-id"]


def test_malformed_json_and_oversized_bodies_are_4xx_not_500(api, key):
    with api.client(key) as client:
        broken = client.post("/v1/analyze", content=b'{"text": ', headers={"content-type": "application/json"})
        huge = client.post("/v1/analyze", content=b"x" * (65 * 1024), headers={"content-type": "application/json"})
        binary = client.post("/v1/analyze", content=b"\xff\xfe\x00", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "JSON" in broken.json()["detail"]
    assert huge.status_code == 413 and huge.json()["limit"] == "body size"
    assert binary.status_code == 400 and binary.headers["content-type"] == "application/problem+json"


def test_a_request_id_is_echoed_or_made(api, key):
    with api.client(key) as client:
        given = client.get("/health", headers={"X-Request-ID": "abc-123"})
        made = client.get("/health")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32


def test_keys_are_required_checked_scoped_and_revocable(api):
    from opinara.access.keys import revoke_key

    reader = api.key("reader-only", "read")
    doomed = api.key("doomed", "analyze")
    body = {"text": "fine"}
    with api.client() as client:
        assert client.post("/v1/analyze", json=body).status_code == 401
        assert client.post("/v1/analyze", json=body, headers={"X-API-Key": "opn_nope"}).status_code == 401
        wrong_scope = client.post("/v1/analyze", json=body, headers={"X-API-Key": reader})
        assert wrong_scope.status_code == 403 and "analyze" in wrong_scope.json()["detail"]
        assert client.post("/v1/analyze", json=body, headers={"X-API-Key": doomed}).status_code == 200
        revoke_key(api.platform.store, "doomed")  # as `opinara keys revoke` does, from outside the server
        statuses = []
        deadline = time.monotonic() + 10 * api.platform.settings.key_revocation_poll_seconds
        while time.monotonic() < deadline and 401 not in statuses:
            statuses.append(client.post("/v1/analyze", json=body, headers={"X-API-Key": doomed}).status_code)
            time.sleep(0.02)
        assert statuses[-1] == 401, "the revoked key still works after ten revocation polls"
        assert client.post("/v1/analyze", json=body, headers={"X-API-Key": doomed}).status_code == 401


def test_openapi_and_docs_are_served(api):
    with api.client() as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert {"/v1/analyze", "/v1/analyze/batch", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/reviews"} <= set(spec["paths"])
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_a_key_whose_policy_is_to_redact_gets_redacted_results_without_asking(api):
    from opinara.access.keys import create_key

    key, _ = create_key(api.platform.store, "redacting", "analyze", "1000/minute", redact_pii=True)
    text = "Mail me at jo@example.com, the battery is great."
    with api.client(key) as client:
        answer = client.post("/v1/analyze", json={"text": text, "redact_pii": False}).json()
    assert answer["redacted_text"] == "Mail me at <EMAIL>, the battery is great."
    assert "jo@example.com" not in str(answer["aspects"]) + str(answer["explanation"])
