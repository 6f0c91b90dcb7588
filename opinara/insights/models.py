"""What the insight queries return: typed, and served as they are by the API, the CLI and the dashboard."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Period = Literal["day", "week", "month"]


class ProductRef(BaseModel):
    id: int
    external_id: str
    title: str | None = None


class SentimentMix(BaseModel):
    positive: int = 0
    negative: int = 0
    neutral: int = 0
    mixed: int = 0


class AspectCounts(BaseModel):
    group: str
    mentions: int
    positive: int
    negative: int
    neutral: int
    net_sentiment: float = Field(description="(positive - negative) / mentions, in [-1, 1]")


class ProductInsight(ProductRef):
    """One product family: every stored review, those counted in the aggregates, and why others were not."""

    source: str
    category: str | None = None
    variants: list[str] = Field(description="The ids the source filed this product's reviews under (ASINs)")
    reviews: int = Field(description="Every stored review of the product")
    counted_reviews: int = Field(description="Reviews counted in sentiment aggregates (quality high enough)")
    excluded: dict[str, int] = Field(
        description="Why the other reviews were left out: quality flag -> reviews (a review may have two flags)"
    )
    average_rating: float | None
    sentiment: SentimentMix
    net_sentiment: float
    top_positive_aspects: list[AspectCounts]
    top_negative_aspects: list[AspectCounts]


class ProductPage(BaseModel):
    products: list[ProductInsight]
    next_cursor: int | None = Field(description="Pass back as cursor for the next page; null on the last")


class AspectExample(BaseModel):
    review_id: int
    polarity: str
    snippet: str


class AspectDetail(AspectCounts):
    examples: list[AspectExample] = []


class ProductAspects(BaseModel):
    product: ProductRef
    aspects: list[AspectDetail]


class TrendPeriod(BaseModel):
    period: date
    mentions: int
    positive: int
    negative: int
    net_sentiment: float
    average_rating: float | None


class Trends(BaseModel):
    product: ProductRef
    aspect: str | None
    by: Period
    periods: list[TrendPeriod]


class Driver(BaseModel):
    group: str
    negative_reviews: int
    positive_reviews: int
    average_rating_when_negative: float
    rating_drop: float
    share_of_low_ratings: float
    impact: float = Field(description="Stars the complaint costs the product's average: drop x share of reviews")


class Drivers(BaseModel):
    product: ProductRef
    reviews: int = Field(description="Rated reviews counted in the aggregates")
    average_rating: float | None
    low_rated_reviews: int
    drivers: list[Driver]


class OverviewPeriod(BaseModel):
    period: date
    mentions: int
    positive: int
    negative: int
    neutral: int
    mixed: int
    net_sentiment: float


class DateRange(BaseModel):
    first: date | None
    last: date | None


class Overview(BaseModel):
    by: Period
    periods: list[OverviewPeriod]
    dates: DateRange


class AspectChange(BaseModel):
    product: ProductRef
    group: str
    mentions: int
    previous_mentions: int
    net_sentiment: float
    previous_net_sentiment: float
    change: float


class DateSpan(BaseModel):
    start: date
    end: date


class AspectChanges(BaseModel):
    period: DateSpan
    previous: DateSpan
    improved: list[AspectChange]
    declined: list[AspectChange]


class ReviewAspect(BaseModel):
    term: str
    group: str
    start: int
    end: int
    polarity: str
    opinions: list[str]


class StoredScores(BaseModel):
    positive: float | None
    negative: float | None
    neutral: float | None


class StoredSentiment(BaseModel):
    label: str | None
    scores: StoredScores
    confidence: float | None
    model: str
    component: str | None = Field(default=None, description="The registered component: sentiment.encoder.v1")


class ReviewItem(BaseModel):
    id: int
    product: ProductRef
    source: str
    rating: float | None
    title: str | None
    text: str
    day: date
    created_at: datetime | None
    language: str | None
    quality_score: float
    quality_flags: list[str]
    sentiment: StoredSentiment | None
    aspects: list[ReviewAspect]


class ReviewPage(BaseModel):
    reviews: list[ReviewItem]
    next_cursor: int | None
