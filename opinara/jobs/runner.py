"""Runs one job to its end, in committed steps, so a crash or restart loses at most the step in progress.

An analyze job takes its pending items (no result yet) a chunk at a time (at most ``job_chunk_size``
texts and ``job_chunk_chars`` characters); each chunk's results and the job's progress are written in
one transaction. An ingest job runs the ingester, which checkpoints its own progress and resumes a
file where the last run stopped; its stored reviews are charged to the key's daily quota as they are
stored. While a step computes, a heartbeat thread keeps the job's lease (every third of it)."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from opinara.analysis.pipeline import AnalyzeOptions
from opinara.config import Settings
from opinara.errors import OpinaraError
from opinara.ingest.runner import Ingester, IngestOptions
from opinara.jobs import leases
from opinara.jobs.leases import Heartbeat, JobLost
from opinara.jobs.models import JobOptions
from opinara.jobs.quota import JobQuota, QuotaUsedUp
from opinara.observability.logs import job_id as job_id_var
from opinara.observability.metrics import JOB_DURATION, JOBS_FINISHED, TEXTS_ANALYZED
from opinara.serving.service import AnalysisService
from opinara.store.db import Store
from opinara.store.models import IngestRun, Job, JobItem

log = logging.getLogger(__name__)
INGEST_BATCH = 256  # reviews per committed ingest step (fewer when the key's quota has less left)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRunner:
    """Runs jobs for a worker. With ``quota``, ingest jobs charge the reviews they store to their key."""

    def __init__(
        self, settings: Settings, store: Store, service: AnalysisService, quota: JobQuota | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.service = service
        self.quota = quota

    def run(self, job_id: str, thread: str = "") -> None:
        worker = f"{worker_name()}:{thread}" if thread else worker_name()
        token = job_id_var.set(job_id)
        try:
            if not leases.claim(self.store, job_id, worker, self.settings.job_lease_seconds):
                log.info("job not claimable (finished, cancelled or running elsewhere); skipped")
                return
            with self.store.session() as session:
                job = session.get(Job, job_id)  # a snapshot: sessions keep attributes after commit
                assert job is not None
            self._run_claimed(job, worker)
        finally:
            job_id_var.reset(token)

    def _run_claimed(self, job: Job, worker: str) -> None:
        if job.attempts > self.settings.job_max_attempts:
            if leases.finish(self.store, job.id, worker, "failed", error=f"gave up after {job.attempts - 1} attempts"):
                JOBS_FINISHED.labels(job.kind, "failed").inc()
            self._discard_upload(job)
            return
        log.info("job started", extra={"kind": job.kind, "attempt": job.attempts})
        started = time.monotonic()
        interval = self.settings.job_lease_seconds / 3
        try:
            with Heartbeat(self.store, job.id, worker, interval) as beat:
                if job.kind == "ingest":
                    status, extra = self._ingest(job, worker, beat)
                else:
                    status, extra = self._analyze(job, worker, beat)
        except JobLost:
            log.info("job cancelled or taken over; stopped")
            with self.store.session() as session:
                cancelled = session.scalars(select(Job.status).where(Job.id == job.id)).first() == "cancelled"
            if cancelled:
                self._discard_upload(job)
            return
        except QuotaUsedUp as exc:
            status, extra = "failed", {"error": exc.message, "succeeded": exc.stored}
        except OpinaraError as exc:  # messages of Opinara's errors name fields and lines, never the input
            status, extra = "failed", {"error": exc.message}
        except Exception as exc:  # a library's message may quote the input: only its type is kept
            log.error("job failed: %s", type(exc).__name__, exc_info=exc)
            status, extra = "failed", {"error": f"internal error ({type(exc).__name__}); see the worker's log"}
        if leases.finish(self.store, job.id, worker, status, **extra):
            seconds = time.monotonic() - started
            JOBS_FINISHED.labels(job.kind, status).inc()
            JOB_DURATION.labels(job.kind).observe(seconds)
            log.info("job finished", extra={"status": status, "seconds": round(seconds, 3)})
            self._discard_upload(job)

    @staticmethod
    def _discard_upload(job: Job) -> None:
        """An ingest job's uploaded file, once the job has ended (it is kept while a retry may resume it)."""
        if job.input_path:
            Path(job.input_path).unlink(missing_ok=True)

    def _pending(self, job_id: str) -> list[Any]:
        """The next chunk of items without a result: ``job_chunk_size`` at most, and no more characters
        than ``job_chunk_chars`` (but at least one item)."""
        with self.store.session() as session:
            rows = session.execute(
                select(JobItem.position, JobItem.text)
                .where(JobItem.job_id == job_id, JobItem.result.is_(None), JobItem.error.is_(None))
                .order_by(JobItem.position)
                .limit(self.settings.job_chunk_size)
            ).all()
        chunk, characters = [], 0
        for row in rows:
            characters += len(row.text)
            if chunk and characters > self.settings.job_chunk_chars:
                break
            chunk.append(row)
        return chunk

    def _analyze(self, job: Job, worker: str, beat: Heartbeat) -> tuple[str, dict[str, Any]]:
        options = JobOptions.model_validate(job.options or {})
        loaded = self.service.load(options.backend, options.model)
        analyze_options = AnalyzeOptions(
            aspects=options.aspects, redact_pii=options.redact_pii, language=options.language
        )
        while pending := self._pending(job.id):
            results = loaded.analyzer.analyze([row.text for row in pending], analyze_options)
            TEXTS_ANALYZED.labels(loaded.analyzer.backend.info.backend, "job").inc(len(results))
            beat.check()
            with self.store.session() as session:
                session.execute(  # one executemany: an ORM bulk update by primary key
                    update(JobItem),
                    [
                        {"job_id": job.id, "position": row.position, "result": result.model_dump(mode="json")}
                        for row, result in zip(pending, results, strict=True)
                    ],
                )
                counted = {"processed": Job.processed + len(pending), "succeeded": Job.succeeded + len(pending)}
                if not leases.heartbeat_in(session, job.id, worker, **counted):
                    raise JobLost(job.id)  # rolls the chunk back
        # Every item now has a result or the error it was created with.
        analyzed = job.total - job.failed
        return "succeeded", {
            "processed": job.total,
            "succeeded": analyzed,
            "counts": {"texts": job.total, "analyzed": analyzed, "failed": job.failed},
        }

    def _ingest(self, job: Job, worker: str, beat: Heartbeat) -> tuple[str, dict[str, Any]]:
        options = JobOptions.model_validate(job.options or {})
        loaded = self.service.load(options.backend, options.model)
        charge = _ReviewCharge(self.quota, self.store, job)
        batch_size = charge.start(INGEST_BATCH)

        def progress(position: int, stored: int) -> None:
            beat.check()
            charge(stored)
            if not leases.heartbeat(self.store, job.id, worker, processed=min(position, job.total), succeeded=stored):
                raise JobLost(job.id)

        summary = Ingester(self.store, loaded.analyzer).ingest(
            Path(job.input_path or ""),
            IngestOptions(
                source=options.source,
                format=options.format,
                batch_size=batch_size,
                redact_pii=bool(options.redact_pii),
            ),
            progress=progress,
        )
        counts = asdict(summary)
        counts.pop("path", None)
        return "succeeded", {"counts": counts, "succeeded": summary.stored, "failed": summary.rejected}


class _ReviewCharge:
    """Charges an ingest job's newly stored reviews to its key's quota after each committed batch, and
    stops the job once the quota is used up with more of the file to go.

    The count is the run's (it survives a takeover: a worker that resumes the run charges only what it
    stores); the job's ``succeeded`` says what earlier attempts charged. Reviews are charged after
    their batch is stored, and batches are no larger than the quota left when the job starts, so a
    job that starts within its quota stops exactly at it (other use of the key meanwhile aside)."""

    def __init__(self, quota: JobQuota | None, store: Store, job: Job) -> None:
        self.quota = quota
        self.store = store
        self.job = job
        self.limit = quota.daily_quota(job.key_id) if quota is not None else None
        self.charged = job.succeeded

    def start(self, default_batch: int) -> int:
        """The batch size to ingest with; :class:`QuotaUsedUp` when nothing is left to charge."""
        if self.quota is None or self.job.key_id is None or self.limit is None:
            return default_batch
        left = self.quota.remaining(self.job.key_id, self.limit)
        if left <= 0:
            raise QuotaUsedUp(self.limit, self.charged)
        return min(default_batch, left)

    def __call__(self, stored: int) -> None:
        if self.quota is None or self.job.key_id is None:
            return
        fresh = stored - self.charged
        if fresh > 0:
            self.charged += self.quota.take_up_to(self.job.key_id, self.limit, fresh)
        if self.limit is not None and self.quota.remaining(self.job.key_id, self.limit) <= 0 and not self._done():
            raise QuotaUsedUp(self.limit, stored)

    def _done(self) -> bool:
        """Whether the ingester has finished the file (it reports progress once more after that)."""
        with self.store.session() as session:
            status = session.scalars(
                select(IngestRun.status)
                .where(IngestRun.input_path == self.job.input_path)
                .order_by(IngestRun.id.desc())
            ).first()
        return status == "succeeded"
