"""Product metadata (Amazon Reviews 2023 ``meta_*`` JSON Lines: parent_asin, title, main_category, ...)."""

from __future__ import annotations

import json
from pathlib import Path

from opinara.ingest.text_records import open_binary
from opinara.store.db import Store
from opinara.store.writes import upsert_product_metadata

BATCH = 1000


def ingest_metadata(store: Store, path: Path, source: str = "amazon") -> int:
    """Create or update products from a metadata file; returns how many rows were applied."""
    applied, batch = 0, []
    with open_binary(path) as stream:
        for raw in stream:
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            product = isinstance(row, dict) and (row.get("parent_asin") or row.get("asin"))
            if not isinstance(product, str) or not product:
                continue
            title = row.get("title") if isinstance(row.get("title"), str) else None
            category = row.get("main_category") if isinstance(row.get("main_category"), str) else None
            batch.append(
                {"external_id": product[:128], "title": title, "category": category[:256] if category else None}
            )
            if len(batch) >= BATCH:
                applied += _flush(store, source, batch)
                batch = []
    return applied + _flush(store, source, batch)


def _flush(store: Store, source: str, batch: list[dict[str, str | None]]) -> int:
    unique = list({row["external_id"]: row for row in batch}.values())
    with store.session() as session:
        upsert_product_metadata(session, source, unique)
    return len(unique)
