"""What a user sees on a first run: results on stdout, and no library chatter on stderr unless --verbose.

The first command on a fresh data directory exports the shipped model to ONNX and quantizes it;
that is where the ONNX quantizer's log lines, transformers' progress bar and FutureWarnings came from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Variables that would change what is printed; a user's shell has none of them.
CHANGES_OUTPUT = ("OPINARA_", "PYTHONWARNINGS", "TRANSFORMERS_VERBOSITY", "HF_HUB_", "TQDM_")

# What each kind of library noise looks like on stderr.
NOISE = {
    "ONNX Runtime's quantizer": "quantiz",
    "Python warnings (FutureWarning, UserWarning, ...)": "Warning",
    "a tqdm progress bar": "it/s]",
    "a progress bar's blocks": "█",
    "transformers' own handler": "[transformers]",
}


def opinara(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CHANGES_OUTPUT)}
    env["OPINARA_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "opinara", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def assert_no_noise(stderr: str) -> None:
    for source, marker in NOISE.items():
        assert marker not in stderr, f"{source} on stderr:\n{stderr[:2000]}"
    assert stderr == ""


@pytest.fixture(scope="module")
def fresh_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fresh-data")


@pytest.fixture(scope="module")
def first_analyze(fresh_data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``opinara analyze`` on the default backend, the first command on the data directory."""
    assert not (fresh_data_dir / "cache").exists()
    done = opinara(fresh_data_dir, "analyze", "The battery is great")
    assert list((fresh_data_dir / "cache").rglob("*.onnx")), "the first run should have exported the model"
    return done


def test_first_analyze_prints_one_json_line_and_nothing_on_stderr(first_analyze) -> None:
    assert first_analyze.returncode == 0, first_analyze.stderr[-2000:]
    [line] = first_analyze.stdout.splitlines()
    result = json.loads(line)
    assert result["model"]["backend"] == "encoder"
    assert result["sentiment"]["label"] == "positive"
    assert_no_noise(first_analyze.stderr)


def test_verbose_shows_the_libraries_logs(first_analyze, fresh_data_dir: Path) -> None:
    done = opinara(fresh_data_dir, "--verbose", "analyze", "The battery is great")
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stdout.splitlines()) == 1
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]  # stderr is a pipe
    loggers = {str(r["logger"]) for r in records}
    assert any(name.startswith("transformers.") for name in loggers), loggers
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)


def test_ingest_prints_only_its_summary_line(first_analyze, fresh_data_dir: Path, tmp_path: Path) -> None:
    reviews = tmp_path / "Electronics.jsonl"
    rows = [
        {"rating": 5.0, "title": "Love it", "text": "The battery is great and the screen is bright."},
        {"rating": 1.0, "title": "Broke", "text": "The zipper broke after two days. Terrible."},
    ]
    reviews.write_text(
        "".join(
            json.dumps(
                {
                    **row,
                    "asin": f"B0{n}",
                    "parent_asin": f"B0{n}",
                    "user_id": f"U{n}",
                    "timestamp": 1_700_000_000_000 + n,
                    "helpful_vote": n,
                    "verified_purchase": True,
                }
            )
            + "\n"
            for n, row in enumerate(rows)
        )
    )
    done = opinara(fresh_data_dir, "ingest", "--backend", "lexicon", str(reviews))
    assert done.returncode == 0, done.stderr[-2000:]
    [summary] = done.stdout.splitlines()
    assert summary.startswith(f"{reviews}: amazon-2023, read 2, stored 2, duplicates 0, rejected 0")
    assert_no_noise(done.stderr)
