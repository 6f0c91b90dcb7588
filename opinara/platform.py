"""The services one process runs with, built once from settings: store, analysis, queue, limits, usage.

``opinara serve`` (the API) and ``opinara worker`` both build a :class:`Platform`; the API adds
embedded job workers when ``embedded_workers`` > 0."""

from __future__ import annotations

import logging
import threading

from opinara.access.authenticator import Authenticator
from opinara.access.limits import KeyLimiter
from opinara.access.usage import UsageRecorder
from opinara.alerts.scheduler import AlertScheduler
from opinara.alerts.service import AlertService
from opinara.config import Settings
from opinara.insights.anomalies import InsightService
from opinara.jobs.queue import EmbeddedWorkers, JobQueue
from opinara.jobs.quota import JobQuota
from opinara.jobs.runner import JobRunner, worker_name
from opinara.jobs.service import JobService
from opinara.monitors.hosts import HostLimiter
from opinara.monitors.runner import MonitorRunner
from opinara.monitors.scheduler import MonitorScheduler
from opinara.monitors.service import MonitorService
from opinara.ops.maintenance import MaintenanceThread
from opinara.serving.service import AnalysisService
from opinara.signals.service import SeriesService
from opinara.store.db import Store, open_store

log = logging.getLogger(__name__)
USAGE_FLUSH_SECONDS = 2.0


class Platform:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(settings)
        self.analysis = AnalysisService(settings)
        self.limiter = KeyLimiter(settings.redis_url, settings.redis_prefix)
        self.usage = UsageRecorder(self.store)
        quota = JobQuota(self.store, self.limiter, self.usage)
        self.runner = JobRunner(settings, self.store, self.analysis, quota)
        self.queue = JobQueue(settings, self._run_job)
        self.jobs = JobService(settings, self.store, self.analysis, self.queue, quota)
        # Key lookups (and Redis rate limits) run on one bounded thread of their own: one connection, no pool churn.
        self.auth = Authenticator(settings, self.store, self.limiter)
        self.maintenance = MaintenanceThread(self.store, settings)
        self.monitors = MonitorService(settings, self.store)
        self.series = SeriesService(settings, self.store)
        self.insights = InsightService(settings, self.store)
        self.alerts = AlertService(settings, self.store)
        self.monitor_runner = MonitorRunner(settings, self.store, self.analysis, HostLimiter(settings))
        self.scheduler: MonitorScheduler | None = None
        self.alerting: AlertScheduler | None = None
        self.workers: EmbeddedWorkers | None = None
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_usage, name="usage-flush", daemon=True)

    def _run_job(self, job_id: str) -> None:
        self.runner.run(job_id, threading.current_thread().name)

    def start(self, workers: int = 0, preload: bool = True) -> None:
        """Load the default analyzer; start the usage flusher, the key poller, the maintenance pass
        and ``workers`` job worker threads."""
        if preload:
            self.analysis.load()
        self._flusher.start()
        self.auth.start()
        self.maintenance.start()
        if workers > 0:
            self.start_monitors()
            self.workers = EmbeddedWorkers(self.store, self.queue, workers, self.settings.job_lease_seconds)
            self.workers.start()

    def start_monitors(self) -> None:
        """Run due monitors in this process (``monitor_threads`` at once), and alerting (evaluation by one
        worker at a time, deliveries by all); every worker does."""
        if self.scheduler is None and self.settings.monitor_threads > 0:
            self.scheduler = MonitorScheduler(
                self.settings, self.monitors, self.monitor_runner, self.settings.monitor_threads
            )
            self.scheduler.start()
        if self.alerting is None and self.settings.alerts_enabled:
            self.alerting = AlertScheduler(self.settings, self.store, self.insights, f"{worker_name()}:alerts")
            self.alerting.start()

    def _flush_usage(self) -> None:
        while not self._stop.wait(USAGE_FLUSH_SECONDS):
            try:
                self.usage.flush()
            except Exception:  # the counts stay pending and the next flush retries them
                log.exception("usage flush failed")

    def stop(self) -> None:
        self._stop.set()
        if self.workers is not None:
            self.workers.stop()
        if self.scheduler is not None:
            self.scheduler.stop(wait=False)
        if self.alerting is not None:
            self.alerting.stop()
        self.maintenance.stop()
        self.usage.flush()
        self.analysis.close()
        self.auth.close()
        self.queue.close()
