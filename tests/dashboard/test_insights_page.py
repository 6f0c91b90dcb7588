"""The Insights page, run headless by AppTest against a real API with the demo reviews, the demo hosts'
metrics and insights (opinara.demo.seed.seed_signals), and insights raised here for one test each."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete

from opinara.demo.seed import SPIKE_HOST, seed_signals
from opinara.insights.anomalies import InsightCandidate
from opinara.store.models import Insight
from tests.dashboard.conftest import ACME_FIRST, ACME_SECOND
from tests.dashboard.pages import captions, run


def _shown(markdown: str) -> str:
    """What a markdown element reads as in the browser: tags dropped, character references decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markdown))


def _markdown(app) -> list[str]:
    return [m.value for m in app.markdown]


def _button(app, label: str):
    return next(b for b in app.button if b.label == label)


def _table(app, column: str):
    frame = next(f.value for f in app.dataframe if column in f.value.columns)
    return frame.to_dict("records")


@pytest.fixture(scope="module")
def seeded(demo_api):
    """The demo's host metrics and insights: the sentiment dip and the CPU spike's metric anomaly."""
    platform = demo_api.platform
    seed_signals(platform.store, platform.series, platform.insights)
    insights = platform.insights.list().insights
    return {i.type: i for i in insights if i.type in ("sentiment_dip", "metric_anomaly")}


@pytest.fixture
def raised(dashboard_env):
    """Raise insights for one test; they are deleted after it."""
    made: list[int] = []

    def raise_one(candidate: InsightCandidate) -> int:
        found = dashboard_env.platform.insights.raise_insight(candidate)
        assert found is not None and found.created
        made.append(found.insight.id)
        return found.insight.id

    yield raise_one
    with dashboard_env.platform.store.session() as session:
        session.execute(delete(Insight).where(Insight.id.in_(made)))


def _candidate(**fields) -> InsightCandidate:
    return InsightCandidate(
        **{
            "type": "volume_spike",
            "severity": "warning",
            "entity_kind": "tag",
            "entity": {"tag": "buttons"},
            "message": "Mentions of buttons tripled today",
            "evidence": {"figures": {"mentions": 30, "expected": 10}, "detector": "test", "examples": []},
            "detector": "test",
            "score": 0.7,
            **fields,
        }
    )


def test_seeding_the_demo_signals_again_adds_nothing(demo_api, seeded):
    platform = demo_api.platform
    before = platform.insights.list(limit=500).insights
    again = seed_signals(platform.store, platform.series, platform.insights)
    assert (again.points, again.insights) == (0, 0)
    assert [i.id for i in platform.insights.list(limit=500).insights] == [i.id for i in before]
    assert set(seeded) == {"sentiment_dip", "metric_anomaly"}


def test_the_feed_lists_each_insight_with_its_severity_status_and_message(dashboard_env, seeded):
    app = run("insights")
    assert not app.error
    cards = _markdown(app)
    for insight in seeded.values():
        header = next(c for c in cards if f"**#{insight.id}**" in c)
        assert f"-badge[{insight.severity}]" in header and f"-badge[{insight.status}]" in header
        assert any(_shown(c) == insight.message for c in cards), insight.message
    dip, spike = seeded["sentiment_dip"], seeded["metric_anomaly"]
    assert (dip.severity, spike.severity) == ("warning", "critical")
    shown = html.unescape(captions(app))
    assert f"host {SPIKE_HOST} · first seen" in shown and "latency · Aurora X2" in shown


def test_the_feed_filters_by_severity_and_type_and_says_when_nothing_matches(dashboard_env, seeded):
    app = run("insights")
    app.selectbox(key="insight_severity").set_value("critical").run()
    headers = [m for m in _markdown(app) if m.startswith(":")]
    assert headers and all("-badge[critical]" in h for h in headers)
    assert any(f"**#{seeded['metric_anomaly'].id}**" in h for h in headers)
    app.selectbox(key="insight_type").set_value("no_data").run()
    assert not app.exception and [i.value for i in app.info] == ["No insights match these filters."]


def test_a_dips_evidence_shows_its_figures_charts_and_example_reviews(dashboard_env, demo_key, seeded):
    dip = seeded["sentiment_dip"]
    app = run("insights", query={"insight": str(dip.id)})
    assert not app.exception and not app.error
    figures = {r["figure"]: r["value"] for r in _table(app, "figure")}
    assert figures["negative"] == str(dip.evidence["figures"]["negative"])
    assert {"reviews", "share", "baseline_share", "ratio", "p_value"} <= set(figures)
    window = dip.evidence["window"]
    assert f"window {window['start']} to {window['end']}" in html.unescape(captions(app))
    specs = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert len(specs) == 2  # the shares, and the aspect per week with the window shaded
    bars = specs[0]["data"][0]
    assert bars["y"] == [dip.evidence["figures"]["baseline_share"], dip.evidence["figures"]["share"]]
    assert any(s.get("type") == "rect" for s in specs[1]["layout"].get("shapes", []))
    examples = dip.evidence["examples"]
    assert examples
    with dashboard_env.client(demo_key) as http:
        texts = set()
        for review_id in examples:
            page = http.get("/v1/reviews", params={"cursor": review_id + 1, "limit": 1}).json()
            texts |= {r["text"] for r in page["reviews"] if r["id"] == review_id}
    shown = {_shown(m) for m in _markdown(app)}  # a line break is shown as <br>, a tag
    assert texts and {t.replace("\n", "") for t in texts} <= shown
    assert any(f"#{review_id}" in m for m in _markdown(app) for review_id in examples)


def test_a_host_anomalys_evidence_draws_its_series_with_the_insight_marked(dashboard_env, seeded):
    spike = seeded["metric_anomaly"]
    app = run("insights", query={"insight": str(spike.id)})
    assert not app.exception and not app.error
    [spec] = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert any(len(trace.get("x", [])) > 60 for trace in spec["data"]), "the points around the window"
    lines = [s for s in spec["layout"]["shapes"] if s["type"] == "line"]
    assert len(lines) == 1
    assert datetime.fromisoformat(lines[0]["x0"]).replace(tzinfo=UTC) == spike.first_seen
    figures = {r["figure"] for r in _table(app, "figure")}
    assert {"value", "expected"} <= figures


def test_example_mentions_are_shown_escaped(dashboard_env, demo_key, raised):
    """Mention text goes to Markdown escaped: a $ is a dollar, *premium* no emphasis."""
    with dashboard_env.client(demo_key) as http:
        mentions = http.get("/v1/mentions", params={"monitor": "acme-support", "limit": 50}).json()["mentions"]
    ids = [m["id"] for m in mentions if "premium" in m["text"] or "checkout" in m["text"]]
    assert len(ids) == 2
    insight_id = raised(
        _candidate(
            entity_kind="monitor",
            entity={"monitor": "acme-support"},
            message="Complaints on acme-support: **$20** <b>late</b> [x](javascript:alert(1))",
            evidence={"figures": {"mentions": 7}, "detector": "test", "examples": [*ids, 999_999]},
        )
    )
    app = run("insights", query={"insight": str(insight_id)})
    assert not app.exception and not app.error
    markdown = _markdown(app)
    message = next(m for m in markdown if "acme-support:" in html.unescape(m) and "late" in m)
    assert "<b>" not in message and "**$" not in message and "](" not in message
    assert _shown(message) == "Complaints on acme-support: **$20** <b>late</b> [x](javascript:alert(1))"
    expected = {text for _, text, _ in ACME_FIRST + ACME_SECOND if "premium" in text or "checkout" in text}
    assert expected <= {_shown(m) for m in markdown}
    premium = next(m for m in markdown if "premium" in m)
    assert "&#36;20" in premium and "*premium*" not in premium
    assert "1 more example(s) named, no longer stored." in captions(app)


def test_acknowledge_and_resolve_change_the_insight_through_the_api(dashboard_env, raised):
    insight_id = raised(_candidate())
    service = dashboard_env.platform.insights
    app = run("insights", query={"insight": str(insight_id)})
    assert not _button(app, "Acknowledge").disabled and not _button(app, "Resolve").disabled
    _button(app, "Acknowledge").click().run()
    assert not app.exception and [s.value for s in app.success] == [f"Insight #{insight_id}: acknowledged."]
    found = service.get(insight_id)
    assert found.status == "acknowledged" and found.acknowledged_by == "demo-dashboard"
    assert _button(app, "Acknowledge").disabled, "the page shows the insight as it now is"
    _button(app, "Resolve").click().run()
    found = service.get(insight_id)
    assert found.status == "resolved" and found.resolved_by == "demo-dashboard"
    assert _button(app, "Resolve").disabled and "resolved " in captions(app)


def test_a_key_without_the_alerts_scope_sees_no_buttons_and_a_note(dashboard_env, monkeypatch, raised):
    insight_id = raised(_candidate())
    monkeypatch.setenv("OPINARA_API_KEY", dashboard_env.key("no-alerts-scope", "analyze,read"))
    app = run("insights", query={"insight": str(insight_id)})
    assert not app.exception and not app.error
    labels = {b.label for b in app.button}
    assert "Acknowledge" not in labels and "Resolve" not in labels
    assert "`alerts` scope" in captions(app) and "opinara keys create" in captions(app)
    assert dashboard_env.platform.insights.get(insight_id).status == "open"


def test_choosing_an_insight_in_the_feed_shows_its_evidence(dashboard_env, seeded):
    app = run("insights")
    spike = seeded["metric_anomaly"]
    app.button(key=f"show_{spike.id}").click().run()
    assert not app.exception
    assert str(spike.id) in str(app.query_params["insight"])
    assert any(h.value == f"#{spike.id} metric anomaly" for h in app.subheader)


def test_an_insight_that_is_gone_is_a_warning_not_an_error(dashboard_env, seeded):
    app = run("insights", query={"insight": "987654"})
    assert not app.exception and not app.error
    assert any("987654" in w.value for w in app.warning)
