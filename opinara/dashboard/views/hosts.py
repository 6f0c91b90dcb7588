"""Hosts: the hosts that send metrics, and one host's CPU, memory, disk and network over a chosen range,
with its insights marked where they were first seen."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import streamlit as st

from opinara.dashboard import charts
from opinara.dashboard.client import ApiError
from opinara.dashboard.common import api_errors, client
from opinara.dashboard.highlight import escape
from opinara.insights.anomalies import InsightInfo
from opinara.signals.service import SeriesData

# The IOps dashboard's metrics, as /v1/metrics stores a host sample's fields: series, title, axis.
METRICS = {
    "host_cpu_usage": ("CPU usage", "%"),
    "host_memory_usage": ("Memory usage", "%"),
    "host_disk_io": ("Disk I/O", "disk I/O"),
    "host_network_io": ("Network I/O", "network I/O"),
}
RANGES = {"6 hours": timedelta(hours=6), "24 hours": timedelta(days=1), "7 days": timedelta(days=7)}
RANGES["30 days"] = timedelta(days=30)
MAX_HOST_INSIGHTS = 500
SAMPLE = (
    '`{"timestamp": "2026-11-23T10:00:00Z", "hostname": "web-1", "cpuUsage": 75.5, "memoryUsage": 82.3, '
    '"diskIO": 200.5, "networkIO": 150.2}`'
)


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def read(name: str, host: str, start: datetime, end: datetime) -> SeriesData | None:
    """The host's series over the range; None when the host has no such series."""
    try:
        return client().series(name, {"host": host}, start, end)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


st.title("Hosts")
api = client()
with api_errors():
    listed = api.series_list(prefix="host_")
    host_insights = api.all_insights(MAX_HOST_INSIGHTS, entity_kind="host")
series_of: dict[str, set[str]] = defaultdict(set)
for info in listed:
    if "host" in info.labels:
        series_of[info.labels["host"]].add(info.name)
if not series_of:
    st.info(
        "No host metrics yet. Hosts POST samples such as "
        f"{SAMPLE} to /v1/metrics, with an API key that has the `metrics` scope "
        "(`opinara keys create --name agent --scopes metrics`)."
    )
    st.stop()
insights_of: dict[str, list[InsightInfo]] = defaultdict(list)
for insight in host_insights:
    insights_of[str(insight.entity.get("host"))].append(insight)

hosts = sorted(series_of)
st.dataframe(
    [
        {
            "host": host,
            "metrics": ", ".join(name.removeprefix("host_") for name in sorted(series_of[host])),
            "open insights": sum(1 for i in insights_of[host] if i.status != "resolved"),
            "latest insight": insights_of[host][0].message if insights_of[host] else "",
        }
        for host in hosts
    ],
    hide_index=True,
    column_config={"open insights": st.column_config.NumberColumn(help="Open or acknowledged")},
)

left, right = st.columns([1, 2], vertical_alignment="bottom")
wanted = st.query_params.get("host")
# Without a host in the link: the one with the most open insights, the first when none has any.
busiest = max(hosts, key=lambda h: (sum(1 for i in insights_of[h] if i.status != "resolved"), -hosts.index(h)))
host = left.selectbox("Host", hosts, index=hosts.index(wanted) if wanted in hosts else hosts.index(busiest))
st.query_params["host"] = host
shown = right.radio("Range", list(RANGES), index=1, horizontal=True, key="host_range")
end = datetime.now(UTC)
start = end - RANGES[shown]
marked = insights_of[host]

drawn: list[tuple[str, SeriesData]] = []
missing, empty = [], []
with api_errors():
    for name, (title, _unit) in METRICS.items():
        data = read(name, host, start, end) if name in series_of[host] else None
        if data is None:
            missing.append(title)
        elif not data.points:
            empty.append(title)
        else:
            drawn.append((name, data))

if not drawn:
    st.info(
        f"No points from {escape(host)} in the last {shown}"
        + (f" (it has sent none of: {', '.join(missing)})" if missing else "")
        + ". Choose a longer range, or check that the host still sends its samples."
    )
else:
    columns = st.columns(2)
    for index, (name, data) in enumerate(drawn):
        title, unit = METRICS[name]
        figure = charts.host_metric(data.points, f"{title} · {host} ({data.step})", unit, marked, (start, end))
        columns[index % 2].plotly_chart(figure, key=f"chart_{name}")
    notes = []
    if empty:
        notes.append(f"no points in the last {shown}: {', '.join(empty)}")
    if missing:
        notes.append(f"not sent by this host: {', '.join(missing)}")
    if notes:
        st.caption(escape("; ".join(notes)))
others = sorted(series_of[host] - set(METRICS))
if others:
    st.caption(escape(f"Other series of {host}: {', '.join(others)} (GET /v1/series/NAME?labels=host={host})"))

st.markdown("##### Insights")
if not marked:
    st.caption(f"No insights about {escape(host)}.")
else:
    st.dataframe(
        [
            {
                "#": i.id,
                "severity": i.severity,
                "status": i.status,
                "type": i.type,
                "message": i.message,
                "first seen": when(i.first_seen),
                "last seen": when(i.last_seen),
                "on the charts": "yes" if start <= i.first_seen <= end else "before this range",
            }
            for i in marked
        ],
        hide_index=True,
    )
    st.caption("Each insight is a dashed rule on the charts, where it was first seen; the Insights page has more.")
