"""The scheduler inside every worker (``opinara worker``, and the embedded one in ``opinara serve``):
it claims due monitors from the database and runs them on a few threads of its own.

Claims are atomic (``MonitorService.claim_due``), so any number of workers on one database run each due
monitor once. It claims only as many as it has free threads, so a busy worker leaves due monitors to
the others. It wakes every ``monitor_poll_seconds``, and also as soon as a run ends while due monitors
may be waiting (its last claim filled every thread): a worker works through a backlog at the speed of
its runs, not one claim per poll."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from opinara.config import Settings
from opinara.jobs.runner import worker_name
from opinara.monitors.runner import MonitorRunner
from opinara.monitors.service import MonitorService

log = logging.getLogger(__name__)


class MonitorScheduler:
    def __init__(self, settings: Settings, service: MonitorService, runner: MonitorRunner, threads: int) -> None:
        self.settings = settings
        self.service = service
        self.runner = runner
        self.threads = threads
        self.worker = f"{worker_name()}:monitors"
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="monitor")
        self._running: set[Future[object]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a run ended while more monitors may be due
        self._backlog = False  # the last claim took all it could: more may be due
        self._thread = threading.Thread(target=self._loop, name="monitor-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def tick(self) -> list[int]:
        """Claim what this worker can run now and start it; returns the claimed monitor ids."""
        with self._lock:
            self._running = {f for f in self._running if not f.done()}
            free = self.threads - len(self._running)
        if free <= 0:
            self._backlog = True
            return []
        claimed = self.service.claim_due(self.worker, free)
        self._backlog = len(claimed) == free
        for monitor_id in claimed:
            future = self._pool.submit(self._run, monitor_id)
            with self._lock:
                self._running.add(future)
            future.add_done_callback(self._ended)
        return claimed

    def _run(self, monitor_id: int) -> None:
        try:
            self.runner.run(monitor_id, self.worker)
        except Exception:  # the monitor's claim expires and another run retries it
            log.exception("monitor run crashed", extra={"monitor_id": monitor_id})

    def _ended(self, _future: Future[object]) -> None:
        if self._backlog:
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.tick()
            except Exception as exc:  # the database may be briefly unreachable; the next tick retries
                log.warning("monitor scheduling failed (%s)", type(exc).__name__)
            self._wake.wait(self.settings.monitor_poll_seconds)

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)
