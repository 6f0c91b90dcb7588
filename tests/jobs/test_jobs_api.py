"""Async jobs through the API: texts, uploads, review-file ingest, paging, cancelling, visibility; and
generated requests (schemathesis) that get documented answers, never a server error.

Positive data acceptance is not promised for ``POST /v1/jobs``: the schema describes the form fields
exactly, but no schema can say that a file's content must hold usable text, so a generated file is
often (deliberately) refused with 422."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from opinara.config import Settings
from tests.api.server import RunningApi, running_api
from tests.jobs.conftest import all_results, wait_for_job, write_amazon_reviews


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> RunningApi:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("jobs-api"),
        backend="lexicon",
        aspect_extractor="rules",
        embedded_workers=1,
        job_chunk_size=4,
    )
    with running_api(settings) as running:
        yield running


@pytest.fixture(scope="module")
def key(api: RunningApi) -> str:
    return api.key("jobs", "analyze,read,ingest")


def test_a_texts_job_runs_to_the_end_and_pages_its_results_in_order(api, key):
    texts = [f"Item {i}: {'great value, works perfectly' if i % 2 else 'broken on arrival, awful'}" for i in range(23)]
    ids = [f"r{i}" for i in range(23)]
    with api.client(key) as client:
        created = client.post("/v1/jobs", json={"texts": texts, "ids": ids, "aspects": False})
        assert created.status_code == 202
        job = created.json()
        assert job["status"] == "queued" and job["total"] == 23
        assert job["options"] == {
            "aspects": False,
            "component": "sentiment.vader.v1",
            "model_version": api.platform.analysis.load().version,
        }
        done = wait_for_job(client, job["id"])
        items = all_results(client, job["id"])
    assert done["status"] == "succeeded" and done["progress"] == 1.0 and done["succeeded"] == 23
    assert [item["index"] for item in items] == list(range(23))
    assert [item["id"] for item in items] == ids
    assert [item["result"]["text_length"] for item in items] == [len(t) for t in texts]
    assert items[0]["result"]["sentiment"]["label"] == "negative"
    assert items[1]["result"]["sentiment"]["label"] == "positive"


def test_an_uploaded_jsonl_file_keeps_bad_lines_as_failed_items(api, key, tmp_path):
    upload = tmp_path / "texts.jsonl"
    upload.write_text('{"id": "a", "text": "Lovely screen"}\nnot json\n{"id": "c", "text": "Awful hinge"}\n')
    with api.client(key) as client:
        created = client.post(
            "/v1/jobs", files={"file": ("texts.jsonl", upload.read_bytes())}, data={"aspects": "false"}
        )
        assert created.status_code == 202, created.text
        done = wait_for_job(client, created.json()["id"])
        items = all_results(client, done["id"])
    assert (done["status"], done["total"], done["succeeded"], done["failed"]) == ("succeeded", 3, 2, 1)
    assert [i["id"] for i in items] == ["a", None, "c"]
    assert items[1]["result"] is None and items[1]["error"].startswith("line 2:")


def test_a_review_file_job_ingests_once_and_a_second_upload_adds_nothing(api, key, tmp_path):
    path = write_amazon_reviews(tmp_path / "backpack.jsonl.gz", "BACKPACK-1", 12)
    with api.client(key) as client:
        first = client.post(
            "/v1/jobs", files={"file": (path.name, path.read_bytes())}, data={"kind": "ingest", "source": "shop"}
        )
        assert first.status_code == 202, first.text
        done = wait_for_job(client, first.json()["id"])
        again = wait_for_job(
            client,
            client.post(
                "/v1/jobs", files={"file": (path.name, path.read_bytes())}, data={"kind": "ingest", "source": "shop"}
            ).json()["id"],
        )
        product = client.get("/v1/products/BACKPACK-1").json()
    assert done["status"] == "succeeded" and done["counts"]["stored"] == 12 and done["progress"] == 1.0
    assert again["counts"]["stored"] == 0 and again["counts"]["duplicates"] == 12
    assert product["reviews"] == 12 and product["average_rating"] == pytest.approx((8 * 5 + 4 * 1) / 12, abs=1e-3)
    assert list((api.platform.settings.data_dir / "uploads").iterdir()) == [], "finished jobs' uploads are removed"


def test_a_bad_review_file_fails_the_job_with_a_reason(api, key):
    with api.client(key) as client:
        created = client.post("/v1/jobs", files={"file": ("x.jsonl", b'{"foo": 1}\n')}, data={"kind": "ingest"})
        done = wait_for_job(client, created.json()["id"])
    assert done["status"] == "failed" and "schema" in done["error"]


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"json": {"texts": []}}, 422, "texts"),
        ({"json": {"texts": ["a", "b"], "ids": ["1"]}}, 422, "ids"),
        ({"json": {"texts": ["a"], "backend": "nope"}}, 422, "backend"),
        ({"content": b"[1, 2", "headers": {"content-type": "application/json"}}, 422, "JSON"),
        ({"files": {"other": ("a.txt", b"x")}}, 422, "file"),
        ({"files": {"file": ("a.txt", b"x")}, "data": {"kind": "explode"}}, 422, "kind"),
        ({"files": {"file": ("a.txt", b"\n\n")}}, 422, "no usable texts"),
    ],
)
def test_bad_job_submissions_are_refused_with_a_reason(api, key, kwargs, status, needle):
    with api.client(key) as client:
        response = client.post("/v1/jobs", **kwargs)
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]


def test_jobs_are_private_to_their_key_and_unknown_ids_are_404(api, key):
    other = api.key("someone-else", "analyze,read")
    with api.client(key) as client:
        job = client.post("/v1/jobs", json={"texts": ["mine"]}).json()
    with api.client(other) as client:
        assert client.get(f"/v1/jobs/{job['id']}").status_code == 404
        assert client.get("/v1/jobs/ffffffffffffffffffffffffffffffff").status_code == 404
        assert all(j["id"] != job["id"] for j in client.get("/v1/jobs").json()["jobs"])


def test_cancelling_a_queued_job_stops_it_and_a_second_cancel_conflicts(tmp_path):
    settings = Settings(data_dir=tmp_path, backend="lexicon", embedded_workers=0)
    with running_api(settings) as idle:
        key = idle.key("canceller", "analyze,read")
        with idle.client(key) as client:
            job = client.post("/v1/jobs", json={"texts": ["never analyzed"]}).json()
            cancelled = client.delete(f"/v1/jobs/{job['id']}")
            again = client.delete(f"/v1/jobs/{job['id']}")
        idle.platform.runner.run(job["id"])  # a worker that picks the message up later finds nothing to do
        with idle.client(key) as client:
            after = client.get(f"/v1/jobs/{job['id']}").json()
            results = client.get(f"/v1/jobs/{job['id']}/results").json()
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert after["status"] == "cancelled" and after["attempts"] == 0 and results["items"] == []


def test_a_job_over_the_daily_quota_is_refused_and_never_runs(api):
    key = api.key("small-quota", "analyze,read", daily_quota=2)
    with api.client(key) as client:
        refused = client.post("/v1/jobs", json={"texts": ["one", "two", "three"]})
        jobs = client.get("/v1/jobs").json()["jobs"]
    assert refused.status_code == 429 and refused.json()["limit"] == "daily quota"
    assert [j["status"] for j in jobs] == ["cancelled"]
    api.platform.runner.run(jobs[0]["id"])  # a worker that finds it anyway leaves it alone
    with api.client(key) as client:
        assert client.get(f"/v1/jobs/{jobs[0]['id']}").json()["attempts"] == 0


@pytest.mark.parametrize(
    ("path", "method", "examples"),
    [
        ("/v1/jobs", "POST", 80),
        ("/v1/jobs", "GET", 20),
        ("/v1/jobs/{job_id}", "GET", 20),
        ("/v1/jobs/{job_id}/results", "GET", 20),
        ("/v1/jobs/{job_id}", "DELETE", 20),
    ],
)
def test_generated_requests_get_documented_answers_and_never_a_server_error(api, path, method, examples):
    key = api.key(f"fuzz-{method.lower()}-{len(path)}", "analyze,read,ingest")
    operation = schemathesis.openapi.from_url(f"{api.url}/openapi.json")[path][method]
    statuses: Counter[int] = Counter()

    @hypothesis_settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}  # not a generated key
        response = case.call(base_url=api.url, timeout=60)
        statuses[response.status_code] += 1
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance, status_code_conformance]
        )

    check()
    assert all(status < 500 for status in statuses), statuses
    if path == "/v1/jobs":  # the others name jobs that do not exist: 404
        assert any(200 <= status < 300 for status in statuses), f"no request was accepted: {statuses}"
