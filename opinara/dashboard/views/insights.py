"""Insights: what the detectors found, newest first, with filters; one insight's evidence (its window and
baseline, figures, a chart, and the example reviews or mentions behind it); acknowledge and resolve it
with a key that has the ``alerts`` scope."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, get_args

import streamlit as st

from opinara.dashboard import charts
from opinara.dashboard.client import ApiError
from opinara.dashboard.common import api_errors, client, record_outcome, show_outcome, stars
from opinara.dashboard.highlight import escape, highlight, spans_from_review
from opinara.insights.anomalies import InsightInfo, InsightType

FEED_PAGE = 20
ANY = "any"
STATUSES = [ANY, "open", "acknowledged", "resolved"]
SEVERITIES = [ANY, "warning", "critical"]  # the least severity shown: "any" is info and up
TYPES = [ANY, *get_args(InsightType)]
ENTITY_KINDS = [ANY, "product_aspect", "product", "monitor", "tag", "host", "series"]
BADGE = {"info": "blue", "warning": "orange", "critical": "red"}
STATUS_BADGE = {"open": "red", "acknowledged": "orange", "resolved": "green"}
ACTION_NOTE = "insight_action_note"  # session state: what the last button did, shown once
DONE = {"acknowledge": "acknowledged", "resolve": "resolved"}
HOST_CONTEXT = timedelta(hours=3)  # a host insight's chart shows this much before and after its window
SCOPE_NOTE = (
    "Acknowledging and resolving insights needs an API key with the `alerts` scope, and this dashboard's "
    "key has none. Create one (`opinara keys create --name dashboard --scopes read,analyze,ingest,monitor,alerts`) "
    "and set it in OPINARA_API_KEY, or use `opinara insights`."
)


def when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def entity_text(insight: InsightInfo) -> str:
    """What the insight is about, for people: ``latency · Aurora X2``, ``host web-2``, ``monitor acme``."""
    entity = insight.entity
    if insight.entity_kind == "product_aspect":
        return f"{entity.get('aspect', '?')} · {entity.get('product_name') or entity.get('product', '?')}"
    if insight.entity_kind == "product":
        return str(entity.get("product_name") or entity.get("product", "?"))
    if insight.entity_kind in entity:  # host web-2, monitor acme-support, tag acme
        return f"{insight.entity_kind} {entity[insight.entity_kind]}"
    shown = [f"{k}={v}" for k, v in sorted(entity.items()) if not k.endswith("_name")]
    return f"{insight.entity_kind} " + ", ".join(shown)


def badges(insight: InsightInfo) -> str:
    return (
        f":{BADGE.get(insight.severity, 'gray')}-badge[{insight.severity}] "
        f":{STATUS_BADGE.get(insight.status, 'gray')}-badge[{insight.status}] "
        f":gray-badge[{insight.type}]"
    )


def figure_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}" if abs(value) < 0.01 and value else f"{value:,.4g}"


def scopes() -> list[str]:
    with api_errors():
        return client().key().scopes


def act(action: str, insight: InsightInfo) -> None:
    """A button's callback: it runs before the page draws, so the page shows the insight as it now is."""
    api = client()
    call = api.acknowledge_insight if action == "acknowledge" else api.resolve_insight
    record_outcome(ACTION_NOTE, lambda: call(insight.id), f"Insight #{insight.id}: {DONE[action]}.", SCOPE_NOTE)


def controls(insight: InsightInfo, may_act: bool) -> None:
    """Acknowledge and Resolve, shown only to a key with the alerts scope."""
    if not may_act:
        st.caption(SCOPE_NOTE)
        return
    left, right, _ = st.columns([1, 1, 2])
    left.button(
        "Acknowledge",
        on_click=act,
        args=("acknowledge", insight),
        disabled=insight.status != "open",
        help="Someone is on it; it stays listed until resolved.",
        width="stretch",
    )
    right.button(
        "Resolve",
        on_click=act,
        args=("resolve", insight),
        disabled=insight.status == "resolved",
        help="Resolved by hand: the same type and entity opens again only after a cooldown.",
        width="stretch",
    )
    show_outcome(ACTION_NOTE)


def span_of(evidence: dict[str, Any], part: str) -> tuple[str, str] | None:
    found = evidence.get(part)
    if isinstance(found, dict) and found.get("start") and found.get("end"):
        return str(found["start"]), str(found["end"])
    return None


def feed(insights: list[InsightInfo], chosen: int | None) -> None:
    for insight in insights:
        with st.container(border=True):
            st.markdown(f"{badges(insight)} **#{insight.id}**")
            st.markdown(escape(insight.message))
            st.caption(
                f"{escape(entity_text(insight))} · first seen {when(insight.first_seen)} · "
                f"last seen {when(insight.last_seen)}"
            )
            st.button(
                "Evidence →" if insight.id != chosen else "Shown",
                key=f"show_{insight.id}",
                on_click=choose,
                args=(insight.id,),
                disabled=insight.id == chosen,
            )


def choose(insight_id: int) -> None:
    st.query_params["insight"] = str(insight_id)


def evidence_chart(insight: InsightInfo) -> None:
    """Its evidence drawn: a dip's shares and the aspect's weeks; a series' points around the window."""
    evidence, entity = insight.evidence, insight.entity
    figures = evidence.get("figures") if isinstance(evidence.get("figures"), dict) else {}
    if insight.type == "sentiment_dip" and figures:
        st.plotly_chart(charts.share_change(figures, "Share of reviews complaining"), key="share_change")
        if "product" in entity and "aspect" in entity:
            try:
                trends = client().trends(str(entity["product"]), aspect=str(entity["aspect"]), by="week")
            except ApiError as exc:
                st.caption(f"No trend for {escape(str(entity['aspect']))}: {escape(exc.message)}")
                return
            window, baseline = span_of(evidence, "window"), span_of(evidence, "baseline")
            shaded = (date.fromisoformat(window[0][:10]), date.fromisoformat(window[1][:10])) if window else None
            shown = None
            if shaded and baseline:
                shown = (date.fromisoformat(baseline[0][:10]) - timedelta(days=7), shaded[1])
            first = shown[0] - timedelta(days=7) if shown else date.min
            periods = [p for p in trends.periods if p.period >= first]
            title = f"{entity['aspect']}: mentions per week"
            st.plotly_chart(charts.aspect_weeks(periods, shaded, title, shown), key="aspect_weeks")
        return
    series, labels = evidence.get("series"), evidence.get("labels")
    window = span_of(evidence, "window")
    if isinstance(series, str) and isinstance(labels, dict) and window:
        start = datetime.fromisoformat(window[0]) - HOST_CONTEXT
        end = datetime.fromisoformat(window[1]) + HOST_CONTEXT
        try:
            data = client().series(series, {str(k): str(v) for k, v in labels.items()}, start, end)
        except ApiError as exc:
            st.caption(f"No points of {escape(series)}: {escape(exc.message)}")
            return
        if data.points:
            title = f"{series} · " + ", ".join(f"{k}={v}" for k, v in sorted(data.labels.items()))
            st.plotly_chart(charts.host_metric(data.points, title, "", [insight], (start, end)), key="series")
        else:
            st.caption(f"No points of {escape(series)} around the insight's window.")


def examples(insight: InsightInfo) -> None:
    """The reviews (or mentions) the detector named as examples, highlighted as on the Reviews page."""
    ids = [i for i in insight.evidence.get("examples") or [] if isinstance(i, int)]
    if not ids:
        return
    st.markdown("##### Examples")
    entity = insight.entity
    try:
        if "product" in entity:
            items = client().reviews_by_id(ids, product=str(entity["product"]))
        elif "monitor" in entity or "tag" in entity:
            filters = {k: str(entity[k]) for k in ("monitor", "tag") if k in entity}
            items = client().mentions_by_id(ids, **filters)
        else:
            items = []
    except ApiError as exc:
        st.caption(f"The examples could not be read: {escape(exc.message)}")
        return
    if not items:
        st.caption(f"{len(ids)} example(s) named, none of them stored any more.")
        return
    for item in items:
        label = item.sentiment.label if item.sentiment and item.sentiment.label else "not analyzed"
        with st.container(border=True):
            if hasattr(item, "rating"):
                facts = [f"**{stars(item.rating)}**", f"`{label}`", str(item.day), escape(item.product.external_id)]
            else:
                published = item.published_at.date() if item.published_at else "—"
                facts = [f"**{escape(item.source)}**", f"`{label}`", str(published), escape(item.monitor)]
            st.markdown(" · ".join(facts) + f" · #{item.id}")
            st.markdown(highlight(item.text, spans_from_review(item.text, item.aspects)), unsafe_allow_html=True)
            if item.aspects:
                st.caption(", ".join(f"{escape(a.term)} ({a.polarity})" for a in item.aspects))
    if len(items) < len(ids):
        st.caption(f"{len(ids) - len(items)} more example(s) named, no longer stored.")


def detail(insight: InsightInfo, may_act: bool) -> None:
    st.subheader(f"#{insight.id} {insight.type.replace('_', ' ')}")
    st.markdown(badges(insight))
    st.markdown(escape(insight.message))
    facts = [
        entity_text(insight),
        f"detector {insight.detector}",
        f"score {insight.score:.2f}",
        f"first seen {when(insight.first_seen)}",
        f"last seen {when(insight.last_seen)}",
    ]
    if insight.acknowledged_at:
        facts.append(f"acknowledged {when(insight.acknowledged_at)} by {insight.acknowledged_by or '?'}")
    if insight.resolved_at:
        facts.append(f"resolved {when(insight.resolved_at)} by {insight.resolved_by or '?'}")
    st.caption(" · ".join(escape(f) for f in facts))
    controls(insight, may_act)
    st.markdown("##### Evidence")
    evidence = insight.evidence
    spans = []
    for part, name in (("window", "window"), ("baseline", "baseline")):
        span = span_of(evidence, part)
        if span:
            weeks = evidence[part].get("weeks") if part == "baseline" else None
            spans.append(f"{name} {span[0]} to {span[1]}" + (f" ({weeks} weeks)" if weeks else ""))
    if spans:
        st.caption(escape(" · ".join(spans)))
    figures = evidence.get("figures")
    if isinstance(figures, dict) and figures:
        st.dataframe(
            [{"figure": str(name), "value": figure_text(value)} for name, value in figures.items()],
            hide_index=True,
        )
    evidence_chart(insight)
    examples(insight)


st.title("Insights")
api = client()
status_column, severity_column, type_column, kind_column = st.columns(4)
status = status_column.selectbox("Status", STATUSES, key="insight_status")
severity = severity_column.selectbox("Least severity", SEVERITIES, key="insight_severity")
kind = type_column.selectbox("Type", TYPES, key="insight_type")
entity_kind = kind_column.selectbox("About", ENTITY_KINDS, key="insight_entity_kind")
filters = {
    "status": None if status == ANY else status,
    "severity": None if severity == ANY else severity,
    "type": None if kind == ANY else kind,
    "entity_kind": None if entity_kind == ANY else entity_kind,
}
filters_key = repr(sorted(filters.items()))
if st.session_state.get("insight_filters_key") != filters_key:  # new filters start at the first page
    st.session_state["insight_filters_key"] = filters_key
    st.session_state["insight_cursors"] = [None]
cursors: list[int | None] = st.session_state["insight_cursors"]
with api_errors():
    page = api.insights(**filters, cursor=cursors[-1], limit=FEED_PAGE)
if not page.insights:
    if any(filters.values()):
        st.info("No insights match these filters.")
    else:
        st.info(
            "No insights yet. The detectors raise them as they find sentiment dips, volume changes and metric "
            "anomalies; `opinara insights` lists them too."
        )
    st.stop()

wanted = st.query_params.get("insight")
chosen_id = int(wanted) if wanted and wanted.isdigit() else page.insights[0].id
feed_column, detail_column = st.columns([2, 3], gap="large")
with feed_column:
    st.caption(f"Page {len(cursors)} · newest first")
    feed(page.insights, chosen_id)
    back, forward = st.columns(2)
    if back.button("← Newer", disabled=len(cursors) == 1):
        cursors.pop()
        st.rerun()
    if forward.button("Older →", disabled=page.next_cursor is None):
        cursors.append(page.next_cursor)
        st.rerun()
with detail_column:
    chosen = next((i for i in page.insights if i.id == chosen_id), None)
    if chosen is None:
        try:
            chosen = api.insight(chosen_id)
        except ApiError as exc:
            st.warning(f"Insight #{chosen_id}: {escape(exc.message)}")
    if chosen is not None:
        detail(chosen, "alerts" in scopes())
