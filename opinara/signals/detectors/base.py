"""What every detector is: a pure, streaming reader of one series that says, row by row, how unusual
the row is and whether it would raise an insight.

Streaming means no look-ahead: ``update`` sees one point after another and answers for that point with
what it has seen so far, so the same code scores a CSV offline (``opinara detect``) and a live series
in the evaluator. A detector holds the state of one series; make one per series. No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from opinara.registry import Registry


@dataclass(frozen=True)
class Verdict:
    """A detector's answer for one point: ``score`` in [0, 1] (how unusual), ``alert`` (it would raise
    an insight here, at its onset: not again on every row while the anomaly lasts), and its evidence:
    the value it expected, the spread it allowed, and the signed deviation in those spreads."""

    score: float
    alert: bool
    expected: float | None = None
    spread: float | None = None
    deviation: float | None = None


QUIET = Verdict(0.0, False)


class Detector(Protocol):
    name: str

    def update(self, timestamp: datetime, value: float | None) -> Verdict:
        """The verdict on one point; ``value`` None is a missing point (a gap), never an anomaly."""
        ...


DETECTORS: Registry[Detector] = Registry("detector")
DEFAULT_DETECTOR = "detector.ensemble.v1"  # what `opinara detect` and the metric insights use


def load() -> None:
    """Register the shipped detectors (importing a module registers it)."""
    from opinara.signals.detectors import counts, cusum, ensemble, ensemble2, proportion, robust, surprise  # noqa: F401


def run(detector: Detector, points: Iterable[tuple[datetime, float | None]]) -> Iterator[Verdict]:
    """The detector over a series, point by point."""
    for timestamp, value in points:
        yield detector.update(timestamp, value)
