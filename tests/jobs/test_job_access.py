"""Who may submit, read and cancel jobs; caps on a key's queued work; quotas charged by jobs.

Submitting needs ``analyze`` for an analyze job and ``ingest`` for an ingest job. The owner reads its
job with any scope it holds; cancelling needs ``analyze`` or ``ingest`` (a read-only key changes
nothing, even its own). Other keys get 404; an admin key sees and cancels everything."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from opinara.config import Settings
from opinara.store.models import Review
from tests.api.server import RunningApi, running_api
from tests.jobs.conftest import all_results, new_key, wait_for_job, write_amazon_reviews
from tests.store.conftest import postgres_schema_url


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> RunningApi:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("jobs-access"), backend="lexicon", aspect_extractor="rules", embedded_workers=1
    )
    with running_api(settings) as running:
        yield running


def _upload(path: Path, **fields: str) -> dict:
    return {"files": {"file": (path.name, path.read_bytes())}, "data": fields}


def test_an_analyze_key_submits_reads_and_pages_its_own_job(api):
    key = api.key("analyze-only", "analyze")
    with api.client(key) as client:
        created = client.post("/v1/jobs", json={"texts": ["sturdy strap", "awful buckle"]})
        assert created.status_code == 202, created.text
        done = wait_for_job(client, created.json()["id"])
        items = all_results(client, done["id"])
        listed = client.get("/v1/jobs").json()["jobs"]
    assert done["status"] == "succeeded" and len(items) == 2
    assert [job["id"] for job in listed] == [done["id"]]


def test_a_read_only_key_can_neither_submit_nor_cancel(api, tmp_path):
    key = api.key("read-only", "read")
    texts = tmp_path / "texts.txt"
    texts.write_text("fine\n")
    with api.client(key) as client:
        by_json = client.post("/v1/jobs", json={"texts": ["a"]})
        by_file = client.post("/v1/jobs", **_upload(texts))
        cancel = client.delete("/v1/jobs/" + "f" * 32)
    assert [r.status_code for r in (by_json, by_file, cancel)] == [403, 403, 403]
    assert by_json.json()["code"] == "E502"


def test_ingest_jobs_need_the_ingest_scope_and_analyze_jobs_the_analyze_scope(api, tmp_path):
    reviews = write_amazon_reviews(tmp_path / "reviews.jsonl", "SCOPE-1", 3)
    analyzer, ingester = api.key("analyzer", "analyze,read"), api.key("ingester", "ingest")
    with api.client(analyzer) as client:
        refused = client.post("/v1/jobs", **_upload(reviews, kind="ingest"))
    with api.client(ingester) as client:
        accepted = client.post("/v1/jobs", **_upload(reviews, kind="ingest", source="scope-test"))
        done = wait_for_job(client, accepted.json()["id"])
        texts = client.post("/v1/jobs", json={"texts": ["a"]})
        uploaded = client.post("/v1/jobs", **_upload(reviews, kind="analyze", format="jsonl"))
    assert refused.status_code == 403 and "'ingest' scope" in refused.json()["detail"]
    assert accepted.status_code == 202 and done["status"] == "succeeded" and done["counts"]["stored"] == 3
    assert texts.status_code == uploaded.status_code == 403


def test_another_key_gets_404_and_an_admin_key_sees_and_cancels_everything(tmp_path):
    with running_api(
        Settings(data_dir=tmp_path, backend="lexicon", aspect_extractor="rules", embedded_workers=0)
    ) as idle:
        owner, other, admin = idle.key("owner", "analyze"), idle.key("other", "analyze,read"), idle.key("root", "admin")
        with idle.client(owner) as client:
            job = client.post("/v1/jobs", json={"texts": ["queued for ever"]}).json()
        path = f"/v1/jobs/{job['id']}"
        with idle.client(other) as client:
            hidden = [client.get(path), client.get(f"{path}/results"), client.delete(path)]
            others_list = client.get("/v1/jobs").json()["jobs"]
        with idle.client(admin) as client:
            seen = client.get(path)
            everyone = client.get("/v1/jobs").json()["jobs"]
            cancelled = client.delete(path)
    assert [r.status_code for r in hidden] == [404, 404, 404] and others_list == []
    assert seen.status_code == 200 and [j["id"] for j in everyone] == [job["id"]]
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


@pytest.fixture(params=["sqlite", "postgresql"])
def capped(request: pytest.FixtureRequest, tmp_path: Path):
    """An API without workers (jobs stay queued): 2 queued jobs and 3000 upload bytes per key."""
    urls = postgres_schema_url() if request.param == "postgresql" else iter([None])
    for url in urls:
        settings = Settings(
            data_dir=tmp_path,
            database_url=url,
            backend="lexicon",
            aspect_extractor="rules",
            embedded_workers=0,
            max_queued_jobs_per_key=2,
            max_queued_upload_bytes_per_key=3000,
        )
        with running_api(settings) as running:
            yield running


def test_a_key_over_its_queued_jobs_or_upload_bytes_is_refused_before_anything_is_kept(capped, tmp_path):
    reviews = write_amazon_reviews(tmp_path / "reviews.jsonl", "CAP-1", 12)  # about 2 KB
    uploads = capped.platform.settings.data_dir / "uploads"
    jobs_key = capped.key("many-jobs", "analyze,read")
    bytes_key = capped.key("big-files", "analyze,read,ingest")
    with capped.client(jobs_key) as client:
        first, _ = (client.post("/v1/jobs", json={"texts": [f"text {i}"]}).json() for i in range(2))
        third = client.post("/v1/jobs", json={"texts": ["one too many"]})
        client.delete(f"/v1/jobs/{first['id']}")
        after_cancel = client.post("/v1/jobs", json={"texts": ["room again"]})
    with capped.client(bytes_key) as client:
        kept = client.post("/v1/jobs", **_upload(reviews, kind="ingest"))
        too_much = client.post("/v1/jobs", **_upload(reviews, kind="ingest"))
    assert third.status_code == 429 and third.json()["limit"] == "queued jobs"
    assert after_cancel.status_code == 202
    assert kept.status_code == 202 and kept.json()["options"]["upload_bytes"] == reviews.stat().st_size
    assert too_much.status_code == 429 and too_much.json()["limit"] == "queued upload bytes"
    assert len(list(uploads.iterdir())) == 1, "the refused upload was not kept"


def test_an_ingest_job_stops_when_its_key_runs_out_of_quota_and_says_how_far_it_got(api, tmp_path):
    reviews = write_amazon_reviews(tmp_path / "quota.jsonl", "QUOTA-1", 12)
    key = new_key(api.platform.store, "five-a-day", "analyze,read,ingest", daily_quota=5)
    with api.client(key) as client:
        job = client.post("/v1/jobs", **_upload(reviews, kind="ingest", source="quota"))
        assert job.status_code == 202, job.text
        done = wait_for_job(client, job.json()["id"])
        analyze = client.post("/v1/analyze", json={"text": "one more"})
        again = client.post("/v1/jobs", **_upload(reviews, kind="ingest", source="quota"))
    with api.platform.store.session() as session:
        stored = session.scalar(select(func.count()).select_from(Review).where(Review.source == "quota"))
    assert done["status"] == "failed" and done["succeeded"] == 5 == stored
    assert "after 5 reviews" in done["error"] and "again tomorrow" in done["error"]
    assert analyze.status_code == 429 and analyze.json()["limit"] == "daily quota"
    assert again.status_code == 429 and again.json()["limit"] == "daily quota"
