"""From reviews to one notification, on SQLite and PostgreSQL: eight steady weeks of reviews, then a week
where battery complaints triple -> a sentiment_dip insight with examples -> the insight rule fires -> one
signed webhook delivery, not one per evaluation; the insight ends -> one resolved delivery. A channel that
is down is retried until it comes back; a silence stops notifications but not evaluation; host metrics
that break a shipped rule fire it, and a host that stops reporting goes to no data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from opinara.alerts.evaluate import AlertEvaluator, take_lease
from opinara.alerts.outbox import Outbox
from opinara.alerts.scheduler import AlertScheduler
from opinara.alerts.service import AlertService, ChannelSpec, SilenceSpec
from opinara.config import Settings
from opinara.ingest.runner import Ingester
from opinara.insights.anomalies import InsightService
from opinara.insights.dips import detect_sentiment_dips
from opinara.monitors.webhooks import SIGNATURE_HEADER, verify
from opinara.signals.points import Sample, SeriesKey
from opinara.signals.service import SeriesService
from opinara.store.models import Delivery, DeliveryAttempt
from tests.alerts.receiver import Reply
from tests.insights.test_dips import START, week_rows
from tests.store.conftest import make_store

SECRET = "whsec-0123456789abcdef"


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request, tmp_path):
    settings = Settings(
        data_dir=tmp_path, monitor_allowed_networks=["127.0.0.1/32"], alert_delivery_backoff_seconds=1.0
    )
    for store in make_store(request.param, tmp_path):
        alerts = AlertService(settings, store)
        alerts.install_defaults()
        yield settings, store, alerts


def webhook(alerts, receiver, **changes):
    spec = {
        "name": "oncall",
        "kind": "webhook",
        "config": {"url": receiver.url + "/hook"},
        "secrets": {"secret": SECRET},
    }
    return alerts.create_channel(ChannelSpec(**{**spec, **changes}))


def delivered(receiver) -> list[dict]:
    out = []
    for request in receiver.requests:
        verify(
            SECRET.encode(), request.headers[SIGNATURE_HEADER.lower()], request.body, datetime.now(UTC).timestamp(), 300
        )
        out += request.json()["notifications"]
    return out


def test_tripled_battery_complaints_notify_the_webhook_once(platform, lexicon_analyzer, receiver, tmp_path):
    settings, store, alerts = platform
    lines = ["product_id,rating,date,text"]
    for week in range(9):
        lines += week_rows("aurora-x2", week, 24 if week == 8 else 8, reviews=200)
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    Ingester(store, lexicon_analyzer).ingest(path)
    webhook(alerts, receiver)
    insights = InsightService(settings, store)
    evaluator, outbox = AlertEvaluator(settings, store), Outbox(settings, store)
    now = datetime.combine(START + timedelta(days=62), datetime.min.time(), UTC)

    assert detect_sentiment_dips(store, insights, now, weeks=8).created == 1
    for minute in range(5):  # evaluations every minute while the dip lasts
        evaluator.evaluate(now + timedelta(minutes=minute))
        outbox.deliver_due("w1", now + timedelta(minutes=minute))
    [note] = delivered(receiver)
    assert note["status"] == "firing" and note["labels"]["aspect"] == "battery"
    assert note["message"].startswith("Complaints about battery on aurora-x2 rose from 4% to 12%")
    assert len(note["evidence"]["examples"]) == 5 and note["evidence"]["figures"]["negative"] == 24
    assert [a.rule for a in alerts.alerts() if a.state == "firing"] == ["insights"]

    later = now + timedelta(days=14)
    assert detect_sentiment_dips(store, insights, later, weeks=8).resolved == 1
    evaluator.evaluate(later)
    outbox.deliver_due("w1", later)
    assert [n["status"] for n in delivered(receiver)] == ["firing", "resolved"]
    history = alerts.history("insights", None, 10).events
    assert [e.event for e in history] == ["resolved", "fired"]


def test_a_channel_that_is_down_is_retried_until_it_comes_back(platform, receiver):
    settings, store, alerts = platform
    webhook(alerts, receiver)
    series = SeriesService(settings, store)
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    series.write([Sample(SeriesKey.of("queue_depth", {"queue": "default"}), t0, 250.0)])
    receiver.answer(Reply(503, b"busy"), Reply(503, b"busy"), Reply(200, b"ok"))
    evaluator, outbox = AlertEvaluator(settings, store), Outbox(settings, store)
    report = evaluator.evaluate(t0 + timedelta(seconds=5))
    assert report.notifications == 1
    results = [outbox.deliver_due("w1", t0 + timedelta(seconds=5 + 60 * i)) for i in range(4)]
    assert [(r.sent, r.retrying) for r in results] == [(0, 1), (0, 1), (1, 0), (0, 0)]
    with store.session() as session:
        delivery = session.query(Delivery).one()
        attempts = session.query(DeliveryAttempt).filter(DeliveryAttempt.delivery_id == delivery.id).count()
    assert (delivery.status, delivery.attempts, attempts) == ("sent", 3, 3)
    assert "503" in (delivery.last_error or "503") and len(receiver.requests) == 3


def test_a_silence_stops_notifications_but_not_evaluation(platform, receiver):
    settings, store, alerts = platform
    webhook(alerts, receiver)
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    alerts.create_silence(
        SilenceSpec(matchers=['alertname="queue-depth"'], starts_at=t0, duration_seconds=3600), "oncall", t0
    )
    SeriesService(settings, store).write([Sample(SeriesKey.of("queue_depth", {"queue": "bulk"}), t0, 500.0)])
    report = AlertEvaluator(settings, store).evaluate(t0 + timedelta(seconds=5))
    assert (report.events, report.silenced, report.notifications) == (1, 1, 0)
    Outbox(settings, store).deliver_due("w1", t0 + timedelta(seconds=5))
    assert receiver.requests == [] and [a.state for a in alerts.alerts() if a.rule == "queue-depth"] == ["firing"]
    assert alerts.history("queue-depth", None, 5).events[0].silenced_by is not None


def test_a_host_that_stops_reporting_goes_to_no_data(platform, receiver):
    settings, store, alerts = platform
    webhook(alerts, receiver)
    series = SeriesService(settings, store)
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    key = SeriesKey.of("host_cpu_usage", {"host": "web-1"})
    series.write([Sample(key, t0 + timedelta(minutes=m), 40.0) for m in range(10)])
    evaluator, outbox = AlertEvaluator(settings, store), Outbox(settings, store)
    evaluator.evaluate(t0 + timedelta(minutes=10))
    assert not [a for a in alerts.alerts() if a.rule == "host-stopped-reporting"]
    evaluator.evaluate(t0 + timedelta(minutes=30))
    outbox.deliver_due("w1", t0 + timedelta(minutes=30))
    [alert] = [a for a in alerts.alerts() if a.rule == "host-stopped-reporting"]
    assert (alert.state, alert.labels) == ("no_data", {"host": "web-1"})
    assert [n["title"] for n in delivered(receiver)] == ["host-stopped-reporting: no data"]


def test_one_evaluator_holds_the_lease(platform):
    _, store, _ = platform
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert take_lease(store, "alert-evaluator", "w1", 60, t0)
    assert not take_lease(store, "alert-evaluator", "w2", 60, t0 + timedelta(seconds=30))
    assert take_lease(store, "alert-evaluator", "w1", 60, t0 + timedelta(seconds=30)), "the holder renews"
    assert take_lease(store, "alert-evaluator", "w2", 60, t0 + timedelta(seconds=200)), "an expired lease is free"


def test_a_tick_writes_own_signals_and_only_the_lease_holder_evaluates(platform, caplog):
    settings, store, _ = platform
    caplog.set_level(logging.INFO, logger="opinara.alerts")  # as `opinara serve` logs: every line is formatted
    insights = InsightService(settings, store)
    first = AlertScheduler(settings, store, insights, "w1")
    second = AlertScheduler(settings, store, insights, "w2")
    t0 = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
    first.tick(t0)
    second.tick(t0 + timedelta(seconds=1))
    names = {s.name for s in SeriesService(settings, store).list_series(None, None, 100).series}
    assert "queue_depth" in names and "own_signals_daily_samples" in names
    data = SeriesService(settings, store).read(
        "queue_depth", {}, t0 - timedelta(minutes=5), t0 + timedelta(minutes=5), "raw"
    )
    assert [(p.at, p.value) for p in data.points] == [(t0.replace(second=0), 0.0)], "written once, by the lease holder"
    assert {r.getMessage() for r in caplog.records} >= {"insights judged"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "no part of a tick failed"


def test_a_channel_secret_may_live_in_the_environment(platform, receiver, monkeypatch):
    settings, store, alerts = platform
    monkeypatch.setenv("OPINARA_TEST_HOOK_SECRET", SECRET)
    channel = webhook(alerts, receiver, secrets={"secret": "env:OPINARA_TEST_HOOK_SECRET"})
    assert channel.secrets == {"secret": "env:OPINARA_TEST_HOOK_SECRET"}, "a reference is shown as it is"
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    SeriesService(settings, store).write([Sample(SeriesKey.of("queue_depth", {"queue": "env"}), t0, 300.0)])
    AlertEvaluator(settings, store).evaluate(t0 + timedelta(seconds=5))
    monkeypatch.delenv("OPINARA_TEST_HOOK_SECRET")
    missing = Outbox(settings, store).deliver_due("w1", t0 + timedelta(seconds=5))
    assert missing.retrying == 1 and receiver.requests == [], "an unreadable secret is retried, never sent empty"
    monkeypatch.setenv("OPINARA_TEST_HOOK_SECRET", SECRET)
    assert Outbox(settings, store).deliver_due("w1", t0 + timedelta(minutes=5)).sent == 1
    assert [n["labels"]["queue"] for n in delivered(receiver)] == ["env"]


def test_alerts_that_fire_together_arrive_as_one_group(platform, receiver):
    settings, store, alerts = platform
    webhook(alerts, receiver)
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    SeriesService(settings, store).write(
        [Sample(SeriesKey.of("queue_depth", {"queue": q}), t0, 500.0) for q in ("bulk", "default", "mail")]
    )
    report = AlertEvaluator(settings, store).evaluate(t0 + timedelta(seconds=5))
    assert report.notifications == 3
    assert Outbox(settings, store).deliver_due("w1", t0 + timedelta(seconds=5)).sent == 3
    assert len(receiver.requests) == 1, "one message for the three"
    assert sorted(n["labels"]["queue"] for n in delivered(receiver)) == ["bulk", "default", "mail"]
