"""Ingest review files: stream, analyze, store each batch in one transaction with its checkpoint.

- Idempotent: a review's key (source + review id, or a hash of author, product, time and text) is
  unique; keys already stored, or seen earlier in the file, count as duplicates and are skipped.
- Resumable: the checkpoint (last line done) is committed with the batch it covers, so a run killed
  at any point continues where it stopped, and its final counts equal those of one clean run.
- Bad records go to ``rejected_records`` with line number, reason and raw excerpt; the run goes on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from opinara.analysis.pipeline import AnalyzeOptions, Analyzer
from opinara.analysis.schema import AnalysisResult
from opinara.errors import InputError
from opinara.ingest.quality import quality_flags, quality_score
from opinara.ingest.review_formats import (
    CSV,
    FORMATS,
    ReviewRecord,
    detect_review_format,
    read_csv_reviews,
    read_json_reviews,
)
from opinara.ingest.text_records import open_binary
from opinara.insights import aggregates
from opinara.store.db import Store
from opinara.store.models import IngestRun, RejectedRecord, Review
from opinara.store.writes import ensure_products, insert_reviews, store_analyses

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (bytes read, reviews stored so far)


@dataclass
class IngestOptions:
    source: str | None = None
    format: str | None = None  # amazon-2023, amazon-2018, csv; None detects
    mapping: dict[str, str] = field(default_factory=dict)
    batch_size: int = 256


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


class _CountingReader:
    """Wraps a raw file to report how many (compressed) bytes were read, for the progress bar."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    @property
    def position(self) -> int:
        inner = getattr(self.raw, "fileobj", None) or self.raw
        try:
            return inner.tell()
        except (OSError, ValueError):
            return 0


def _detect(path: Path, requested: str | None) -> str:
    if requested:
        if requested not in FORMATS:
            raise InputError(f"unknown format {requested!r}; use one of {', '.join(FORMATS)}")
        return requested
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    with open_binary(path) as stream:
        return detect_review_format(stream, str(path), bool(suffixes) and suffixes[-1] == ".csv")


def _records(
    stream: BinaryIO, fmt: str, mapping: dict[str, str], start: int
) -> Iterator[tuple[int, ReviewRecord | str, str]]:
    if fmt == CSV:
        return read_csv_reviews(stream, mapping, start)
    return read_json_reviews(stream, fmt, start)


class Ingester:
    """Runs ingest runs against one store with one analyzer."""

    def __init__(self, store: Store, analyzer: Analyzer) -> None:
        self.store = store
        self.analyzer = analyzer

    def ingest(
        self, path: Path, options: IngestOptions | None = None, progress: Progress | None = None
    ) -> IngestSummary:
        options = options or IngestOptions()
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        fmt = _detect(path, options.format)
        source = options.source or ("amazon" if fmt != CSV else path.name.split(".")[0])
        run = self._start_run(path, source, fmt)
        resumed_from = run.checkpoint_line
        started = time.monotonic()
        stream = open_binary(path)
        counter = _CountingReader(stream)
        batch: list[tuple[int, ReviewRecord | str, str]] = []
        try:
            for item in _records(stream, fmt, options.mapping, run.checkpoint_line):
                batch.append(item)
                if len(batch) >= options.batch_size:
                    self._store_batch(run, source, batch)
                    batch = []
                    if progress:
                        progress(counter.position, run.stored)
            if batch:
                self._store_batch(run, source, batch)
        except Exception as exc:
            self._finish(run, "failed", time.monotonic() - started, error=str(exc))
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
                log.info("resuming ingest run %s of %s at line %s", unfinished.id, path, unfinished.checkpoint_line)
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

    def _store_batch(self, run: IngestRun, source: str, batch: list[tuple[int, ReviewRecord | str, str]]) -> None:
        good: list[tuple[int, ReviewRecord]] = []
        rejected: list[dict[str, object]] = []
        for line, item, excerpt in batch:
            if isinstance(item, ReviewRecord):
                good.append((line, item))
            else:
                rejected.append({"run_id": run.id, "line": line, "reason": item, "raw_excerpt": excerpt})
        with self.store.session() as session:
            fresh, duplicates = self._new_records(session, source, [r for _, r in good])
            results = self.analyzer.analyze([r.text for r in fresh], AnalyzeOptions()) if fresh else []
            stored = self._write(session, source, run.id, fresh, results)
            if rejected:
                session.execute(RejectedRecord.__table__.insert(), rejected)
            languages = Counter(run.by_language)
            languages.update(r.language.code or "unknown" for r in results)
            run.read += len(batch)
            run.stored += stored
            run.duplicates += duplicates + (len(fresh) - stored)
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

    @staticmethod
    def _new_records(session: Session, source: str, records: list[ReviewRecord]) -> tuple[list[ReviewRecord], int]:
        """Records whose key is neither stored nor earlier in this batch; and how many were not."""
        keys = {r.review_key for r in records}
        stored = (
            set(session.scalars(select(Review.review_key).where(Review.source == source, Review.review_key.in_(keys))))
            if keys
            else set()
        )
        fresh, seen = [], set(stored)
        for record in records:
            if record.review_key not in seen:
                seen.add(record.review_key)
                fresh.append(record)
        return fresh, len(records) - len(fresh)

    def _write(
        self, session: Session, source: str, run_id: int, records: list[ReviewRecord], results: list[AnalysisResult]
    ) -> int:
        if not records:
            return 0
        products = ensure_products(session, source, {r.product: r.product_title for r in records})
        now = datetime.now(UTC)
        hashes = [text_hash(r.text) for r in records]
        known = set(session.scalars(select(Review.text_hash).where(Review.text_hash.in_(set(hashes)))))
        rows = []
        for record, result, digest in zip(records, results, hashes, strict=True):
            flags = quality_flags(record.text, result, duplicate_text=digest in known)
            known.add(digest)
            rows.append(
                review_row(source, record, result, products[record.product], digest, flags, now) | {"run_id": run_id}
            )
        inserted = insert_reviews(session, rows)
        by_key = {row["review_key"]: (row, result) for row, result in zip(rows, results, strict=True)}
        stored = [(review_id, by_key[key][0], by_key[key][1]) for review_id, key in inserted]
        store_analyses(session, [(review_id, row["product_id"], result) for review_id, row, result in stored], now)
        aggregates.apply(session, aggregates.deltas(stored_review(row, result) for _, row, result in stored))
        return len(stored)


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
    )
