"""The demo: a small sample of product reviews written for Opinara, shipped with the package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SAMPLE = Path(__file__).parent / "reviews.jsonl"


@dataclass(frozen=True)
class DemoReview:
    id: str
    product_id: str
    product: str
    rating: int
    date: str
    text: str


def load_demo_reviews() -> list[DemoReview]:
    with SAMPLE.open(encoding="utf-8") as handle:
        return [DemoReview(**json.loads(line)) for line in handle if line.strip()]
