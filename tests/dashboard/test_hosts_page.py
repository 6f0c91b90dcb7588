"""The Hosts page, run headless by AppTest against a real API with the demo hosts' metrics and insights
(opinara.demo.seed.seed_signals): a day of one-minute samples of three hosts, a CPU spike on one."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta

import pytest

from opinara.demo.seed import DEMO_HOSTS, SPIKE_HOST, seed_signals
from opinara.signals.points import Sample, SeriesKey
from tests.dashboard.pages import captions, run

FOUR = "cpu_usage, disk_io, memory_usage, network_io"


def _table(app, column: str):
    frame = next(f.value for f in app.dataframe if column in f.value.columns)
    return frame.to_dict("records")


def _specs(app) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


@pytest.fixture(scope="module")
def spike(demo_api):
    """The demo signals, seeded once; the spike host's metric anomaly."""
    platform = demo_api.platform
    seed_signals(platform.store, platform.series, platform.insights)
    [found] = platform.insights.list(type="metric_anomaly", entity_kind="host").insights
    assert found.entity == {"host": SPIKE_HOST}
    return found


@pytest.fixture(scope="module")
def quiet_host(demo_api):
    """A host whose only points are three days old: nothing in the last 24 hours."""
    old = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=3)
    key = SeriesKey.of("host_cpu_usage", {"host": "old-1"})
    demo_api.platform.series.write([Sample(key, old + timedelta(minutes=i), 10.0 + i) for i in range(30)])
    return "old-1"


def test_the_page_lists_every_host_with_its_metrics_and_open_insights(dashboard_env, spike, quiet_host):
    app = run("hosts")
    assert not app.error
    rows = {r["host"]: r for r in _table(app, "open insights")}
    assert set(DEMO_HOSTS) | {quiet_host} <= set(rows)
    assert all(rows[host]["metrics"] == FOUR for host in DEMO_HOSTS)
    assert rows[quiet_host]["metrics"] == "cpu_usage"
    assert rows[SPIKE_HOST]["open insights"] == 1 and rows[SPIKE_HOST]["latest insight"] == spike.message
    assert rows["web-1"]["open insights"] == 0 and rows["web-1"]["latest insight"] == ""
    assert app.selectbox[0].value == SPIKE_HOST, "without a host in the link: the one with open insights"


def test_a_host_shows_its_four_series_with_its_insight_marked(dashboard_env, spike):
    app = run("hosts", query={"host": SPIKE_HOST})
    assert not app.exception and not app.error
    specs = _specs(app)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert sorted(t.split(" · ")[0] for t in titles) == ["CPU usage", "Disk I/O", "Memory usage", "Network I/O"]
    for spec in specs:
        values = spec["data"][-1]["y"]
        assert len(values) > 1000, "a day of one-minute buckets"
        [rule] = [s for s in spec["layout"]["shapes"] if s["type"] == "line"]
        assert datetime.fromisoformat(rule["x0"]).replace(tzinfo=UTC) == spike.first_seen
        assert [a["text"] for a in spec["layout"]["annotations"]] == [f"#{spike.id} metric_anomaly"]
    cpu = next(s for s in specs if s["layout"]["title"]["text"].startswith("CPU"))["data"][-1]["y"]
    assert max(cpu) > 85 > sorted(cpu)[len(cpu) // 2], "the spike stands out of the day"
    [insight] = _table(app, "first seen")
    assert (insight["#"], insight["severity"], insight["on the charts"]) == (spike.id, "critical", "yes")


def test_a_host_without_insights_has_no_marks(dashboard_env, spike):
    app = run("hosts", query={"host": "db-1"})
    assert not app.exception and len(_specs(app)) == 4
    assert all(not s["layout"].get("shapes") for s in _specs(app))
    assert "No insights about db&#45;1." in captions(app)


def test_a_host_with_no_points_in_the_range_has_an_explicit_empty_state(dashboard_env, quiet_host):
    app = run("hosts", query={"host": quiet_host})
    assert not app.exception and not app.error
    assert not app.get("plotly_chart")
    [note] = [html.unescape(i.value) for i in app.info]
    assert note.startswith(f"No points from {quiet_host} in the last 24 hours")
    assert "Memory usage, Disk I/O, Network I/O" in note and "Choose a longer range" in note
    app.radio(key="host_range").set_value("7 days").run()
    assert not app.exception and not app.info
    [spec] = _specs(app)
    assert len(spec["data"][-1]["y"]) == 30
    assert "not sent by this host: Memory usage, Disk I/O, Network I/O" in html.unescape(captions(app))


def test_with_no_data_the_pages_say_how_to_get_some(monkeypatch, tmp_path):
    from opinara.config import Settings
    from tests.api.server import running_api

    settings = Settings(
        data_dir=tmp_path, backend="lexicon", aspect_extractor="rules", embedded_workers=0, monitor_threads=0
    )
    with running_api(settings, preload=False) as empty:
        monkeypatch.setenv("OPINARA_API_URL", empty.url)
        monkeypatch.setenv("OPINARA_API_KEY", empty.key("empty", "read"))
        hosts = run("hosts")
        insights = run("insights")
    [note] = [i.value for i in hosts.info]
    assert note.startswith("No host metrics yet") and "/v1/metrics" in note and "`metrics` scope" in note
    assert not hosts.dataframe and not hosts.error
    [note] = [i.value for i in insights.info]
    assert note.startswith("No insights yet") and not insights.error
