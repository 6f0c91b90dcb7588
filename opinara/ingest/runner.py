"""Ingest review files: stream, analyze, store each batch in one transaction with its checkpoint.

- Idempotent: a review's key (source + review id, or a keyed hash of author, time and text) is
  unique; keys already stored, or seen earlier in the file, count as duplicates and are skipped. A
  review filed again under another id of its product family joins the families (``families``).
- Resumable: the checkpoint (last line done) is committed with the batch it covers, so a run killed
  at any point continues where it stopped, and its final counts equal those of one clean run.
- Bad records go to ``rejected_records`` with line number, reason and raw excerpt; the run goes on.
  A record the analyzer or the database refuses is narrowed down to itself: the rest of its batch is
  stored. A run taken over by another worker does not fail on records the first one rejected.
- Private: with redaction on, texts are redacted before they are analyzed or stored, and rejected
  records keep neither excerpt nor quoted values.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from opinara.analysis.pipeline import Analyzer
from opinara.analysis.schema import AnalysisResult
from opinara.errors import InputError, OpinaraError
from opinara.ingest.families import Families
from opinara.ingest.quality import is_duplicate_text, quality_flags, quality_score
from opinara.ingest.review_formats import (
    CSV,
    FORMATS,
    RecordProblem,
    ReviewRecord,
    detect_review_format,
    read_csv_reviews,
    read_json_reviews,
)
from opinara.ingest.text_records import open_binary
from opinara.insights import aggregates
from opinara.privacy import Pseudonymizer
from opinara.store.db import Store
from opinara.store.models import IngestRun, RejectedRecord, Review
from opinara.store.writes import insert_reviews, insert_statement, store_analyses

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (bytes read, reviews stored so far)
Item = tuple[int, ReviewRecord | RecordProblem, str]  # (line, record or why it was rejected, raw excerpt)


@dataclass
class IngestOptions:
    source: str | None = None
    format: str | None = None  # amazon-2023, amazon-2018, csv; None detects
    mapping: dict[str, str] = field(default_factory=dict)
    batch_size: int = 256
    redact_pii: bool = False  # store redacted texts, and no excerpt or value of a rejected record
    max_total_bytes: int | None = None  # what the file may decompress to (uploads); None: no cap


@dataclass
class IngestSummary:
    run_id: int
    path: str
    format: str
    read: int
    stored: int
    duplicates: int
    rejected: int
    by_language: dict[str, int]
    seconds: float
    resumed_from_line: int


def input_key(path: Path) -> str:
    """Identifies a file by its resolved path, size and first megabyte."""
    digest = hashlib.sha256(f"{path.resolve()}:{path.stat().st_size}:".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:32]


def _position(raw: BinaryIO) -> int:
    """How many (compressed) bytes of the file were read, for progress."""
    inner = getattr(raw, "fileobj", None) or raw
    try:
        return inner.tell()
    except (OSError, ValueError):
        return 0


def _detect(path: Path, requested: str | None, max_line_bytes: int) -> str:
    if requested:
        if requested not in FORMATS:
            raise InputError(f"unknown format {requested!r}; use one of {', '.join(FORMATS)}")
        return requested
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    with open_binary(path) as stream:
        return detect_review_format(stream, str(path), bool(suffixes) and suffixes[-1] == ".csv", max_line_bytes)


class Ingester:
    """Runs ingest runs against one store with one analyzer."""

    def __init__(self, store: Store, analyzer: Analyzer, pseudonymize: Pseudonymizer | None = None) -> None:
        self.store = store
        self.analyzer = analyzer
        self.pseudonymize = pseudonymize or Pseudonymizer.for_settings(analyzer.settings)
        self._keys = Pseudonymizer.for_settings(analyzer.settings, "review-key")

    def _records(self, stream: BinaryIO, fmt: str, options: IngestOptions, start: int, name: str) -> Iterator[Item]:
        limits = {
            "max_line_bytes": self.analyzer.settings.max_line_bytes,
            "max_total_bytes": options.max_total_bytes,
            "name": name,
        }
        if fmt == CSV:
            return read_csv_reviews(stream, options.mapping, start, self.pseudonymize, **limits)
        return read_json_reviews(stream, fmt, start, self.pseudonymize, **limits)

    def ingest(
        self, path: Path, options: IngestOptions | None = None, progress: Progress | None = None
    ) -> IngestSummary:
        options = options or IngestOptions()
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        fmt = _detect(path, options.format, self.analyzer.settings.max_line_bytes)
        source = options.source or ("amazon" if fmt != CSV else path.name.split(".")[0])
        run = self._start_run(path, source, fmt)
        resumed_from = run.checkpoint_line
        started = time.monotonic()
        stream = open_binary(path)
        batch: list[Item] = []
        try:
            for item in self._records(stream, fmt, options, run.checkpoint_line, path.name):
                batch.append(item)
                if len(batch) >= options.batch_size:
                    self._store_batch(run, source, batch, options)
                    batch = []
                    if progress:
                        progress(_position(stream), run.stored)
            if batch:
                self._store_batch(run, source, batch, options)
        except BaseException as exc:
            # Opinara's messages never quote input; another exception's might, so only its type is kept.
            error = exc.message if isinstance(exc, OpinaraError) else type(exc).__name__
            self._finish(run, "failed", time.monotonic() - started, error=error[:500])
            raise
        finally:
            stream.close()
        self._finish(run, "succeeded", time.monotonic() - started)
        if progress:
            progress(path.stat().st_size, run.stored)
        return IngestSummary(
            run.id,
            str(path),
            fmt,
            run.read,
            run.stored,
            run.duplicates,
            run.rejected,
            dict(run.by_language),
            run.seconds,
            resumed_from,
        )

    def _start_run(self, path: Path, source: str, fmt: str) -> IngestRun:
        key = input_key(path)
        with self.store.session() as session:
            unfinished = session.scalars(
                select(IngestRun)
                .where(IngestRun.input_key == key, IngestRun.status.in_(("running", "failed")))
                .order_by(IngestRun.id.desc())
            ).first()
            if unfinished is not None:
                log.info("resuming ingest run %s at line %s", unfinished.id, unfinished.checkpoint_line)
                unfinished.status = "running"
                return unfinished
            run = IngestRun(
                input_key=key,
                input_path=str(path),
                source=source,
                format=fmt,
                status="running",
                checkpoint_line=0,
                read=0,
                stored=0,
                duplicates=0,
                rejected=0,
                by_language={},
                started_at=datetime.now(UTC),
                seconds=0.0,
            )
            session.add(run)
            session.flush()
            return run

    def _finish(self, run: IngestRun, status: str, seconds: float, error: str | None = None) -> None:
        run.seconds = round(run.seconds + seconds, 3)
        with self.store.session() as session:
            session.execute(
                update(IngestRun)
                .where(IngestRun.id == run.id)
                .values(status=status, error=error, finished_at=datetime.now(UTC), seconds=run.seconds)
            )

    def _store_batch(self, run: IngestRun, source: str, batch: list[Item], options: IngestOptions) -> None:
        private = options.redact_pii
        good: list[tuple[int, ReviewRecord]] = []
        rejected: list[dict[str, object]] = []

        def reject(line: int, problem: RecordProblem, excerpt: str = "") -> None:
            reason = problem.reason(private)
            rejected.append(
                {"run_id": run.id, "line": line, "reason": reason, "raw_excerpt": "" if private else excerpt}
            )

        for line, item, excerpt in batch:
            if isinstance(item, ReviewRecord):
                good.append((line, item))
            else:
                reject(line, item, excerpt)
        parse_rejected = len(rejected)
        with self.store.session() as session:
            families = Families(session, source)
            fresh = self._new_records(session, families, source, good)
            if private and fresh:
                self._redact(fresh)
            analyzed = self._analyze(fresh, reject)
            stored = self._write_narrowed(session, families, source, run.id, analyzed, reject)
            if rejected:  # a worker that took this run over may find the rows its predecessor rejected
                session.execute(insert_statement(session, RejectedRecord).on_conflict_do_nothing(), rejected)
            languages = Counter(run.by_language)
            languages.update(item.result.language.code or "unknown" for item in analyzed if item.result)
            run.read += len(batch)
            # Every good record was stored, found to be a duplicate, or refused by the analyzer or database;
            # copies of one review that a family merge found and removed count as duplicates too.
            run.stored += stored - families.removed
            run.duplicates += len(good) - stored - (len(rejected) - parse_rejected) + families.removed
            run.rejected += len(rejected)
            run.by_language = dict(languages)
            run.checkpoint_line = batch[-1][0]
            session.execute(
                update(IngestRun)
                .where(IngestRun.id == run.id)
                .values(
                    read=run.read,
                    stored=run.stored,
                    duplicates=run.duplicates,
                    rejected=run.rejected,
                    by_language=run.by_language,
                    checkpoint_line=run.checkpoint_line,
                )
            )

    def _key(self, record: ReviewRecord) -> str:
        """The stored key: the source's id, or a keyed hash of the parser's content hash (a plain hash of
        a short text could be reversed by trying candidate texts)."""
        if not record.review_key.startswith("h:"):
            return record.review_key
        return "k:" + (self._keys(record.review_key) or "")

    def _new_records(
        self, session: Session, families: Families, source: str, records: list[tuple[int, ReviewRecord]]
    ) -> list[_Pending]:
        """Records whose key is neither stored nor earlier in the batch. A duplicate filed under another
        family's id merges the two families."""
        family_of = families.resolve((r.product, r.variant, r.product_title) for _, r in records)
        keyed = [(line, record, self._key(record)) for line, record in records]
        keys = {key for _, _, key in keyed}
        found = session.execute(
            select(Review.review_key, Review.product_id).where(Review.source == source, Review.review_key.in_(keys))
        )
        seen: dict[str, int] = {key: product_id for key, product_id in found} if keys else {}
        fresh = []
        for line, record, key in keyed:
            family = family_of[record.variant]
            if key in seen:
                seen[key] = families.same_review(seen[key], family)
                continue
            seen[key] = families.find(family)
            fresh.append(_Pending(line, record, key, family, record.text, record.title))
        return fresh

    def _redact(self, pending: list[_Pending]) -> None:
        """Replace texts and titles by their redacted forms before anything analyzes or stores them."""
        for item, text in zip(pending, self.analyzer.redact([p.text for p in pending]), strict=True):
            item.text = text
        titled = [p for p in pending if p.title]
        for item, title in zip(titled, self.analyzer.redact([p.title or "" for p in titled]), strict=True):
            item.title = title

    def _analyze(self, pending: list[_Pending], reject: Callable[[int, RecordProblem], None]) -> list[_Pending]:
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
        self,
        session: Session,
        families: Families,
        source: str,
        run_id: int,
        analyzed: list[_Pending],
        reject: Callable[[int, RecordProblem], None],
    ) -> int:
        """Write the batch; if the database refuses it, each record alone, rejecting those it refuses."""
        try:
            with session.begin_nested():
                return self._write(session, families, source, run_id, analyzed)
        except (IntegrityError, DataError) as exc:
            log.warning("the database refused a batch (%s); retrying its records one by one", type(exc).__name__)
        stored = 0
        for item in analyzed:
            try:
                with session.begin_nested():
                    stored += self._write(session, families, source, run_id, [item])
            except (IntegrityError, DataError) as exc:
                reject(item.line, RecordProblem(f"the database refused this record ({type(exc).__name__})"))
        return stored

    def _write(self, session: Session, families: Families, source: str, run_id: int, items: list[_Pending]) -> int:
        if not items:
            return 0
        now = datetime.now(UTC)
        hashes = [text_hash(item.text) for item in items]
        authors: dict[str, set[str | None]] = defaultdict(set)
        reviews: set[tuple[int, str | None, datetime | None, str]] = set()  # one review: family, author, time, text
        for digest, author, family, created in session.execute(
            select(Review.text_hash, Review.author_hash, Review.product_id, Review.created_at).where(
                Review.text_hash.in_(set(hashes))
            )
        ):
            authors[digest].add(author)
            reviews.add((family, author, created, digest))
        by_key: dict[str, tuple[dict[str, object], AnalysisResult]] = {}
        for item, digest in zip(items, hashes, strict=True):
            assert item.result is not None
            author, family = item.record.author_hash, families.find(item.family)
            if author is not None and (family, author, item.record.created_at, digest) in reviews:
                continue  # a short review filed again under another id of its family: the same review
            reviews.add((family, author, item.record.created_at, digest))
            copied = is_duplicate_text(item.text, author, authors[digest])
            authors[digest].add(author)
            flags = quality_flags(item.text, item.result, duplicate_text=copied)
            row = review_row(source, item.record, item.result, family, digest, flags, now)
            extra = {"run_id": run_id, "review_key": item.key, "text": item.text, "title": item.title}
            by_key[item.key] = (row | extra, item.result)
        inserted = insert_reviews(session, [row for row, _ in by_key.values()])
        stored = [(review_id, *by_key[key]) for review_id, key in inserted]
        store_analyses(session, [(review_id, row["product_id"], result) for review_id, row, result in stored], now)
        aggregates.apply(session, aggregates.deltas(stored_review(row, result) for _, row, result in stored))
        return len(stored)


@dataclass
class _Pending:
    """A record on its way into the store: what will be stored (maybe redacted) and its analysis."""

    line: int
    record: ReviewRecord
    key: str
    family: int
    text: str
    title: str | None
    result: AnalysisResult | None = None


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


def review_row(
    source: str,
    record: ReviewRecord,
    result: AnalysisResult,
    product_id: int,
    digest: str,
    flags: list[str],
    now: datetime,
) -> dict[str, object]:
    return {
        "source": source,
        "review_key": record.review_key,
        "product_id": product_id,
        "author_hash": record.author_hash,
        "rating": record.rating,
        "title": record.title,
        "text": record.text,
        "text_hash": digest,
        "created_at": record.created_at,
        "ingested_at": now,
        "day": (record.created_at or now).astimezone(UTC).date(),
        "language": result.language.code,
        "helpful_votes": record.helpful_votes,
        "verified_purchase": record.verified_purchase,
        "quality_score": quality_score(flags),
        "quality_flags": flags,
    }


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
