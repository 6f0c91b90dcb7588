"""Batch writes shared by ingest and reanalysis: products, reviews, analyses and aspect mentions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opinara.analysis.schema import AnalysisResult
from opinara.store.models import Analysis, AspectMention, Product, Review


def insert_statement(session: Session, model: type) -> Any:
    """An INSERT for the session's dialect, with ``on_conflict_do_*`` (SQLite and PostgreSQL both have them)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def ensure_products(session: Session, source: str, titles: dict[str, str | None]) -> dict[str, int]:
    """Product ids for external ids, creating the missing products (titles fill empty ones)."""
    wanted = set(titles)
    query = select(Product.external_id, Product.id).where(Product.source == source, Product.external_id.in_(wanted))
    found: dict[str, int] = {external: product_id for external, product_id in session.execute(query)}
    missing = [{"source": source, "external_id": e, "title": titles[e]} for e in sorted(wanted - set(found))]
    if missing:
        session.execute(insert_statement(session, Product).on_conflict_do_nothing(), missing)
        found.update({external: product_id for external, product_id in session.execute(query)})
    return found


def upsert_product_metadata(session: Session, source: str, rows: list[dict[str, str | None]]) -> None:
    """Create or update products from metadata rows (``external_id``, ``title``, ``category``)."""
    if not rows:
        return
    statement = insert_statement(session, Product)
    statement = statement.on_conflict_do_update(
        index_elements=["source", "external_id"],
        set_={"title": statement.excluded.title, "category": statement.excluded.category},
    )
    session.execute(statement, [{"source": source, **row} for row in rows])


def insert_reviews(session: Session, rows: list[dict[str, object]]) -> list[tuple[int, str]]:
    """Insert reviews, skipping keys that exist; returns ``(id, review_key)`` of those inserted."""
    if not rows:
        return []
    statement = insert_statement(session, Review).on_conflict_do_nothing().returning(Review.id, Review.review_key)
    return [(row.id, row.review_key) for row in session.execute(statement, rows)]


def store_analyses(session: Session, items: list[tuple[int, int, AnalysisResult]], now: datetime) -> None:
    """Write (or replace) the analysis and aspect mentions of each ``(review_id, product_id, result)``."""
    if not items:
        return
    review_ids = [review_id for review_id, _, _ in items]
    session.execute(delete(AspectMention).where(AspectMention.review_id.in_(review_ids)))
    session.execute(delete(Analysis).where(Analysis.review_id.in_(review_ids)))
    analyses, mentions = [], []
    for review_id, product_id, result in items:
        sentiment = result.sentiment
        analyses.append(
            {
                "review_id": review_id,
                "model_version": f"{result.model.backend}:{result.model.name}@{result.model.version}",
                "component": result.model.component,
                "aspects_component": result.model.aspects,
                "label": sentiment.label if sentiment else None,
                "positive": sentiment.scores.positive if sentiment else None,
                "negative": sentiment.scores.negative if sentiment else None,
                "neutral": sentiment.scores.neutral if sentiment else None,
                "confidence": sentiment.confidence if sentiment else None,
                "analyzed_at": now,
            }
        )
        mentions.extend(
            {
                "review_id": review_id,
                "product_id": product_id,
                "term": aspect.term[:256],
                "aspect_group": aspect.group[:256],
                "start": aspect.start,
                "end": aspect.end,
                "polarity": aspect.sentiment.label,
                "opinions": [o.text for o in aspect.opinions],
            }
            for aspect in result.aspects
        )
    session.execute(Analysis.__table__.insert(), analyses)
    if mentions:
        session.execute(AspectMention.__table__.insert(), mentions)
