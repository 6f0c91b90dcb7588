"""Plotly figures built from the API's typed answers: pure functions, no Streamlit."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from opinara.insights.anomalies import InsightInfo
from opinara.insights.mentions import ShareOfVoice, TrendPoint
from opinara.insights.models import AspectChange, AspectCounts, OverviewPeriod, ProductInsight, TrendPeriod
from opinara.signals.service import SeriesPoint

SENTIMENT_COLORS = {"positive": "#2e9e5b", "negative": "#d64545", "neutral": "#9aa0a6", "mixed": "#e0a526"}
RANKED_EACH_END = 15  # products ranked: this many from the bottom and from the top, when there are more
WEEK_MS = 7 * 24 * 3600 * 1000  # a week on a date axis, in milliseconds
SEVERITY_COLORS = {"info": "#3b6fd6", "warning": "#e0a526", "critical": "#d64545"}


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend_orientation="h")
    return fig


def volume_and_mix(periods: list[OverviewPeriod]) -> go.Figure:
    """Stacked review counts per sentiment and net sentiment on a second axis."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [p.period for p in periods]
    for label in ("positive", "neutral", "mixed", "negative"):
        fig.add_bar(x=x, y=[getattr(p, label) for p in periods], name=label, marker_color=SENTIMENT_COLORS[label])
    fig.add_scatter(
        x=x,
        y=[p.net_sentiment for p in periods],
        name="net sentiment",
        mode="lines+markers",
        line={"color": "#333"},
        secondary_y=True,
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="reviews", secondary_y=False)
    fig.update_yaxes(
        title_text="net sentiment", range=[-1, 1], tickvals=[-1, -0.5, 0, 0.5, 1], showgrid=False, secondary_y=True
    )
    return _layout(fig, "Volume and sentiment mix")


def mention_trends(periods: list[TrendPoint], title: str) -> go.Figure:
    """A monitor's mentions per period, stacked by sentiment, with net sentiment on a second axis."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [p.period for p in periods]
    # The trend points carry no mixed count: it is what the other three leave of the mentions.
    mixed = [max(p.mentions - p.positive - p.negative - p.neutral, 0) for p in periods]
    for label, values in (
        ("positive", [p.positive for p in periods]),
        ("neutral", [p.neutral for p in periods]),
        ("mixed", mixed),
        ("negative", [p.negative for p in periods]),
    ):
        fig.add_bar(x=x, y=values, name=label, marker_color=SENTIMENT_COLORS[label])
    fig.add_scatter(
        x=x,
        y=[p.net_sentiment for p in periods],
        name="net sentiment",
        mode="lines+markers",
        line={"color": "#333"},
        secondary_y=True,
    )
    fig.update_layout(barmode="stack")
    few = max((p.mentions for p in periods), default=0) <= 10  # whole mentions on the axis, not 0.2 steps
    fig.update_yaxes(title_text="mentions", rangemode="tozero", dtick=1 if few else None, secondary_y=False)
    fig.update_yaxes(
        title_text="net sentiment", range=[-1, 1], tickvals=[-1, -0.5, 0, 0.5, 1], showgrid=False, secondary_y=True
    )
    return _layout(fig, title)


def voice_shares(voice: ShareOfVoice) -> go.Figure:
    """Each tag's share of the tags' mentions per period, stacked to 100%."""
    fig = go.Figure()
    x = [p.period for p in voice.periods]
    for tag in voice.tags:
        shares = [next((s for s in p.tags if s.tag == tag), None) for p in voice.periods]
        fig.add_bar(
            x=x,
            y=[s.share if s else 0.0 for s in shares],
            name=tag,
            customdata=[s.mentions if s else 0 for s in shares],
            hovertemplate=f"{tag}: %{{y:.0%}} (%{{customdata}} mentions)<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="share of mentions", tickformat=".0%", range=[0, 1])
    return _layout(fig, "Share of voice")


def voice_sentiment(voice: ShareOfVoice) -> go.Figure:
    """Net sentiment per tag per period (periods where a tag had no mentions are gaps)."""
    fig = go.Figure()
    for tag in voice.tags:
        points = [(p.period, s) for p in voice.periods for s in p.tags if s.tag == tag and s.mentions]
        fig.add_scatter(
            x=[period for period, _ in points],
            y=[s.net_sentiment for _, s in points],
            name=tag,
            mode="lines+markers",
            text=[f"{s.mentions} mentions" for _, s in points],
        )
    fig.update_yaxes(range=[-1.05, 1.05], title_text="net sentiment")
    return _layout(fig, "Net sentiment per tag")


def products_ranked(products: list[ProductInsight]) -> go.Figure:
    """Products with counted reviews by net sentiment; with many, the lowest and the highest only."""
    ranked = sorted((p for p in products if p.counted_reviews), key=lambda p: p.net_sentiment)
    title = "Products by net sentiment"
    if len(ranked) > 2 * RANKED_EACH_END:
        title += f" (the {RANKED_EACH_END} lowest and highest of {len(ranked):,})"
        ranked = ranked[:RANKED_EACH_END] + ranked[-RANKED_EACH_END:]
    fig = go.Figure(
        go.Bar(
            x=[p.net_sentiment for p in ranked],
            y=[p.title or p.external_id for p in ranked],
            orientation="h",
            marker_color=[SENTIMENT_COLORS["positive" if p.net_sentiment >= 0 else "negative"] for p in ranked],
            text=[f"{p.counted_reviews:,} reviews" for p in ranked],
        )
    )
    fig.update_xaxes(range=[-1, 1], title_text="net sentiment")
    return _layout(fig, title, height=max(260, 60 + 40 * len(ranked)))


def aspects_diverging(aspects: list[AspectCounts]) -> go.Figure:
    """Positive mentions to the right, negative to the left, one row per aspect."""
    rows = sorted(aspects, key=lambda a: a.mentions)
    names = [a.group for a in rows]
    fig = go.Figure()
    fig.add_bar(
        y=names,
        x=[-a.negative for a in rows],
        name="negative",
        orientation="h",
        marker_color=SENTIMENT_COLORS["negative"],
        customdata=[a.negative for a in rows],
        hovertemplate="%{y}: %{customdata} negative<extra></extra>",
    )
    fig.add_bar(
        y=names,
        x=[a.positive for a in rows],
        name="positive",
        orientation="h",
        marker_color=SENTIMENT_COLORS["positive"],
        hovertemplate="%{y}: %{x} positive<extra></extra>",
    )
    fig.update_layout(barmode="relative")
    fig.update_xaxes(title_text="mentions (negative | positive)")
    return _layout(fig, "Aspects: what customers praise and complain about", height=max(280, 60 + 28 * len(rows)))


def rating_vs_sentiment(periods: list[TrendPeriod]) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [p.period for p in periods]
    fig.add_scatter(
        x=x,
        y=[p.net_sentiment for p in periods],
        name="net sentiment",
        mode="lines+markers",
        line={"color": SENTIMENT_COLORS["positive"]},
    )
    fig.add_scatter(
        x=x,
        y=[p.average_rating for p in periods],
        name="average rating",
        mode="lines+markers",
        line={"color": "#3b6fd6", "dash": "dot"},
        secondary_y=True,
    )
    fig.update_yaxes(title_text="net sentiment", range=[-1, 1], secondary_y=False)
    fig.update_yaxes(title_text="stars", range=[1, 5], showgrid=False, secondary_y=True)
    return _layout(fig, "Rating vs sentiment")


def aspect_trends(series: dict[str, list[TrendPeriod]]) -> go.Figure:
    fig = go.Figure()
    for name, periods in series.items():
        fig.add_scatter(
            x=[p.period for p in periods],
            y=[p.net_sentiment for p in periods],
            name=name,
            mode="lines+markers",
            text=[f"{p.mentions} mentions" for p in periods],
        )
    fig.update_yaxes(range=[-1.05, 1.05], title_text="net sentiment")
    return _layout(fig, "Aspect sentiment over time")


def changes(entries: list[AspectChange], title: str) -> go.Figure:
    labels = [f"{e.group} · {e.product.title or e.product.external_id}" for e in entries][::-1]
    values = [e.change for e in entries][::-1]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker_color=[SENTIMENT_COLORS["positive" if v > 0 else "negative"] for v in values],
        )
    )
    fig.update_xaxes(title_text="change in net sentiment")
    return _layout(fig, title, height=max(220, 60 + 32 * len(entries)))


def explanation(items: list[dict[str, Any]]) -> go.Figure:
    rows = sorted(items, key=lambda e: e["weight"])
    fig = go.Figure(
        go.Bar(
            x=[e["weight"] for e in rows],
            y=[e["text"] for e in rows],
            orientation="h",
            marker_color=[SENTIMENT_COLORS["positive" if e["weight"] > 0 else "negative"] for e in rows],
        )
    )
    fig.update_xaxes(title_text="push towards positive (+) or negative (-)")
    return _layout(fig, "Words that moved the score", height=max(220, 60 + 30 * len(rows)))


def share_change(figures: dict[str, Any], title: str) -> go.Figure:
    """A sentiment dip's evidence: the share of reviews complaining in the baseline weeks and this week."""
    labels = ["baseline", "this week"]
    shares = [float(figures.get("baseline_share") or 0.0), float(figures.get("share") or 0.0)]
    counts = [
        f"{figures.get('baseline_negative', '?')} of {figures.get('baseline_reviews', '?')} reviews",
        f"{figures.get('negative', '?')} of {figures.get('reviews', '?')} reviews",
    ]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=shares,
            marker_color=["#9aa0a6", SENTIMENT_COLORS["negative"]],
            text=[f"{share:.0%}" for share in shares],
            textposition="outside",
            customdata=counts,
            hovertemplate="%{x}: %{y:.1%} (%{customdata})<extra></extra>",
        )
    )
    top = max(*shares, 0.05)
    fig.update_yaxes(title_text="share of reviews complaining", tickformat=".0%", range=[0, min(1.0, top * 1.3)])
    return _layout(fig, title, height=300)


def aspect_weeks(
    periods: list[TrendPeriod], window: tuple[date, date] | None, title: str, shown: tuple[date, date] | None = None
) -> go.Figure:
    """An aspect's negative and positive mentions per week (each bar spans its week), net sentiment on a
    second axis, the insight's window shaded, and the x axis over ``shown`` (baseline and window)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [p.period for p in periods]
    week = {"width": WEEK_MS * 0.9, "offset": WEEK_MS * 0.05}  # from the week's Monday, not centred on it
    fig.add_bar(
        x=x, y=[p.negative for p in periods], name="negative", marker_color=SENTIMENT_COLORS["negative"], **week
    )
    fig.add_bar(
        x=x, y=[p.positive for p in periods], name="positive", marker_color=SENTIMENT_COLORS["positive"], **week
    )
    fig.add_scatter(
        x=[p.period + timedelta(days=3.5) for p in periods],
        y=[p.net_sentiment for p in periods],
        name="net sentiment",
        mode="lines+markers",
        line={"color": "#333"},
        secondary_y=True,
    )
    if window is not None:
        end = window[1] + timedelta(days=1)  # the window's last day, whole
        fig.add_vrect(x0=window[0], x1=end, fillcolor=SENTIMENT_COLORS["negative"], opacity=0.12, line_width=0)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="date", tickformat="%b %d")
    if shown is not None:
        fig.update_xaxes(range=[shown[0], shown[1] + timedelta(days=1)])
    few = max((p.mentions for p in periods), default=0) <= 10
    fig.update_yaxes(title_text="mentions", rangemode="tozero", dtick=1 if few else None, secondary_y=False)
    fig.update_yaxes(
        title_text="net sentiment", range=[-1, 1], tickvals=[-1, -0.5, 0, 0.5, 1], showgrid=False, secondary_y=True
    )
    return _layout(fig, title)


def mark_insights(fig: go.Figure, insights: list[InsightInfo]) -> go.Figure:
    """A vertical rule at each insight's first_seen, coloured by severity, labelled with its number."""
    for insight in insights:
        color = SEVERITY_COLORS.get(insight.severity, "#666")
        # A shape and an annotation, not add_vline: its annotation cannot be placed on a date axis.
        fig.add_shape(
            type="line",
            x0=insight.first_seen,
            x1=insight.first_seen,
            yref="paper",
            y0=0,
            y1=1,
            line={"color": color, "width": 2, "dash": "dash"},
            name=f"insight {insight.id}",
        )
        fig.add_annotation(
            x=insight.first_seen,
            yref="paper",
            y=1,
            text=f"#{insight.id} {insight.type}",
            showarrow=False,
            yanchor="bottom",
            font={"color": color, "size": 11},
            hovertext=insight.message,
        )
    return fig


def host_metric(
    points: list[SeriesPoint], title: str, unit: str, insights: list[InsightInfo], span: tuple[datetime, datetime]
) -> go.Figure:
    """One host series over ``span``: the value (a bucket's mean), its low-high band when the points are
    rollups, and the host's insights marked where they were first seen."""
    fig = go.Figure()
    x = [p.at for p in points]
    if any(p.count > 1 for p in points):
        fig.add_scatter(x=x, y=[p.high for p in points], mode="lines", line={"width": 0}, showlegend=False)
        fig.add_scatter(
            x=x,
            y=[p.low for p in points],
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(59,111,214,0.15)",
            name="low to high",
        )
    fig.add_scatter(x=x, y=[p.value for p in points], mode="lines", name="value", line={"color": "#3b6fd6"})
    fig.update_xaxes(range=list(span))
    fig.update_yaxes(title_text=unit, rangemode="tozero")
    mark_insights(fig, [i for i in insights if span[0] <= i.first_seen <= span[1]])
    fig.update_layout(showlegend=False)
    return _layout(fig, title, height=280)
