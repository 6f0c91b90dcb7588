"""Who runs a job: the claim that lets exactly one worker run it, its heartbeat, the reaper's requeue, and its end.

A worker claims a job with one conditional UPDATE (queued, or running with a heartbeat older than the
lease), so a job whose worker died is taken over, and a duplicate queue message finds nothing to do.
While it runs, its worker beats (:class:`Heartbeat`, on a thread beside the work, so a step that
computes longer than the lease keeps the job). Every write of the worker's is conditional on the job
still being its own, so a worker that lost its job (cancelled, or taken over) finds out at its next
write and stops."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy.orm import Session

from opinara.errors import OpinaraError
from opinara.heartbeat import Heartbeat as BaseHeartbeat
from opinara.jobs.records import clear_texts, now
from opinara.store.db import Store
from opinara.store.models import Job

log = logging.getLogger(__name__)


class JobLost(OpinaraError):
    """The job was cancelled or taken over by another worker while this one ran it."""

    code = "E403"


def claim(store: Store, job_id: str, worker: str, lease_seconds: float) -> bool:
    """Take the job if it is queued, or running under a worker silent for longer than the lease."""
    current = now()
    with store.session() as session:
        result = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                or_(
                    Job.status == "queued",
                    and_(Job.status == "running", Job.heartbeat_at < current - timedelta(seconds=lease_seconds)),
                ),
            )
            .values(
                status="running",
                worker=worker,
                heartbeat_at=current,
                started_at=func.coalesce(Job.started_at, current),
                attempts=Job.attempts + 1,
            )
        )
        return result.rowcount == 1


def requeue_stale(store: Store, lease_seconds: float) -> list[str]:
    """Jobs to put back on the queue, oldest first: running under a worker silent for a lease, or queued
    and untouched for a lease (a queue message lost with a dead worker, or never sent while the queue
    was down). They are marked queued with a fresh heartbeat, so each is re-queued at most once per
    lease, and a worker that wakes up late sees it lost the job.

    One UPDATE decides and writes, so a job claimed a moment ago (fresh heartbeat) is never taken back."""
    current = now()
    cutoff = current - timedelta(seconds=lease_seconds)
    stale = or_(
        and_(Job.status == "running", Job.heartbeat_at < cutoff),
        and_(Job.status == "queued", func.coalesce(Job.heartbeat_at, Job.created_at) < cutoff),
    )
    with store.session() as session:
        rows = session.execute(
            update(Job).where(stale).values(status="queued", heartbeat_at=current).returning(Job.id, Job.created_at)
        ).all()
    return [row.id for row in sorted(rows, key=lambda row: row.created_at)]


def heartbeat(store: Store, job_id: str, worker: str, **values: Any) -> bool:
    """Record progress; False when the job is no longer this worker's (cancelled, or taken over)."""
    with store.session() as session:
        return heartbeat_in(session, job_id, worker, **values)


def heartbeat_in(session: Session, job_id: str, worker: str, **values: Any) -> bool:
    """``heartbeat`` inside the caller's transaction, so progress commits with the work it counts."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
        .values(heartbeat_at=now(), **values)
    )
    return result.rowcount == 1


def finish(store: Store, job_id: str, worker: str, status: str, **values: Any) -> bool:
    """End the job (if it is still this worker's); its texts are deleted with the same commit."""
    with store.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
            .values(status=status, finished_at=now(), heartbeat_at=now(), **values)
        )
        if result.rowcount != 1:
            return False
        clear_texts(session, job_id)
        return True


class Heartbeat(BaseHeartbeat):
    """Beats for a running job beside the chunk; :meth:`check` raises :class:`JobLost` once the job is
    no longer the worker's (cancelled, or taken over)."""

    def __init__(self, store: Store, job_id: str, worker: str, interval: float) -> None:
        super().__init__(lambda: heartbeat(store, job_id, worker), interval, job_id[:8])
        self.job_id = job_id

    def check(self) -> None:
        if self.lost.is_set():
            raise JobLost(self.job_id)
