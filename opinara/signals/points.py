"""What hosts POST to ``/v1/metrics``, read into samples: pure, no I/O.

Two shapes, one object or a list of them:

- A host sample, as the IOps agents send it: ``{"timestamp": "2026-11-23T10:00:00Z", "hostname": "web-1",
  "cpuUsage": 75.5, "memoryUsage": 82.3, "diskIO": 200.5, "networkIO": 150.2}``. Each numeric field
  becomes the series ``host_<field in snake case>`` with the label ``host``.
- A named series with labels and points: ``{"series": "queue_depth", "labels": {"host": "web-1"},
  "points": [["2026-11-23T10:00:00Z", 12.0], ...]}``.

A bad point is refused with where it is (``3``, ``3.cpuUsage``, ``3.points[5]``) and why; the rest are
kept. Names follow Prometheus (``[a-zA-Z_:][a-zA-Z0-9_:]*``), so a series can be exported as it is.
Times: ISO 8601 (an offset is honoured; a time without one is UTC) or Unix seconds, from 1970 to an hour
ahead of ``now`` (a host whose clock runs far ahead is refused rather than stored in the future).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opinara.signals.series_csv import parse_timestamp
from opinara.validation import text_problem

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,127}")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,63}")
MAX_LABELS = 16
MAX_LABEL_VALUE = 256
FUTURE = timedelta(hours=1)
HOST_SERIES_PREFIX = "host_"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class SeriesKey:
    name: str
    labels: tuple[tuple[str, str], ...]  # sorted by label name

    @classmethod
    def of(cls, name: str, labels: dict[str, str]) -> SeriesKey:
        return cls(name, tuple(sorted(labels.items())))

    def text(self) -> str:
        """``name{a="1",b="2"}``, as Prometheus writes a series."""
        pairs = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{pairs}}}" if pairs else self.name


@dataclass(frozen=True)
class Sample:
    key: SeriesKey
    at: datetime
    value: float


@dataclass(frozen=True)
class Refused:
    where: str
    reason: str


class _Bad(ValueError):
    pass


def host_series(field: str) -> str:
    """``cpuUsage`` -> ``host_cpu_usage``; ``diskIO`` -> ``host_disk_io``."""
    return HOST_SERIES_PREFIX + _CAMEL.sub("_", field).lower()


def read_payload(body: Any, now: datetime, max_points: int) -> tuple[list[Sample], list[Refused]]:
    """The samples in a request body and what was refused; at most ``max_points`` points are read
    (the rest are refused as over the limit)."""
    items = body if isinstance(body, list) else [body]
    samples: list[Sample] = []
    refused: list[Refused] = []
    for index, item in enumerate(items):
        where = str(index)
        if not isinstance(item, dict):
            refused.append(Refused(where, "must be an object"))
        elif "series" in item:
            _read_series(item, where, now, samples, refused)
        elif "hostname" in item:
            _read_host(item, where, now, samples, refused)
        else:
            refused.append(Refused(where, "must be a host sample (hostname, timestamp, fields) or a series"))
    if len(samples) > max_points:
        refused.append(Refused(f"{max_points}:", f"over the limit of {max_points} points per request"))
        samples = samples[:max_points]
    return samples, refused


def _read_host(item: dict[str, Any], where: str, now: datetime, samples: list[Sample], refused: list[Refused]) -> None:
    try:
        host = _label_value(item.get("hostname"), "hostname")
        at = _time(item.get("timestamp"), now)
    except _Bad as exc:
        refused.append(Refused(where, str(exc)))
        return
    fields = [name for name in item if name not in ("hostname", "timestamp")]
    if not fields:
        refused.append(Refused(where, "has no metric fields (cpuUsage, memoryUsage, diskIO, networkIO, ...)"))
    for field in fields:
        try:
            if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9]{0,63}", field):
                raise _Bad("is not a metric field name (letters and digits)")
            samples.append(Sample(SeriesKey.of(host_series(field), {"host": host}), at, _value(item[field])))
        except _Bad as exc:
            refused.append(Refused(f"{where}.{field[:64]}", str(exc)))


def _read_series(
    item: dict[str, Any], where: str, now: datetime, samples: list[Sample], refused: list[Refused]
) -> None:
    try:
        key = SeriesKey.of(_name(item.get("series")), _labels(item.get("labels", {})))
        points = item.get("points")
        if not isinstance(points, list) or not points:
            raise _Bad("points must be a non-empty list of [timestamp, value]")
    except _Bad as exc:
        refused.append(Refused(where, str(exc)))
        return
    for position, point in enumerate(points):
        try:
            if not isinstance(point, list | tuple) or len(point) != 2:
                raise _Bad("must be [timestamp, value]")
            samples.append(Sample(key, _time(point[0], now), _value(point[1])))
        except _Bad as exc:
            refused.append(Refused(f"{where}.points[{position}]", str(exc)))


def _name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise _Bad("series must be a name of letters, digits, _ and : (at most 128), not starting with a digit")
    return value


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Bad("labels must be an object of name: value strings")
    if len(value) > MAX_LABELS:
        raise _Bad(f"at most {MAX_LABELS} labels")
    labels = {}
    for name, text in value.items():
        if not isinstance(name, str) or not LABEL.fullmatch(name) or name.startswith("__"):
            raise _Bad("label names are letters, digits and _ (at most 64), not starting with a digit or __")
        labels[name] = _label_value(text, f"label {name}")
    return labels


def _label_value(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{field} must be a non-empty string")
    if len(value) > MAX_LABEL_VALUE or text_problem(value) is not None:
        raise _Bad(f"{field} must be at most {MAX_LABEL_VALUE} characters of valid text")
    return value.strip()


def _time(value: Any, now: datetime) -> datetime:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad("timestamp must be an ISO 8601 time or Unix seconds")
    try:
        moment = parse_timestamp(str(value))
    except (ValueError, OverflowError, OSError):
        raise _Bad("timestamp must be an ISO 8601 time or Unix seconds") from None
    if moment.year < 1970 or moment > now + FUTURE:
        raise _Bad("timestamp must lie between 1970 and an hour from now")
    return moment


def _value(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad("must be a finite number")
    try:
        number = float(value)  # a JSON integer may be too large for a float
    except OverflowError:
        raise _Bad("must be a finite number") from None
    if not math.isfinite(number):
        raise _Bad("must be a finite number")
    return number
