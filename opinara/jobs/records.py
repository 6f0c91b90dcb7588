"""Job rows: creation, status, results, cancellation, and the claim that lets exactly one worker run a job.

The ``jobs`` row is the truth about a job; the queue only wakes a worker. A worker claims a job with
one conditional UPDATE (queued, or running with a heartbeat older than the lease), so a job whose
worker died is taken over, and a duplicate queue message finds nothing to do."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from opinara.errors import InputError, JobConflict, JobNotFound
from opinara.store.db import Store
from opinara.store.models import Job, JobItem, RejectedRecord

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")
INSERT_CHUNK = 1000


def now() -> datetime:
    return datetime.now(UTC)


def create_analyze_job(
    store: Store,
    items: Iterable[tuple[str | None, str, str | None]],
    options: dict[str, Any],
    key_id: int | None = None,
    max_items: int | None = None,
) -> dict[str, Any]:
    """A queued job over ``(record_id, text, error)`` items, written in one transaction (all or nothing).

    Items with an error (an unreadable line of an upload) are kept with it and count as failed."""
    with store.session() as session:
        job = _new_job(session, "analyze", options, key_id)
        job_id = job.id
        total, failed, chunk = 0, 0, []
        for record_id, text, error in items:
            chunk.append({"job_id": job_id, "position": total, "record_id": record_id, "text": text, "error": error})
            total += 1
            failed += error is not None
            if max_items is not None and total > max_items:
                raise InputError(f"the job has more than {max_items} texts, the limit")
            if len(chunk) >= INSERT_CHUNK:
                session.execute(JobItem.__table__.insert(), chunk)
                chunk = []
        if chunk:
            session.execute(JobItem.__table__.insert(), chunk)
        if total == failed:
            raise InputError("the job has no usable texts" if total else "the job has no texts")
        job.total, job.failed, job.processed = total, failed, failed
        return describe(job)


def create_ingest_job(
    store: Store, path: str, size: int, options: dict[str, Any], key_id: int | None = None
) -> dict[str, Any]:
    with store.session() as session:
        return describe(_new_job(session, "ingest", options, key_id, input_path=path, total=size))


def _new_job(session: Session, kind: str, options: dict[str, Any], key_id: int | None, **values: Any) -> Job:
    job = Job(
        id=uuid.uuid4().hex,
        kind=kind,
        status="queued",
        options=options,
        key_id=key_id,
        created_at=now(),
        **{"total": 0, "processed": 0, "succeeded": 0, "failed": 0, "counts": {}, "attempts": 0, **values},
    )
    session.add(job)
    session.flush()
    return job


def describe(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": round(job.processed / job.total, 4) if job.total else 0.0,
        "processed": job.processed,
        "total": job.total,
        "unit": "bytes" if job.kind == "ingest" else "texts",
        "succeeded": job.succeeded,
        "failed": job.failed,
        "counts": job.counts,
        "error": job.error,
        "attempts": job.attempts,
        "options": job.options,
        "key_id": job.key_id,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def get_job(store: Store, job_id: str) -> dict[str, Any]:
    with store.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return describe(job)


def list_jobs(store: Store, limit: int = 50, key_id: int | None = None) -> list[dict[str, Any]]:
    """The newest jobs first; only those of ``key_id`` when given."""
    with store.session() as session:
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if key_id is not None:
            query = query.where(Job.key_id == key_id)
        return [describe(j) for j in session.scalars(query)]


def count_active(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(select(Job.status, func.count()).where(Job.status.in_(ACTIVE)).group_by(Job.status))
        counts = dict.fromkeys(ACTIVE, 0)
        for status, count in rows:
            counts[status] = count
        return counts


def job_results(store: Store, job_id: str, after: int = -1, limit: int = 100) -> dict[str, Any]:
    """One page of results after position ``after``; ``next_cursor`` is null on the last page.

    An analyze job's items are its texts' results (or errors); an ingest job's are its rejected records."""
    with store.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        if job.kind == "ingest":
            run_id = job.counts.get("run_id")
            rows = (
                session.scalars(
                    select(RejectedRecord)
                    .where(RejectedRecord.run_id == run_id, RejectedRecord.line > after)
                    .order_by(RejectedRecord.line)
                    .limit(limit + 1)
                ).all()
                if run_id is not None
                else []
            )
            items = [{"index": r.line, "rejected": r.reason, "excerpt": r.raw_excerpt} for r in rows[:limit]]
        else:
            rows = session.scalars(
                select(JobItem)
                .where(
                    JobItem.job_id == job_id,
                    JobItem.position > after,
                    or_(JobItem.result.is_not(None), JobItem.error.is_not(None)),
                )
                .order_by(JobItem.position)
                .limit(limit + 1)
            ).all()
            items = [
                {"index": r.position, "id": r.record_id, "result": r.result, "error": r.error} for r in rows[:limit]
            ]
        more = len(rows) > limit
        return {
            "job_id": job_id,
            "status": job.status,
            "items": items,
            "next_cursor": items[-1]["index"] if more and items else None,
        }


def cancel_job(store: Store, job_id: str) -> dict[str, Any]:
    with store.session() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        if job.status in FINISHED:
            raise JobConflict(f"job {job_id} has already {job.status}")
        job.status = "cancelled"
        job.finished_at = now()
        return describe(job)


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
    """Jobs to put back on the queue: running under a worker silent for a lease, or queued and untouched
    for a lease (a queue message lost with a dead worker). They are marked queued with a fresh heartbeat,
    so each is re-queued at most once per lease, and a worker that wakes up late sees it lost the job."""
    current = now()
    cutoff = current - timedelta(seconds=lease_seconds)
    with store.session() as session:
        stale = or_(
            and_(Job.status == "running", Job.heartbeat_at < cutoff),
            and_(Job.status == "queued", func.coalesce(Job.heartbeat_at, Job.created_at) < cutoff),
        )
        ids = list(session.scalars(select(Job.id).where(stale).order_by(Job.created_at)))
        if ids:
            session.execute(
                update(Job).where(Job.id.in_(ids), Job.status.in_(ACTIVE)).values(status="queued", heartbeat_at=current)
            )
        return ids


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
    with store.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
            .values(status=status, finished_at=now(), heartbeat_at=now(), **values)
        )
        return result.rowcount == 1
