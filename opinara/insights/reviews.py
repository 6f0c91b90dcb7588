"""Stored reviews with their analysis and aspect mentions, filtered and paged by cursor (newest first)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from opinara.errors import InputError
from opinara.insights.models import ProductRef, ReviewAspect, ReviewItem, ReviewPage, StoredScores, StoredSentiment
from opinara.insights.queries import find_product
from opinara.store.models import Analysis, AspectMention, Product, Review

LABELS = ("positive", "negative", "neutral", "mixed")


def list_reviews(
    session: Session,
    product: str | None = None,
    sentiment: str | None = None,
    aspect: str | None = None,
    since: date | None = None,
    until: date | None = None,
    search: str | None = None,
    cursor: int | None = None,
    limit: int = 50,
) -> ReviewPage:
    """A page of reviews, newest id first; pass ``next_cursor`` back as ``cursor`` for the next page."""
    if sentiment is not None and sentiment not in LABELS:
        raise InputError(f"sentiment must be one of {', '.join(LABELS)}, not {sentiment!r}")
    if since and until and since > until:
        raise InputError(f"since ({since}) is after until ({until})")
    query = (
        select(Review, Analysis, Product.external_id, Product.title)
        .join(Product, Product.id == Review.product_id)
        .outerjoin(Analysis, Analysis.review_id == Review.id)
        .where(Review.kind == "review")
        .order_by(Review.id.desc())
        .limit(limit + 1)
    )
    if product is not None:
        query = query.where(Review.product_id == find_product(session, product).id)
    if sentiment is not None:
        query = query.where(Analysis.label == sentiment)
    if aspect is not None:
        query = query.where(
            exists().where(AspectMention.review_id == Review.id, AspectMention.aspect_group == aspect.lower())
        )
    if since is not None:
        query = query.where(Review.day >= since)
    if until is not None:
        query = query.where(Review.day <= until)
    if search:
        query = query.where(Review.text.icontains(search, autoescape=True))
    if cursor is not None:
        query = query.where(Review.id < cursor)
    rows = session.execute(query).all()
    page = rows[:limit]
    mentions = aspects_of(session, [row.Review.id for row in page])
    return ReviewPage(
        reviews=[
            _review(
                row.Review,
                row.Analysis,
                ProductRef(id=row.Review.product_id, external_id=row.external_id, title=row.title),
                mentions[row.Review.id],
            )
            for row in page
        ],
        next_cursor=page[-1].Review.id if len(rows) > limit else None,
    )


def _review(review: Review, analysis: Analysis | None, product: ProductRef, aspects: list[ReviewAspect]) -> ReviewItem:
    sentiment = None
    if analysis is not None:
        sentiment = StoredSentiment(
            label=analysis.label,
            scores=StoredScores(positive=analysis.positive, negative=analysis.negative, neutral=analysis.neutral),
            confidence=analysis.confidence,
            model=analysis.model_version,
            component=analysis.component,
        )
    return ReviewItem(
        id=review.id,
        product=product,
        source=review.source,
        rating=review.rating,
        title=review.title,
        text=review.text,
        day=review.day,
        created_at=review.created_at,
        language=review.language,
        quality_score=review.quality_score,
        quality_flags=list(review.quality_flags or []),
        sentiment=sentiment,
        aspects=aspects,
    )


def aspects_of(session: Session, review_ids: list[int]) -> dict[int, list[ReviewAspect]]:
    """The aspect mentions of these reviews (or monitor mentions), each review's in text order."""
    found: dict[int, list[ReviewAspect]] = defaultdict(list)
    if not review_ids:
        return found
    query = (
        select(AspectMention)
        .where(AspectMention.review_id.in_(review_ids))
        .order_by(AspectMention.review_id, AspectMention.start)
    )
    for mention in session.scalars(query):
        found[mention.review_id].append(
            ReviewAspect(
                term=mention.term,
                group=mention.aspect_group,
                start=mention.start,
                end=mention.end,
                polarity=mention.polarity,
                opinions=mention.opinions,
            )
        )
    return found
