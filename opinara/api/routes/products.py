"""Products and reviews, served by the store's insight queries: every answer is bounded and typed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from opinara.api.deps import PlatformDep, ReadCaller
from opinara.api.problems import PROBLEM_RESPONSES
from opinara.insights import queries
from opinara.insights.models import (
    AspectChanges,
    Drivers,
    Overview,
    ProductAspects,
    ProductInsight,
    ProductPage,
    ReviewPage,
    Trends,
)
from opinara.insights.reviews import list_reviews
from opinara.validation import CleanText, Cursor, ExternalId, InRangeDate

router = APIRouter(prefix="/v1", tags=["products"], responses=PROBLEM_RESPONSES)
ProductPath = Annotated[ExternalId, Path(description="The product's external id (asin), a variant's, or its number")]
PeriodQuery = Annotated[Literal["day", "week", "month"], Query()]
MinMentions = Annotated[int, Query(ge=1, le=1_000_000)]


@router.get("/products", summary="A page of products (families) with their counts, sentiment mix and top aspects")
def products(
    caller: ReadCaller,
    platform: PlatformDep,
    top: Annotated[int, Query(ge=0, le=50, description="aspects listed per side")] = 3,
    min_mentions: MinMentions = 2,
    cursor: Annotated[Cursor | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ProductPage:
    with platform.store.session() as session:
        return queries.products(session, top=top, min_mentions=min_mentions, cursor=cursor, limit=limit)


@router.get("/products/{product}", summary="One product by external id (asin), a variant's id, or number")
def product(
    product: ProductPath, caller: ReadCaller, platform: PlatformDep, top: Annotated[int, Query(ge=0, le=50)] = 5
) -> ProductInsight:
    with platform.store.session() as session:
        return queries.product(session, product, top=top)


@router.get("/products/{product}/aspects", summary="A product's aspects with sentiment and examples")
def aspects(
    product: ProductPath,
    caller: ReadCaller,
    platform: PlatformDep,
    sort: Literal["mentions", "net"] = "mentions",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    examples: Annotated[int, Query(ge=0, le=20)] = 2,
) -> ProductAspects:
    with platform.store.session() as session:
        return queries.aspects(session, product, sort=sort, limit=limit, examples=examples)


@router.get("/products/{product}/trends", summary="Mentions and net sentiment per period")
def trends(
    product: ProductPath,
    caller: ReadCaller,
    platform: PlatformDep,
    aspect: Annotated[CleanText | None, Query(min_length=1, max_length=256)] = None,
    by: PeriodQuery = "month",
) -> Trends:
    with platform.store.session() as session:
        return queries.trends(session, product, aspect=aspect, by=by)


@router.get("/products/{product}/drivers", summary="Aspects that explain low ratings")
def drivers(
    product: ProductPath,
    caller: ReadCaller,
    platform: PlatformDep,
    low_rating: Annotated[float, Query(ge=1.0, le=5.0)] = 2.0,
    min_mentions: MinMentions = 3,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Drivers:
    with platform.store.session() as session:
        return queries.drivers(session, product, low_rating=low_rating, min_mentions=min_mentions, limit=limit)


@router.get("/reviews", summary="Reviews with their analysis; filters and cursor paging, newest first")
def reviews(
    caller: ReadCaller,
    platform: PlatformDep,
    product: Annotated[ExternalId | None, Query()] = None,
    sentiment: Literal["positive", "negative", "neutral", "mixed"] | None = None,
    aspect: Annotated[CleanText | None, Query(min_length=1, max_length=256)] = None,
    since: Annotated[InRangeDate | None, Query()] = None,
    until: Annotated[InRangeDate | None, Query()] = None,
    q: Annotated[CleanText | None, Query(max_length=200, description="text search (case-insensitive)")] = None,
    cursor: Annotated[Cursor | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ReviewPage:
    with platform.store.session() as session:
        return list_reviews(session, product, sentiment, aspect, since, until, q, cursor, limit)


@router.get("/overview", summary="Review volume and sentiment mix per period, all products")
def overview(caller: ReadCaller, platform: PlatformDep, by: PeriodQuery = "month") -> Overview:
    with platform.store.session() as session:
        return queries.overview(session, by)


@router.get("/aspects/changes", summary="Aspects whose net sentiment improved or declined most in a period")
def aspect_changes(
    caller: ReadCaller,
    platform: PlatformDep,
    start: Annotated[InRangeDate, Query()],
    end: Annotated[InRangeDate, Query()],
    min_mentions: MinMentions = 3,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> AspectChanges:
    with platform.store.session() as session:
        return queries.aspect_changes(session, start, end, min_mentions, limit)
