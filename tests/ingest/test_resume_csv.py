"""A CSV ingest killed with SIGKILL after its first checkpoint, with bad rows before that checkpoint, resumes
to exactly the counts of a clean run: the rows it rejected before the kill are not rejected again."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import time
from pathlib import Path

from tests.ingest.test_shared_reviews import db_counts, run_row

ROWS = 6000


def write_reviews(path: Path) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["review_id", "product_id", "rating", "date", "author", "text"])
    for i in range(ROWS):
        if i == 3:
            out.write("\x00BAD-UTF8\n")  # replaced below by bytes that are not UTF-8
            continue
        if i == 5:
            writer.writerow([f"r{i}", "kettle", "five", "2026-01-01", "bob", "A rating that is a word."])
            continue
        if i == 8:
            writer.writerow([f"r{i}", "kettle", "4"])  # too few fields
            continue
        text = f"Review {i}: the lid {'seals well' if i % 3 else 'leaks a little'} and the handle is sturdy."
        writer.writerow([f"r{i}", f"kettle-{i % 4}", 1 + i % 5, f"2026-0{1 + i % 9}-1{i % 9}", f"u{i}", text])
    data = out.getvalue().encode().replace(b"\x00BAD-UTF8", b"r3,kettle,5,2026-01-01,\xff\xfe,Not UTF-8 at all")
    path.write_bytes(data)
    return path


def ingest(path: Path, env: dict[str, str]):
    import subprocess
    import sys

    command = [sys.executable, "-m", "opinara", "ingest", "--backend", "lexicon", "--batch-size", "64", str(path)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_kill_9_after_rejecting_rows_then_resume_equals_a_clean_run(data_dir, tmp_path):
    path = write_reviews(tmp_path / "kettles.csv")
    base = {**os.environ, "OPINARA_DATA_DIR": str(data_dir), "OPINARA_ASPECT_EXTRACTOR": "rules"}
    clean_db, killed_db = tmp_path / "clean.db", tmp_path / "killed.db"
    clean = ingest(path, {**base, "OPINARA_DATABASE_URL": f"sqlite:///{clean_db}"})
    assert clean.wait(timeout=600) == 0, clean.stderr.read()
    assert run_row(clean_db)[5] == 3, "the three bad rows"

    victim = ingest(path, {**base, "OPINARA_DATABASE_URL": f"sqlite:///{killed_db}"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            row = run_row(killed_db) if killed_db.exists() else None
        except sqlite3.OperationalError:
            continue
        if row and row[1] >= 128:  # two checkpoints past the bad rows
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    status, checkpoint, _, _, _, rejected = run_row(killed_db)
    assert status == "running" and 8 < checkpoint < ROWS, "killed mid-file, after the bad rows"
    assert rejected == 3

    resumed = ingest(path, {**base, "OPINARA_DATABASE_URL": f"sqlite:///{killed_db}"})
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert b"resumed at line" in resumed.stdout.read()
    assert run_row(killed_db) == run_row(clean_db)
    assert db_counts(killed_db) == db_counts(clean_db)
