"""The Alerts page, run headless by AppTest against a real API with the shipped rules installed: a queue
over its limit fires ``queue-depth`` (one queue's label full of Markdown, one queue under a silence),
a disabled webhook channel with a secret, and a rule of its own with enough history for two pages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from opinara.alerts.evaluate import AlertEvaluator
from opinara.alerts.rules import RuleSpec
from opinara.alerts.service import AlertService, ChannelSpec, RuleChanges, SilenceSpec
from opinara.signals.points import Sample, SeriesKey
from opinara.store.models import AlertEvent
from tests.dashboard.pages import captions, run

QUEUE = "dashboard-test"
MARKED_QUEUE = "*jobs* $5 <b>x</b> [y](javascript:alert(1))"  # a label value full of Markdown and HTML
QUIET_QUEUE = "silenced-test"  # fires under a silence: recorded, not notified
SECRET = "whsec-dashboard-0123456789abcdef"
PAGING_RULE = "dashboard-paging"
PAGING_EVENTS = 30


def _shown(markdown: str) -> str:
    """What a markdown element reads as in the browser: tags dropped, character references decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markdown))


def _markdown(app) -> list[str]:
    return [m.value for m in app.markdown]


def _buttons(app) -> dict[str, object]:
    return {b.label: b for b in app.button}


def _table(app, column: str) -> list[dict]:
    frame = next(f.value for f in app.dataframe if column in f.value.columns)
    return frame.to_dict("records")


def _fire(api) -> None:
    """A fresh queue depth of 250 on each test queue, and an evaluation: queue-depth fires (or keeps firing)."""
    platform = api.platform
    now = datetime.now(UTC)
    platform.series.write(
        [Sample(SeriesKey.of("queue_depth", {"queue": q}), now, 250.0) for q in (QUEUE, MARKED_QUEUE, QUIET_QUEUE)]
    )
    AlertEvaluator(platform.settings, platform.store).evaluate(now + timedelta(seconds=1))


@pytest.fixture(scope="module")
def alerting(demo_api):
    platform = demo_api.platform
    service = AlertService(platform.settings, platform.store)
    service.install_defaults()
    quiet = service.create_silence(
        SilenceSpec(matchers=[f'queue="{QUIET_QUEUE}"'], duration_seconds=3600, comment="known noisy"), "oncall"
    )
    channel = service.create_channel(
        ChannelSpec(
            name="dashboard-hook",
            kind="webhook",
            config={"url": "https://hooks.example/alerts"},
            secrets={"secret": SECRET},
            min_severity="critical",
            matchers=['team="payments"'],
            enabled=False,  # never sends: no network in tests
        )
    )
    paging = service.create_rule(
        RuleSpec(
            kind="series",
            name=PAGING_RULE,
            enabled=False,
            series="dashboard_paging_series",
            aggregation="avg",
            window_seconds=60,
            op=">",
            threshold=1,
        )
    )
    start = datetime.now(UTC) - timedelta(days=2)
    with platform.store.session() as session:
        session.add_all(
            AlertEvent(
                rule_id=paging.id,
                subject=f"n={n}",
                event="fired" if n % 2 == 0 else "resolved",
                severity="warning",
                labels={"alertname": PAGING_RULE, "n": str(n)},
                message=f"event {n}",
                value=float(n),
                silenced_by=None,
                at=start + timedelta(minutes=n),
            )
            for n in range(PAGING_EVENTS)
        )
    _fire(demo_api)
    yield {"silence": quiet, "channel": channel}
    service.delete_channel(channel.name)
    service.delete_rule(PAGING_RULE)
    for silence in service.silences():
        if silence.active:
            service.expire_silence(silence.id)


def test_firing_alerts_are_listed_first_with_state_value_and_labels(dashboard_env, alerting):
    _fire(dashboard_env)
    app = run("alerts")
    assert not app.error
    markdown = _markdown(app)
    header = next(m for m in markdown if f"queue={QUEUE}" in _shown(m) and "**queue&#45;depth**" in m)
    assert header.startswith(":red-badge[firing] :orange-badge[warning]")
    assert f"Queue queue={QUEUE} holds 250 items (over 100)" in {_shown(m) for m in markdown}
    shown = html.unescape(captions(app))
    assert "value 250" in shown and f"labels queue={QUEUE}" in shown
    # Firing first: the page's first alert card is a firing one.
    first = next(m for m in markdown if m.startswith(":") and "-badge[" in m)
    assert first.startswith(":red-badge[firing]")


def test_labels_and_messages_go_to_markdown_escaped(dashboard_env, alerting):
    _fire(dashboard_env)
    app = run("alerts")
    markdown = _markdown(app)
    header = next(m for m in markdown if "jobs" in m and m.startswith(":red-badge"))
    assert "<b>" not in header and "*jobs*" not in header and "](" not in header and "$5" not in header
    assert _shown(header).endswith(f"queue-depth** · queue={MARKED_QUEUE}")
    summary = next(m for m in markdown if _shown(m).startswith(f"Queue queue={MARKED_QUEUE}"))
    assert "<b>" not in summary and "&#36;5" in summary
    caption = next(c.value for c in app.caption if "labels queue=" in html.unescape(c.value) and "jobs" in c.value)
    assert "<b>" not in caption and "*jobs*" not in caption


def test_rules_show_their_condition_in_words_and_which_are_shipped(dashboard_env, alerting):
    app = run("alerts")
    markdown = [_shown(m) for m in _markdown(app)]
    queue = next(m for m in markdown if "the latest point of queue_depth over 2 min is over 100" in m)
    assert ":blue-badge[shipped]" in queue and ":orange-badge[warning]" in queue
    assert "(keeps firing 1 min after it stops holding)" in queue
    cost = next(m for m in markdown if "cost_daily over 1 day divided by its average over the 7 days before" in m)
    assert "is over 1.5" in cost
    assert any("no point of host_cpu_usage for 5 min" in m for m in markdown)
    assert any("an open insight of type any, warning or worse" in m for m in markdown)
    assert any(":gray-badge[made here]" in m and "dashboard_paging_series" in m for m in markdown)
    toggles = {t.label: t.value for t in app.toggle}
    assert toggles["queue-depth"] is True and toggles[PAGING_RULE] is False
    assert any(":red-badge[" in m and "firing]" in m for m in markdown)


def test_a_rule_is_disabled_and_enabled_from_the_page(dashboard_env, alerting):
    service = dashboard_env.platform.alerts
    try:
        app = run("alerts")
        next(t for t in app.toggle if t.label == "cost-over-baseline").set_value(False).run()
        assert not app.exception and [s.value for s in app.success] == ["Rule cost-over-baseline: disabled."]
        rule = next(r for r in service.rules() if r.name == "cost-over-baseline")
        assert rule.enabled is False
        assert next(t for t in app.toggle if t.label == "cost-over-baseline").value is False
        next(t for t in app.toggle if t.label == "cost-over-baseline").set_value(True).run()
        assert next(r for r in service.rules() if r.name == "cost-over-baseline").enabled is True
    finally:
        service.update_rule("cost-over-baseline", RuleChanges(enabled=True))


def test_a_silence_is_added_from_a_firing_alert_and_ended_from_the_page(dashboard_env, alerting):
    _fire(dashboard_env)
    service = dashboard_env.platform.alerts
    before = {s.id for s in service.silences()}
    app = run("alerts")
    app.button(key=f"silence_like_queue-depth_queue={QUEUE}").click().run()
    assert app.text_area(key="silence_matchers").value == f'alertname="queue-depth"\nqueue="{QUEUE}"'
    app.selectbox(key="silence_duration").set_value("4 hours")
    app.text_input(key="silence_comment").input("draining the queue")
    _buttons(app)["Add silence"].click().run()
    assert not app.exception
    [made] = [s for s in service.silences() if s.id not in before]
    assert made.matchers == ['alertname="queue-depth"', f'queue="{QUEUE}"'] and made.active
    assert made.comment == "draining the queue" and made.created_by == "demo-dashboard"
    assert abs((made.ends_at - made.starts_at).total_seconds() - 4 * 3600) < 1
    assert any(s.value.startswith(f"Silence #{made.id} added, until") for s in app.success)
    assert app.text_area(key="silence_matchers").value == "", "the form is emptied once the silence is made"
    assert any(f"**#{made.id}**" in m and ":orange-badge[active]" in m for m in _markdown(app))

    app.button(key=f"end_silence_{made.id}").click().run()
    assert not app.exception and [s.value for s in app.success] == [f"Silence #{made.id} ended."]
    assert not next(s for s in service.silences() if s.id == made.id).active
    assert f"end_silence_{made.id}" not in {b.key for b in app.button}
    ended = _table(app, "matchers")
    assert any(r["#"] == made.id and r["comment"] == "draining the queue" for r in ended)


def test_a_bad_matcher_is_the_apis_message_not_a_traceback(dashboard_env, alerting):
    app = run("alerts")
    app.text_area(key="silence_matchers").input("not a matcher")
    _buttons(app)["Add silence"].click().run()
    assert not app.exception
    assert any("matcher" in e.value for e in app.error)


def test_the_history_lists_the_transition_newest_first_and_marks_silenced_events(dashboard_env, alerting):
    app = run("alerts")
    rows = _table(app, "silenced")
    fired = [r for r in rows if r["rule"] == "queue-depth" and r["subject"] == f"queue={QUEUE}"]
    assert fired and fired[-1]["event"] == "🔴 fired" and fired[-1]["value"] == "250"
    assert fired[-1]["silenced"] == ""
    quiet = next(r for r in rows if r["subject"] == f"queue={QUIET_QUEUE}" and r["event"] == "🔴 fired")
    assert quiet["silenced"] == f"🔕 by silence #{alerting['silence'].id}"
    assert "silenced here: recorded, not notified" in captions(app)
    times = [r["at"] for r in rows]
    assert times == sorted(times, reverse=True)


def test_the_history_of_one_rule_pages_older_and_newer(dashboard_env, alerting):
    app = run("alerts")
    app.selectbox(key="alert_history_rule").set_value(PAGING_RULE).run()
    first = _table(app, "silenced")
    assert [r["message"] for r in first] == [f"event {n}" for n in range(PAGING_EVENTS - 1, PAGING_EVENTS - 26, -1)]
    assert _buttons(app)["← Newer"].disabled and not _buttons(app)["Older →"].disabled
    _buttons(app)["Older →"].click().run()
    second = _table(app, "silenced")
    assert [r["message"] for r in second] == [f"event {n}" for n in range(4, -1, -1)]
    assert "Page 2 · newest first" in captions(app) and _buttons(app)["Older →"].disabled
    _buttons(app)["← Newer"].click().run()
    assert _table(app, "silenced") == first


def test_channels_are_listed_with_their_secrets_masked(dashboard_env, alerting):
    app = run("alerts")
    [row] = [r for r in _table(app, "secrets") if r["name"] == "dashboard-hook"]
    assert (row["kind"], row["min severity"], row["matchers"]) == ("webhook", "critical", 'team="payments"')
    assert row["secrets"] == "secret: ****" and row["enabled"] is False
    everything = [*_markdown(app), captions(app), *(str(f.value.to_dict()) for f in app.dataframe)]
    assert not any(SECRET in text for text in everything)


def test_a_key_without_the_alerts_scope_sees_no_buttons_and_a_note(dashboard_env, alerting, monkeypatch):
    _fire(dashboard_env)
    monkeypatch.setenv("OPINARA_API_KEY", dashboard_env.key("alerts-reader", "analyze,read"))
    app = run("alerts")
    assert not app.exception and not app.error
    assert not app.toggle and not [t for t in app.text_area]
    labels = {b.label for b in app.button}
    assert not {"Silence…", "End now", "Add silence"} & labels
    assert "`alerts` scope" in captions(app) and "opinara keys create" in captions(app)
    assert "listed to a key with the `alerts` scope only" in captions(app)
    markdown = _markdown(app)
    assert any(m.startswith(":red-badge[firing]") and f"queue={QUEUE}" in _shown(m) for m in markdown)
    assert any("**queue&#45;depth** :green-badge[enabled]" in m for m in markdown)
    assert any(f"**#{alerting['silence'].id}**" in m for m in markdown), "silences are still listed"


def test_a_disabled_rule_resolves_its_alerts_and_the_history_says_so(dashboard_env, alerting):
    """Disabled, queue-depth resolves its alerts on the next evaluation; the page shows none of them firing."""
    platform = dashboard_env.platform
    service = platform.alerts
    try:
        service.update_rule("queue-depth", RuleChanges(enabled=False))
        AlertEvaluator(platform.settings, platform.store).evaluate(datetime.now(UTC))
        app = run("alerts")
        assert not app.exception
        assert not any("**queue&#45;depth**" in m and "firing" in m for m in _markdown(app))
        rows = _table(app, "silenced")
        assert any(r["subject"] == f"queue={QUEUE}" and r["event"] == "🟢 resolved" for r in rows)
    finally:
        service.update_rule("queue-depth", RuleChanges(enabled=True))
