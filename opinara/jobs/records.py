"""Job rows: creation, reading, results and cancellation.

The ``jobs`` row is the truth about a job; the queue only wakes a worker. Who runs a job (the claim,
the heartbeat, the reaper's requeue, the end) is in :mod:`opinara.jobs.leases`. Every function here
returns the typed models of :mod:`opinara.jobs.models`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from opinara.analysis.schema import AnalysisResult
from opinara.errors import InputError, JobConflict, JobNotFound, LimitExceeded
from opinara.jobs.models import ACTIVE, FINISHED, AnalyzedItem, JobInfo, JobKind, JobOptions, JobResults, RejectedItem
from opinara.store.db import Store
from opinara.store.models import Job, JobItem, RejectedRecord

INSERT_CHUNK = 1000
Item = tuple[str | None, str, str | None]  # (record id, text, why it cannot be analyzed)


def now() -> datetime:
    return datetime.now(UTC)


def create_analyze_job(
    store: Store,
    items: Iterable[Item],
    options: JobOptions,
    key_id: int | None = None,
    max_items: int | None = None,
) -> JobInfo:
    """A queued job over ``(record_id, text, error)`` items, written in one transaction (all or nothing).

    Items with an error (an unreadable line of an upload) are kept with it and count as failed. A job
    with no usable item is refused (:class:`InputError`, naming the first item's problem), and one
    with more than ``max_items`` (:class:`LimitExceeded`)."""
    with store.session() as session:
        job = _new_job(session, "analyze", options, key_id)
        total, failed, chunk = 0, 0, []
        first_error: str | None = None
        for record_id, text, error in items:
            chunk.append({"job_id": job.id, "position": total, "record_id": record_id, "text": text, "error": error})
            total += 1
            if error is not None:
                failed += 1
                first_error = first_error or error
            if max_items is not None and total > max_items:
                raise LimitExceeded(f"the job has more than {max_items} texts, the limit", "job size")
            if len(chunk) >= INSERT_CHUNK:
                session.execute(JobItem.__table__.insert(), chunk)
                chunk = []
        if chunk:
            session.execute(JobItem.__table__.insert(), chunk)
        if not total:
            raise InputError("the job has no texts")
        if total == failed:
            more = f" and {failed - 1} more" if failed > 1 else ""
            raise InputError(f"the job has no usable texts ({first_error}{more})")
        job.total, job.failed, job.processed = total, failed, failed
        return JobInfo.of(job)


def create_ingest_job(store: Store, path: str, size: int, options: JobOptions, key_id: int | None = None) -> JobInfo:
    """A queued job over an uploaded review file at ``path`` (``size`` bytes, its progress unit)."""
    with store.session() as session:
        return JobInfo.of(_new_job(session, "ingest", options, key_id, input_path=path, total=size))


def _new_job(session: Session, kind: JobKind, options: JobOptions, key_id: int | None, **values: Any) -> Job:
    job = Job(
        id=uuid.uuid4().hex,
        kind=kind,
        status="queued",
        options=options.stored(),
        key_id=key_id,
        created_at=now(),
        **{"total": 0, "processed": 0, "succeeded": 0, "failed": 0, "counts": {}, "attempts": 0, **values},
    )
    session.add(job)
    session.flush()
    return job


def get_job(store: Store, job_id: str) -> JobInfo:
    with store.session() as session:
        return JobInfo.of(_job(session, job_id))


def _job(session: Session, job_id: str, lock: bool = False) -> Job:
    job = session.get(Job, job_id, with_for_update=lock)
    if job is None:
        raise JobNotFound(f"no job {job_id!r}")
    return job


def list_jobs(store: Store, limit: int = 50, key_id: int | None = None) -> list[JobInfo]:
    """The newest jobs first; only those of ``key_id`` when given."""
    with store.session() as session:
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if key_id is not None:
            query = query.where(Job.key_id == key_id)
        return [JobInfo.of(j) for j in session.scalars(query)]


def count_active(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(select(Job.status, func.count()).where(Job.status.in_(ACTIVE)).group_by(Job.status))
        counts = dict.fromkeys(ACTIVE, 0)
        for status, count in rows:
            counts[status] = count
        return counts


def queued_by_key(store: Store, key_id: int) -> tuple[int, int]:
    """The key's queued and running jobs, and the bytes of the files they were uploaded with."""
    with store.session() as session:
        rows = session.execute(
            select(Job.kind, Job.total, Job.options).where(Job.key_id == key_id, Job.status.in_(ACTIVE))
        ).all()
    uploaded = 0
    for kind, total, options in rows:
        size = (options or {}).get("upload_bytes")
        uploaded += (
            int(size) if size is not None else (total if kind == "ingest" else 0)
        )  # an ingest job's total: bytes
    return len(rows), uploaded


def input_path(store: Store, job_id: str) -> str | None:
    """The uploaded file an ingest job reads (None for an analyze job)."""
    with store.session() as session:
        return session.scalars(select(Job.input_path).where(Job.id == job_id)).first()


def active_inputs(store: Store) -> set[str]:
    """The uploaded files that queued and running jobs still need."""
    with store.session() as session:
        return set(session.scalars(select(Job.input_path).where(Job.status.in_(ACTIVE), Job.input_path.is_not(None))))


def job_results(store: Store, job_id: str, after: int = -1, limit: int = 100) -> JobResults:
    """One page of results after position ``after``; ``next_cursor`` is null on the last page.

    An analyze job's items are its texts' results (or errors); an ingest job's are its rejected records."""
    with store.session() as session:
        job = _job(session, job_id)
        items: list[AnalyzedItem] | list[RejectedItem]
        if job.kind == "ingest":
            run_id = job.counts.get("run_id")
            rejected = (
                session.scalars(
                    select(RejectedRecord)
                    .where(RejectedRecord.run_id == run_id, RejectedRecord.line > after)
                    .order_by(RejectedRecord.line)
                    .limit(limit + 1)
                ).all()
                if run_id is not None
                else []
            )
            more = len(rejected) > limit
            items = [RejectedItem(index=r.line, rejected=r.reason, excerpt=r.raw_excerpt) for r in rejected[:limit]]
        else:
            rows = session.execute(
                select(JobItem.position, JobItem.record_id, JobItem.result, JobItem.error)
                .where(
                    JobItem.job_id == job_id,
                    JobItem.position > after,
                    or_(JobItem.result.is_not(None), JobItem.error.is_not(None)),
                )
                .order_by(JobItem.position)
                .limit(limit + 1)
            ).all()
            more = len(rows) > limit
            items = [
                AnalyzedItem(
                    index=r.position,
                    id=r.record_id,
                    result=None if r.result is None else AnalysisResult.model_validate(r.result),
                    error=r.error,
                )
                for r in rows[:limit]
            ]
        return JobResults(
            job_id=job_id,
            kind=job.kind,  # type: ignore[arg-type]
            status=job.status,  # type: ignore[arg-type]
            items=items,
            next_cursor=items[-1].index if more and items else None,
        )


def cancel_job(store: Store, job_id: str) -> JobInfo:
    """Cancel a queued or running job (its worker stops at its next step); its texts are deleted now."""
    with store.session() as session:
        job = _job(session, job_id, lock=True)
        if job.status in FINISHED:
            raise JobConflict(f"job {job_id} has already {job.status}")
        job.status = "cancelled"
        job.finished_at = now()
        clear_texts(session, job_id)
        return JobInfo.of(job)


def clear_texts(session: Session, job_id: str) -> None:
    """Delete the texts of a job that ended: its results stay, the words it was given do not."""
    session.execute(update(JobItem).where(JobItem.job_id == job_id, JobItem.text != "").values(text=""))
