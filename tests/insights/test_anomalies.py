"""Insights on SQLite and PostgreSQL: one open insight per type and entity (even when evaluators race),
refreshed while it lasts, resolved when its condition ends or by hand, then cooling down; filters."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from opinara.config import Settings
from opinara.errors import NotFoundError
from opinara.insights.anomalies import InsightCandidate, InsightService

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def candidate(aspect: str = "battery", severity: str = "warning", score: float = 0.7, **changes) -> InsightCandidate:
    values = {
        "type": "sentiment_dip",
        "severity": severity,
        "entity_kind": "product_aspect",
        "entity": {"product": 7, "aspect": aspect, "product_name": "Aurora X2 Earbuds"},
        "message": f"Complaints about {aspect} rose.",
        "evidence": {"figures": {"negative": 38}},
        "detector": "detector.proportion.v1",
        "score": score,
    }
    return InsightCandidate(**{**values, **changes})


@pytest.fixture
def service(store, tmp_path):
    return InsightService(Settings(data_dir=tmp_path, insight_cooldown_seconds=3600), store)


def test_an_open_insight_is_refreshed_not_repeated(service):
    first = service.raise_insight(candidate(), T0)
    again = service.raise_insight(candidate(severity="critical", score=0.95), T0 + timedelta(hours=1))
    assert first.created and not again.created and again.insight.id == first.insight.id
    stored = service.get(first.insight.id)
    assert (stored.severity, stored.score, stored.first_seen, stored.last_seen) == (
        "critical",
        0.95,
        T0,
        T0 + timedelta(hours=1),
    )
    other = service.raise_insight(candidate("sound"), T0)
    assert other.created and other.insight.id != first.insight.id
    named_differently = candidate(entity={"product": 7, "aspect": "battery", "product_name": "Renamed"})
    assert not service.raise_insight(named_differently, T0).created, "a display name is not part of the entity"


def test_racing_evaluators_open_one_insight(service):
    results = []
    barrier = threading.Barrier(6)

    def raise_it():
        barrier.wait()
        results.append(service.raise_insight(candidate(), T0))

    threads = [threading.Thread(target=raise_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.created for r in results) == 1 and len({r.insight.id for r in results}) == 1
    assert len(service.list().insights) == 1


def test_an_ended_condition_resolves_and_the_entity_cools_down(service):
    battery = service.raise_insight(candidate(), T0).insight
    sound = service.raise_insight(candidate("sound"), T0).insight
    resolved = service.resolve_ended("detector.proportion.v1", ["sentiment_dip"], {candidate("sound").entity_key()}, T0)
    assert resolved == 1 and service.get(battery.id).resolved_by == "condition ended"
    assert service.get(sound.id).status == "open"
    assert service.raise_insight(candidate(), T0 + timedelta(minutes=30)) is None, "within the cooldown"
    reopened = service.raise_insight(candidate(), T0 + timedelta(hours=2))
    assert reopened.created and reopened.insight.id != battery.id


def test_acknowledge_and_resolve_by_hand(service):
    insight = service.raise_insight(candidate(), T0).insight
    acked = service.acknowledge(insight.id, "oncall", T0 + timedelta(minutes=5))
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "oncall")
    assert not service.raise_insight(candidate(), T0 + timedelta(minutes=10)).created, "acknowledged is still open"
    done = service.resolve(insight.id, "oncall", T0 + timedelta(minutes=20))
    assert (done.status, done.resolved_by) == ("resolved", "oncall")
    assert service.acknowledge(insight.id, "late", T0 + timedelta(minutes=30)).status == "resolved"
    with pytest.raises(NotFoundError):
        service.get(999_999)


def test_filters_and_paging(service):
    service.raise_insight(candidate("battery", "info"), T0)
    service.raise_insight(candidate("sound", "warning"), T0)
    service.raise_insight(candidate("case", "critical"), T0)
    assert [i.entity["aspect"] for i in service.list(severity="warning").insights] == ["case", "sound"]
    first = service.list(limit=2)
    rest = service.list(cursor=first.next_cursor, limit=2)
    assert len(first.insights) == 2 and [i.entity["aspect"] for i in rest.insights] == ["battery"]
    assert rest.next_cursor is None and service.list(type="volume_spike").insights == []
