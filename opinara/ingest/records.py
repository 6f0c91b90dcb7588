"""The one way records become stored, analyzed texts: reviews from files and mentions from monitors.

:meth:`RecordWriter.write` takes one batch inside the caller's transaction and:

- skips records whose key is already stored or earlier in the batch (a review filed again under
  another id of its product family joins the families; see ``families``);
- redacts texts and titles first when the privacy policy says so, so raw text is never analyzed into
  a stored string nor written;
- analyzes the batch, and if the analyzer fails on it, each record alone, rejecting only those that
  fail; writes it, and if the database refuses it, each record alone (savepoints), likewise;
- flags quality (``duplicate_text`` is the same author's text again, or a long copy) and updates the
  aggregates of what it stored: product x aspect x day for reviews, monitor x aspect x day for mentions.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from opinara.analysis.pipeline import Analyzer
from opinara.analysis.schema import AnalysisResult
from opinara.ingest.families import Families
from opinara.ingest.quality import is_duplicate_text, quality_flags, quality_score
from opinara.ingest.review_formats import RecordProblem, ReviewRecord
from opinara.insights import aggregates, mention_aggregates
from opinara.privacy import Pseudonymizer
from opinara.store.models import Review
from opinara.store.writes import insert_reviews, store_analyses

log = logging.getLogger(__name__)
Reject = Callable[[int, RecordProblem], None]  # (line or position, why)


@dataclass(frozen=True)
class Target:
    """Where a batch goes: its source, whether reviews or one monitor's mentions, and its privacy."""

    source: str
    kind: Literal["review", "mention"] = "review"
    monitor_id: int | None = None
    redact: bool = False
    run_id: int | None = None  # the ingest run of a file


@dataclass
class Outcome:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0  # by the analyzer or the database
    languages: Counter[str] = field(default_factory=Counter)


@dataclass
class _Pending:
    """A record on its way into the store: what will be stored (maybe redacted) and its analysis."""

    line: int
    record: ReviewRecord
    key: str
    family: int | None
    text: str
    title: str | None
    result: AnalysisResult | None = None


class RecordWriter:
    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self._keys = Pseudonymizer.for_settings(analyzer.settings, "review-key")

    def write(
        self, session: Session, target: Target, records: list[tuple[int, ReviewRecord]], reject: Reject
    ) -> Outcome:
        """Store ``records`` (``(line, record)``) in the caller's transaction; ``reject`` hears of those
        the analyzer or the database refused."""
        refused = 0

        def refuse(line: int, problem: RecordProblem) -> None:
            nonlocal refused
            refused += 1
            reject(line, problem)

        families = Families(session, target.source) if target.kind == "review" else None
        fresh = self._new_records(session, families, target.source, records)
        if target.redact and fresh:
            self._redact(fresh)
        analyzed = self._analyze(fresh, refuse)
        stored = self._write_narrowed(session, families, target, analyzed, refuse)
        removed = families.removed if families is not None else 0
        languages = Counter(item.result.language.code or "unknown" for item in analyzed if item.result)
        # Every record was stored, found to be a duplicate, or refused; copies of one review that a family
        # merge found and removed count as duplicates too.
        return Outcome(stored - removed, len(records) - stored - refused + removed, refused, languages)

    def _key(self, record: ReviewRecord) -> str:
        """The stored key: the source's id, or a keyed hash of the parser's content hash (a plain hash of
        a short text could be reversed by trying candidate texts)."""
        if not record.review_key.startswith("h:"):
            return record.review_key
        return "k:" + (self._keys(record.review_key) or "")

    def _new_records(
        self, session: Session, families: Families | None, source: str, records: list[tuple[int, ReviewRecord]]
    ) -> list[_Pending]:
        """Records whose key is neither stored nor earlier in the batch. A duplicate filed under another
        family's id merges the two families."""
        family_of = families.resolve((r.product, r.variant, r.product_title) for _, r in records) if families else {}
        keyed = [(line, record, self._key(record)) for line, record in records]
        keys = {key for _, _, key in keyed}
        found = session.execute(
            select(Review.review_key, Review.product_id).where(Review.source == source, Review.review_key.in_(keys))
        )
        seen: dict[str, int | None] = {key: product_id for key, product_id in found} if keys else {}
        fresh = []
        for line, record, key in keyed:
            family = family_of.get(record.variant)
            if key in seen:
                if families is not None and family is not None and seen[key] is not None:
                    seen[key] = families.same_review(seen[key], family)  # type: ignore[arg-type]
                continue
            seen[key] = families.find(family) if families is not None and family is not None else None
            fresh.append(_Pending(line, record, key, family, record.text, record.title))
        return fresh

    def _redact(self, pending: list[_Pending]) -> None:
        """Replace texts and titles by their redacted forms before anything analyzes or stores them."""
        for item, text in zip(pending, self.analyzer.redact([p.text for p in pending]), strict=True):
            item.text = text
        titled = [p for p in pending if p.title]
        for item, title in zip(titled, self.analyzer.redact([p.title or "" for p in titled]), strict=True):
            item.title = title

    def _analyze(self, pending: list[_Pending], reject: Reject) -> list[_Pending]:
        """Results for the batch; if the analyzer fails on it, each record alone, rejecting those that fail."""
        if not pending:
            return []
        try:
            for item, result in zip(pending, self.analyzer.analyze([p.text for p in pending]), strict=True):
                item.result = result
            return pending
        except Exception as exc:
            log.warning("analysis failed for a batch (%s); retrying its records one by one", type(exc).__name__)
        out = []
        for item in pending:
            try:
                item.result = self.analyzer.analyze([item.text])[0]
                out.append(item)
            except Exception as exc:
                reject(item.line, RecordProblem(f"the analyzer failed on this record ({type(exc).__name__})"))
        return out

    def _write_narrowed(
        self, session: Session, families: Families | None, target: Target, items: list[_Pending], reject: Reject
    ) -> int:
        """Write the batch; if the database refuses it, each record alone, rejecting those it refuses."""
        try:
            with session.begin_nested():
                return self._write(session, families, target, items)
        except (IntegrityError, DataError) as exc:
            log.warning("the database refused a batch (%s); retrying its records one by one", type(exc).__name__)
        stored = 0
        for item in items:
            try:
                with session.begin_nested():
                    stored += self._write(session, families, target, [item])
            except (IntegrityError, DataError) as exc:
                reject(item.line, RecordProblem(f"the database refused this record ({type(exc).__name__})"))
        return stored

    def _write(self, session: Session, families: Families | None, target: Target, items: list[_Pending]) -> int:
        if not items:
            return 0
        now = datetime.now(UTC)
        hashes = [text_hash(item.text) for item in items]
        authors: dict[str, set[str | None]] = defaultdict(set)
        same: set[tuple[int | None, str | None, datetime | None, str]] = set()  # one review: family, author, time, text
        for digest, author, family, created in session.execute(
            select(Review.text_hash, Review.author_hash, Review.product_id, Review.created_at).where(
                Review.text_hash.in_(set(hashes))
            )
        ):
            authors[digest].add(author)
            same.add((family, author, created, digest))
        by_key: dict[str, tuple[dict[str, object], AnalysisResult]] = {}
        for item, digest in zip(items, hashes, strict=True):
            assert item.result is not None
            author = item.record.author_hash
            family = families.find(item.family) if families is not None and item.family is not None else None
            one_review = (family, author, item.record.created_at, digest)
            if family is not None and author is not None and one_review in same:
                continue  # a short review filed again under another id of its family: the same review
            same.add(one_review)
            copied = is_duplicate_text(item.text, author, authors[digest])
            authors[digest].add(author)
            flags = quality_flags(item.text, item.result, duplicate_text=copied)
            row = review_row(target, item, family, digest, flags, now)
            by_key[item.key] = (row, item.result)
        inserted = insert_reviews(session, [row for row, _ in by_key.values()])
        stored = [(review_id, *by_key[key]) for review_id, key in inserted]
        store_analyses(session, [(review_id, row["product_id"], result) for review_id, row, result in stored], now)
        if target.kind == "review":
            aggregates.apply(session, aggregates.deltas(stored_review(row, result) for _, row, result in stored))
        else:
            mention_aggregates.apply(
                session, mention_aggregates.deltas(stored_mention(row, result) for _, row, result in stored)
            )
        return len(stored)


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


def review_row(
    target: Target, item: _Pending, product_id: int | None, digest: str, flags: list[str], now: datetime
) -> dict[str, object]:
    record, result = item.record, item.result
    assert result is not None
    return {
        "kind": target.kind,
        "source": target.source,
        "review_key": item.key,
        "product_id": product_id,
        "monitor_id": target.monitor_id,
        "url": record.url,
        "author_hash": record.author_hash,
        "rating": record.rating,
        "title": item.title,
        "text": item.text,
        "text_hash": digest,
        "created_at": record.created_at,
        "ingested_at": now,
        "day": (record.created_at or now).astimezone(UTC).date(),
        "language": result.language.code,
        "helpful_votes": record.helpful_votes,
        "verified_purchase": record.verified_purchase,
        "quality_score": quality_score(flags),
        "quality_flags": flags,
        "run_id": target.run_id,
    }


def stored_mention(row: dict[str, object], result: AnalysisResult) -> mention_aggregates.StoredMention:
    return mention_aggregates.StoredMention(
        monitor_id=row["monitor_id"],  # type: ignore[arg-type]
        day=row["day"],  # type: ignore[arg-type]
        label=result.sentiment.label if result.sentiment else None,
        quality_score=row["quality_score"],  # type: ignore[arg-type]
        aspects=[(a.group, a.sentiment.label) for a in result.aspects],
    )


def stored_review(row: dict[str, object], result: AnalysisResult) -> aggregates.StoredReview:
    return aggregates.StoredReview(
        product_id=row["product_id"],  # type: ignore[arg-type]
        day=row["day"],  # type: ignore[arg-type]
        rating=row["rating"],  # type: ignore[arg-type]
        label=result.sentiment.label if result.sentiment else None,
        quality_score=row["quality_score"],  # type: ignore[arg-type]
        aspects=[(a.group, a.sentiment.label) for a in result.aspects],
        flags=row["quality_flags"],  # type: ignore[arg-type]
    )
