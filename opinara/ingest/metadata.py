"""Product metadata (Amazon Reviews 2023 ``meta_*`` JSON Lines: parent_asin, title, main_category, ...).

Read with bounded lines; a row whose id is too long or whose values a database refuses (NUL, lone
surrogates) is skipped, like an unreadable one."""

from __future__ import annotations

import json
from pathlib import Path

from opinara.ingest.lines import MAX_LINE_BYTES, bounded_lines
from opinara.ingest.text_records import open_binary
from opinara.store.db import Store
from opinara.store.writes import upsert_product_metadata
from opinara.validation import text_problem

BATCH = 1000
MAX_ID_CHARS = 128


def _safe(value: object, max_chars: int | None = None) -> str | None:
    if not isinstance(value, str) or not value or text_problem(value) is not None:
        return None
    return value if max_chars is None or len(value) <= max_chars else None


def ingest_metadata(store: Store, path: Path, source: str = "amazon", max_line_bytes: int = MAX_LINE_BYTES) -> int:
    """Create or update products from a metadata file; returns how many rows were applied."""
    applied, batch = 0, []
    with open_binary(path) as stream:
        for _, raw in bounded_lines(stream, max_line_bytes, name=path.name):
            if raw is None:
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if not isinstance(row, dict):
                continue
            product = _safe(row.get("parent_asin"), MAX_ID_CHARS) or _safe(row.get("asin"), MAX_ID_CHARS)
            if product is None:
                continue
            category = _safe(row.get("main_category"))
            batch.append(
                {"external_id": product, "title": _safe(row.get("title")), "category": category and category[:256]}
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
