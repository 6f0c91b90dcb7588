"""The shared Amazon review files, ingested the way a user would: same counts on SQLite and PostgreSQL,
a second ingest adds nothing, and a run killed with SIGKILL resumes to exactly a clean run's counts."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from opinara.ingest.runner import Ingester
from opinara.store.models import AspectMention, Product, Review
from tests.conftest import require_shared
from tests.store.conftest import make_store

FILES = ("All_Beauty_5.json", "AMAZON_FASHION_5.json")


def counts(store) -> tuple[int, int, int]:
    with store.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Product, Review, AspectMention))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def shared_files() -> list[Path]:
    return [require_shared("reviews", name) for name in FILES]


def test_sqlite_and_postgres_store_the_same_counts(shared_files, analyzer, tmp_path):
    found = {}
    for kind in ("sqlite", "postgresql"):
        for store in make_store(kind, tmp_path / kind):
            ingester = Ingester(store, analyzer)
            summaries = [ingester.ingest(path) for path in shared_files]
            assert [s.rejected for s in summaries] == [5, 16], "the rows without reviewText"
            found[kind] = counts(store)
            again = [ingester.ingest(path) for path in shared_files]
            assert [s.stored for s in again] == [0, 0]
            assert counts(store) == found[kind]
    assert found["sqlite"] == found["postgresql"]
    products, reviews, mentions = found["sqlite"]
    # 85 + 31 ASINs form 56 + 19 families: the files file one review under every ASIN of a family. A review
    # is one review: 1,377 + 446 distinct (reviewer, time, text) ones.
    assert products == 75
    assert reviews == 1377 + 446 and mentions > reviews


def run_ingest(path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "opinara", "ingest", "--batch-size", "64", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_row(db: Path) -> tuple[str, int, int, int, int, int]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "select status, checkpoint_line, read, stored, duplicates, rejected from ingest_runs order by id desc"
        ).fetchone()


def db_counts(db: Path) -> tuple[int, ...]:
    with sqlite3.connect(db) as connection:
        return tuple(
            connection.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("products", "reviews", "aspect_mentions", "aspect_daily", "rejected_records")
        )


def test_kill_9_mid_file_then_rerun_equals_a_clean_run(shared_files, data_dir, tmp_path):
    path = shared_files[1]
    base = {**os.environ, "OPINARA_DATA_DIR": str(data_dir)}
    clean_db, killed_db = tmp_path / "clean.db", tmp_path / "killed.db"
    clean = run_ingest(path, {**base, "OPINARA_DATABASE_URL": f"sqlite:///{clean_db}"})
    assert clean.wait(timeout=600) == 0, clean.stderr.read()

    victim = run_ingest(path, {**base, "OPINARA_DATABASE_URL": f"sqlite:///{killed_db}"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if killed_db.exists():
            try:
                row = run_row(killed_db)
            except sqlite3.OperationalError:
                continue
            if row and row[3] > 0:
                break
    time.sleep(random.uniform(0.0, 0.3))  # somewhere past the first commit; an idle machine ingests the file in ~2 s
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    status, checkpoint, *_ = run_row(killed_db)
    assert status == "running" and 0 < checkpoint < 3176, "killed mid-file"

    resumed = run_ingest(path, {**base, "OPINARA_DATABASE_URL": f"sqlite:///{killed_db}"})
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert b"resumed at line" in resumed.stdout.read()
    assert run_row(killed_db)[2:] == run_row(clean_db)[2:]
    assert run_row(killed_db)[0] == "succeeded"
    assert db_counts(killed_db) == db_counts(clean_db)
