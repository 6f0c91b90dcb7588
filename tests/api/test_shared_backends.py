"""The API on PostgreSQL, and on Redis for the queue, the shared cache and limits (the real servers)."""

from __future__ import annotations

import uuid

from opinara.access.usage import usage
from opinara.config import Settings
from tests.api.server import running_api
from tests.conftest import require_redis
from tests.jobs.conftest import all_results, wait_for_job
from tests.store.conftest import postgres_schema_url


def test_keys_analysis_jobs_and_usage_on_postgresql(tmp_path):
    for url in postgres_schema_url():
        settings = Settings(data_dir=tmp_path, database_url=url, backend="lexicon", aspect_extractor="rules")
        with running_api(settings) as api:
            key = api.key("pg", "analyze,read")
            with api.client(key) as client:
                analyzed = client.post("/v1/analyze", json={"text": "Works great on Postgres"})
                job = client.post("/v1/jobs", json={"texts": ["one fine text", "another awful one"]}).json()
                done = wait_for_job(client, job["id"])
                items = all_results(client, job["id"])
            api.platform.usage.flush()
            [before] = usage(api.platform.store)
            with api.client(key) as client:
                client.post("/v1/analyze", json={"text": "again"})
            api.platform.usage.flush()  # a second flush adds to the same row (an upsert on PostgreSQL)
            [after] = usage(api.platform.store)
        assert analyzed.status_code == 200 and analyzed.json()["sentiment"]["label"] == "positive"
        assert done["status"] == "succeeded" and [i["index"] for i in items] == [0, 1]
        assert before.texts == 3 and before.characters == len("Works great on Postgresone fine textanother awful one")
        assert (after.requests, after.texts) == (before.requests + 1, 4)
        assert after.characters == before.characters + len("again")


def test_two_servers_share_the_redis_queue_cache_and_limits(tmp_path):
    redis_url = require_redis()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    database = f"sqlite:///{tmp_path}/shared.db"
    common = {
        "database_url": database,
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "backend": "lexicon",
        "aspect_extractor": "rules",
        # One deployment, one secret: cache keys and author pseudonyms are keyed with it on every server.
        "secret_key": "shared-deployment-secret-0123456789",
    }
    producer = Settings(data_dir=tmp_path / "a", embedded_workers=0, **common)
    consumer = Settings(data_dir=tmp_path / "b", embedded_workers=1, **common)
    with running_api(producer) as a, running_api(consumer) as b:
        key = a.key("shared", "analyze,read")
        limited = a.key("limited", "analyze", rate_limit="2/minute")
        with a.client(key) as on_a, b.client(key) as on_b:
            first = on_a.post("/v1/analyze", json={"text": "cached across servers"})
            second = on_b.post("/v1/analyze", json={"text": "cached across servers"})
            job = on_a.post("/v1/jobs", json={"texts": ["queued on a, run by b"]}).json()
            done = wait_for_job(on_a, job["id"], timeout=60)
        with a.client(limited) as on_a, b.client(limited) as on_b:
            allowed = [on_a.post("/v1/analyze", json={"text": "x"}), on_b.post("/v1/analyze", json={"text": "y"})]
            refused = on_b.post("/v1/analyze", json={"text": "over the shared limit"})
        assert a.platform.queue.backend() == "redis"
    assert first.headers["x-cache"] == "miss" and second.headers["x-cache"] == "hit"
    assert done["status"] == "succeeded"
    assert [r.status_code for r in allowed] == [200, 200] and refused.status_code == 429
