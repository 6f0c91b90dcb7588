"""Detectors: pure functions over a series, streaming, registered under versioned names."""

from opinara.signals.detectors.base import DETECTORS, QUIET, Detector, Verdict, load, run

__all__ = ["DETECTORS", "QUIET", "Detector", "Verdict", "load", "run"]
