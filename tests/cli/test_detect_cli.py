"""``opinara detect``: a detector over a timestamp,value CSV, as a stream; bad input is one line and exit 2."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def write_series(path: Path, values: list[float | None]) -> Path:
    lines = ["timestamp,value"]
    for i, value in enumerate(values):
        stamp = (T0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{stamp},{'' if value is None else value}")
    path.write_text("\n".join(lines) + "\n")
    return path


def rows_of(output: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output.decode())))


def test_a_spike_in_noise_is_one_alert_at_its_onset(run_cli, tmp_path):
    rng = random.Random(3)
    values: list[float | None] = [50 + rng.gauss(0, 2) for _ in range(2000)]
    values[1500] = 120.0
    values[700] = None  # a gap passes through, unjudged
    result = run_cli("detect", "--file", str(write_series(tmp_path / "spike.csv", values)))
    assert result.returncode == 0, result.stderr
    rows = rows_of(result.stdout)
    assert len(rows) == 2000 and list(rows[0]) == ["timestamp", "value", "score", "alert"]
    assert rows[0]["timestamp"] == "2026-01-01 00:00:00", "timestamps are echoed as written"
    assert rows[700]["value"] == "" and rows[700]["alert"] == "0"
    alerts = [i for i, row in enumerate(rows) if row["alert"] == "1"]
    assert alerts == [1500]
    scores = [float(row["score"]) for row in rows]
    assert all(0.0 <= score <= 1.0 for score in scores) and scores[1500] == max(scores)


def test_a_flat_series_raises_nothing(run_cli, tmp_path):
    path = write_series(tmp_path / "flat.csv", [7.0] * 1500)
    result = run_cli("detect", "--file", str(path), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1500 and '"alert": true' not in result.stdout.decode()


def test_bad_input_is_one_readable_line_and_exit_2(run_cli, tmp_path):
    bad_value = tmp_path / "bad.csv"
    bad_value.write_text("timestamp,value\n2026-01-01T00:00:00Z,1\n2026-01-01T00:05:00Z,lots\n")
    cases = {
        ("--file", str(bad_value)): "line 3: 'lots' is not a number",
        ("--file", str(tmp_path / "missing.csv")): "no such file",
        ("--file", str(bad_value), "--detector", "nonsense"): "no detector named 'detector.nonsense.v1'",
        ("--file", str(bad_value), "--set", "window"): "expected NAME=NUMBER",
        ("--file", str(bad_value), "--set", "no_such_option=3"): "bad options for detector.",
        ("--file", str(bad_value), "--format", "xml"): "--format must be csv or jsonl",
    }
    for args, message in cases.items():
        result = run_cli("detect", *args)
        errors = result.stderr.decode().strip().splitlines()
        assert result.returncode == 2, (args, result.stderr)
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in errors[0], (args, errors)
