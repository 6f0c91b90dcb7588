"""Reviews/s end to end (read + analyze + store) and peak RSS, on SQLite and PostgreSQL, next to the
analyzer alone (``opinara analyze``) on the same input, measured in the same run.

Volume comes from the shared Amazon files repeated with new reviewer ids (so every copy is a new
review). Each measurement is a fresh ``opinara`` process; peak RSS is that process's own.

    .venv/bin/python bench/ingest_throughput.py --sizes 10000 100000 --backend lexicon --no-aspects
    .venv/bin/python bench/ingest_throughput.py --sizes 10000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import SHARED, header
from sqlalchemy import create_engine, text

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def volume_file(size: int, directory: Path) -> Path:
    rows = []
    for name in ("All_Beauty_5.json", "AMAZON_FASHION_5.json"):
        with (SHARED / "reviews" / name).open() as handle:
            rows.extend(json.loads(line) for line in handle)
    path = directory / f"reviews-{size}.jsonl"
    with path.open("w") as out:
        for i in range(size):
            row = dict(rows[i % len(rows)])
            row["reviewerID"] = f"{row.get('reviewerID')}-{i // len(rows)}"
            out.write(json.dumps(row) + "\n")
    return path


def measure(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one ``opinara`` process."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "opinara", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: some records were skipped (rows without text)
        raise SystemExit(
            f"opinara {' '.join(args)} failed: {child.stderr.read().decode()[-2000:] if child.stderr else ''}"
        )
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def postgres_schema() -> tuple[str, str] | None:
    try:
        engine = create_engine(POSTGRES, connect_args={"connect_timeout": 3})
        schema = f"opinara_bench_{uuid.uuid4().hex[:8]}"
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        return f"{POSTGRES}?options=-csearch_path%3D{schema}", schema
    except Exception as exc:
        print(f"# PostgreSQL unavailable ({exc}); skipping it")
        return None


def drop_schema(schema: str) -> None:
    with create_engine(POSTGRES).begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000])
    parser.add_argument("--backend", default=None)
    parser.add_argument("--no-aspects", action="store_true")
    args = parser.parse_args()
    header(f"ingest throughput, backend={args.backend or 'default'}, aspects={'off' if args.no_aspects else 'on'}")
    work = Path(tempfile.mkdtemp(prefix="opinara-ingest-bench-"))
    env = {**os.environ, "OPINARA_DATA_DIR": str(work / "data")}
    if args.backend:
        env["OPINARA_BACKEND"] = args.backend
    if args.no_aspects:
        env["OPINARA_ASPECTS"] = "false"
    analyze_flags = ["--no-aspects"] if args.no_aspects else []
    measure(["analyze", "warm up the model cache"], env)
    for size in args.sizes:
        path = volume_file(size, work)
        seconds, rss = measure(["analyze", "--file", str(path), "--text-field", "reviewText", *analyze_flags], env)
        analyze_rate = size / seconds
        print(f"{size:>7} reviews  analyzer alone            {analyze_rate:8.1f}/s  peak RSS {rss:7.1f} MB")
        targets = [("sqlite", f"sqlite:///{work / f'bench-{size}.db'}", None)]
        if pg := postgres_schema():
            targets.append(("postgresql", pg[0], pg[1]))
        for name, url, schema in targets:
            seconds, rss = measure(["ingest", "--batch-size", "256", str(path)], {**env, "OPINARA_DATABASE_URL": url})
            rate = size / seconds
            print(
                f"{size:>7} reviews  ingest into {name:<12} {rate:8.1f}/s  peak RSS {rss:7.1f} MB  {rate / analyze_rate:5.2f}x the analyzer alone"
            )
            if schema:
                drop_schema(schema)


if __name__ == "__main__":
    main()
