"""Alerting in every worker: evaluation by one worker at a time, detection on its schedule, delivery by all.

Each tick (``alert_eval_seconds``): the worker that holds the ``alert-evaluator`` lease writes Opinara's
own signals as series (``signals.own``) and evaluates every rule; whoever takes the ``insight-detector``
lease (free once per ``insight_detect_seconds``) runs every insight detector (sentiment dips, emerging
aspects, volume spikes and drops, metric anomalies, level shifts); and every worker sends the outbox
deliveries that are due, each claimed by one worker.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from opinara.alerts.evaluate import EVALUATOR_LEASE, AlertEvaluator, take_lease
from opinara.alerts.outbox import Outbox
from opinara.alerts.service import AlertService
from opinara.config import Settings
from opinara.insights.anomalies import InsightService
from opinara.insights.dips import detect_emerging_aspects, detect_sentiment_dips
from opinara.insights.series_anomalies import detect_level_shifts, detect_metric_anomalies, detect_volume_changes
from opinara.signals.own import Deltas, collect
from opinara.signals.service import SeriesService
from opinara.store.db import Store

log = logging.getLogger(__name__)
DETECTOR_LEASE = "insight-detector"


class AlertScheduler:
    def __init__(self, settings: Settings, store: Store, insights: InsightService, worker: str) -> None:
        self.settings = settings
        self.store = store
        self.insights = insights
        self.worker = worker
        self.evaluator = AlertEvaluator(settings, store)
        self.outbox = Outbox(settings, store)
        self.series = SeriesService(settings, store)
        self.deltas = Deltas()  # this process's Prometheus counters at the last collection
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)

    def start(self) -> None:
        AlertService(self.settings, self.store).install_defaults()
        self._thread.start()

    def tick(self, now: datetime | None = None) -> None:
        current = now or datetime.now(UTC)
        interval = self.settings.alert_eval_seconds
        if take_lease(
            self.store, DETECTOR_LEASE, self.worker, self.settings.insight_detect_seconds, current, renew=False
        ):
            self.detect(current)
        if take_lease(self.store, EVALUATOR_LEASE, self.worker, interval * 3, current):
            try:
                self.series.write(collect(self.store, self.settings, current, self.deltas))
            except Exception:  # the rules still run on what is there
                log.exception("own signals were not collected", extra={"worker": self.worker})
            report = self.evaluator.evaluate(current)
            if report.events:
                log.info("alert rules evaluated", extra={"worker": self.worker, **report.model_dump()})
        self.outbox.deliver_due(self.worker, current)

    def detect(self, current: datetime) -> None:
        """Every detector over the stored aggregates and series; each raises and resolves its insights.
        One failing detector does not stop the others."""
        weeks, recent = self.settings.insight_baseline_weeks, timedelta(seconds=self.settings.insight_detect_seconds)
        passes = {
            "sentiment dips": lambda: detect_sentiment_dips(self.store, self.insights, current, weeks),
            "emerging aspects": lambda: detect_emerging_aspects(self.store, self.insights, current, weeks),
            "volume changes": lambda: detect_volume_changes(self.store, self.insights, current),
            "metric anomalies": lambda: detect_metric_anomalies(self.store, self.insights, current, recent),
            "level shifts": lambda: detect_level_shifts(self.store, self.insights, current),
        }
        for name, run in passes.items():
            try:
                report = run()
            except Exception:
                log.exception("insight detection failed", extra={"worker": self.worker, "detection": name})
                continue
            figures = {f"insights_{key}": value for key, value in report.model_dump().items()}  # not LogRecord names
            log.info("insights judged", extra={"worker": self.worker, "detection": name, **figures})

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the database may be briefly away; the next tick retries
                log.warning("alerting tick failed (%s)", type(exc).__name__, exc_info=True)
            self._stop.wait(self.settings.alert_eval_seconds)

    def stop(self) -> None:
        self._stop.set()
