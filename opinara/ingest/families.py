"""Product families: the ids (ASINs) under which a source files one product's reviews.

A ``products`` row is a family, the unit insights are counted for; its ``product_variants`` are the
ids the source used for it, its own included. The Amazon 2023 schema names the family outright
(``parent_asin``); the 2018 files do not, but file one review (same reviewer, time and text) under
every ASIN of a family (colours, sizes). A review is one review, so when a stored review turns up
again under an id of another family, the two families are one: the younger (larger id) joins the
older with its reviews, mentions, variants, aggregates and counts, and is deleted. The outcome does
not depend on which id of a family came first.

Short texts ("Great", under four words) carry their id in their key, so that two products whose
reviewers wrote "Great" are never merged; within one family, the same author's same short text at
the same time is still one review: the ingester skips it, and a merge removes the copies the two
families held (``removed`` counts them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from opinara.insights import aggregates
from opinara.store.models import AspectMention, Product, ProductVariant, Review
from opinara.store.writes import ensure_products, insert_statement

log = logging.getLogger(__name__)


class Families:
    """Resolves ids to families within one transaction, merging families when reviews say so.

    ``find`` follows merges made earlier in the same batch, so ids resolved before a merge stay right."""

    def __init__(self, session: Session, source: str) -> None:
        self.session = session
        self.source = source
        self._merged: dict[int, int] = {}
        self.removed = 0  # copies of one review that merges found in the two families and deleted

    def find(self, product_id: int) -> int:
        while product_id in self._merged:
            product_id = self._merged[product_id]
        return product_id

    def resolve(self, pairs: Iterable[tuple[str, str, str | None]]) -> dict[str, int]:
        """Family ids for ``(family key, variant id, title)`` triples, keyed by variant id; unknown ids
        make new families (a variant filed under a known family key joins that family)."""
        pairs = list(pairs)
        wanted = {key for key, _, _ in pairs} | {variant for _, variant, _ in pairs}
        found = self.session.execute(
            select(ProductVariant.external_id, ProductVariant.product_id).where(
                ProductVariant.source == self.source, ProductVariant.external_id.in_(wanted)
            )
        )
        known = {external: product_id for external, product_id in found}
        missing = {key: title for key, variant, title in pairs if variant not in known and key not in known}
        created = ensure_products(self.session, self.source, missing) if missing else {}
        out: dict[str, int] = {}
        new_variants: dict[str, int] = {}
        for key, variant, _ in pairs:
            by_key = known.get(key) or created.get(key) or new_variants.get(key)
            by_variant = known.get(variant) or new_variants.get(variant)
            if by_key is not None and by_variant is not None and self.find(by_key) != self.find(by_variant):
                self.merge(by_key, by_variant)  # the variant was filed under another family before
            family = self.find(by_variant if by_variant is not None else by_key)  # type: ignore[arg-type]
            for external in (key, variant):
                if external not in known:
                    new_variants[external] = family
            out[variant] = family
        if new_variants:
            self.session.execute(
                insert_statement(self.session, ProductVariant).on_conflict_do_nothing(),
                [
                    {"product_id": self.find(pid), "source": self.source, "external_id": ext}
                    for ext, pid in sorted(new_variants.items())
                ],
            )
        return {variant: self.find(pid) for variant, pid in out.items()}

    def same_review(self, stored_in: int, filed_under: int) -> int:
        """A review stored in family ``stored_in`` was filed again under family ``filed_under``: one family."""
        a, b = self.find(stored_in), self.find(filed_under)
        return a if a == b else self.merge(a, b)

    def merge(self, a: int, b: int) -> int:
        """Merge two families into the older one; returns its id."""
        keep, drop = sorted((self.find(a), self.find(b)))
        if keep == drop:
            return keep
        session = self.session
        for model in (Review, AspectMention, ProductVariant):
            session.execute(update(model).where(model.product_id == drop).values(product_id=keep))
        aggregates.move(session, drop, keep)
        if self._remove_copies(keep):  # rare: recount the family rather than subtract each copy
            aggregates.rebuild(session, [keep])
        kept, dropped = session.get(Product, keep), session.get(Product, drop)
        if kept is not None and dropped is not None:
            kept.title = kept.title or dropped.title
            kept.category = kept.category or dropped.category
        session.flush()
        session.execute(delete(Product).where(Product.id == drop))
        self._merged[drop] = keep
        log.info("merged product families", extra={"product_id": keep, "merged_product_id": drop})
        return keep

    def _remove_copies(self, family: int) -> int:
        """Delete all but the first of the family's reviews with the same author, time and text."""
        same = (Review.author_hash, Review.created_at, Review.text_hash)
        groups = self.session.execute(
            select(*same, func.min(Review.id))
            .where(Review.product_id == family, Review.author_hash.is_not(None))
            .group_by(*same)
            .having(func.count() > 1)
        ).all()
        removed = 0
        for author, created, digest, first in groups:
            when = Review.created_at.is_(None) if created is None else Review.created_at == created
            result = self.session.execute(
                delete(Review).where(
                    Review.product_id == family,
                    Review.author_hash == author,
                    when,
                    Review.text_hash == digest,
                    Review.id != first,
                )
            )
            removed += result.rowcount or 0
        self.removed += removed
        return removed
