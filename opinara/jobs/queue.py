"""The job queue: Huey on SQLite in the data folder (embedded), or on Redis when ``redis_url`` is set.

A queue message carries only a job id; the job's row says what to do. Workers are Huey consumers:
threads inside ``opinara serve``, or ``opinara worker`` processes on any number of machines. A reaper
in every worker puts jobs whose worker died, or whose message never reached the queue, back on it
(see ``leases.requeue_stale``), and deletes uploads that no job needs any more."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from opinara.config import Settings
from opinara.jobs import leases, records
from opinara.store.db import Store

log = logging.getLogger(__name__)
TASK_NAME = "opinara.run_job"
# Huey's consumers wait on Redis in BRPOP for READ_TIMEOUT seconds: socket reads may take a little longer.
REDIS_READ_TIMEOUT = 1.0
REDIS_SOCKET_TIMEOUT = REDIS_READ_TIMEOUT + 2.0
REDIS_CONNECT_TIMEOUT = 0.5
ENQUEUE_TIMEOUT = 1.0  # how long a submission waits for the queue before leaving the job to the reaper
UPLOAD_GRACE_SECONDS = 15 * 60.0  # an upload this old that no active job needs is deleted
UPLOAD_SWEEP_SECONDS = 60.0


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        from redis import ConnectionPool
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Short timeouts and one immediate retry (a connection broken by a Redis restart is replaced):
        # a Redis that is down answers an enqueue in well under a second instead of hanging it.
        pool = ConnectionPool.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
            socket_timeout=REDIS_SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        return RedisHuey(settings.redis_prefix, connection_pool=pool, results=False, read_timeout=REDIS_READ_TIMEOUT)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("opinara", filename=str(settings.data_dir / "queue.db"), results=False)


class JobQueue:
    """Enqueues job ids; ``handler`` runs one in a worker (it is looked up by name, so producers and
    consumers built from the same settings agree)."""

    def __init__(self, settings: Settings, handler: Callable[[str], None]) -> None:
        self.settings = settings
        self.huey = make_huey(settings)
        self._task = self.huey.task(name=TASK_NAME)(handler)
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-enqueue")

    def enqueue(self, job_id: str) -> None:
        """Send the job's message (blocking; raises when the queue is unreachable)."""
        self._task(job_id)

    def offer(self, job_id: str, timeout: float = ENQUEUE_TIMEOUT) -> bool:
        """Send the job's message, waiting at most ``timeout`` seconds; False when the queue did not take
        it. The job stays queued either way: the reaper re-queues a queued job left untouched for a lease."""
        future = self._sender.submit(self.enqueue, job_id)
        try:
            future.result(timeout=timeout)
            return True
        except FutureTimeout:
            log.warning("the job queue did not answer in %.1f s; the reaper will re-queue the job", timeout)
        except Exception as exc:
            log.warning("the job queue refused the job (%s); the reaper will re-queue it", type(exc).__name__)
        return False

    def depth(self) -> int:
        return self.huey.pending_count()

    def backend(self) -> str:
        return "redis" if isinstance(self.huey, RedisHuey) else "sqlite"

    def close(self) -> None:
        self._sender.shutdown(wait=False, cancel_futures=True)


class _EmbeddedConsumer(Consumer):
    """A consumer inside another program: the host (uvicorn) keeps its own signal handlers."""

    def _set_signal_handlers(self) -> None:
        return None


def sweep_uploads(store: Store, folder: Path, grace_seconds: float = UPLOAD_GRACE_SECONDS) -> list[Path]:
    """Delete the files in ``folder`` that no queued or running job needs and that are older than
    ``grace_seconds`` (younger ones may belong to a submission still in progress). Returns them."""
    if not folder.is_dir():
        return []
    needed = {Path(path).name for path in records.active_inputs(store)}
    cutoff = time.time() - grace_seconds
    removed = []
    for path in folder.iterdir():
        try:
            if path.name in needed or not path.is_file() or path.stat().st_mtime > cutoff:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    if removed:
        log.info("deleted %d uploads of ended jobs", len(removed))
    return removed


class Reaper:
    """Every quarter lease, re-queues the jobs whose worker died (or whose queue message was lost or
    never sent); every minute, deletes the uploads of cancelled and crashed jobs."""

    def __init__(
        self,
        store: Store,
        queue: JobQueue,
        lease_seconds: float,
        uploads: Path | None = None,
        upload_grace_seconds: float = UPLOAD_GRACE_SECONDS,
    ) -> None:
        self.store = store
        self.queue = queue
        self.interval = max(lease_seconds / 4, 0.25)
        self.lease = lease_seconds
        self.uploads = uploads or queue.settings.data_dir / "uploads"
        self.upload_grace = upload_grace_seconds
        self._swept_uploads_at = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sweep(self) -> list[str]:
        """Re-queue stale jobs; returns their ids. A job the queue does not take now stays queued and is
        found again after a lease."""
        ids = leases.requeue_stale(self.store, self.lease)
        for job_id in ids:
            log.warning("re-queued a job whose worker stopped or whose message was lost", extra={"job_id": job_id})
            try:
                self.queue.enqueue(job_id)
            except Exception as exc:
                log.warning("the job queue is unreachable (%s); retrying after a lease", type(exc).__name__)
                break
        if time.monotonic() - self._swept_uploads_at >= UPLOAD_SWEEP_SECONDS:
            self._swept_uploads_at = time.monotonic()
            sweep_uploads(self.store, self.uploads, self.upload_grace)
        return ids

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception as exc:  # the database may be briefly unreachable; the next sweep retries
                log.warning("job reaper sweep failed (%s)", type(exc).__name__)

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
        try:
            self.reaper.sweep()
        except Exception as exc:  # a database or queue that is away now: the reaper's loop retries
            log.warning("job reaper sweep failed at start (%s)", type(exc).__name__)
        self.consumer.start()
        self.reaper.start()

    def stop(self) -> None:
        self.reaper.stop()
        self.consumer.stop(graceful=False)
