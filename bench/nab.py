"""Anomaly detection quality on the Numenta Anomaly Benchmark files in ../shared/data/nab.

Runs a detector over each series exactly as ``opinara detect`` does (one pass, no look-ahead, default
settings unless ``--set``), scores its ``alert`` column by NAB's rules (``opinara.evaluation.nab``), and
prints the normalized score next to the published detectors' scores on the same files (from NAB's own
per-file results), as a ratio to Numenta HTM's.

    .venv/bin/python bench/nab.py                        # the default detector of `opinara detect`, standard profile
    .venv/bin/python bench/nab.py --per-file             # and each file's windows, hits and false alerts
    .venv/bin/python bench/nab.py --set threshold=5      # a detector option
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from common import header

from opinara.evaluation.nab import PROFILES, FileScore, normalized, score_file
from opinara.signals.detectors import DETECTORS, load
from opinara.signals.detectors.base import DEFAULT_DETECTOR
from opinara.signals.series_csv import read_rows

NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"
PEERS = ("ARTime", "numenta", "contextOSE", "knncad", "earthgeckoSkyline", "relativeEntropy", "windowedGaussian")


def windows_of(path: str) -> list[tuple[datetime, datetime]]:
    labels = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    return [(_when(start), _when(end)) for start, end in labels[path]]


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def published(detector: str, profile: str, files: set[str]) -> dict[str, float]:
    """A published detector's raw score per file, for the files we have."""
    path = NAB / "results" / f"{detector}_{profile}_scores.csv"
    with path.open() as handle:
        return {row["File"]: float(row["Score"]) for row in csv.DictReader(handle) if row["File"] in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--profile", default="standard", choices=sorted(PROFILES))
    parser.add_argument("--set", action="append", default=[], help="NAME=NUMBER, a detector option")
    parser.add_argument("--per-file", action="store_true")
    args = parser.parse_args()
    if not NAB.is_dir():
        sys.exit(f"no NAB data at {NAB}")
    load()
    options = {key: float(value) for key, value in (pair.split("=", 1) for pair in args.set)}
    profile = PROFILES[args.profile]
    files = sorted(str(path.relative_to(NAB / "data")) for path in (NAB / "data").rglob("*.csv"))
    header(f"NAB, {args.profile} profile: {args.detector} {options or ''} on {len(files)} files")
    scores: dict[str, FileScore] = {}
    rows = 0
    started = time.perf_counter()
    for name in files:
        detector = DETECTORS.create(args.detector, **options)
        with (NAB / "data" / name).open(newline="") as handle:
            series = list(read_rows(handle))
        alerts = [detector.update(row.moment, row.value).alert for row in series]
        rows += len(series)
        scores[name] = score_file([row.moment for row in series], alerts, windows_of(name), profile)
        if args.per_file:
            s = scores[name]
            print(f"  {name:62} windows {s.windows}  hit {s.detected}  false {s.false_alerts:3d}  raw {s.raw:7.3f}")
    seconds = time.perf_counter() - started
    ours = normalized(list(scores.values()), profile)
    windows = sum(s.windows for s in scores.values())
    hit = sum(s.detected for s in scores.values())
    false = sum(s.false_alerts for s in scores.values())
    flat = [name for name in files if "NoAnomaly" in name and scores[name].false_alerts]
    print(
        f"{args.detector}: {ours:6.1f}  ({hit} of {windows} windows, {false} false alerts; {rows / seconds:,.0f} rows/s)"
    )
    print(f"  alerts on series without anomalies: {', '.join(flat) if flat else 'none'}")
    baseline = None
    for peer in PEERS:
        raw = published(peer, args.profile, set(files))
        peer_scores = [FileScore(raw[name], scores[name].windows, 0, 0) for name in files if name in raw]
        value = normalized(peer_scores, profile)
        baseline = value if peer == "numenta" else baseline
        print(f"  published {peer:20} {value:6.1f}   ours / theirs {ours / value:5.2f}x")
    if baseline:
        print(f"ours / Numenta HTM on these {len(files)} files: {ours / baseline:.2f}x")


if __name__ == "__main__":
    main()
