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

from sqlalchemy import func, select, update

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
                job = session.get(Job, job_id)
                assert job is not None
                kind, options, attempts = job.kind, dict(job.options), job.attempts
            if attempts > self.settings.job_max_attempts:
                records.finish(self.store, job_id, worker, "failed", error=f"gave up after {attempts - 1} attempts")
                JOBS_FINISHED.labels(kind, "failed").inc()
                return
            log.info("job started", extra={"kind": kind, "attempt": attempts})
            started = time.monotonic()
            try:
                if kind == "ingest":
                    status, extra = self._ingest(job_id, worker, options)
                else:
                    status, extra = self._analyze(job_id, worker, options)
            except JobLost:
                log.info("job cancelled or taken over; stopped")
                return
            except OpinaraError as exc:
                status, extra = "failed", {"error": exc.message}
            except Exception as exc:
                log.exception("job failed")
                status, extra = "failed", {"error": f"internal error: {type(exc).__name__}: {exc}"}
            if records.finish(self.store, job_id, worker, status, **extra):
                JOBS_FINISHED.labels(kind, status).inc()
                JOB_DURATION.labels(kind).observe(time.monotonic() - started)
                log.info("job finished", extra={"status": status, "seconds": round(time.monotonic() - started, 3)})
        finally:
            job_id_var.reset(token)

    def _analyze(self, job_id: str, worker: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        loaded = self.service.load(options.get("backend"), options.get("model"))
        analyze_options = AnalyzeOptions(
            aspects=options.get("aspects"), redact_pii=options.get("redact_pii"), language=options.get("language")
        )
        chunk = self.settings.job_chunk_size
        while True:
            with self.store.session() as session:
                pending = session.execute(
                    select(JobItem.position, JobItem.text)
                    .where(JobItem.job_id == job_id, JobItem.result.is_(None), JobItem.error.is_(None))
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
                        {"job_id": job_id, "position": row.position, "result": result.model_dump(mode="json")}
                        for row, result in zip(pending, results, strict=True)
                    ],
                )
                owned = session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
                    .values(
                        processed=Job.processed + len(pending),
                        succeeded=Job.succeeded + len(pending),
                        heartbeat_at=records.now(),
                    )
                ).rowcount
                if owned != 1:
                    raise JobLost(job_id)  # rolls the chunk back
        with self.store.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            done = session.scalar(
                select(func.count()).select_from(JobItem).where(JobItem.job_id == job_id, JobItem.result.is_not(None))
            )
        return "succeeded", {
            "processed": job.total,
            "succeeded": done,
            "counts": {"texts": job.total, "analyzed": done, "failed": job.failed},
        }

    def _ingest(self, job_id: str, worker: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        loaded = self.service.load(options.get("backend"), options.get("model"))
        with self.store.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            path = Path(job.input_path or "")

        def progress(position: int, stored: int) -> None:
            if not records.heartbeat(self.store, job_id, worker, processed=position, succeeded=stored):
                raise JobLost(job_id)

        summary = Ingester(self.store, loaded.analyzer).ingest(
            path,
            IngestOptions(
                source=options.get("source"), format=options.get("format"), mapping=options.get("mapping") or {}
            ),
            progress=progress,
        )
        counts = asdict(summary)
        counts.pop("path", None)
        return "succeeded", {"counts": counts, "succeeded": summary.stored, "failed": summary.rejected}
