"""Helpers shared by the benchmark scripts: inputs, timing, printing ratios."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from opinara.demo import load_demo_reviews

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def short_reviews(n: int) -> list[str]:
    """``n`` short reviews: the Amazon reviews in ../shared/data when present, else the demo sample, repeated."""
    texts: list[str] = []
    path = SHARED / "reviews" / "All_Beauty_5.json"
    if path.exists():
        with path.open() as handle:
            for line in handle:
                text = json.loads(line).get("reviewText", "")
                if 20 <= len(text) <= 300:
                    texts.append(text)
    if not texts:
        texts = [r.text for r in load_demo_reviews()]
    return [texts[i % len(texts)] for i in range(n)]


def rate(fn: Callable[[list[str]], object], texts: list[str], repeat: int = 1) -> float:
    """Texts per second for the best of ``repeat`` runs (after one warm-up call on a few texts)."""
    fn(texts[:8])
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")


def row(name: str, value: float, peer: float | None, peer_name: str) -> None:
    ratio = f"{value / peer:6.2f}x {peer_name}" if peer else ""
    print(f"{name:<48} {value:10.1f} texts/s  {ratio}")
