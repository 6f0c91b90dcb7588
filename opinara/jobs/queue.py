"""The job queue: Huey on SQLite in the data folder (embedded), or on Redis when ``redis_url`` is set.

A queue message carries only a job id; the job's row says what to do. Workers are Huey consumers:
threads inside ``opinara serve``, or ``opinara worker`` processes on any number of machines. A reaper
in every worker puts jobs whose worker died back on the queue (see ``records.requeue_stale``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from opinara.config import Settings
from opinara.jobs import records
from opinara.store.db import Store

log = logging.getLogger(__name__)
TASK_NAME = "opinara.run_job"


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey(settings.redis_prefix, url=settings.redis_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("opinara", filename=str(settings.data_dir / "queue.db"), results=False)


class JobQueue:
    """Enqueues job ids; ``handler`` runs one in a worker (it is looked up by name, so producers and
    consumers built from the same settings agree)."""

    def __init__(self, settings: Settings, handler: Callable[[str], None]) -> None:
        self.settings = settings
        self.huey = make_huey(settings)
        self._task = self.huey.task(name=TASK_NAME)(handler)

    def enqueue(self, job_id: str) -> None:
        self._task(job_id)

    def depth(self) -> int:
        return self.huey.pending_count()

    def backend(self) -> str:
        return "redis" if isinstance(self.huey, RedisHuey) else "sqlite"


class _EmbeddedConsumer(Consumer):
    """A consumer inside another program: the host (uvicorn) keeps its own signal handlers."""

    def _set_signal_handlers(self) -> None:
        return None


class Reaper:
    """Every quarter lease, re-queues the jobs whose worker died (or whose queue message was lost)."""

    def __init__(self, store: Store, queue: JobQueue, lease_seconds: float) -> None:
        self.store = store
        self.queue = queue
        self.interval = max(lease_seconds / 4, 0.25)
        self.lease = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sweep(self) -> list[str]:
        ids = records.requeue_stale(self.store, self.lease)
        for job_id in ids:
            log.warning("re-queued a job whose worker stopped", extra={"job_id": job_id})
            self.queue.enqueue(job_id)
        return ids

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # the database may be briefly unreachable; the next sweep retries
                log.exception("job reaper sweep failed")

    def stop(self) -> None:
        self._stop.set()


class EmbeddedWorkers:
    """Huey worker threads and the reaper, started and stopped with the API server."""

    def __init__(self, store: Store, queue: JobQueue, workers: int, lease_seconds: float) -> None:
        self.consumer = _EmbeddedConsumer(
            queue.huey,
            workers=workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            max_delay=0.5,
            check_worker_health=False,
        )
        self.reaper = Reaper(store, queue, lease_seconds)

    def start(self) -> None:
        self.reaper.sweep()
        self.consumer.start()
        self.reaper.start()

    def stop(self) -> None:
        self.reaper.stop()
        self.consumer.stop(graceful=False)
