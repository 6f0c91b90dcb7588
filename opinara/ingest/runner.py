"""Ingest review files: stream, analyze, store each batch in one transaction with its checkpoint.

- Idempotent and narrowed to the record: each batch is stored by ``records.RecordWriter``, the path
  every stored text takes (keys, families, redaction, analysis, quality, aggregates).
- Resumable: the checkpoint (last line done) is committed with the batch it covers, so a run killed
  at any point continues where it stopped, and its final counts equal those of one clean run.
- Bad records go to ``rejected_records`` with line number, reason and raw excerpt; the run goes on.
  A run taken over by another worker does not fail on records the first one rejected.
- Private: with redaction on, texts are redacted before they are analyzed or stored, and rejected
  records keep neither excerpt nor quoted values.
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

from opinara.analysis.pipeline import Analyzer
from opinara.errors import InputError, OpinaraError
from opinara.ingest.records import RecordWriter, Target
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
from opinara.privacy import Pseudonymizer
from opinara.store.db import Store
from opinara.store.models import IngestRun, RejectedRecord
from opinara.store.writes import insert_statement

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
        self.writer = RecordWriter(analyzer)

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
        with self.store.session() as session:
            target = Target(source, redact=private, run_id=run.id)
            outcome = self.writer.write(session, target, good, reject)
            if rejected:  # a worker that took this run over may find the rows its predecessor rejected
                session.execute(insert_statement(session, RejectedRecord).on_conflict_do_nothing(), rejected)
            run.read += len(batch)
            run.stored += outcome.stored
            run.duplicates += outcome.duplicates
            run.rejected += len(rejected)
            run.by_language = dict(Counter(run.by_language) + outcome.languages)
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
