"""The maintenance pass: what the retention settings promise, enforced.

- Finished jobs (succeeded, failed, cancelled) older than ``job_retention_days`` are deleted with
  their items and results.
- Stored review texts older than ``text_retention_days`` are blanked; their analysis, aspect
  mentions and aggregates stay, so insights keep their numbers while the words are gone.
- Metric points older than ``metrics_raw_retention_days``, and their 1-minute and 1-hour rollups past
  their own retention, are deleted (``SeriesService.cleanup``).

It is idempotent and safe to run from several processes at once: ``opinara serve`` runs it every
``maintenance_interval_seconds``, and ``opinara maintenance`` runs it once."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update

from opinara.config import Settings
from opinara.store.db import Store
from opinara.store.models import Job, JobItem, Review

log = logging.getLogger(__name__)
FINISHED = ("succeeded", "failed", "cancelled")
BATCH = 1000  # rows per transaction, so a large pass never holds a long lock


@dataclass(frozen=True)
class MaintenanceReport:
    jobs_deleted: int
    texts_blanked: int
    metric_rows_deleted: int = 0


def run_maintenance(store: Store, settings: Settings, now: datetime | None = None) -> MaintenanceReport:
    """One pass over the retention rules; returns what it removed."""
    now = now or datetime.now(UTC)
    jobs = (
        _delete_old_jobs(store, now - timedelta(days=settings.job_retention_days)) if settings.job_retention_days else 0
    )
    texts = (
        _blank_old_texts(store, now - timedelta(days=settings.text_retention_days))
        if settings.text_retention_days
        else 0
    )
    from opinara.signals.service import SeriesService

    metrics = sum(SeriesService(settings, store).cleanup(now).values())
    if jobs or texts or metrics:
        log.info(
            "maintenance pass", extra={"jobs_deleted": jobs, "texts_blanked": texts, "metric_rows_deleted": metrics}
        )
    return MaintenanceReport(jobs, texts, metrics)


def _delete_old_jobs(store: Store, cutoff: datetime) -> int:
    deleted = 0
    while True:
        with store.session() as session:
            ids = list(
                session.scalars(
                    Job.__table__.select()
                    .with_only_columns(Job.id)
                    .where(Job.status.in_(FINISHED), Job.finished_at < cutoff)
                    .limit(BATCH)
                )
            )
            if not ids:
                return deleted
            session.execute(delete(JobItem).where(JobItem.job_id.in_(ids)))
            session.execute(delete(Job).where(Job.id.in_(ids)))
            deleted += len(ids)


def _blank_old_texts(store: Store, cutoff: datetime) -> int:
    with store.session() as session:
        result = session.execute(
            update(Review).where(Review.ingested_at < cutoff, Review.text != "").values(text="", title=None)
        )
        return result.rowcount or 0


class MaintenanceThread:
    """Runs the pass every ``maintenance_interval_seconds`` in the background, surviving failures."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="maintenance", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.maintenance_interval_seconds):
            try:
                run_maintenance(self.store, self.settings)
            except Exception as exc:  # the database may be briefly unreachable; the next pass retries
                log.warning("maintenance pass failed (%s); retrying at the next interval", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
