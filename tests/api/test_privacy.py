"""Privacy that holds: with redaction on, planted PII reaches no table, no file, no Redis key or value and no
log line, whichever way it came in (analyze, a texts job, an uploaded review file, a rejected record, an
author id, an error)."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from opinara.config import Settings
from opinara.observability.logs import setup_logging
from tests.api.server import running_api
from tests.conftest import require_redis
from tests.jobs.conftest import wait_for_job

EMAIL = "jane.doe@example.com"
PHONE = "212-555-0143"
PLANTED = (EMAIL, PHONE, "2125550143", "jane.doe")


def _texts(i: int) -> str:
    return f"Order {i}: the strap broke, write to {EMAIL} or call {PHONE} for the refund please."


def _found(haystack: str) -> list[str]:
    return [needle for needle in PLANTED if needle in haystack]


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    setup_logging("json", "debug", redact=True, stream=stream)
    try:
        yield stream
    finally:
        setup_logging("json", "warning", stream=io.StringIO())
        logging.getLogger().handlers.clear()


def _review_file(path: Path) -> Path:
    rows = [
        {
            "parent_asin": "PRIV-1",
            "asin": "PRIV-1",
            "user_id": EMAIL,  # an author id that is itself PII: stored only as a keyed pseudonym
            "rating": 1,
            "timestamp": 1_767_225_600_000 + i * 86_400_000,
            "title": f"Contact {EMAIL}",
            "text": _texts(i),
        }
        for i in range(5)
    ]
    lines = [json.dumps(row) for row in rows]
    lines.insert(2, json.dumps({"parent_asin": "PRIV-1", "text": _texts(99), "rating": f"call {PHONE}"}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _redis_dump(url: str, prefix: str) -> str:
    import redis

    client = redis.Redis.from_url(url)
    parts = []
    for key in client.scan_iter(f"{prefix}*"):
        parts.append(key.decode("utf-8", "replace"))
        kind = client.type(key).decode()
        if kind == "string":
            parts.append((client.get(key) or b"").decode("utf-8", "replace"))
        elif kind == "list":
            parts += [v.decode("utf-8", "replace") for v in client.lrange(key, 0, -1)]
        elif kind == "hash":
            parts += [f"{k}={v}" for k, v in client.hgetall(key).items()]
        elif kind in ("set", "zset"):
            members = client.smembers(key) if kind == "set" else client.zrange(key, 0, -1)
            parts += [m.decode("utf-8", "replace") for m in members]
    return "\n".join(parts)


def test_planted_pii_appears_nowhere_with_redaction_on(tmp_path, captured_logs):
    redis_url = require_redis()
    prefix = f"opinara-privacy-{tmp_path.name[-12:]}"
    settings = Settings(
        data_dir=tmp_path / "data",
        backend="lexicon",
        aspect_extractor="rules",
        redact_pii=True,
        redis_url=redis_url,
        redis_prefix=prefix,
        embedded_workers=1,
        job_chunk_size=2,
    )
    with running_api(settings) as api:
        key = api.key("privacy", "analyze,read,ingest")
        with api.client(key) as client:
            analyzed = client.post("/v1/analyze", json={"text": _texts(1)})
            refused = client.post("/v1/analyze", json={"text": _texts(2) + "\x00"})
            job = client.post(
                "/v1/jobs", json={"texts": [_texts(i) for i in range(5)], "ids": ["a", "b", "c", "d", "e"]}
            )
            upload = _review_file(tmp_path / "reviews.jsonl")
            ingest = client.post(
                "/v1/jobs",
                files={"file": (upload.name, upload.read_bytes())},
                data={"kind": "ingest", "source": "shop"},
            )
            assert analyzed.status_code == 200 and refused.status_code == 422
            assert job.status_code == 202 and ingest.status_code == 202, (job.text, ingest.text)
            done = [wait_for_job(client, j.json()["id"]) for j in (job, ingest)]
            reviews = client.get("/v1/reviews", params={"product": "PRIV-1"}).json()["reviews"]
        api.platform.usage.flush()
    assert [d["status"] for d in done] == ["succeeded", "succeeded"], done
    assert done[1]["counts"]["stored"] == 5 and done[1]["counts"]["rejected"] == 1
    result = analyzed.json()
    assert _found(json.dumps(result["redacted_text"])) == [] and result["pii"], "the answer is redacted too"
    assert _found(refused.text) == [], "an error never quotes the text"
    assert len(reviews) == 5 and all("<EMAIL>" in r["text"] and "<PHONE>" in r["text"] for r in reviews)

    database = sqlite3.connect(settings.data_dir / "opinara.db")
    dump = "\n".join(database.iterdump())
    database.close()
    assert "PRIV-1" in dump and "<EMAIL>" in dump, "the dump holds the stored data"
    assert _found(dump) == [], "no table holds the planted PII"
    files = [p for p in settings.data_dir.rglob("*") if p.is_file() and p.suffix not in (".onnx", ".key")]
    for path in files:
        assert _found(path.read_bytes().decode("utf-8", "replace")) == [], f"{path} holds planted PII"
    redis_dump = _redis_dump(redis_url, prefix)
    assert redis_dump, "the cache and the queue wrote to Redis"
    assert _found(redis_dump) == [], "Redis holds planted PII"
    logs = captured_logs.getvalue()
    assert "job finished" in logs or "POST /v1/jobs" in logs, "the logs were captured"
    assert _found(logs) == [], "the logs hold planted PII"
