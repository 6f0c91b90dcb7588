"""Alert rules and their state machine: pure, no I/O, no clock (``now`` is always passed in).

A rule watches either a series (an aggregation of its points over a window, compared with a threshold)
or the open insights (by type, severity and entity). One ``RuleState`` belongs to one instance of a
rule: a series rule whose ``labels`` match several series (one per host, say) has one state per series,
as Prometheus has one alert per label set; grouping them is the caller's job.

States follow Grafana's (Normal, Pending, Alerting, NoData, Error) with Prometheus's ``for`` and
``keep_firing_for``:

- ``inactive`` -> ``pending`` when the condition holds, -> ``firing`` once it has held for
  ``for_seconds`` (at once when that is 0). A pending rule whose condition stops holding goes back to
  ``inactive`` and never fires.
- A firing rule whose condition stops holding keeps firing until ``keep_firing_seconds`` have passed
  since the first evaluation where it did not hold (against flapping; as Prometheus counts), then
  ``resolved``; ``resolved`` becomes ``inactive`` on
  the next evaluation where the condition does not hold (or a new episode begins if it does).
- ``no_data`` when the series has had no point for ``no_data_seconds``, ``error`` when the caller could
  not read it: never a silent ``inactive``. Both keep a firing alert's episode (``fired_at``), so that
  on recovery it neither fires twice nor forgets to resolve; a pending timer starts over.

Each transition that someone should hear about yields its event exactly once, in ``Step.events``:
``fired``, ``resolved``, ``no_data``, ``error``, ``recovered`` (out of ``no_data`` or ``error``).
Recovery can yield two at once, ``("recovered", "fired")`` or ``("recovered", "resolved")``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationInfo, field_validator

from opinara.signals.points import LABEL, NAME

Kind = Literal["series", "insight"]
Severity = Literal["info", "warning", "critical"]
Op = Literal[">", ">=", "<", "<="]
# ``ratio_to_baseline``: the average over the window divided by the average over the
# ``baseline_seconds`` just before it ("daily cost over 150% of its baseline" is ``> 1.5``).
Aggregation = Literal[
    "avg", "min", "max", "sum", "count", "last", "p50", "p90", "p95", "p99", "rate", "ratio_to_baseline"
]
Phase = Literal["inactive", "pending", "firing", "resolved", "no_data", "error"]
Event = Literal["fired", "resolved", "no_data", "error", "recovered"]

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
_DAY = 86_400
_SERIES_ONLY = ("series", "aggregation", "window_seconds")
_INSIGHT_ONLY = ("insight_types", "min_severity", "entity")


class RuleSpec(BaseModel):
    """One alert rule, as stored and as the API takes and returns it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    name: str = Field(min_length=1, max_length=64, description="a slug: lowercase letters, digits, dashes")
    severity: Severity = "warning"
    enabled: bool = True
    summary: str | None = Field(None, max_length=500, description="with {value}, {threshold}, {name}, label names")
    for_seconds: int = Field(0, ge=0, le=7 * _DAY)
    keep_firing_seconds: int = Field(0, ge=0, le=7 * _DAY)
    # series rules
    series: str | None = Field(None, validate_default=True)
    labels: dict[str, str] = Field(default_factory=dict)
    aggregation: Aggregation | None = Field(None, validate_default=True)
    window_seconds: int | None = Field(None, ge=1, le=31 * _DAY, validate_default=True)
    baseline_seconds: int | None = Field(None, ge=1, le=90 * _DAY, validate_default=True)
    op: Op | None = Field(None, validate_default=True)
    threshold: FiniteFloat | None = Field(None, validate_default=True)
    no_data_seconds: int | None = Field(None, ge=1, le=7 * _DAY, validate_default=True)
    # insight rules
    insight_types: list[str] = Field(default_factory=list, validate_default=True)
    min_severity: Severity | None = Field(None, validate_default=True)
    entity: dict[str, str] | None = Field(None, validate_default=True)

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        if not _SLUG.fullmatch(name):
            raise ValueError("must be a slug: lowercase letters, digits and single dashes, like 'api-error-rate'")
        return name

    @field_validator("summary")
    @classmethod
    def _template(cls, summary: str | None) -> str | None:
        if summary is not None:
            for match in PLACEHOLDER.finditer(summary):
                inner = match.group(1)
                if inner is not None and not _PLACEHOLDER_NAME.fullmatch(inner):
                    raise ValueError(
                        f"placeholder {match.group(0)!r} is not a plain name like {{value}} "
                        "(no attributes, indexes or formats; write {{ and }} for literal braces)"
                    )
        return summary

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not LABEL.fullmatch(key):
                raise ValueError(f"label name {key!r} must match [a-zA-Z_][a-zA-Z0-9_]*")
        return labels

    @field_validator(*_SERIES_ONLY, *_INSIGHT_ONLY)
    @classmethod
    def _belongs_to_kind(cls, value: object, info: ValidationInfo) -> object:
        kind = info.data.get("kind")
        unset = value is None or value == [] or value == {}
        if kind == "series" and info.field_name in _SERIES_ONLY and unset:
            raise ValueError("required for a series rule")
        if kind == "series" and info.field_name in _INSIGHT_ONLY and not unset:
            raise ValueError("only for an insight rule")
        if kind == "insight" and info.field_name in _SERIES_ONLY and not unset:
            raise ValueError("only for a series rule")
        if info.field_name == "series" and value is not None and not NAME.fullmatch(str(value)):
            raise ValueError("must be a Prometheus-style name, [a-zA-Z_:][a-zA-Z0-9_:]*")
        return value

    @field_validator("baseline_seconds")
    @classmethod
    def _baseline(cls, value: int | None, info: ValidationInfo) -> int | None:
        wanted = info.data.get("aggregation") == "ratio_to_baseline"
        if wanted and value is None:
            raise ValueError("required with aggregation 'ratio_to_baseline'")
        if not wanted and value is not None:
            raise ValueError("only with aggregation 'ratio_to_baseline'")
        return value

    @field_validator("op", "threshold", "no_data_seconds")
    @classmethod
    def _condition(cls, value: object, info: ValidationInfo) -> object:
        # A series rule compares with a threshold, or (op and threshold both left out) only watches
        # for missing data, like "a host that stopped reporting".
        kind = info.data.get("kind")
        if kind == "insight" and value is not None:
            raise ValueError("only for a series rule")
        if kind == "series" and info.field_name == "threshold" and (value is None) != (info.data.get("op") is None):
            raise ValueError("op and threshold go together: set both, or neither for a rule that only watches no_data")
        if kind == "series" and info.field_name == "no_data_seconds" and value is None and info.data.get("op") is None:
            raise ValueError("a series rule without op and threshold must set no_data_seconds")
        return value

    @property
    def lookback_seconds(self) -> int:
        """How far back before ``now`` the caller should read points: the window and any baseline."""
        return (self.window_seconds or 0) + (self.baseline_seconds or 0)

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        """Whether a series with these labels is watched by this rule (exact equality on each matcher)."""
        return all(labels.get(key) == value for key, value in self.labels.items())


class RuleState(BaseModel):
    """Where one rule instance stands. ``since``: when ``state`` began; ``active_since``: when the
    condition began to hold in the current episode; ``last_true_at``: the last evaluation where it
    held; ``fired_at``: when the current firing began (kept through no_data and error);
    ``false_since``: when the condition of a firing rule stopped holding (keep-firing counts from it)."""

    model_config = ConfigDict(frozen=True)

    state: Phase = "inactive"
    since: datetime | None = None
    active_since: datetime | None = None
    last_true_at: datetime | None = None
    fired_at: datetime | None = None
    false_since: datetime | None = None
    value: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Step:
    """The outcome of one evaluation: the new state, and the events to notify (most often none)."""

    state: RuleState
    events: tuple[Event, ...] = field(default=())


@dataclass(frozen=True)
class InsightRef:
    """An open insight, as an insight rule sees it."""

    type: str
    severity: Severity
    entity: Mapping[str, str] = field(default_factory=dict)


def aggregate(points: Sequence[tuple[datetime, float]], how: str) -> float | None:
    """The points reduced to one number; None when there are none (NaN points are skipped). ``rate``
    is a counter's per-second increase between its first and last point, a drop counting as a reset
    (no extrapolation; None under two points). Percentiles interpolate linearly between ranks."""
    kept = sorted((at, value) for at, value in points if not math.isnan(value))
    if not kept:
        return None
    values = [value for _, value in kept]
    if how == "avg":
        return math.fsum(values) / len(values)
    if how in ("min", "max"):
        return min(values) if how == "min" else max(values)
    if how == "sum":
        return math.fsum(values)
    if how == "count":
        return float(len(values))
    if how == "last":
        return values[-1]
    if how in _PERCENTILES:
        return _percentile(sorted(values), _PERCENTILES[how])
    if how == "rate":
        span = (kept[-1][0] - kept[0][0]).total_seconds()
        if len(kept) < 2 or span <= 0:
            return None
        increase = math.fsum(b - a if b >= a else b for a, b in pairwise(values))
        return increase / span
    raise ValueError(f"unknown aggregation {how!r} (ratio_to_baseline needs a window: use series_value)")


def _percentile(ordered: list[float], q: float) -> float:
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def series_value(spec: RuleSpec, now: datetime, points: Sequence[tuple[datetime, float]]) -> float | None:
    """The rule's value at ``now`` over the points in ``(now - window, now]`` (for ``ratio_to_baseline``,
    against those in the ``baseline_seconds`` before the window); None when it has none to go on,
    including a baseline that is missing or not positive."""
    assert spec.window_seconds is not None and spec.aggregation is not None
    start = now - timedelta(seconds=spec.window_seconds)
    window = [(at, value) for at, value in points if start < at <= now]
    if spec.aggregation != "ratio_to_baseline":
        return aggregate(window, spec.aggregation)
    base_start = start - timedelta(seconds=spec.baseline_seconds or 0)
    current = aggregate(window, "avg")
    baseline = aggregate([(at, value) for at, value in points if base_start < at <= start], "avg")
    if current is None or baseline is None or baseline <= 0:
        return None
    return current / baseline


def holds(op: str, value: float, threshold: float) -> bool:
    """``value op threshold``."""
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    raise ValueError(f"unknown op {op!r}")


def evaluate(
    spec: RuleSpec,
    state: RuleState,
    now: datetime,
    points: Sequence[tuple[datetime, float]] | None,
    *,
    last_point_at: datetime | None = None,
    error: str | None = None,
) -> Step:
    """One evaluation of a series rule at ``now``. ``points``: the series' points from at least
    ``now - spec.lookback_seconds`` (others are ignored); ``last_point_at``: the time of the series'
    latest point of all, if the caller knows one older than ``points`` (None: never reported, or see
    ``points``); ``error``: why the series could not be read (then ``points`` is ignored)."""
    if spec.kind != "series":
        raise ValueError(f"rule {spec.name!r} is an insight rule: use evaluate_insight")
    if not spec.enabled:
        return _disabled(state, now)
    if error is not None:
        return _outage(state, now, "error", error)
    points = points or ()
    seen = [at for at, _ in points if at <= now]
    latest = max([*seen, *([last_point_at] if last_point_at else [])], default=None)
    if spec.no_data_seconds is not None and (latest is None or (now - latest).total_seconds() >= spec.no_data_seconds):
        return _outage(state, now, "no_data", None)
    value = series_value(spec, now, points)
    met = value is not None and spec.op is not None and holds(spec.op, value, spec.threshold or 0.0)
    return _advance(spec, state, now, met, value)


def insight_matches(spec: RuleSpec, insight: InsightRef) -> bool:
    """Whether an open insight is one this rule watches (no ``insight_types``: any type)."""
    if spec.insight_types and insight.type not in spec.insight_types:
        return False
    if SEVERITY_RANK[insight.severity] < SEVERITY_RANK[spec.min_severity or "info"]:
        return False
    return all(insight.entity.get(key) == value for key, value in (spec.entity or {}).items())


def evaluate_insight(
    spec: RuleSpec, state: RuleState, now: datetime, open_insights: Sequence[InsightRef], *, error: str | None = None
) -> Step:
    """One evaluation of an insight rule: its condition holds while at least one matching insight is
    open (``value``: how many), with the same pending, keep-firing and error handling as a series rule."""
    if spec.kind != "insight":
        raise ValueError(f"rule {spec.name!r} is a series rule: use evaluate")
    if not spec.enabled:
        return _disabled(state, now)
    if error is not None:
        return _outage(state, now, "error", error)
    count = sum(1 for insight in open_insights if insight_matches(spec, insight))
    return _advance(spec, state, now, count > 0, float(count))


def _advance(spec: RuleSpec, state: RuleState, now: datetime, met: bool, value: float | None) -> Step:
    events: list[Event] = ["recovered"] if state.state in ("no_data", "error") else []
    fired_at, active_since, last_true_at, false_since = (
        state.fired_at,
        state.active_since,
        state.last_true_at,
        state.false_since,
    )
    if met:
        active_since, last_true_at, false_since = active_since or now, now, None
        if fired_at is None and (now - active_since).total_seconds() >= spec.for_seconds:
            fired_at = now
            events.append("fired")
        phase: Phase = "firing" if fired_at is not None else "pending"
    elif fired_at is not None:
        # As Prometheus's keep_firing_for: counted from the first evaluation where it stopped holding.
        false_since = false_since or now
        if (now - false_since).total_seconds() < spec.keep_firing_seconds:
            phase = "firing"
        else:
            phase, fired_at, active_since, false_since = "resolved", None, None, None
            events.append("resolved")
    else:
        phase, active_since = "inactive", None
    new = RuleState(
        state=phase,
        since=state.since if phase == state.state else now,
        active_since=active_since,
        last_true_at=last_true_at,
        fired_at=fired_at,
        false_since=false_since,
        value=value,
    )
    return Step(new, tuple(events))


def _outage(state: RuleState, now: datetime, phase: Literal["no_data", "error"], error: str | None) -> Step:
    # A firing episode survives the outage (fired_at, active_since, false_since kept); a pending one starts over.
    firing = state.fired_at is not None
    new = RuleState(
        state=phase,
        since=state.since if state.state == phase else now,
        active_since=state.active_since if firing else None,
        last_true_at=state.last_true_at,
        fired_at=state.fired_at,
        false_since=state.false_since,
        value=None,
        error=error,
    )
    return Step(new, () if state.state == phase else (phase,))


def _disabled(state: RuleState, now: datetime) -> Step:
    # Close whatever receivers were told about, so nothing stays open for a rule no one evaluates.
    events: list[Event] = ["recovered"] if state.state in ("no_data", "error") else []
    if state.fired_at is not None:
        events.append("resolved")
    since = state.since if state.state == "inactive" else now
    return Step(RuleState(state="inactive", since=since, last_true_at=state.last_true_at), tuple(events))


def format_value(value: float | None) -> str:
    """A value as a summary shows it: ``n/a``, ``3``, ``0.0734``, ``2.5``, ``1234.5``."""
    if value is None:
        return "n/a"
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1000:
        return f"{value:.1f}"
    return f"{value:.4g}"


def render_summary(spec: RuleSpec, value: float | None, labels: Mapping[str, str] | None = None) -> str:
    """The rule's summary for one instance. Placeholders are plain names only, substituted as text and
    never evaluated: ``{value}``, ``{threshold}``, ``{name}``, ``{severity}``, ``{series}``, ``{labels}``
    (``host=web-1, ...``) and any label name (``{host}``); ``{{`` and ``}}`` are literal braces.
    Anything else in braces (``{value.__class__}``, ``{0}``, an unknown name) is left as written."""
    labels = dict(labels or {})
    template = spec.summary or _default_summary(spec)
    known = {
        **labels,
        "value": format_value(value),
        "threshold": format_value(spec.threshold),
        "name": spec.name,
        "severity": spec.severity,
        "series": spec.series or "",
        "labels": ", ".join(f"{key}={labels[key]}" for key in sorted(labels)),
    }

    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return text[0]
        name = match.group(1)
        return known.get(name, text)

    return PLACEHOLDER.sub(substitute, template)


def _default_summary(spec: RuleSpec) -> str:
    if spec.kind == "insight":
        return "{name}: {value} open insight(s)"
    if spec.op is None:
        return "{name}: {series} {labels} stopped reporting"
    return "{name}: {series} {labels} is {value} (" + (spec.op or "") + " {threshold})"


DEFAULT_RULES: list[RuleSpec] = [
    RuleSpec(
        kind="series",
        name="api-error-rate",
        severity="critical",
        series="api_error_ratio",
        aggregation="avg",
        window_seconds=60,
        op=">",
        threshold=0.05,
        for_seconds=300,
        keep_firing_seconds=120,
        summary="API error ratio is {value} (over {threshold}) for 5 minutes",
    ),
    RuleSpec(
        kind="series",
        name="api-latency-p99",
        severity="critical",
        series="api_latency_p99_seconds",
        aggregation="avg",
        window_seconds=60,
        op=">",
        threshold=2.0,
        for_seconds=600,
        keep_firing_seconds=120,
        summary="API p99 latency is {value} s (over {threshold} s) for 10 minutes",
    ),
    RuleSpec(
        kind="series",
        name="health-check-failing",
        severity="critical",
        series="health_check_failures",
        aggregation="last",
        window_seconds=300,
        op=">=",
        threshold=3,
        summary="Health check {labels} failed {value} times in a row",
    ),
    RuleSpec(
        kind="series",
        name="queue-depth",
        severity="warning",
        series="queue_depth",
        aggregation="last",
        window_seconds=120,
        op=">",
        threshold=100,
        keep_firing_seconds=60,
        summary="Queue {labels} holds {value} items (over {threshold})",
    ),
    RuleSpec(
        kind="series",
        name="cache-hit-ratio",
        severity="warning",
        series="cache_hit_ratio",
        aggregation="avg",
        window_seconds=300,
        op="<",
        threshold=0.5,
        for_seconds=1800,
        keep_firing_seconds=300,
        summary="Cache hit ratio is {value} (under {threshold}) for 30 minutes",
    ),
    RuleSpec(
        kind="series",
        name="cost-over-baseline",
        severity="warning",
        series="cost_daily",
        aggregation="ratio_to_baseline",
        window_seconds=_DAY,
        baseline_seconds=7 * _DAY,
        op=">",
        threshold=1.5,
        summary="Daily cost {labels} is {value} times its 7-day average (over {threshold})",
    ),
    RuleSpec(
        kind="series",
        name="monitor-failing",
        severity="warning",
        series="monitor_failing",
        aggregation="last",
        window_seconds=900,
        op=">=",
        threshold=1,
        summary="Monitor {monitor} is failing or paused by errors",
    ),
    RuleSpec(
        kind="series",
        name="host-stopped-reporting",
        severity="warning",
        series="host_cpu_usage",
        aggregation="last",
        window_seconds=300,
        no_data_seconds=300,
        summary="Host {host} stopped reporting",
    ),
]
