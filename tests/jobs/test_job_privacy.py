"""Privacy of jobs: with redaction on (asked for, the key's policy, or the server's), raw texts are never
stored; every job's texts are deleted when it ends; job errors never quote the input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from opinara.config import Settings
from opinara.jobs import records
from opinara.jobs.models import JobOptions
from opinara.jobs.runner import JobRunner
from opinara.serving.service import AnalysisService
from opinara.store.models import JobItem, RejectedRecord, Review
from tests.api.server import RunningApi, running_api
from tests.jobs.conftest import all_results, item_texts, new_key, wait_for_job
from tests.store.conftest import make_store

EMAIL, PHONE = "jane.doe@example.com", "415-555-0134"
PLANTED = f"Great strap. Write to {EMAIL} or call +1 {PHONE} if the buckle breaks."


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> RunningApi:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("jobs-privacy"),
        backend="lexicon",
        aspect_extractor="rules",
        embedded_workers=1,
    )
    with running_api(settings) as running:
        yield running


def _planted_anywhere(api: RunningApi) -> list[str]:
    """Where the planted e-mail address or phone number is stored: job items, reviews, rejected records, uploads."""
    found = []
    with api.platform.store.session() as session:
        for column in (JobItem.text, Review.text, RejectedRecord.raw_excerpt, RejectedRecord.reason):
            for value in session.scalars(select(column)):
                if EMAIL in value or PHONE in value:
                    found.append(f"{column}: {value}")
    uploads = api.platform.settings.data_dir / "uploads"
    for path in uploads.iterdir() if uploads.exists() else []:
        if EMAIL.encode() in path.read_bytes():
            found.append(str(path))
    return found


def test_a_job_that_asks_for_redaction_stores_no_raw_text_and_none_once_it_ends(api):
    key = api.key("redacting", "analyze,read")
    with api.client(key) as client:
        created = client.post("/v1/jobs", json={"texts": [PLANTED, "plain words"], "redact_pii": True}).json()
        stored_at_once = item_texts(api.platform.store, created["id"])
        done = wait_for_job(client, created["id"])
    assert created["options"]["redact_pii"] is True
    assert all(EMAIL not in text and PHONE not in text for text in stored_at_once)
    assert stored_at_once[0] in ("", "Great strap. Write to <EMAIL> or call <PHONE> if the buckle breaks.")
    assert done["status"] == "succeeded" and item_texts(api.platform.store, done["id"]) == ["", ""]
    assert _planted_anywhere(api) == []


def test_a_key_whose_policy_is_to_redact_gets_redacted_jobs_without_asking(api, tmp_path):
    key = new_key(api.platform.store, "private-key", "analyze,read", redact_pii=True)
    upload = tmp_path / "texts.jsonl"
    upload.write_text(json.dumps({"id": "a", "text": PLANTED}) + "\n" + json.dumps({"id": "b", "text": "fine"}) + "\n")
    with api.client(key) as client:
        by_json = client.post("/v1/jobs", json={"texts": [PLANTED], "redact_pii": False}).json()
        by_file = client.post("/v1/jobs", files={"file": (upload.name, upload.read_bytes())}).json()
        done = [wait_for_job(client, job["id"]) for job in (by_json, by_file)]
    assert [job["options"]["redact_pii"] for job in done] == [True, True]
    assert [job["status"] for job in done] == ["succeeded", "succeeded"]
    assert _planted_anywhere(api) == []


def test_an_ingest_job_with_redaction_stores_redacted_reviews_and_leaves_no_upload(api, tmp_path):
    key = api.key("private-ingest", "ingest,read")
    upload = tmp_path / "reviews.jsonl"
    review = {"parent_asin": "PRIV-1", "asin": "PRIV-1", "user_id": "u1", "rating": 4, "text": PLANTED, "title": "ok"}
    upload.write_text(json.dumps(review) + "\n" + json.dumps({"asin": "PRIV-1", "text": PLANTED, "rating": "x"}) + "\n")
    with api.client(key) as client:
        created = client.post(
            "/v1/jobs",
            files={"file": (upload.name, upload.read_bytes())},
            data={"kind": "ingest", "source": "private", "redact_pii": "true"},
        )
        done = wait_for_job(client, created.json()["id"])
        rejected = all_results(client, done["id"])
    with api.platform.store.session() as session:
        texts = list(session.scalars(select(Review.text).where(Review.source == "private")))
    assert done["status"] == "succeeded" and done["options"]["redact_pii"] is True
    assert texts == ["Great strap. Write to <EMAIL> or call <PHONE> if the buckle breaks."]
    assert done["failed"] == 1 and [i["excerpt"] for i in rejected] == [""]
    assert _planted_anywhere(api) == []


def test_the_servers_redaction_setting_applies_to_every_job(tmp_path):
    settings = Settings(
        data_dir=tmp_path, backend="lexicon", aspect_extractor="rules", embedded_workers=0, redact_pii=True
    )
    with running_api(settings) as server:
        with server.client(server.key("any", "analyze,read")) as client:
            job = client.post("/v1/jobs", json={"texts": [PLANTED]}).json()
        assert job["options"]["redact_pii"] is True
        assert EMAIL not in item_texts(server.platform.store, job["id"])[0]


def test_a_job_that_fails_unexpectedly_keeps_the_error_type_but_not_its_message(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, backend="lexicon", aspect_extractor="rules")
    service = AnalysisService(settings)
    loaded = service.load()

    def failing(texts: list[str], options=None):
        raise ValueError(f"cannot handle {texts[0]!r}")

    loaded.analyzer.analyze = failing  # type: ignore[method-assign]
    for store in make_store("sqlite", tmp_path):
        job = records.create_analyze_job(store, [(None, PLANTED, None)], JobOptions())
        JobRunner(settings, store, service).run(job.id)
        failed = records.get_job(store, job.id)
        assert failed.status == "failed" and failed.error is not None
        assert "ValueError" in failed.error and EMAIL not in failed.error and "cannot handle" not in failed.error
        assert item_texts(store, job.id) == [""]
    service.close()
