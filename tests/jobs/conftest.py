from __future__ import annotations

import gzip
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import select

from opinara.access.keys import create_key
from opinara.store.db import Store
from opinara.store.models import JobItem
from tests.conftest import IN_CI


def wait_for_job(
    client: httpx.Client, job_id: str, timeout: float = 120, statuses=("succeeded", "failed", "cancelled")
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s: {job}")
        time.sleep(0.1)


def all_results(client: httpx.Client, job_id: str, limit: int = 7) -> list[dict[str, Any]]:
    items, cursor = [], -1
    while cursor is not None:
        page = client.get(f"/v1/jobs/{job_id}/results", params={"cursor": cursor, "limit": limit}).json()
        items += page["items"]
        cursor = page["next_cursor"]
    return items


def write_amazon_reviews(path: Path, product: str, count: int, text: str | None = None) -> Path:
    """Reviews in the Amazon 2023 schema, written for the tests (``text`` replaces the generated ones)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for i in range(count):
            good = i % 3 != 0
            generated = (
                f"The zipper works smoothly and the straps are comfortable, day {i}."
                if good
                else f"The zipper broke after a week and the straps dig in, day {i}."
            )
            row = {
                "parent_asin": product,
                "asin": product,
                "user_id": f"u{i}",
                "rating": 5 if good else 1,
                "timestamp": 1767225600000 + i * 86_400_000,
                "text": f"{text} (review {i})" if text else generated,
                "title": "Backpack",
            }
            handle.write(json.dumps(row) + "\n")
    return path


def new_key(store: Store, name: str, scopes: str, daily_quota: int | None = None, redact_pii: bool = False) -> str:
    key, _ = create_key(store, name, scopes, "100000/minute", daily_quota, redact_pii=redact_pii)
    return key


def item_texts(store: Store, job_id: str) -> list[str]:
    with store.session() as session:
        return list(session.scalars(select(JobItem.text).where(JobItem.job_id == job_id).order_by(JobItem.position)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_redis_server() -> str:
    """The redis-server binary; skip when absent, fail under CI=true."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server not found (CI=true: it must be installed)")
        pytest.skip("redis-server not found")
    return binary


@contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A throwaway Redis on ``port`` (no persistence), stopped on exit."""
    import redis

    proc = subprocess.Popen(
        [require_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError(f"redis-server did not start on port {port}") from None
            time.sleep(0.05)
    try:
        yield proc
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


class PeakRss:
    """The highest resident memory of this process while the block runs, above where it started (bytes)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self.start = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start
