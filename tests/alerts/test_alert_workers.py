"""Alerting under two real worker processes on PostgreSQL and Redis: rules are evaluated by one worker at a
time, so each transition is notified once; a killed worker's lease passes to the other."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

from opinara.alerts.rules import RuleSpec
from opinara.alerts.service import AlertService, ChannelSpec, RuleChanges
from opinara.monitors.webhooks import SIGNATURE_HEADER, verify
from opinara.signals.points import Sample, SeriesKey
from opinara.signals.service import SeriesService
from opinara.store.db import open_store
from tests.alerts.receiver import Receiver
from tests.jobs.test_job_recovery import process
from tests.monitors.test_workers import deployment, wait_for  # noqa: F401 - the deployment fixture

SECRET = "whsec-two-workers-0123456789"


def notes(receiver: Receiver) -> list[dict]:
    out = []
    for request in receiver.requests:
        verify(
            SECRET.encode(), request.headers[SIGNATURE_HEADER.lower()], request.body, datetime.now(UTC).timestamp(), 300
        )
        out += request.json()["notifications"]
    return out


def test_two_workers_notify_each_transition_once(deployment, tmp_path):  # noqa: F811
    settings, env = deployment
    env = {**env, "OPINARA_ALERT_EVAL_SECONDS": "0.3", "OPINARA_MONITOR_THREADS": "0"}
    store = open_store(settings)
    alerts = AlertService(settings, store)
    alerts.install_defaults()
    alerts.update_rule("queue-depth", RuleChanges(enabled=False))  # its keep-firing minute would slow the test
    alerts.create_rule(
        RuleSpec(
            kind="series",
            name="deep-queue",
            severity="critical",
            series="queue_depth",
            aggregation="last",
            window_seconds=60,
            op=">",
            threshold=100,
        )
    )
    receiver = Receiver()
    try:
        alerts.create_channel(
            ChannelSpec(
                name="oncall", kind="webhook", config={"url": receiver.url + "/hook"}, secrets={"secret": SECRET}
            )
        )
        series = SeriesService(settings, store)
        queue = SeriesKey.of("queue_depth", {"queue": "default"})
        with process(["worker"], env, tmp_path / "w1.log") as first, process(["worker"], env, tmp_path / "w2.log"):
            series.write([Sample(queue, datetime.now(UTC), 400.0)])
            wait_for(lambda: len(notes(receiver)) >= 1, 60, "the queue-depth alert was never notified")
            first.send_signal(signal.SIGKILL)  # the survivor takes the evaluator lease when it expires
            first.wait(timeout=10)
            later = datetime.now(UTC) + timedelta(seconds=1)
            series.write([Sample(queue, later, 3.0)])
            wait_for(lambda: len(notes(receiver)) >= 2, 60, "the resolution was never notified")
            time.sleep(1.5)  # more evaluations by the survivor: nothing more to say
        sent = notes(receiver)
        assert [(n["status"], n["labels"]["alertname"]) for n in sent] == [
            ("firing", "deep-queue"),
            ("resolved", "deep-queue"),
        ], "each transition once, however many workers evaluate"
        events = [e.event for e in alerts.history("deep-queue", None, 10).events]
        assert events == ["resolved", "fired"]
    finally:
        receiver.close()
        store.engine.dispose()
