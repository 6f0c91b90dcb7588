"""Load test of POST /v1/analyze at rising concurrency (cold cache: every text is unique), and the time
a 10,000-review async job takes, on a real `opinara serve` process.

Peers measured in the same run: vaderSentiment in process (the lexicon tier's ceiling), and the same
analyzer's in-process batch throughput (what dynamic batching tries to approach).

    .venv/bin/python bench/api_load.py --backend lexicon [--seconds 60] [--levels 8,32,64,128] [--server-workers 1]
    .venv/bin/python bench/api_load.py --backend encoder --levels 1,4,16,32 --job 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from common import header, rate, short_reviews

from opinara.access.keys import create_key
from opinara.analysis.pipeline import AnalyzeOptions, Analyzer
from opinara.config import Settings
from opinara.store.db import open_store


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(
    url: str, key: str, texts: list[str], concurrency: int, seconds: float, offset: int, aspects: bool
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    counter = offset
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def user() -> None:
            nonlocal errors, counter
            while time.perf_counter() < deadline:
                counter += 1
                body = {"text": f"{texts[counter % len(texts)]} (#{counter})", "aspects": aspects}
                started = time.perf_counter()
                try:
                    async with session.post(f"{url}/v1/analyze", json=body) as response:
                        await response.read()
                        ok = response.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "errors": errors / max(len(latencies), 1) * 100,
        "requests": len(latencies),
        "next": counter,
    }


def job_time(url: str, key: str, texts: list[str]) -> float:
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        started = time.perf_counter()
        job = client.post("/v1/jobs", json={"texts": texts}).json()
        while True:
            status = client.get(f"/v1/jobs/{job['id']}").json()
            if status["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
    if status["status"] != "succeeded":
        raise SystemExit(f"the job ended {status['status']}: {status.get('error')}")
    return elapsed


def in_process_rate(settings: Settings, texts: list[str], aspects: bool) -> float:
    analyzer = Analyzer(settings)
    options = AnalyzeOptions(aspects=aspects)
    return rate(lambda batch: list(analyzer.analyze_stream(batch, options)), texts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="lexicon", choices=["lexicon", "encoder"])
    parser.add_argument("--seconds", type=float, default=60.0, help="total load time, split across the levels")
    parser.add_argument("--levels", default="8,32,64,128", help="concurrent clients per step")
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn processes")
    parser.add_argument("--job", type=int, default=0, help="also time an async job of this many reviews")
    parser.add_argument("--job-workers", type=int, default=1)
    parser.add_argument(
        "--aspects",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask for aspects (default: off for lexicon, the sentiment-only tier; on for encoder)",
    )
    args = parser.parse_args()
    aspects = args.aspects if args.aspects is not None else args.backend != "lexicon"
    header(
        f"opinara API load, {args.backend} backend, aspects {'on' if aspects else 'off'}, "
        f"{args.server_workers} server process(es)"
    )

    texts = short_reviews(20_000)
    data_dir = Path(tempfile.mkdtemp(prefix="opinara-load-"))
    settings = Settings(data_dir=data_dir, backend=args.backend)
    store = open_store(settings)
    key, _ = create_key(store, "bench", "analyze,read", "100000000/minute")
    store.engine.dispose()

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    vader_rate = rate(lambda batch: [vader.polarity_scores(t) for t in batch], texts[:5000])
    sample = texts[:2000] if args.backend == "lexicon" else texts[:400]
    batch_rate = in_process_rate(settings, sample, aspects)
    print(f"peer: vaderSentiment in process           {vader_rate:9.1f} texts/s")
    print(f"peer: {args.backend} analyzer in process, batched  {batch_rate:9.1f} texts/s")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OPINARA_DATA_DIR": str(data_dir), "OPINARA_LOG_FORMAT": "json"}
    log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opinara",
            "serve",
            "--port",
            str(port),
            "--backend",
            args.backend,
            "--workers",
            str(args.server_workers),
            "--job-workers",
            str(args.job_workers),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        import httpx

        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start; see {data_dir / 'server.log'}")
            time.sleep(0.5)
        levels = [int(level) for level in args.levels.split(",")]
        step = args.seconds / len(levels)
        print(
            f"{'clients':>7} {'RPS':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} "
            f"{'vs vader':>9} {'vs batch':>9}"
        )
        offset = 0
        for level in levels:
            result = asyncio.run(load(url, key, texts, level, step, offset, aspects))
            offset = int(result["next"])
            print(
                f"{level:7d} {result['rps']:8.1f} {result['p50']:8.1f} {result['p95']:8.1f} {result['p99']:8.1f} "
                f"{result['errors']:6.2f}% {result['rps'] / vader_rate:8.3f}x {result['rps'] / batch_rate:8.3f}x"
            )
        if args.job:
            job_texts = [f"{t} [job {i}]" for i, t in enumerate(short_reviews(args.job))]
            seconds = job_time(url, key, job_texts)
            print(
                f"async job of {args.job} reviews: {seconds:.1f} s ({args.job / seconds:.1f} texts/s, "
                f"{args.job / seconds / batch_rate:.2f}x the in-process batch rate)"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
