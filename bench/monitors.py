"""Source monitors under load: many monitors due every minute against a local Hacker News (Algolia)
server that serves fresh items on every run, run by real ``opinara worker`` processes.

What it prints, from the ``monitor_runs`` table, for the runs due in a measured window after a warm-up:
runs started (of the slots due), the lag from due time to start (p50, p95, p99, max), runs per minute and
mentions stored per second; next to the peer measured in the same run: the same analyzer's own items/s
on the same texts in this process (batches the size of a run's, and of ``batch_size``).

The server answers ``/api/v1/search_by_date`` like hn.algolia.com; every monitor searches its own query,
and each run gets ``--items`` new stories, newer than its cursor, with texts from the shared Amazon
reviews made unique (so every item is a new mention with a new text). Everything stays on 127.0.0.1:
the workers run with ``monitor_allowed_networks=127.0.0.1/32`` and a host rate limit raised for the one
local host (the default, 120/minute per host, is a courtesy to real services).

Monitors arrive either at once (``--arrival burst``: made in one go through the monitor service, which
spreads their first runs over their first interval, at most a minute) or over one interval
(``--arrival spread``: as monitors made over time are). ``--first-run-spread S`` squeezes the first
runs of a burst into S seconds after it is made, to find how large a burst the workers absorb.

    .venv/bin/python bench/monitors.py                                  # 1,000 monitors, lexicon, SQLite
    .venv/bin/python bench/monitors.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/monitors.py --find-max                       # default (encoder) backend
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from common import header, rate, short_reviews
from sqlalchemy import create_engine, select, text, update

from opinara.analysis.pipeline import Analyzer
from opinara.config import Settings
from opinara.monitors.connectors.hackernews import parse_hit
from opinara.monitors.models import MonitorSpec
from opinara.monitors.service import MonitorService
from opinara.store.db import Store, open_store
from opinara.store.models import Monitor, MonitorRun

PATH = "/api/v1/search_by_date"


class FreshFeed:
    """An Algolia HN ``search_by_date`` answering every query with ``items_per_run`` new stories newer
    than the query's ``created_at_i>=`` filter; later pages of a search page through the same batch."""

    def __init__(self, texts: list[str], items_per_run: int) -> None:
        self.texts = texts
        self.items_per_run = items_per_run
        self.requests = 0
        self.served = 0
        self._next_id = 1
        self._batches: dict[str, tuple[str, list[dict[str, Any]]]] = {}  # query -> (filters, hits)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fresh-feed", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def hit(self, number: int, at: int) -> dict[str, Any]:
        return {
            "objectID": str(number),
            "title": None,
            "url": None,
            "story_text": f"{self.texts[number % len(self.texts)]} ({number})",  # unique: a new mention, a new text
            "author": f"user{number % 997}",
            "points": 1,
            "num_comments": 0,
            "created_at": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", ".000Z"),
            "created_at_i": at,
            "_tags": ["story", f"author_user{number % 997}", f"story_{number}"],
        }

    def answer(self, query: dict[str, list[str]]) -> dict[str, Any]:
        def param(name: str, default: str = "") -> str:
            return (query.get(name) or [default])[0]

        words, filters = param("query"), param("numericFilters")
        per_page, page = int(param("hitsPerPage", "20")), int(param("page", "0"))
        with self._lock:
            self.requests += 1
            batch = self._batches.get(words)
            if page == 0 or batch is None or batch[0] != filters:
                after = re.search(r"created_at_i>=(\d+)", filters)
                at = max(int(time.time()), int(after.group(1)) + 1 if after else 0)
                first, self._next_id = self._next_id, self._next_id + self.items_per_run
                batch = self._batches[words] = (filters, [self.hit(n, at) for n in range(first, self._next_id)])
            hits = batch[1][page * per_page : (page + 1) * per_page]
            self.served += len(hits)
        return {
            "hits": hits,
            "nbHits": len(batch[1]),
            "page": page,
            "nbPages": math.ceil(len(batch[1]) / per_page),
            "hitsPerPage": per_page,
            "exhaustiveNbHits": True,
            "query": words,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        feed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != PATH:
                    body, status = b'{"error": "not found"}', 404
                else:
                    body, status = json.dumps(feed.answer(parse_qs(parts.query))).encode(), 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@dataclass
class Window:
    """What the runs due in ``[start, end)`` show."""

    start: datetime
    end: datetime
    slots: int = 0  # due slots of active monitors in the window, from each monitor's phase
    lags: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    started: int = 0  # runs started in the window (whenever due)
    stored: int = 0  # mentions stored by runs that finished in the window

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def percentile(self, q: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    @property
    def missed(self) -> int:
        """Slots due in the window that no run started for (still waiting, or skipped after a late run)."""
        return max(self.slots - len(self.lags), 0)

    def met(self, target: float) -> bool:
        return self.missed == 0 and bool(self.lags) and max(self.lags) <= target


def measure(store: Store, phases: dict[int, tuple[datetime, int]], start: datetime, end: datetime) -> Window:
    window = Window(start, end)
    for first, interval in phases.values():
        step = timedelta(seconds=interval)
        k = max(math.ceil((start - first) / step), 0)
        while first + k * step < end:
            window.slots += 1
            k += 1
    with store.session() as session:
        due = session.execute(
            select(MonitorRun.due_at, MonitorRun.started_at, MonitorRun.status).where(
                MonitorRun.due_at >= start, MonitorRun.due_at < end
            )
        )
        for due_at, started_at, status in due:
            window.lags.append(max((started_at - due_at).total_seconds(), 0.0))
            window.statuses[status] = window.statuses.get(status, 0) + 1
        window.started = len(
            session.scalars(
                select(MonitorRun.id).where(MonitorRun.started_at >= start, MonitorRun.started_at < end)
            ).all()
        )
        window.stored = sum(
            session.scalars(
                select(MonitorRun.new).where(MonitorRun.finished_at >= start, MonitorRun.finished_at < end)
            ).all()
        )
    return window


def report(window: Window, target: float, peer: float, peer_name: str) -> None:
    statuses = ", ".join(f"{name} {count}" for name, count in sorted(window.statuses.items()))
    per_second = window.stored / window.seconds
    print(f"  due slots in the window        {window.slots:8d}")
    print(f"  runs started for them          {len(window.lags):8d}   ({window.missed} not started; {statuses})")
    print(
        f"  lag due -> start  p50 {window.percentile(0.50):6.2f} s   p95 {window.percentile(0.95):6.2f} s   "
        f"p99 {window.percentile(0.99):6.2f} s   max {max(window.lags, default=float('nan')):6.2f} s   "
        f"(target: every run within {target:g} s: {'met' if window.met(target) else 'NOT met'})"
    )
    print(f"  runs started per minute        {window.started / window.seconds * 60:8.1f}")
    print(f"  mentions stored per second     {per_second:8.1f}   {per_second / peer:6.3f}x {peer_name}")


class Workers:
    """``count`` real ``opinara worker`` processes on the bench's database, logging to files."""

    def __init__(self, count: int, env: dict[str, str], logs: Path) -> None:
        self.logs = [logs / f"worker-{i}.log" for i in range(count)]
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "opinara", "worker"],
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            for log in self.logs
        ]

    def wait_ready(self, timeout: float) -> None:
        """Until each has loaded its analyzer and started (it says so on stderr)."""
        deadline = time.monotonic() + timeout
        for process, log in zip(self.processes, self.logs, strict=True):
            while "opinara worker:" not in log.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start; see {log}")
                time.sleep(0.5)

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def postgres_schema(url: str) -> tuple[str, str]:
    """A fresh schema under ``url`` and the URL that uses it."""
    schema = f"opinara_bench_{uuid.uuid4().hex[:8]}"
    with create_engine(url).begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}", schema


def drop_schema(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def make_monitors(
    service: MonitorService, feed: FreshFeed, count: int, every: int, spread: bool, squeeze: float | None
):
    """``count`` monitors, each searching its own query; with ``spread``, made evenly over one interval;
    with ``squeeze``, their first runs moved into the ``squeeze`` seconds after they are made.
    Returns each monitor's first due time and interval (its phase)."""
    phases: dict[int, tuple[datetime, int]] = {}
    made = datetime.now(UTC)
    started = time.monotonic()
    for i in range(count):
        if spread:
            time.sleep(max(started + i * every / count - time.monotonic(), 0.0))
        spec = MonitorSpec(
            name=f"bench-{i}", connector="hackernews", params={"query": f"bench {i}", "base_url": feed.url}, every=every
        )
        info = service.create(spec).monitor
        phases[info.id] = (info.next_run_at, info.interval_seconds)
    if squeeze is not None:  # a bench knob, not a service operation: set the phases straight in the table
        rng = random.Random(1)
        phases = {key: (made + timedelta(seconds=rng.uniform(0, squeeze)), every) for key in phases}
        with service.store.session() as session:
            for key, (due, _) in phases.items():
                session.execute(update(Monitor).where(Monitor.id == key).values(next_run_at=due))
    return phases


def in_process_peers(settings: Settings, texts: list[str], run_size: int) -> tuple[float, float]:
    """The analyzer's items/s on these texts in this process: in batches of a run's size, and of ``batch_size``."""
    analyzer = Analyzer(settings)

    def by(size: int):
        def analyze(batch: list[str]) -> None:
            for i in range(0, len(batch), size):
                analyzer.analyze(batch[i : i + size])

        return analyze

    return rate(by(run_size), texts), rate(by(settings.batch_size), texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, default=None, help="default 1000 (60 with --find-max)")
    parser.add_argument("--items", type=int, default=20, help="new items per run (with --find-max: the first level)")
    parser.add_argument("--every", type=int, default=60, help="each monitor's interval, seconds")
    parser.add_argument("--backend", default=None, help="default lexicon (with --find-max: the default, encoder)")
    parser.add_argument(
        "--aspects",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="aspects in the analysis (default: off for lexicon, the sentiment-only tier; the setting's default otherwise)",
    )
    parser.add_argument("--aspect-extractor", choices=["tagger", "rules"], default=None, help="with --aspects")
    parser.add_argument(
        "--arrival", choices=["burst", "spread"], default=None, help="default burst (spread with --find-max)"
    )
    parser.add_argument(
        "--first-run-spread", type=float, default=None, help="burst: first runs within this many seconds"
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL (a fresh schema in it); default SQLite")
    parser.add_argument("--workers", type=int, default=2, help="`opinara worker` processes")
    parser.add_argument("--threads", type=int, default=None, help="monitor_threads per worker (default: the setting's)")
    parser.add_argument("--poll", type=float, default=None, help="monitor_poll_seconds (default: the setting's)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds after the monitors exist, not measured")
    parser.add_argument("--seconds", type=float, default=180.0, help="the measured window")
    parser.add_argument("--target", type=float, default=10.0, help="the most lag a run may start with, seconds")
    parser.add_argument("--find-max", action="store_true", help="double --items each step until the target is missed")
    parser.add_argument("--step-seconds", type=float, default=120.0, help="--find-max: the window of each level")
    parser.add_argument("--max-items", type=int, default=500, help="--find-max: the last level (monitor_max_items)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (and the PostgreSQL schema)")
    args = parser.parse_args()
    backend = args.backend or ("encoder" if args.find_max else "lexicon")
    monitors = args.monitors or (60 if args.find_max else 1000)
    arrival = args.arrival or ("spread" if args.find_max else "burst")
    aspects = args.aspects if args.aspects is not None else (False if backend == "lexicon" else None)

    data_dir = Path(tempfile.mkdtemp(prefix="opinara-monitors-bench-"))
    env = {
        **os.environ,
        "OPINARA_DATA_DIR": str(data_dir),
        "OPINARA_BACKEND": backend,
        "OPINARA_MONITOR_ALLOWED_NETWORKS": "127.0.0.1/32",
        "OPINARA_MONITOR_HOST_RATE_LIMIT": "1000000/minute",
        "OPINARA_LOG_FORMAT": "json",
    }
    env.pop("OPINARA_DATABASE_URL", None)
    if aspects is not None:
        env["OPINARA_ASPECTS"] = str(aspects).lower()
    if args.aspect_extractor:
        env["OPINARA_ASPECT_EXTRACTOR"] = args.aspect_extractor
    if args.threads is not None:
        env["OPINARA_MONITOR_THREADS"] = str(args.threads)
    if args.poll is not None:
        env["OPINARA_MONITOR_POLL_SECONDS"] = str(args.poll)
    schema = None
    if args.database_url:
        env["OPINARA_DATABASE_URL"], schema = postgres_schema(args.database_url)
    settings = Settings(
        data_dir=data_dir,
        backend=backend,
        database_url=env.get("OPINARA_DATABASE_URL"),
        **({"aspects": aspects} if aspects is not None else {}),
        **({"aspect_extractor": args.aspect_extractor} if args.aspect_extractor else {}),
    )
    threads = args.threads or settings.monitor_threads
    store_name = "PostgreSQL" if schema else "SQLite"
    header(
        f"opinara monitors: {monitors} monitors every {args.every} s ({arrival} arrival{f', first runs within {args.first_run_spread:g} s' if args.first_run_spread is not None else ''}), {args.items} new items per run"
        f"{' and up' if args.find_max else ''}, {backend} backend (aspects {settings.aspect_extractor if settings.aspects else 'off'}), "
        f"{store_name}, {args.workers} `opinara worker` process(es) x {threads} monitor thread(s)"
    )

    pool = short_reviews(20_000)
    feed = FreshFeed(pool, args.items)
    largest = args.max_items if args.find_max else args.items
    sample = [parse_hit(feed.hit(n, 0)).entry.text for n in range(2000 if backend == "lexicon" else 512)]  # type: ignore[union-attr]
    store = open_store(settings)
    workers: Workers | None = None
    try:
        per_run, batched = in_process_peers(settings, sample, args.items)
        print(f"peer: {backend} analyzer in process, batches of {args.items:<4} (a run's)  {per_run:9.1f} items/s")
        print(
            f"peer: {backend} analyzer in process, batches of {settings.batch_size:<4}          {batched:9.1f} items/s"
        )
        workers = Workers(args.workers, env, data_dir)
        workers.wait_ready(600)
        service = MonitorService(settings, store)
        made = time.monotonic()
        phases = make_monitors(service, feed, monitors, args.every, arrival == "spread", args.first_run_spread)
        print(f"{monitors} monitors made in {time.monotonic() - made:.1f} s; warming up {args.warmup:g} s")
        time.sleep(args.warmup)
        if not args.find_max:
            start = datetime.now(UTC)
            time.sleep(args.seconds + args.target)  # runs due at the end get the target's time to start
            window = measure(store, phases, start, start + timedelta(seconds=args.seconds))
            print(f"window of {args.seconds:g} s, {feed.requests} search requests served in all:")
            report(window, args.target, per_run, f"the in-process rate in batches of {args.items}")
            print(
                f"  {'':31}{window.stored / window.seconds / batched:9.3f}x the in-process rate in batches of {settings.batch_size}"
            )
            return
        best: tuple[int, float] | None = None
        level = args.items
        while level <= args.max_items:
            feed.items_per_run = level
            # The first interval of a level still has runs of the last one; measure the rest.
            start = datetime.now(UTC) + timedelta(seconds=args.every)
            time.sleep(args.every + args.step_seconds + args.target)
            window = measure(store, phases, start, start + timedelta(seconds=args.step_seconds))
            print(f"level: {level} items per run, {monitors * level / args.every:.1f} items/s offered")
            report(window, args.target, batched, f"the in-process rate in batches of {settings.batch_size}")
            if not window.met(args.target):
                break
            best = (level, window.stored / window.seconds)
            level *= 2
        if best:
            print(
                f"highest sustained: {best[1]:.1f} mentions/s ({best[0]} items per run, {monitors} monitors), "
                f"{best[1] / batched:.3f}x the {backend} analyzer in process ({batched:.1f} items/s)"
            )
        else:
            print(f"not even {args.items} items per run was sustained")
        print(f"largest level tried: {min(level, largest)} items per run")
    finally:
        if workers is not None:
            workers.stop()
        feed.close()
        store.engine.dispose()
        if schema and not args.keep:
            drop_schema(args.database_url, schema)
        if not args.keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"data kept in {data_dir}{f' and schema {schema}' if schema else ''}")


if __name__ == "__main__":
    main()
