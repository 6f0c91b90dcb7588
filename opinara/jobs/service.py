"""The jobs use cases for API callers: submit texts or a file, read a job, list jobs, page results, cancel.

A submission is checked in order (the key's scope for the kind of job, the input's size, the key's
queued jobs and upload bytes, its daily quota), its analyzer is loaded (a backend or model that cannot
load is refused before anything is kept), its rows are written, its texts are charged, and its id is
offered to the queue. The row is the truth: when the queue is down or slow, the job is accepted all
the same and stays queued until the reaper re-queues it.

When redaction applies (the request's ``redact_pii``, the key's policy, or the server's), raw texts
are never stored: an analyze job's texts are redacted before its rows are written, an ingest job
stores redacted reviews. A job's texts are deleted when it ends.

A key sees and cancels its own jobs; an admin key sees all. Everything here blocks (database, model
loading, file reading, Redis): the API calls it from a thread."""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import orjson

from opinara.access.keys import Caller
from opinara.config import Settings
from opinara.errors import FieldError, InputError, JobNotFound, LimitExceeded, PermissionDenied, RateLimited
from opinara.ingest.text_records import BINARY_SHARE, SNIFF_BYTES, binary_share, detect_format, read_records
from opinara.jobs import records
from opinara.jobs.models import FORMATS_BY_KIND, JobInfo, JobKind, JobList, JobOptions, JobResults
from opinara.jobs.queue import JobQueue
from opinara.jobs.quota import JobQuota
from opinara.observability.metrics import RATE_LIMITED
from opinara.serving.service import AnalysisService
from opinara.store.db import Store

log = logging.getLogger(__name__)
REDACT_CHUNK = 256  # texts redacted at once on their way into a job's rows
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_READ_ERRORS = (OSError, EOFError, zlib.error)


class JobService:
    """Jobs for API callers, over the store, the analysis service and the queue."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        analysis: AnalysisService,
        queue: JobQueue,
        quota: JobQuota | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.analysis = analysis
        self.queue = queue
        self.quota = quota
        self.uploads = settings.data_dir / "uploads"

    # Submitting

    def submit_texts(self, caller: Caller, texts: list[str], ids: list[str] | None, options: JobOptions) -> JobInfo:
        """An analyze job over ``texts`` (with the client's ``ids``); empty texts are kept as failed items."""
        _need_scope(caller, "analyze")
        limit = self.settings.max_job_texts
        if len(texts) > limit:
            raise LimitExceeded(f"the job has {len(texts)} texts; the limit is {limit}", "job size")
        if ids is not None and len(ids) != len(texts):
            raise FieldError("ids", f"has {len(ids)} entries for {len(texts)} texts")
        characters = 0
        for index, text in enumerate(texts):
            if len(text) > self.settings.max_text_chars:
                raise LimitExceeded(
                    f"text {index} has {len(text)} characters; the limit is {self.settings.max_text_chars}",
                    "text size",
                )
            characters += len(text)
        self._admit(caller, "analyze")
        options, redact = self._prepare(caller, options)
        ids = ids if ids is not None else [None] * len(texts)  # type: ignore[list-item]
        items = ((i, t, None if t.strip() else "empty text") for i, t in zip(ids, texts, strict=True))
        job = records.create_analyze_job(self.store, _spooled(_redacted(items, redact)), options, caller.key_id)
        return self._accept(caller, job, characters)

    def submit_file(
        self, caller: Caller, kind: JobKind, upload: BinaryIO, name: str, size: int, options: JobOptions
    ) -> JobInfo:
        """A job over an uploaded file (gzip too): its texts to analyze, or its reviews to ingest.

        ``upload`` is the file as received (spooled by the server); it is read here and not closed.
        An analyze job reads it into the job's rows, with bounded lines (an over-long line becomes a
        failed item) and a bounded unpacked size; an ingest job keeps a copy in the uploads folder
        until the job ends, for its worker to read."""
        _need_scope(caller, kind)
        if options.format is not None and options.format not in FORMATS_BY_KIND[kind]:
            allowed = ", ".join(FORMATS_BY_KIND[kind])
            raise FieldError("format", f"{options.format!r} is not a format of {kind} jobs ({allowed})")
        self._admit(caller, kind, size)
        options, redact = self._prepare(caller, options.model_copy(update={"upload_bytes": size}))
        if kind == "ingest":
            return self._ingest_upload(caller, upload, name, size, options)
        fmt = options.format or detect_format(Path(name))
        counter = _Characters()
        stream = _unpacked(upload)
        texts = read_records(
            stream,
            fmt,  # type: ignore[arg-type]
            options.text_field or "text",
            self.settings.max_text_chars,
            Path(name).name or "upload",
            options.id_field or "id",
            max_line_bytes=self.settings.max_line_bytes,
            max_total_bytes=self.settings.max_upload_decompressed_bytes,
        )
        items = ((r.id, r.text, None) if r.text is not None else (r.id, "", f"line {r.line}: {r.error}") for r in texts)
        job = records.create_analyze_job(
            self.store,
            _spooled(_redacted(counter.count(items), redact), self.settings.max_job_texts),
            options.model_copy(update={"format": fmt}),
            caller.key_id,
            self.settings.max_job_texts,
        )
        return self._accept(caller, job, counter.characters)

    def _ingest_upload(self, caller: Caller, upload: BinaryIO, name: str, size: int, options: JobOptions) -> JobInfo:
        """Keep the file for the job's worker (the ingester resumes from it after a restart)."""
        head = _head(_unpacked(upload), Path(name).name or "upload")
        if not head.strip():
            raise InputError("the file is empty")
        share = binary_share(head)
        if share > BINARY_SHARE:
            raise InputError(f"the file looks like binary data, not reviews ({share:.0%} of its start is not text)")
        self.uploads.mkdir(parents=True, exist_ok=True)
        suffixes = [s for s in Path(Path(name).name).suffixes[-2:] if _SUFFIX.match(s)]
        path = self.uploads / f"{uuid.uuid4().hex}{''.join(suffixes)}"
        upload.seek(0)
        try:
            with path.open("wb") as out:
                shutil.copyfileobj(upload, out, 1 << 20)
            job = records.create_ingest_job(self.store, str(path), size, options, caller.key_id)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self._accept(caller, job, 0)

    def _admit(self, caller: Caller, kind: JobKind, upload_bytes: int = 0) -> None:
        """Refuse (429) a key over its queued-work caps, or out of quota for today."""
        queued, queued_bytes = records.queued_by_key(self.store, caller.key_id)
        if queued >= self.settings.max_queued_jobs_per_key:
            raise _over_cap(
                f"the key {caller.name!r} has {queued} jobs queued or running, its limit; "
                "submit more when some have finished",
                "queued jobs",
            )
        cap = self.settings.max_queued_upload_bytes_per_key
        if upload_bytes and queued_bytes + upload_bytes > cap:
            raise _over_cap(
                f"the key {caller.name!r} has {queued_bytes} bytes of uploads queued; this one ({upload_bytes} "
                f"bytes) would pass its limit of {cap}",
                "queued upload bytes",
            )
        if self.quota is not None:
            self.quota.ensure_left(caller)

    def _prepare(
        self, caller: Caller, options: JobOptions
    ) -> tuple[JobOptions, Callable[[list[str]], list[str]] | None]:
        """Load the job's analyzer (refusing one that cannot load) and record what will produce its
        results; returns the options to store and the redaction to apply to its texts, if any."""
        loaded = self.analysis.load(options.backend, options.model)
        redact = bool(options.redact_pii) or caller.redact_pii or self.settings.redact_pii
        update: dict[str, object] = {"component": loaded.analyzer.component, "model_version": loaded.version}
        if redact:
            update["redact_pii"] = True
            _ = loaded.analyzer.pii  # load the recognizers now, not while the job's rows are written
        return options.model_copy(update=update), loaded.analyzer.redact if redact else None

    def _accept(self, caller: Caller, job: JobInfo, characters: int) -> JobInfo:
        """Charge the job's usable texts (a refused job is cancelled before a worker sees it), then offer
        it to the queue. An ingest job is charged as it stores reviews, by its worker."""
        if self.quota is not None:
            texts = job.total - job.failed if job.kind == "analyze" else 0
            try:
                self.quota.charge(caller, texts, characters)
            except RateLimited:
                records.cancel_job(self.store, job.id)
                raise
        if not self.queue.offer(job.id):
            log.warning("job accepted while the queue is unreachable; it stays queued", extra={"job_id": job.id})
        return job

    # Reading and cancelling

    def get(self, caller: Caller, job_id: str) -> JobInfo:
        return _owned(caller, records.get_job(self.store, job_id))

    def recent(self, caller: Caller, limit: int = 50) -> JobList:
        """The newest jobs of the caller's key (of every key for an admin key)."""
        owner = None if caller.allows("admin") else caller.key_id
        return JobList(jobs=records.list_jobs(self.store, limit, owner))

    def results(self, caller: Caller, job_id: str, after: int = -1, limit: int = 100) -> JobResults:
        _owned(caller, records.get_job(self.store, job_id))
        return records.job_results(self.store, job_id, after, limit)

    def cancel(self, caller: Caller, job_id: str) -> JobInfo:
        """Cancel a queued or running job of the caller's (any job for an admin key)."""
        job = _owned(caller, records.get_job(self.store, job_id))
        cancelled = records.cancel_job(self.store, job.id)
        if job.kind == "ingest":  # a running worker keeps its open file; a queued job's is not needed
            self._discard_upload(job.id)
        return cancelled

    def _discard_upload(self, job_id: str) -> None:
        path = records.input_path(self.store, job_id)
        if path:
            Path(path).unlink(missing_ok=True)


def _need_scope(caller: Caller, kind: JobKind) -> None:
    """Analyze jobs need the ``analyze`` scope, ingest jobs the ``ingest`` scope (admin has both)."""
    if not caller.allows(kind):
        raise PermissionDenied(
            f"{kind} jobs need the {kind!r} scope, which the key {caller.name!r} lacks", sorted(caller.scopes)
        )


def _owned(caller: Caller, job: JobInfo) -> JobInfo:
    """The job, when the caller may see it; otherwise the same 404 as for a job that does not exist."""
    if caller.allows("admin") or job.key_id == caller.key_id:
        return job
    raise JobNotFound(f"no job {job.id!r}")


def _over_cap(message: str, limit: str) -> RateLimited:
    RATE_LIMITED.labels(limit).inc()
    return RateLimited(message, limit, {"Retry-After": "10"})


def _unpacked(upload: BinaryIO) -> BinaryIO:
    """The upload from its start, unpacked when it is gzip (by its magic number, whatever its name)."""
    upload.seek(0)
    magic = upload.read(2)
    upload.seek(0)
    return cast(BinaryIO, gzip.GzipFile(fileobj=upload, mode="rb")) if magic == b"\x1f\x8b" else upload


def _head(stream: BinaryIO, name: str) -> bytes:
    try:
        return stream.read(SNIFF_BYTES)
    except _READ_ERRORS as exc:
        raise InputError(f"{name}: cannot read ({type(exc).__name__})") from exc


def _spooled(items: Iterable[records.Item], limit: int | None = None) -> Iterator[records.Item]:
    """``items``, read to their end now into a temporary file (memory stays flat), then replayed: the
    slow part of a submission (reading, parsing, redacting) is over before the job's transaction
    starts, so a large job holds the database's write lock only while its rows are inserted. Past
    ``limit`` items, reading stops (the job is refused for its size when the rows are written)."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the replay
    try:
        for count, item in enumerate(items, start=1):
            spool.write(orjson.dumps(item) + b"\n")
            if limit is not None and count > limit:
                break
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return _replayed(spool)


def _replayed(spool: BinaryIO) -> Iterator[records.Item]:
    with spool:
        for line in spool:
            record_id, text, error = orjson.loads(line)
            yield record_id, text, error


def _redacted(items: Iterable[records.Item], redact: Callable[[list[str]], list[str]] | None) -> Iterator[records.Item]:
    """``items`` with their usable texts redacted, a chunk at a time (unchanged without ``redact``)."""
    if redact is None:
        yield from items
        return
    chunk: list[records.Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= REDACT_CHUNK:
            yield from _redact_chunk(chunk, redact)
            chunk = []
    yield from _redact_chunk(chunk, redact)


def _redact_chunk(chunk: list[records.Item], redact: Callable[[list[str]], list[str]]) -> list[records.Item]:
    usable = [i for i, (_, text, error) in enumerate(chunk) if error is None and text.strip()]
    out = list(chunk)
    for i, text in zip(usable, redact([chunk[i][1] for i in usable]) if usable else [], strict=True):
        out[i] = (chunk[i][0], text, None)
    return out


class _Characters:
    """Counts the characters of the usable texts passing through (the usage a job records)."""

    def __init__(self) -> None:
        self.characters = 0

    def count(self, items: Iterable[records.Item]) -> Iterator[records.Item]:
        for item in items:
            if item[2] is None:
                self.characters += len(item[1])
            yield item
