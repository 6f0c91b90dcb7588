"""Metric points stored per second, on SQLite and PostgreSQL, through the service and through the API.

Bodies as hosts send them: host samples (4 points each) for ``--hosts`` hosts, every 10 s, in requests of
``--batch`` samples. Each figure is next to its peer measured in the same run on the same database: a
bare ``executemany`` INSERT of the same (series, time, value) rows into a table with the same key and no
rollups, no parsing and no validation (the floor of what any ingest path costs there).

    .venv/bin/python bench/metrics_ingest.py
    .venv/bin/python bench/metrics_ingest.py --points 200000 --batch 1000
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from common import header
from sqlalchemy import Column, DateTime, Float, Integer, MetaData, Table, create_engine, text

from opinara.access.keys import create_key
from opinara.api.app import create_app
from opinara.config import Settings
from opinara.platform import Platform
from opinara.signals.service import SeriesService
from opinara.store.db import open_store

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def bodies(points: int, hosts: int, batch: int, offset: int = 0) -> list[list[dict[str, Any]]]:
    samples = []
    for i in range(points // 4):
        at = T0 + timedelta(seconds=10 * (i // hosts) + offset)
        samples.append(
            {
                "timestamp": at.isoformat().replace("+00:00", "Z"),
                "hostname": f"web-{i % hosts}",
                "cpuUsage": 50.0 + i % 37,
                "memoryUsage": 60.0 + i % 11,
                "diskIO": 100.0 + i % 97,
                "networkIO": 150.0 + i % 89,
            }
        )
    return [samples[i : i + batch] for i in range(0, len(samples), batch)]


def bare_rate(url: str | None, data_dir: Path, requests: list[list[dict[str, Any]]]) -> float:
    """The peer: the same rows into a bare keyed table with executemany."""
    engine = create_engine(url or f"sqlite:///{data_dir / 'bare.db'}")
    table = Table(
        f"bare_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("series_id", Integer, primary_key=True),
        Column("at", DateTime(timezone=True), primary_key=True),
        Column("value", Float),
    )
    table.create(engine)
    ids: dict[tuple[str, str], int] = {}
    rows_per_request = []
    for request in requests:
        rows = []
        for sample in request:
            at = datetime.fromisoformat(sample["timestamp"].replace("Z", "+00:00"))
            for field in ("cpuUsage", "memoryUsage", "diskIO", "networkIO"):
                key = ids.setdefault((sample["hostname"], field), len(ids) + 1)
                rows.append({"series_id": key, "at": at, "value": sample[field]})
        rows_per_request.append(rows)
    started = time.perf_counter()
    for rows in rows_per_request:
        with engine.begin() as connection:
            connection.execute(table.insert(), rows)
    seconds = time.perf_counter() - started
    table.drop(engine)
    engine.dispose()
    return sum(len(rows) for rows in rows_per_request) / seconds


def service_rate(settings: Settings, requests: list[list[dict[str, Any]]]) -> float:
    store = open_store(settings)
    service = SeriesService(settings, store)
    started = time.perf_counter()
    stored = sum(service.write_payload(body).stored for body in requests)
    seconds = time.perf_counter() - started
    store.engine.dispose()
    return stored / seconds


def api_rate(settings: Settings, requests: list[list[dict[str, Any]]], clients: int) -> float:
    platform = Platform(settings)
    platform.start(workers=0, preload=False)
    key, _ = create_key(platform.store, f"bench-{uuid.uuid4().hex[:6]}", "metrics", "1000000/minute", None)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, platform), host="127.0.0.1", port=0, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    stored = [0] * clients

    def post(worker: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            for body in requests[worker::clients]:
                answer = client.post("/v1/metrics", json=body)
                answer.raise_for_status()
                stored[worker] += answer.json()["stored"]

    started = time.perf_counter()
    threads = [threading.Thread(target=post, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    server.should_exit = True
    thread.join(timeout=15)
    platform.stop()
    platform.store.engine.dispose()
    return sum(stored) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500, help="host samples per request (4 points each)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    args = parser.parse_args()
    header(
        f"metrics ingest: {args.points:,} points from {args.hosts} hosts, {args.batch * 4} points per request, "
        f"{args.clients} API clients"
    )
    for name in ("SQLite", "PostgreSQL"):
        with tempfile.TemporaryDirectory(prefix="opinara-metrics-bench-") as folder:
            data_dir = Path(folder)
            url, schema = None, None
            if name == "PostgreSQL":
                schema = f"opinara_bench_{uuid.uuid4().hex[:8]}"
                admin = create_engine(POSTGRES)
                with admin.begin() as connection:
                    connection.execute(text(f'CREATE SCHEMA "{schema}"'))
                url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
            try:
                settings = Settings(
                    data_dir=data_dir, database_url=url, backend="lexicon", monitor_threads=0, embedded_workers=0
                )
                peer = bare_rate(url, data_dir, bodies(args.points, args.hosts, args.batch, offset=-(10**6)))
                service = service_rate(settings, bodies(args.points, args.hosts, args.batch))
                api = api_rate(settings, bodies(args.points, args.hosts, args.batch, offset=10**6), args.clients)
            finally:
                if schema:
                    with admin.begin() as connection:
                        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    admin.dispose()
        print(f"{name}:")
        print(f"  bare executemany INSERT (peer)         {peer:10,.0f} points/s")
        print(f"  SeriesService.write_payload            {service:10,.0f} points/s   {service / peer:5.2f}x the peer")
        print(
            f"  POST /v1/metrics, {args.clients} clients            {api:10,.0f} points/s   {api / peer:5.2f}x the peer"
        )


if __name__ == "__main__":
    main()
