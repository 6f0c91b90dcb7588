"""Jobs survive a server restart, a worker killed mid-job, and a queue that is down or hangs: real
processes, real signals, real redis-server processes. The job row is the truth: a submission while the
queue is away is accepted and stays queued, and runs once the queue is back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from opinara.access.keys import create_key
from opinara.config import Settings
from opinara.store.db import open_store
from tests.api.server import running_api
from tests.jobs.conftest import all_results, free_port, redis_server, require_redis_server, wait_for_job


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "OPINARA_DATA_DIR": str(data_dir),
        "OPINARA_BACKEND": "lexicon",
        "OPINARA_ASPECT_EXTRACTOR": "rules",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "opinara", *args], env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready:\n{log.read_text()[-3000:]}")


def _setup(data_dir: Path) -> tuple[int, str, Path, dict[str, str]]:
    """A free port, its URL, the server log and the headers of a new key in ``data_dir``'s store."""
    store = open_store(Settings(data_dir=data_dir))
    key, _ = create_key(store, f"k{time.monotonic_ns()}", "analyze,read", "100000/minute")
    store.engine.dispose()
    port = free_port()
    return port, f"http://127.0.0.1:{port}", data_dir / "server.log", {"X-API-Key": key}


def test_a_queued_job_survives_a_server_restart(tmp_path):
    port, url, log, headers = _setup(tmp_path)
    texts = [f"restart test {i}: solid build, fair price" for i in range(30)]
    with process(["serve", "--port", str(port), "--job-workers", "0"], _env(tmp_path), log) as first:
        _wait_ready(url, first, log)
        job = httpx.post(f"{url}/v1/jobs", json={"texts": texts}, headers=headers).json()
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    with process(["serve", "--port", str(port), "--job-workers", "1"], _env(tmp_path), log) as second:
        _wait_ready(url, second, log)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            done = wait_for_job(client, job["id"])
            items = all_results(client, job["id"], limit=100)
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert [i["result"]["text_length"] for i in items] == [len(t) for t in texts]


def test_a_worker_killed_mid_job_leaves_the_job_retried_and_complete(tmp_path):
    port, url, log, headers = _setup(tmp_path)
    texts = [f"Review {i}: the strap is sturdy but the buckle feels cheap and the color faded." for i in range(1500)]
    env = _env(tmp_path, OPINARA_JOB_CHUNK_SIZE="25", OPINARA_JOB_LEASE_SECONDS="2")
    with (
        process(["serve", "--port", str(port), "--job-workers", "0"], env, log) as server,
        httpx.Client(base_url=url, headers=headers, timeout=30) as client,
    ):
        _wait_ready(url, server, log)
        job = client.post("/v1/jobs", json={"texts": texts}).json()
        with process(["worker"], env, tmp_path / "worker1.log") as doomed:
            running = wait_for_job(client, job["id"], timeout=120, statuses=("running",))
            deadline = time.monotonic() + 120
            while client.get(f"/v1/jobs/{job['id']}").json()["processed"] < 50:
                assert time.monotonic() < deadline, "the worker made no progress"
                time.sleep(0.05)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=30)
        stuck = client.get(f"/v1/jobs/{job['id']}").json()
        assert stuck["status"] == "running" and 0 < stuck["processed"] < len(texts)
        with process(["worker"], env, tmp_path / "worker2.log"):
            done = wait_for_job(client, job["id"], timeout=240)
        items = all_results(client, job["id"], limit=1000)
    assert running["attempts"] == 1
    assert done["status"] == "succeeded" and done["attempts"] == 2, (tmp_path / "worker2.log").read_text()[-2000:]
    assert done["succeeded"] == len(texts) == len(items)
    assert [i["index"] for i in items] == list(range(len(texts)))
    assert all(i["result"]["text_length"] == len(texts[i["index"]]) for i in items)


def _settings(tmp_path, port: int) -> Settings:
    return Settings(
        data_dir=tmp_path,
        backend="lexicon",
        aspect_extractor="rules",
        redis_url=f"redis://127.0.0.1:{port}/0",
        embedded_workers=1,
        job_lease_seconds=2.0,
    )


def test_a_job_submitted_while_redis_is_down_is_accepted_and_runs_when_redis_is_back(tmp_path):
    require_redis_server()
    port = free_port()
    with running_api(_settings(tmp_path, port)) as api, api.client(api.key("outage", "analyze,read")) as client:
        with redis_server(port):
            warmup = wait_for_job(client, client.post("/v1/jobs", json={"texts": ["queue works"]}).json()["id"])
        started = time.monotonic()  # Redis is stopped now
        created = client.post("/v1/jobs", json={"texts": ["submitted during the outage", "another"]})
        took = time.monotonic() - started
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        time.sleep(3)  # longer than a lease: the reaper tries to re-queue it, and cannot
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
        with redis_server(port):
            done = wait_for_job(client, job_id, timeout=30)
    assert warmup["status"] == "succeeded"
    assert took < 1.5, f"the submission waited {took:.1f} s for the queue"
    assert done["status"] == "succeeded" and done["attempts"] == 1 and done["succeeded"] == 2


def test_a_queue_that_does_not_answer_delays_a_submission_by_about_a_second(tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        with running_api(_settings(tmp_path, port)) as api:
            key = api.key("hanging", "analyze,read")
            with api.client(key) as client:
                started = time.monotonic()
                created = client.post("/v1/jobs", json={"texts": ["the queue hangs"]})
                took = time.monotonic() - started
                health = client.get("/health")
                status = client.get(f"/v1/jobs/{created.json()['id']}").json()["status"]
    assert created.status_code == 202 and status == "queued" and health.status_code == 200
    assert 0.9 < took < 2.5, f"the submission took {took:.1f} s"
