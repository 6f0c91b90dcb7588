from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import httpx


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


def write_amazon_reviews(path: Path, product: str, count: int) -> Path:
    """Reviews in the Amazon 2023 schema, written for the tests."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for i in range(count):
            good = i % 3 != 0
            text = (
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
                "text": text,
                "title": "Backpack",
            }
            handle.write(json.dumps(row) + "\n")
    return path
