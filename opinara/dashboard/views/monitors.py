"""Monitors: each source monitor's state and schedule; pause, resume, run now; its runs, trends and
mentions; share of voice across the monitors' tags."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from opinara.dashboard import charts
from opinara.dashboard.common import api_errors, client, record_outcome, show_outcome
from opinara.dashboard.highlight import escape, highlight, spans_from_review
from opinara.monitors.models import MonitorInfo

MENTIONS_PAGE = 10
RUNS_SHOWN = 50
MAX_VOICE_TAGS = 20  # the API's limit per share-of-voice request
PUSHED = 9000  # a webhook monitor's next run is in the year 9999: it is pushed to, never scheduled
ACTION_NOTE = "monitor_action_note"  # session state: what the last button did, shown once
DONE = {"pause": "paused", "resume": "resumed", "run": "due now; the next free monitor worker runs it"}
SCOPE_NOTE = (
    "Pausing, resuming and running monitors needs an API key with the `monitor` scope, and this dashboard's "
    "key has none. Create one (`opinara keys create --name dashboard --scopes read,analyze,ingest,monitor`) "
    "and set it in OPINARA_API_KEY, or use `opinara monitors pause|resume|run NAME`."
)


def when(moment: datetime | None, short: bool = False) -> str:
    if moment is None:
        return "—"
    return moment.strftime("%b %d %H:%M") if short else moment.strftime("%Y-%m-%d %H:%M UTC")


def every(seconds: int) -> str:
    """``900`` as ``15m``: the largest unit that divides it, as ``opinara monitors add --every`` takes it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def connector(monitor: MonitorInfo) -> str:
    """``reddit`` for ``connector.reddit.v1``."""
    parts = monitor.connector.split(".")
    return parts[1] if len(parts) == 3 else monitor.connector


def is_webhook(monitor: MonitorInfo) -> bool:
    return connector(monitor) == "webhook"


def next_run(monitor: MonitorInfo, short: bool = False) -> str:
    if monitor.state == "paused":
        return "— (paused)"
    if monitor.next_run_at.year >= PUSHED:
        return "when pushed"
    return "running now" if monitor.running else when(monitor.next_run_at, short)


def last_run(monitor: MonitorInfo) -> str:
    return f"{monitor.last_status} · {when(monitor.last_run_at, short=True)}" if monitor.last_run_at else "never"


def state(monitor: MonitorInfo) -> str:
    return f"paused: {monitor.paused_reason}" if monitor.state == "paused" else "active"


def act(action: str, monitor: MonitorInfo) -> None:
    """A button's callback: it runs before the page draws, so the page shows the monitor as it now is."""
    api = client()
    reason = st.session_state.get("pause_reason", "").strip() or "paused from the dashboard"
    calls = {
        "pause": lambda: api.pause_monitor(monitor.id, reason),
        "resume": lambda: api.resume_monitor(monitor.id),
        "run": lambda: api.run_monitor(monitor.id),
    }
    record_outcome(ACTION_NOTE, calls[action], f"{monitor.name}: {DONE[action]}.", SCOPE_NOTE)


def controls(monitor: MonitorInfo) -> None:
    """Pause (with a reason) or Resume, and Run now; the API decides whether this key may."""
    reason_column, pause_column, run_column = st.columns([3, 1, 1], vertical_alignment="bottom")
    if monitor.state == "active":
        reason_column.text_input("Reason to pause", placeholder="paused from the dashboard", key="pause_reason")
        pause_column.button("Pause", on_click=act, args=("pause", monitor), width="stretch")
    else:
        reason_column.warning(f"Paused: {escape(monitor.paused_reason or 'no reason given')}")
        pause_column.button("Resume", on_click=act, args=("resume", monitor), width="stretch")
    if is_webhook(monitor):
        why = "A webhook monitor is pushed to, never fetched."
    elif monitor.state == "paused":
        why = "Resume it first."
    else:
        why = "A monitor worker (opinara serve, opinara worker) runs it within seconds."
    run_column.button(
        "Run now",
        on_click=act,
        args=("run", monitor),
        disabled=is_webhook(monitor) or monitor.state == "paused",
        help=why,
        width="stretch",
    )
    show_outcome(ACTION_NOTE)


def no_runs_note(monitor: MonitorInfo) -> str:
    if is_webhook(monitor):
        return (
            "No deliveries yet: a sender signs each one with the monitor's secret and POSTs it to "
            f"/v1/monitors/{monitor.name}/events."
        )
    if monitor.state == "paused":
        return "No runs yet; it is paused."
    return f"No runs yet. The next is due {next_run(monitor)}."


def run_history(monitor: MonitorInfo) -> None:
    with api_errors():
        runs = client().monitor_runs(monitor.id, limit=RUNS_SHOWN).runs
    if not runs:
        st.info(no_runs_note(monitor))
        return
    st.dataframe(
        [
            {
                "started": when(r.started_at),
                "status": r.status,
                "lag (s)": r.lag_seconds,
                "HTTP calls": r.http_calls,
                "fetched": r.fetched,
                "new": r.new,
                "duplicates": r.duplicates,
                "rejected": r.rejected,
                "error": r.error or "",
            }
            for r in runs
        ],
        hide_index=True,
    )
    if len(runs) == RUNS_SHOWN:
        st.caption(f"The latest {RUNS_SHOWN} runs; `opinara monitors runs {monitor.name}` or the API list them all.")


def trends(monitor: MonitorInfo, by: str) -> None:
    with api_errors():
        periods = client().monitor_trends(monitor.id, by).periods
    if periods:
        st.plotly_chart(charts.mention_trends(periods, f"{monitor.name}: mentions and sentiment"), key="trends")


def mentions(monitor: MonitorInfo) -> None:
    """The monitor's mentions, newest first, a page at a time, with their aspects highlighted."""
    if st.session_state.get("mention_cursors_of") != monitor.id:  # another monitor starts at its first page
        st.session_state["mention_cursors_of"] = monitor.id
        st.session_state["mention_cursors"] = [None]
    cursors: list[int | None] = st.session_state["mention_cursors"]
    with api_errors():
        page = client().mentions(monitor=str(monitor.id), cursor=cursors[-1], limit=MENTIONS_PAGE)
    if not page.mentions:
        st.info("No mentions yet." + ("" if monitor.last_run_at else " It has not run."))
        return
    st.caption(f"Page {len(cursors)} · newest first")
    for mention in page.mentions:
        label = mention.sentiment.label if mention.sentiment and mention.sentiment.label else "not analyzed"
        facts = [f"**{escape(mention.source)}**", f"`{label}`"]
        if mention.published_at:
            facts.append(when(mention.published_at))
        if mention.author:
            facts.append(f"by {mention.author[:8]}…")
        if mention.url and mention.url.startswith(("http://", "https://")):
            facts.append(f"[link]({mention.url.replace('(', '%28').replace(')', '%29').replace(' ', '%20')})")
        with st.container(border=True):
            st.markdown(" · ".join(facts))
            if mention.title:
                st.markdown(f"**{escape(mention.title)}**")
            st.markdown(
                highlight(mention.text, spans_from_review(mention.text, mention.aspects)), unsafe_allow_html=True
            )
            if mention.aspects:
                st.caption(", ".join(f"{escape(a.term)} ({a.polarity})" for a in mention.aspects))
    back, forward = st.columns(2)
    if back.button("← Newer", disabled=len(cursors) == 1):
        cursors.pop()
        st.rerun()
    if forward.button("Older →", disabled=page.next_cursor is None):
        cursors.append(page.next_cursor)
        st.rerun()


def share_of_voice(monitors: list[MonitorInfo], by: str) -> None:
    st.subheader("Share of voice")
    tags = sorted({tag for m in monitors for tag in m.tags})
    if not tags:
        st.info(
            "No monitor has tags. Give them the brands or topics they count toward: `opinara monitors edit NAME --tag BRAND`."
        )
        return
    chosen = st.multiselect("Tags", tags, default=tags[:MAX_VOICE_TAGS], max_selections=MAX_VOICE_TAGS)
    if not chosen:
        st.caption("Choose a tag or more.")
        return
    with api_errors():
        voice = client().share_of_voice(chosen, by)
    if not voice.periods:
        st.info("No mentions under these tags yet.")
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.voice_shares(voice), key="voice_shares")
    right.plotly_chart(charts.voice_sentiment(voice), key="voice_sentiment")
    totals = {tag: [0, 0.0] for tag in voice.tags}  # mentions, and net sentiment times mentions
    for period in voice.periods:
        for share in period.tags:
            totals[share.tag][0] += share.mentions
            totals[share.tag][1] += share.net_sentiment * share.mentions
    everything = sum(count for count, _ in totals.values())
    st.dataframe(
        [
            {
                "tag": tag,
                "mentions": count,
                "share": f"{count / everything:.0%}" if everything else "—",
                "net sentiment": round(weighted / count, 2) if count else None,
            }
            for tag, (count, weighted) in totals.items()
        ],
        hide_index=True,
    )


st.title("Monitors")
api = client()
with api_errors():
    monitors = api.monitors()
if not monitors:
    st.info(
        "No monitors yet. Add one with `opinara monitors add NAME --connector rss --param url=https://… --tag BRAND` "
        "(or reddit, mastodon, hackernews, youtube, webhook), or POST /v1/monitors."
    )
    st.stop()

st.dataframe(
    [
        {
            "monitor": m.name,
            "state": state(m),
            "connector": connector(m),
            "every": "—" if is_webhook(m) else every(m.interval_seconds),
            "last run (UTC)": last_run(m),
            "next run": next_run(m, short=True),
            "failures": m.failures,
            "tags": ", ".join(m.tags),
            "last error": m.last_error or "",
        }
        for m in monitors
    ],
    hide_index=True,
    column_config={"failures": st.column_config.NumberColumn(help="Failed runs in a row")},
)
by = st.radio("Per", ["day", "week", "month"], horizontal=True, key="monitor_period")
share_of_voice(monitors, by)

st.subheader("Monitor")
names = [m.name for m in monitors]
wanted = st.query_params.get("monitor")
chosen = st.selectbox(
    "Monitor", names, index=names.index(wanted) if wanted in names else 0, label_visibility="collapsed"
)
monitor = monitors[names.index(chosen)]
st.query_params["monitor"] = monitor.name
a, b, c, d = st.columns(4)
a.metric("State", monitor.state)
b.metric("Connector", connector(monitor), help=monitor.connector)
c.metric("Every", "when pushed" if is_webhook(monitor) else every(monitor.interval_seconds))
d.metric("Failures in a row", monitor.failures)
facts = [
    f"tags: {', '.join(monitor.tags)}" if monitor.tags else "no tags",
    f"product: {monitor.product.external_id}" if monitor.product else "",
    ", ".join(f"{k}={v}" for k, v in sorted(monitor.params.items())),
    f"last run: {when(monitor.last_run_at)} ({monitor.last_status})" if monitor.last_run_at else "never run",
    f"next run: {next_run(monitor)}",
]
st.caption(" · ".join(escape(fact) for fact in facts if fact))
if monitor.last_error:
    st.warning(f"Last error: {escape(monitor.last_error)}")
controls(monitor)
st.markdown("##### Runs")
run_history(monitor)
trends(monitor, by)
st.markdown("##### Mentions")
mentions(monitor)
