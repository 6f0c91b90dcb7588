"""Products and reviews, served by the store's insight queries."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query

from opinara.api.deps import PlatformDep, ReadCaller
from opinara.errors import NotFoundError
from opinara.insights import queries
from opinara.insights.reviews import list_reviews

router = APIRouter(prefix="/v1", tags=["products"])


@router.get("/products", summary="Every product with its sentiment mix and top aspects")
def products(
    caller: ReadCaller,
    platform: PlatformDep,
    top: int = Query(3, ge=0, le=50, description="aspects listed per side"),
    min_mentions: int = Query(2, ge=1),
) -> dict[str, Any]:
    with platform.store.session() as session:
        return {"products": queries.products(session, top=top, min_mentions=min_mentions)}


@router.get("/products/{product}", summary="One product by external id (asin) or numeric id")
def product(
    product: str, caller: ReadCaller, platform: PlatformDep, top: int = Query(5, ge=0, le=50)
) -> dict[str, Any]:
    with platform.store.session() as session:
        found = queries.find_product(session, product)
        for entry in queries.products(session, top=top):
            if entry["id"] == found.id:
                return entry
    raise NotFoundError(f"no product {product!r}")


@router.get("/products/{product}/aspects", summary="A product's aspects with sentiment and examples")
def aspects(
    product: str,
    caller: ReadCaller,
    platform: PlatformDep,
    sort: Literal["mentions", "net"] = "mentions",
    limit: int = Query(20, ge=1, le=500),
    examples: int = Query(2, ge=0, le=20),
) -> dict[str, Any]:
    with platform.store.session() as session:
        return queries.aspects(session, product, sort=sort, limit=limit, examples=examples)


@router.get("/products/{product}/trends", summary="Mentions and net sentiment per period")
def trends(
    product: str,
    caller: ReadCaller,
    platform: PlatformDep,
    aspect: str | None = Query(None, max_length=256),
    by: Literal["day", "week", "month"] = "month",
) -> dict[str, Any]:
    with platform.store.session() as session:
        return queries.trends(session, product, aspect=aspect, by=by)


@router.get("/products/{product}/drivers", summary="Aspects that explain low ratings")
def drivers(
    product: str,
    caller: ReadCaller,
    platform: PlatformDep,
    low_rating: float = Query(2.0, ge=1.0, le=5.0),
    min_mentions: int = Query(3, ge=1),
    limit: int = Query(10, ge=1, le=100),
) -> dict[str, Any]:
    with platform.store.session() as session:
        return queries.drivers(session, product, low_rating=low_rating, min_mentions=min_mentions, limit=limit)


@router.get("/reviews", summary="Reviews with their analysis; filters and cursor paging, newest first")
def reviews(
    caller: ReadCaller,
    platform: PlatformDep,
    product: str | None = Query(None, max_length=128),
    sentiment: Literal["positive", "negative", "neutral", "mixed"] | None = None,
    aspect: str | None = Query(None, max_length=256),
    since: date | None = None,
    until: date | None = None,
    q: str | None = Query(None, max_length=200, description="text search (case-insensitive substring)"),
    cursor: int | None = Query(None, ge=1),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    with platform.store.session() as session:
        return list_reviews(session, product, sentiment, aspect, since, until, q, cursor, limit)


@router.get("/overview", summary="Review volume and sentiment mix per period, all products")
def overview(
    caller: ReadCaller, platform: PlatformDep, by: Literal["day", "week", "month"] = "month"
) -> dict[str, Any]:
    with platform.store.session() as session:
        return {**queries.overview(session, by), "dates": queries.date_range(session)}


@router.get("/aspects/changes", summary="Aspects whose net sentiment improved or declined most in a period")
def aspect_changes(
    caller: ReadCaller,
    platform: PlatformDep,
    start: date,
    end: date,
    min_mentions: int = Query(3, ge=1),
    limit: int = Query(10, ge=1, le=100),
) -> dict[str, Any]:
    with platform.store.session() as session:
        return queries.aspect_changes(session, start, end, min_mentions, limit)
