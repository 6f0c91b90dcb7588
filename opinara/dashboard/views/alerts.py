"""Alerts: what fires now, the rules (enabled or not, the condition in words), the history of transitions,
the silences and the notification channels. Rules are enabled and disabled, and silences added and ended,
with a key that has the ``alerts`` scope; channels are listed to such a key only, their secrets masked."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import streamlit as st

from opinara.alerts.rules import RuleSpec, format_value, render_summary
from opinara.alerts.service import AlertEventInfo, AlertInfo, ChannelInfo, RuleInfo, SilenceInfo
from opinara.dashboard.client import ApiError
from opinara.dashboard.common import api_errors, client, show_outcome
from opinara.dashboard.highlight import escape

HISTORY_PAGE = 25
ANY = "any rule"
STATE_BADGE = {"firing": "red", "pending": "orange", "resolved": "green", "no_data": "gray", "error": "violet"}
SEVERITY_BADGE = {"info": "blue", "warning": "orange", "critical": "red"}
EVENT_MARK = {"fired": "🔴 fired", "resolved": "🟢 resolved", "no_data": "⚪ no data", "error": "🟣 error"}
EVENT_MARK["recovered"] = "🔵 recovered"
DURATIONS = {"15 minutes": 900, "1 hour": 3600, "4 hours": 4 * 3600, "1 day": 86_400, "1 week": 7 * 86_400}
AGGREGATIONS = {
    "avg": "the average",
    "min": "the least",
    "max": "the most",
    "sum": "the sum",
    "count": "the number of points",
    "last": "the latest point",
    "rate": "the per-second increase",
    "p50": "the median",
    "p90": "the 90th percentile",
    "p95": "the 95th percentile",
    "p99": "the 99th percentile",
}
OPS = {">": "is over", ">=": "is at least", "<": "is under", "<=": "is at most"}
ACTION_NOTE = "alerts_action_note"  # session state: (section, kind, message) of the last button, shown once
MATCHERS_FIELD = "silence_matchers"  # session state: the new silence's matchers, filled from a firing alert
CLEAR_FORM = "silence_form_clear"  # session state: a silence was added; empty the form on the next run
SCOPE_NOTE = (
    "Enabling and disabling rules, silencing alerts and seeing the channels needs an API key with the "
    "`alerts` scope, and this dashboard's key has none. Create one (`opinara keys create --name dashboard "
    "--scopes read,analyze,ingest,monitor,alerts`) and set it in OPINARA_API_KEY, or use `opinara alerts` and `opinara silences`."
)


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float) -> str:
    """``45 s``, ``2 min``, ``90 min``, ``3 h``, ``1 day``, ``7 days``: the largest unit it is a whole number of."""
    seconds = int(seconds)
    for size, one, many in ((86_400, "day", "days"), (3600, "h", "h"), (60, "min", "min")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {one if count == 1 else many}"
    return f"{seconds} s"


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago, roughly: ``for 3 min``, ``for 2 h``, ``for 4 days``."""
    if moment is None:
        return ""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86_400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days" if seconds >= 2 * 86_400 else "1 day"


def labels_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items()))


def condition(spec: RuleSpec) -> str:
    """The rule's condition for people: ``the latest point of queue_depth over 2 min is over 100``."""
    if spec.kind == "insight":
        kinds = " or ".join(t.replace("_", " ") for t in spec.insight_types) or "any"
        text = f"an open insight of type {kinds}, {spec.min_severity or 'info'} or worse"
        if spec.entity:
            text += f", about {labels_text(spec.entity)}"
    else:
        series = spec.series or "?"
        if spec.labels:
            series += "{" + labels_text(spec.labels) + "}"
        window = duration(spec.window_seconds or 0)
        if spec.op is None:
            text = ""
        elif spec.aggregation == "ratio_to_baseline":
            text = (
                f"the average of {series} over {window} divided by its average over the "
                f"{duration(spec.baseline_seconds or 0)} before {OPS[spec.op]} {format_value(spec.threshold)}"
            )
        else:
            how = AGGREGATIONS.get(spec.aggregation or "", spec.aggregation or "?")
            text = f"{how} of {series} over {window} {OPS[spec.op]} {format_value(spec.threshold)}"
        if spec.no_data_seconds is not None:
            missing = f"no point of {series} for {duration(spec.no_data_seconds)}"
            text = f"{text}; no data when {missing}" if text else missing
    if spec.for_seconds:
        text += f", for {duration(spec.for_seconds)}"
    if spec.keep_firing_seconds:
        text += f" (keeps firing {duration(spec.keep_firing_seconds)} after it stops holding)"
    return text


def scopes() -> list[str]:
    with api_errors():
        return client().key().scopes


def note(section: str, kind: str, message: str) -> None:
    st.session_state[ACTION_NOTE] = (section, kind, message)


def failed(section: str, exc: ApiError) -> None:
    note(section, "scope" if exc.status == 403 else "error", SCOPE_NOTE if exc.status == 403 else exc.message)


def show_note(section: str) -> None:
    """The last button's outcome, under the section it was pressed in."""
    show_outcome(ACTION_NOTE, section)


# Callbacks: they run before the page draws, so the page shows what the API now holds.


def toggle_rule(rule: RuleInfo, widget: str) -> None:
    enabled = bool(st.session_state[widget])
    try:
        client().set_rule_enabled(rule.name, enabled)
    except ApiError as exc:
        failed("rules", exc)
    else:
        note("rules", "success", f"Rule {rule.name}: {'enabled' if enabled else 'disabled'}.")


def end_silence(silence: SilenceInfo) -> None:
    try:
        client().end_silence(silence.id)
    except ApiError as exc:
        failed("silences", exc)
    else:
        note("silences", "success", f"Silence #{silence.id} ended.")


def silence_like(alert: AlertInfo) -> None:
    """Fill the new silence's matchers with the alert's rule and labels."""
    matchers = [f"alertname={json.dumps(alert.rule)}"]
    matchers += [f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in sorted(alert.labels.items())]
    st.session_state[MATCHERS_FIELD] = "\n".join(matchers)


# Sections


def firing(alerts: list[AlertInfo], rules: dict[str, RuleInfo], may_act: bool) -> None:
    st.subheader("Firing now")
    if not alerts:
        st.success("Nothing is firing, pending or without data.")
        return
    counts = {state: sum(1 for a in alerts if a.state == state) for state in STATE_BADGE}
    st.caption(" · ".join(f"{count} {state.replace('_', ' ')}" for state, count in counts.items() if count))
    now = datetime.now(UTC)
    for alert in alerts:
        rule = rules.get(alert.rule)
        with st.container(border=True):
            text, button = st.columns([5, 1], vertical_alignment="center")
            # An insight rule's alerts take each insight's own severity, which AlertInfo does not carry.
            severity = rule.spec.severity if rule and rule.spec.kind == "series" else None
            header = f":{STATE_BADGE.get(alert.state, 'gray')}-badge[{alert.state.replace('_', ' ')}] "
            if severity:
                header += f":{SEVERITY_BADGE.get(severity, 'gray')}-badge[{severity}] "
            text.markdown(header + f"**{escape(alert.rule)}** · {escape(alert.subject or '—')}")
            if rule is not None:
                text.markdown(escape(render_summary(rule.spec, alert.value, alert.labels)))
            facts = [f"since {when(alert.since)}" + (f" ({age(alert.since, now)})" if alert.since else "")]
            facts.append(f"value {format_value(alert.value)}")
            if alert.labels:
                facts.append(f"labels {labels_text(alert.labels)}")
            text.caption(escape(" · ".join(facts)))
            if alert.error:
                text.caption(escape(f"error: {alert.error}"))
            if may_act and alert.state in ("firing", "pending", "no_data", "error"):
                button.button(
                    "Silence…",
                    key=f"silence_like_{alert.rule}_{alert.subject}",
                    on_click=silence_like,
                    args=(alert,),
                    help="Fill the new silence below with this alert's rule and labels.",
                )


def rule_list(rules: list[RuleInfo], may_act: bool) -> None:
    st.subheader("Rules")
    enabled = sum(1 for r in rules if r.enabled)
    st.caption(f"{len(rules)} rules, {enabled} enabled · shipped rules can be disabled, not deleted")
    if not may_act:
        st.caption(SCOPE_NOTE)
    show_note("rules")
    for rule in rules:
        with st.container(border=True):
            switch, text, fired = st.columns([2, 6, 1], vertical_alignment="center")
            if may_act:
                # Keyed by when the rule last changed: a rule changed elsewhere gets a fresh toggle showing it.
                widget = f"rule_{rule.id}_{rule.updated_at.timestamp()}"
                switch.toggle(rule.name, value=rule.enabled, key=widget, on_change=toggle_rule, args=(rule, widget))
            else:
                state = ":green-badge[enabled]" if rule.enabled else ":gray-badge[disabled]"
                switch.markdown(f"**{escape(rule.name)}** {state}")
            spec = rule.spec
            badges = f":{SEVERITY_BADGE.get(spec.severity, 'gray')}-badge[{spec.severity}] "
            badges += ":blue-badge[shipped] " if rule.builtin else ":gray-badge[made here] "
            badges += f":gray-badge[{spec.kind}]"
            text.markdown(f"{badges} {escape(condition(spec))}")
            if spec.summary:
                text.caption(escape(spec.summary))
            fired.markdown(f":red-badge[{rule.firing} firing]" if rule.firing else ":gray-badge[quiet]")


def history(rule_names: list[str]) -> None:
    st.subheader("History")
    chosen = st.selectbox("Rule", [ANY, *rule_names], key="alert_history_rule")
    rule = None if chosen == ANY else chosen
    if st.session_state.get("alert_history_for", ANY) != chosen:  # another rule starts at the first page
        st.session_state["alert_history_cursors"] = [None]
    st.session_state["alert_history_for"] = chosen
    cursors: list[int | None] = st.session_state.setdefault("alert_history_cursors", [None])
    with api_errors():
        page = client().alert_history(rule, cursor=cursors[-1], limit=HISTORY_PAGE)
    if not page.events and len(cursors) == 1:
        st.caption("No transitions yet" + (f" of {escape(rule)}." if rule else "."))
        return
    st.dataframe([event_row(e) for e in page.events], hide_index=True)
    silenced = sum(1 for e in page.events if e.silenced_by is not None)
    page_note = f"Page {len(cursors)} · newest first"
    if silenced:
        page_note += f" · {silenced} silenced here: recorded, not notified"
    st.caption(page_note)
    back, forward, _ = st.columns([1, 1, 4])
    if back.button("← Newer", key="history_newer", disabled=len(cursors) == 1):
        cursors.pop()
        st.rerun()
    if forward.button("Older →", key="history_older", disabled=page.next_cursor is None):
        cursors.append(page.next_cursor)
        st.rerun()


def event_row(event: AlertEventInfo) -> dict[str, object]:
    return {
        "at": when(event.at),
        "event": EVENT_MARK.get(event.event, event.event),
        "rule": event.rule,
        "severity": event.severity,
        "subject": event.subject,
        "message": event.message,
        "value": format_value(event.value),
        "silenced": f"🔕 by silence #{event.silenced_by}" if event.silenced_by is not None else "",
    }


def silence_list(silences: list[SilenceInfo], may_act: bool) -> None:
    st.subheader("Silences")
    st.caption("A silence holds back the notifications of the alerts it matches; they are still evaluated.")
    show_note("silences")
    active = [s for s in silences if s.active]
    if not active:
        st.caption("No active silence.")
    for silence in active:
        with st.container(border=True):
            text, button = st.columns([5, 1], vertical_alignment="center")
            text.markdown(f":orange-badge[active] **#{silence.id}** " + escape(", ".join(silence.matchers)))
            facts = [f"until {when(silence.ends_at)}", f"from {when(silence.starts_at)}", f"by {silence.created_by}"]
            text.caption(escape(" · ".join(facts)))
            if silence.comment:
                text.markdown(escape(silence.comment))
            if may_act:
                button.button("End now", key=f"end_silence_{silence.id}", on_click=end_silence, args=(silence,))
    ended = [s for s in silences if not s.active]
    if ended:
        with st.expander(f"Ended or not yet started ({len(ended)})"):
            st.dataframe(
                [
                    {
                        "#": s.id,
                        "matchers": ", ".join(s.matchers),
                        "from": when(s.starts_at),
                        "until": when(s.ends_at),
                        "comment": s.comment,
                        "by": s.created_by,
                    }
                    for s in ended
                ],
                hide_index=True,
            )
    if may_act:
        new_silence()


def new_silence() -> None:
    if st.session_state.pop(CLEAR_FORM, False):  # before the widgets exist, so they may still be changed
        st.session_state[MATCHERS_FIELD] = ""
        st.session_state["silence_comment"] = ""
    with st.form("new_silence"):
        st.markdown("##### New silence")
        text = st.text_area(
            "Matchers, one a line",
            key=MATCHERS_FIELD,
            placeholder='alertname="queue-depth"\nhost=~"web-.*"',
            help='Alertmanager\'s: name="value", name!="value", name=~"regex", name!~"regex". The labels '
            "of an alert are its rule's (alertname), its severity and its series' or insight's.",
        )
        left, right = st.columns([1, 3])
        length = left.selectbox("For", list(DURATIONS), index=1, key="silence_duration")
        comment = right.text_input("Comment", key="silence_comment", placeholder="why, and who is on it")
        submitted = st.form_submit_button("Add silence", type="primary")
    if not submitted:
        return
    matchers = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not matchers:
        st.warning('Give at least one matcher, like `alertname="queue-depth"`.')
        return
    try:
        made = client().create_silence(matchers, DURATIONS[length], comment or "")
    except ApiError as exc:
        failed("silences", exc)
    else:
        note("silences", "success", f"Silence #{made.id} added, until {when(made.ends_at)}.")
        st.session_state[CLEAR_FORM] = True
    st.rerun()


def kind_name(kind: str) -> str:
    """``webhook`` for the stored plugin name ``channel.webhook.v1`` (and for ``webhook`` itself)."""
    return re.sub(r"^channel\.|\.v\d+$", "", kind)


def channel_list(may_act: bool) -> None:
    st.subheader("Channels")
    if not may_act:
        st.caption("The channels are listed to a key with the `alerts` scope only.")
        return
    with api_errors():
        channels: list[ChannelInfo] = client().channels()
    if not channels:
        st.caption(
            "No channels: alerts are recorded here and sent nowhere. Add one with `opinara channels add` "
            "or POST /v1/channels (webhook, slack, email, alertmanager)."
        )
        return
    st.dataframe(
        [
            {
                "name": c.name,
                "kind": kind_name(c.kind),
                "enabled": c.enabled,
                "min severity": c.min_severity,
                "matchers": ", ".join(c.matchers) or "every alert",
                "repeats every": duration(c.repeat_seconds),
                "secrets": ", ".join(f"{name}: {value}" for name, value in sorted(c.secrets.items())),
            }
            for c in channels
        ],
        hide_index=True,
    )
    st.caption("Secrets are shown masked (references to the environment or a file as written).")


st.title("Alerts")
api = client()
may_act = "alerts" in scopes()
with api_errors():
    rules = api.alert_rules()
    alerts = api.alerts()
    silences = api.silences()
firing(alerts, {r.name: r for r in rules}, may_act)
rule_list(rules, may_act)
history([r.name for r in rules])
silence_list(silences, may_act)
channel_list(may_act)
