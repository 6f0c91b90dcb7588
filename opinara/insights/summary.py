"""Per-product aspect summaries from analyzed reviews, computed in memory."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from opinara.analysis.schema import AnalysisResult


@dataclass
class AspectSummary:
    group: str
    positive: int = 0
    negative: int = 0
    neutral: int = 0

    @property
    def mentions(self) -> int:
        return self.positive + self.negative + self.neutral

    @property
    def net(self) -> float:
        """Net sentiment in [-1, 1]: (positive - negative) / mentions."""
        return (self.positive - self.negative) / self.mentions if self.mentions else 0.0


@dataclass
class ProductSummary:
    product: str
    reviews: int = 0
    rating_total: float = 0.0
    sentiment: Counter[str] = field(default_factory=Counter)
    aspects: dict[str, AspectSummary] = field(default_factory=dict)

    @property
    def average_rating(self) -> float | None:
        return self.rating_total / self.reviews if self.reviews else None

    def ranked_aspects(self, limit: int = 5) -> list[AspectSummary]:
        """The most mentioned aspect groups, most mentioned first."""
        return sorted(self.aspects.values(), key=lambda a: (-a.mentions, a.group))[:limit]


def summarize(rows: Iterable[tuple[str, float | None, AnalysisResult]]) -> list[ProductSummary]:
    """Summaries from ``(product, rating, result)`` rows, products in order of first appearance."""
    products: dict[str, ProductSummary] = defaultdict(lambda: ProductSummary(""))
    for product, rating, result in rows:
        summary = products[product]
        summary.product = product
        summary.reviews += 1
        summary.rating_total += rating or 0.0
        if result.sentiment:
            summary.sentiment[result.sentiment.label] += 1
        for aspect in result.aspects:
            entry = summary.aspects.setdefault(aspect.group, AspectSummary(aspect.group))
            setattr(entry, aspect.sentiment.label, getattr(entry, aspect.sentiment.label) + 1)
    return list(products.values())
