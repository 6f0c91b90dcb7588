"""The Monitors page, run headless by AppTest against a real API whose monitors never fetch: mentions
reach it only through signed webhook deliveries (tests/dashboard/conftest.py)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from opinara.monitors.models import MonitorSpec
from tests.dashboard.conftest import ACME_FIRST, ACME_SECOND, PAUSED_REASON, RIVAL_FIRST
from tests.dashboard.pages import captions, metrics, run


def _table(app, column: str):
    """The first dataframe on the page with ``column``, as records."""
    frame = next(f.value for f in app.dataframe if column in f.value.columns)
    return frame.to_dict("records")


def _button(app, label: str):
    return next(b for b in app.button if b.label == label)


def _shown_text(markdown: str) -> str:
    """What a highlighted mention reads as in the browser: tags dropped, character references decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markdown))


@pytest.fixture
def buttons_monitor(dashboard_env):
    """An active Hacker News monitor of its own (pointing at a closed port; nothing runs it), removed after."""
    service = dashboard_env.platform.monitors
    service.create(
        MonitorSpec(name="hn-buttons", connector="hackernews", params={"query": "x", "base_url": "http://127.0.0.1:9"})
    )
    yield service
    service.remove("hn-buttons")


def test_the_page_lists_every_monitor_with_its_state_connector_schedule_and_tags(dashboard_env):
    app = run("monitors")
    rows = {r["monitor"]: r for r in _table(app, "failures")}
    assert {"acme-support", "rival-support", "hn-acme", "acme-blog"} <= set(rows)
    assert rows["acme-support"]["state"] == "active" and rows["acme-support"]["connector"] == "webhook"
    assert rows["acme-support"]["next run"] == "when pushed"
    assert rows["acme-support"]["last run (UTC)"].startswith("success · ")
    assert rows["hn-acme"]["state"] == f"paused: {PAUSED_REASON}" and rows["hn-acme"]["every"] == "1h"
    assert rows["hn-acme"]["tags"] == "acme, hn" and rows["hn-acme"]["last run (UTC)"] == "never"
    assert rows["hn-acme"]["next run"] == "— (paused)" and rows["hn-acme"]["failures"] == 0
    assert rows["acme-blog"]["every"] == "30m" and rows["acme-blog"]["next run"][:3].isalpha()
    assert not app.error


def test_a_paused_monitor_shows_its_reason_and_says_it_has_no_runs_or_mentions(dashboard_env):
    app = run("monitors", query={"monitor": "hn-acme"})
    assert metrics(app)["State"] == "paused"
    assert any(PAUSED_REASON in html.unescape(w.value) for w in app.warning)
    assert _button(app, "Run now").disabled, "a paused monitor is resumed before it runs"
    assert [b.label for b in app.button if b.label in ("Pause", "Resume")] == ["Resume"]
    notes = [i.value for i in app.info]
    assert any(n.startswith("No runs yet") for n in notes) and any(n.startswith("No mentions yet") for n in notes)


def test_the_webhook_monitors_run_history_shows_each_delivery_with_its_counts(dashboard_env):
    app = run("monitors", query={"monitor": "acme-support"})
    runs = _table(app, "duplicates")  # newest first: the resend, then the first delivery
    assert [(r["status"], r["fetched"], r["new"], r["duplicates"], r["rejected"]) for r in runs] == [
        ("success", 4, 1, 2, 1),
        ("success", 6, 6, 0, 0),
    ]
    assert all(r["HTTP calls"] == 0 for r in runs), "pushed, not fetched"
    assert re.search(r"last run: \S+ \S+ UTC \(success\)", html.unescape(captions(app)))


def test_the_mentions_show_the_pushed_texts_with_sentiment_links_and_highlighted_aspects(dashboard_env):
    app = run("monitors", query={"monitor": "acme-support"})
    headers = [html.unescape(m.value) for m in app.markdown if m.value.startswith("**webhook")]
    highlighted = [m.value for m in app.markdown if "<span" in m.value or not m.value.startswith(("**", "#"))]
    shown = {_shown_text(m) for m in highlighted}
    assert shown == {text for _, text, _ in ACME_FIRST + ACME_SECOND}
    assert any('title="battery' in m for m in highlighted), "aspects are highlighted as on the Reviews page"
    assert "&#36;20" in next(m for m in highlighted if "premium" in m), "a $ is shown as it is, not as a formula"
    assert len(headers) == len(shown)
    assert any("`positive`" in h for h in headers) and any("`negative`" in h for h in headers)
    assert all("[link](https://support.example/t/" in h and " by " in h for h in headers)
    assert not any("customer-a" in h for h in headers), "authors are shown by pseudonym only"


def test_the_trends_and_share_of_voice_show_every_tag(dashboard_env):
    app = run("monitors", query={"monitor": "acme-support"})
    voice = {r["tag"]: r for r in _table(app, "net sentiment")}
    assert set(voice) == {"acme", "hn", "rival"}
    assert (voice["acme"]["mentions"], voice["rival"]["mentions"], voice["hn"]["mentions"]) == (
        len(ACME_FIRST + ACME_SECOND),
        len(RIVAL_FIRST),
        0,
    )
    assert voice["acme"]["share"] == "70%" and voice["rival"]["share"] == "30%"
    assert -1 <= voice["acme"]["net sentiment"] <= 1
    assert [o for o in app.multiselect[0].value] == ["acme", "hn", "rival"]
    assert len(app.get("plotly_chart")) == 3  # share of voice, net sentiment per tag, the monitor's trends
    app.multiselect[0].unselect("acme").run()
    assert {r["tag"] for r in _table(app, "net sentiment")} == {"hn", "rival"}
    app.radio[0].set_value("month").run()
    assert not app.exception and not app.error


def test_pause_resume_and_run_now_change_the_monitor_through_the_api(monkeypatch, buttons_monitor, monitor_key):
    monkeypatch.setenv("OPINARA_API_KEY", monitor_key)
    app = run("monitors", query={"monitor": "hn-buttons"})
    app.text_input(key="pause_reason").input("vendor outage")
    _button(app, "Pause").click().run()
    assert not app.exception and [s.value for s in app.success] == ["hn-buttons: paused."]
    assert (buttons_monitor.get("hn-buttons").state, buttons_monitor.get("hn-buttons").paused_reason) == (
        "paused",
        "vendor outage",
    )
    assert any("vendor outage" in w.value for w in app.warning), "the page shows the monitor as it now is"

    _button(app, "Resume").click().run()
    assert buttons_monitor.get("hn-buttons").state == "active"
    assert metrics(app)["State"] == "active"

    before = datetime.now(UTC)
    _button(app, "Run now").click().run()
    assert not app.exception and "due now" in app.success[0].value
    assert buttons_monitor.get("hn-buttons").next_run_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert buttons_monitor.get("hn-buttons").next_run_at >= before - timedelta(seconds=1)


def test_a_key_without_the_monitor_scope_gets_a_note_instead_of_an_error(dashboard_env, monkeypatch):
    monkeypatch.setenv("OPINARA_API_KEY", dashboard_env.key("no-monitor-scope", "analyze,read"))
    app = run("monitors", query={"monitor": "acme-blog"})
    _button(app, "Pause").click().run()
    assert not app.exception and not app.error
    assert any("`monitor` scope" in i.value and "opinara keys create" in i.value for i in app.info)
    assert dashboard_env.platform.monitors.get("acme-blog").state == "active"


def test_no_monitors_yet_tells_how_to_add_one(monkeypatch, tmp_path):
    from opinara.config import Settings
    from tests.api.server import running_api

    settings = Settings(
        data_dir=tmp_path, backend="lexicon", aspect_extractor="rules", embedded_workers=0, monitor_threads=0
    )
    with running_api(settings, preload=False) as empty:
        monkeypatch.setenv("OPINARA_API_URL", empty.url)
        monkeypatch.setenv("OPINARA_API_KEY", empty.key("empty", "read"))
        app = run("monitors")
    [note] = [i.value for i in app.info]
    assert note.startswith("No monitors yet") and "opinara monitors add" in note
    assert not app.dataframe


def test_an_unreachable_api_is_a_readable_error(monkeypatch):
    monkeypatch.setenv("OPINARA_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("OPINARA_API_KEY", "opn_whatever")
    app = run("monitors")
    assert any("cannot reach the Opinara API" in e.value for e in app.error)


def test_with_a_password_the_page_asks_for_it_first_and_shows_no_monitor(monkeypatch, dashboard_env):
    monkeypatch.setenv("OPINARA_DASHBOARD_PASSWORD", "correct horse battery staple")
    app = run("monitors")
    assert [t.label for t in app.text_input] == ["Password"]
    assert not app.dataframe and not app.button[1:] and "acme-support" not in str(app.main)
