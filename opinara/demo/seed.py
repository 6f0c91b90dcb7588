"""Seed the store with the demo reviews (once: re-running finds them all stored) and the demo API keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update

from opinara.access.keys import create_key
from opinara.analysis.pipeline import Analyzer
from opinara.config import Settings
from opinara.demo import load_demo_reviews
from opinara.ingest.runner import Ingester, IngestOptions, IngestSummary
from opinara.store.db import Store
from opinara.store.models import ApiKey
from opinara.store.writes import upsert_product_metadata

DEMO_SOURCE = "demo"
DEMO_KEY_NAME = "demo"
DEMO_DASHBOARD_KEY_NAME = "demo-dashboard"
DASHBOARD_SCOPES = ["analyze", "read", "ingest", "monitor"]  # never admin: every dashboard visitor acts with this key
DEMO_RATE_LIMIT = "6000/minute"


def demo_file(settings: Settings) -> Path:
    """The demo reviews in the Amazon 2023 schema, written once into the data folder."""
    path = settings.data_dir / "demo" / "reviews-amazon-2023.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for review in load_demo_reviews():
            day = datetime.fromisoformat(review.date).replace(hour=12, tzinfo=UTC)
            row = {
                "parent_asin": review.product_id,
                "asin": review.product_id,
                "user_id": review.id,
                "rating": review.rating,
                "timestamp": int(day.timestamp() * 1000),
                "text": review.text,
            }
            lines.append(json.dumps(row, ensure_ascii=False))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def seed_reviews(store: Store, analyzer: Analyzer) -> IngestSummary:
    reviews = load_demo_reviews()
    titles = {r.product_id: r.product for r in reviews}
    with store.session() as session:
        upsert_product_metadata(
            session, DEMO_SOURCE, [{"external_id": k, "title": v, "category": None} for k, v in titles.items()]
        )
    return Ingester(store, analyzer).ingest(demo_file(analyzer.settings), IngestOptions(source=DEMO_SOURCE))


def rotate_key(store: Store, name: str, scopes: list[str]) -> str:
    """A fresh key named ``name``; the previous one is revoked and renamed (keys are shown once, never stored)."""
    with store.session() as session:
        old = session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
        if old is not None:
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == old.id)
                .values(name=f"{name}-{old.id}", revoked_at=old.revoked_at or datetime.now(UTC))
            )
    key, _ = create_key(store, name, scopes, DEMO_RATE_LIMIT)
    return key


def rotate_demo_key(store: Store) -> str:
    """A fresh all-scopes demo key for the person who started the demo; the previous one is revoked."""
    return rotate_key(store, DEMO_KEY_NAME, ["analyze", "read", "ingest", "admin"])


def rotate_dashboard_key(store: Store) -> str:
    """A fresh key for the demo dashboard, without admin (its visitors are anonymous); the previous one
    is revoked."""
    return rotate_key(store, DEMO_DASHBOARD_KEY_NAME, DASHBOARD_SCOPES)
