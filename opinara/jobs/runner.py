"""Runs one job to its end, in committed steps, so a crash or restart loses at most the step in progress.

An analyze job takes its pending items (no result yet) a chunk at a time; each chunk's results and the
job's progress are written in one transaction. An ingest job runs the ingester, which checkpoints its
own progress and resumes a file where the last run stopped."""

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
from opinara.jobs import records
from opinara.observability.logs import job_id as job_id_var
from opinara.observability.metrics import JOB_DURATION, JOBS_FINISHED, TEXTS_ANALYZED
from opinara.serving.service import AnalysisService
from opinara.store.db import Store
from opinara.store.models import Job, JobItem

log = logging.getLogger(__name__)


class JobLost(Exception):
    """The job was cancelled or taken over by another worker while this one ran it."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobRunner:
    def __init__(self, settings: Settings, store: Store, service: AnalysisService) -> None:
        self.settings = settings
        self.store = store
        self.service = service

    def run(self, job_id: str, thread: str = "") -> None:
        worker = f"{worker_name()}:{thread}" if thread else worker_name()
        token = job_id_var.set(job_id)
        try:
            if not records.claim(self.store, job_id, worker, self.settings.job_lease_seconds):
                log.info("job not claimable (finished, cancelled or running elsewhere); skipped")
                return
            with self.store.session() as session:
                job = session.get(Job, job_id)  # a snapshot: sessions keep attributes after commit
                assert job is not None
            if job.attempts > self.settings.job_max_attempts:
                records.finish(self.store, job_id, worker, "failed", error=f"gave up after {job.attempts - 1} attempts")
                JOBS_FINISHED.labels(job.kind, "failed").inc()
                self._discard_upload(job)
                return
            log.info("job started", extra={"kind": job.kind, "attempt": job.attempts})
            started = time.monotonic()
            try:
                status, extra = self._ingest(job, worker) if job.kind == "ingest" else self._analyze(job, worker)
            except JobLost:
                log.info("job cancelled or taken over; stopped")
                if records.get_job(self.store, job_id)["status"] == "cancelled":
                    self._discard_upload(job)
                return
            except OpinaraError as exc:
                status, extra = "failed", {"error": exc.message}
            except Exception as exc:
                log.exception("job failed")
                status, extra = "failed", {"error": f"internal error: {type(exc).__name__}: {exc}"}
            if records.finish(self.store, job_id, worker, status, **extra):
                JOBS_FINISHED.labels(job.kind, status).inc()
                JOB_DURATION.labels(job.kind).observe(time.monotonic() - started)
                log.info("job finished", extra={"status": status, "seconds": round(time.monotonic() - started, 3)})
                self._discard_upload(job)
        finally:
            job_id_var.reset(token)

    @staticmethod
    def _discard_upload(job: Job) -> None:
        """An ingest job's uploaded file, once the job has ended (it is kept while a retry may resume it)."""
        if job.input_path:
            Path(job.input_path).unlink(missing_ok=True)

    def _analyze(self, job: Job, worker: str) -> tuple[str, dict[str, Any]]:
        options = job.options
        loaded = self.service.load(options.get("backend"), options.get("model"))
        analyze_options = AnalyzeOptions(
            aspects=options.get("aspects"), redact_pii=options.get("redact_pii"), language=options.get("language")
        )
        chunk = self.settings.job_chunk_size
        while True:
            with self.store.session() as session:
                pending = session.execute(
                    select(JobItem.position, JobItem.text)
                    .where(JobItem.job_id == job.id, JobItem.result.is_(None), JobItem.error.is_(None))
                    .order_by(JobItem.position)
                    .limit(chunk)
                ).all()
            if not pending:
                break
            results = loaded.analyzer.analyze([row.text for row in pending], analyze_options)
            TEXTS_ANALYZED.labels(loaded.analyzer.backend.info.backend, "job").inc(len(results))
            with self.store.session() as session:
                session.execute(  # one executemany: an ORM bulk update by primary key
                    update(JobItem),
                    [
                        {"job_id": job.id, "position": row.position, "result": result.model_dump(mode="json")}
                        for row, result in zip(pending, results, strict=True)
                    ],
                )
                counted = {"processed": Job.processed + len(pending), "succeeded": Job.succeeded + len(pending)}
                if not records.heartbeat_in(session, job.id, worker, **counted):
                    raise JobLost(job.id)  # rolls the chunk back
        # Every item now has a result or the error it was created with.
        analyzed = job.total - job.failed
        return "succeeded", {
            "processed": job.total,
            "succeeded": analyzed,
            "counts": {"texts": job.total, "analyzed": analyzed, "failed": job.failed},
        }

    def _ingest(self, job: Job, worker: str) -> tuple[str, dict[str, Any]]:
        options = job.options
        loaded = self.service.load(options.get("backend"), options.get("model"))

        def progress(position: int, stored: int) -> None:
            if not records.heartbeat(self.store, job.id, worker, processed=position, succeeded=stored):
                raise JobLost(job.id)

        summary = Ingester(self.store, loaded.analyzer).ingest(
            Path(job.input_path or ""),
            IngestOptions(
                source=options.get("source"), format=options.get("format"), mapping=options.get("mapping") or {}
            ),
            progress=progress,
        )
        counts = asdict(summary)
        counts.pop("path", None)
        return "succeeded", {"counts": counts, "succeeded": summary.stored, "failed": summary.rejected}
