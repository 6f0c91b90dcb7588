"""A series from a ``timestamp,value`` CSV, read as a stream: what ``opinara detect`` and the NAB bench
read, and what a user exports from any monitoring system.

Timestamps: ISO 8601 (``2026-11-23T10:00:00Z``, ``2026-11-23 10:00:00``, with or without an offset;
naive ones are taken as UTC) or Unix seconds. An empty value is a gap (None), not a zero. A header row is
optional. Anything else is a :class:`RecordError` naming the line, so a bad file fails before any row
is met, with its line number, never a traceback.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from opinara.errors import RecordError


@dataclass(frozen=True)
class Row:
    line: int
    stamp: str  # as written, so output rows match input rows
    moment: datetime
    value: float | None  # None: a gap


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 time or Unix seconds, as an aware UTC datetime; ValueError when it is neither."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not math.isfinite(seconds):
        raise ValueError("not a time")
    return datetime.fromtimestamp(seconds, UTC)


def read_rows(lines: Iterable[str]) -> Iterator[Row]:
    """One :class:`Row` per data row, in file order."""
    for number, row in enumerate(csv.reader(lines), start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != 2:
            raise RecordError(f"line {number}: expected 2 fields (timestamp,value), found {len(row)}", number)
        stamp, raw = row[0].strip(), row[1].strip()
        try:
            moment = parse_timestamp(stamp)
        except (ValueError, OverflowError, OSError):
            if number == 1:
                continue  # a header
            raise RecordError(
                f"line {number}: {stamp[:40]!r} is not a timestamp (ISO 8601 or Unix seconds)", number
            ) from None
        if not raw:
            yield Row(number, stamp, moment, None)
            continue
        try:
            value = float(raw)
        except ValueError:
            raise RecordError(f"line {number}: {raw[:40]!r} is not a number", number) from None
        if not math.isfinite(value):
            raise RecordError(f"line {number}: the value must be a finite number", number)
        yield Row(number, stamp, moment, value)
