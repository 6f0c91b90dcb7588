"""``opinara detect``: run a detector over a ``timestamp,value`` CSV as a stream, offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from opinara.cli.app import app
from opinara.errors import InputError
from opinara.signals.detectors.base import DEFAULT_DETECTOR


def _options(pairs: list[str]) -> dict[str, float]:
    options: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            options[key.strip()] = float(value) if sep and key.strip() else float("nan")
        except ValueError:
            raise InputError(f"--set {pair!r}: the value must be a number") from None
        if options[key.strip()] != options[key.strip()]:
            raise InputError(f"--set {pair!r}: expected NAME=NUMBER")
    return options


@app.command()
def detect(
    file: Annotated[Path, typer.Option("--file", "-f", help="A timestamp,value CSV; - reads standard input.")],
    detector: Annotated[str, typer.Option(help="A registered detector (short names work: robust).")] = DEFAULT_DETECTOR,
    output_format: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    settings: Annotated[
        list[str] | None, typer.Option("--set", help="A detector option, NAME=NUMBER (repeatable).")
    ] = None,
) -> None:
    """Print timestamp,value,score,alert per row: score in [0, 1], alert 1 where the detector would
    raise an insight at its settings (at an anomaly's onset, not on every row while it lasts)."""
    from opinara.signals.detectors import DETECTORS, load
    from opinara.signals.series_csv import read_rows

    if output_format not in ("csv", "jsonl"):
        raise InputError(f"--format must be csv or jsonl, not {output_format!r}")
    load()
    name = detector if detector.startswith("detector.") else f"detector.{detector}.v1"
    try:
        instance = DETECTORS.create(name, **_options(settings or []))
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad options for {name}: {exc}") from None
    if not callable(getattr(instance, "update", None)):
        raise InputError(f"{name} tests a share (a count of a total), not a timestamp,value series")
    if str(file) != "-" and not file.is_file():
        raise InputError(f"{file}: no such file")
    stream = sys.stdin if str(file) == "-" else file.open(encoding="utf-8", errors="strict", newline="")
    out = sys.stdout
    try:
        if output_format == "csv":
            out.write("timestamp,value,score,alert\n")
        for row in read_rows(stream):
            verdict = instance.update(row.moment, row.value)
            value = "" if row.value is None else repr(row.value)
            if output_format == "csv":
                out.write(f"{row.stamp},{value},{verdict.score:.6f},{int(verdict.alert)}\n")
            else:
                record = {"timestamp": row.stamp, "value": row.value, "score": round(verdict.score, 6)}
                out.write(json.dumps({**record, "alert": verdict.alert, "expected": verdict.expected}) + "\n")
    except UnicodeDecodeError:
        raise InputError(f"{file}: not UTF-8 text") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
