"""Opinara's default alert rules as Prometheus alerting rules, and a Grafana dashboard of its metrics.

For teams that run Prometheus: ``deploy/prometheus/rules.yml`` holds one group, ``opinara``, with an
alerting rule per default rule (``DEFAULT_RULES``) that Prometheus can evaluate over Opinara's own
``/metrics``; ``deploy/grafana/opinara.json`` is a dashboard of those metrics. Both are generated here,
from the same definitions as the built-in rules, and checked in; a test keeps them in step::

    python -m opinara.alerts.prometheus deploy/

Each alert is named with the rule's slug (``alert: api-error-rate``), not a CamelCase variant: the
built-in rules send that same name as ``alertname`` through the Alertmanager channel, so routes,
silences and inhibitions in Alertmanager apply to an alert whichever of the two raised it.

``SERIES_PROMQL`` maps each default rule's ``series`` to PromQL over Opinara's metrics, already
aggregated over the rule's window as its ``aggregation`` asks; the rule's condition is that expression
compared with the threshold, with ``for`` and ``keep_firing_for`` from the rule and its severity as a
label. A rule over a series that ``/metrics`` does not export is listed in ``BUILT_IN_ONLY`` with the
reason. A default rule in neither table, or one whose aggregation its mapping does not cover, is an
error at generation time.

The YAML is written by hand (block style; every string quoted: single-quoted when it holds a double
quote and is plain printable ASCII, else JSON-quoted, which YAML reads as written), so generation needs
nothing beyond the standard library (PyYAML is not a declared dependency).

PromQL windows are the rules' own (``rate(...[1m])`` for a 60 s window), so Prometheus should scrape
Opinara at least twice a window: every 30 s or more often (15 s, Prometheus's usual, is fine).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opinara.alerts.rules import DEFAULT_RULES, PLACEHOLDER, RuleSpec, format_value

RULES_PATH = Path("prometheus/rules.yml")
DASHBOARD_PATH = Path("grafana/opinara.json")
GROUP = "opinara"
COMMAND = "python -m opinara.alerts.prometheus deploy/"


@dataclass(frozen=True)
class PromSeries:
    """PromQL for one series: ``expr`` with ``$window`` standing for the rule's window, and the rule
    aggregations it stands for (a rule with another aggregation over this series fails generation)."""

    expr: str
    aggregations: tuple[str, ...]
    note: str


# Per ``job``, so that one Prometheus watching several Opinara deployments alerts on each.
SERIES_PROMQL: dict[str, PromSeries] = {
    "api_error_ratio": PromSeries(
        'sum by (job) (rate(opinara_http_requests_total{status=~"5.."}[$window]))'
        " / clamp_min(sum by (job) (rate(opinara_http_requests_total[$window])), 1e-9)",
        ("avg",),
        "share of HTTP responses that were 5xx over the window (0 without traffic)",
    ),
    "api_latency_p99_seconds": PromSeries(
        "histogram_quantile(0.99, sum by (job, le) (rate(opinara_http_request_duration_seconds_bucket[$window])))",
        ("avg",),
        "p99 of HTTP request latency over the window, from the latency histogram",
    ),
    "queue_depth": PromSeries(
        "max by (job) (last_over_time(opinara_queue_depth[$window]))",
        ("last",),
        "jobs waiting in the queue, as last scraped within the window",
    ),
    # No clamp_min here: without lookups the ratio is NaN and never "under 0.5", as the built-in rule
    # has no value then and does not fire.
    "cache_hit_ratio": PromSeries(
        'sum by (job) (rate(opinara_cache_lookups_total{level="memory",outcome="hit"}[$window]))'
        ' / sum by (job) (rate(opinara_cache_lookups_total{level="memory"}[$window]))',
        ("avg",),
        "first-level (memory) result cache hits per lookup over the window",
    ),
}

# Series that Opinara stores (pushed through /v1/metrics and /v1/series, or kept per monitor) but does not
# export on /metrics: Prometheus cannot see them, so these rules stay with Opinara's own evaluator.
BUILT_IN_ONLY: dict[str, str] = {
    "health-check-failing": (
        "health_check_failures is a series that external checkers push to Opinara, one per check; /metrics "
        "has no counterpart (Prometheus's own `up` is the liveness signal for a scraped Opinara)"
    ),
    "cost-over-baseline": "cost_daily is a series pushed to Opinara (billing exports); /metrics has no cost metric",
    "monitor-failing": (
        "monitor_failing is kept per monitor from its stored runs and pause state; /metrics only counts runs "
        "by source and status (opinara_monitor_runs_total), with no monitor label and no pause state"
    ),
    "host-stopped-reporting": (
        "host_cpu_usage comes from host agents pushing to /v1/metrics; Prometheus watches hosts with its own "
        "exporters and `up`"
    ),
}

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class GenerationError(ValueError):
    """A default rule that cannot be turned into a Prometheus rule."""


def duration(seconds: int) -> str:
    """Seconds as a Prometheus duration in its largest whole unit: 300 -> ``5m``, 90 -> ``90s``."""
    if seconds <= 0:
        return "0s"
    unit, size = next((unit, size) for unit, size in _UNITS if seconds % size == 0)
    return f"{seconds // size}{unit}"


def rule_expr(spec: RuleSpec) -> str:
    """The PromQL condition of a series rule: its series' mapping over its window, compared with its threshold."""
    mapping = SERIES_PROMQL.get(spec.series or "")
    if mapping is None:
        raise GenerationError(f"rule {spec.name!r}: no PromQL for series {spec.series!r} (add it to SERIES_PROMQL)")
    if spec.aggregation not in mapping.aggregations:
        raise GenerationError(
            f"rule {spec.name!r}: the PromQL for {spec.series!r} stands for {'/'.join(mapping.aggregations)}, "
            f"not {spec.aggregation!r}"
        )
    if spec.op is None or spec.threshold is None:
        raise GenerationError(f"rule {spec.name!r}: a rule without op and threshold has no PromQL form here")
    if spec.labels:
        raise GenerationError(f"rule {spec.name!r}: label matchers are not mapped to PromQL")
    series = mapping.expr.replace("$window", duration(spec.window_seconds or 0))
    return f"({series}) {spec.op} {format_value(spec.threshold)}"


def prometheus_summary(spec: RuleSpec) -> str:
    """The rule's summary as a Prometheus template: ``{value}`` -> ``{{ printf "%.4g" $value }}`` (as the built-in rule writes numbers), label
    placeholders -> ``{{ $labels.NAME }}``, ``{labels}`` -> ``name=value, ...`` as the built-in rule writes it."""
    constants = {
        "threshold": format_value(spec.threshold),
        "name": spec.name,
        "severity": spec.severity,
        "series": spec.series or "",
    }

    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return '{{ "' + text + '" }}'
        name = match.group(1)
        if name == "value":
            return '{{ printf "%.4g" $value }}'
        if name == "labels":
            return '{{ $sep := "" }}{{ range $k, $v := $labels }}{{ $sep }}{{ $k }}={{ $v }}{{ $sep = ", " }}{{ end }}'
        if name in constants:
            return constants[name]
        if _KEY.fullmatch(name or ""):
            return "{{ $labels." + name + " }}"
        return text

    return PLACEHOLDER.sub(substitute, spec.summary or f"{spec.name}: {{value}} ({spec.op} {{threshold}})")


def alerting_rule(spec: RuleSpec) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": spec.name, "expr": rule_expr(spec)}  # checks the mapping first
    mapping = SERIES_PROMQL[spec.series or ""]
    if spec.for_seconds:
        rule["for"] = duration(spec.for_seconds)
    if spec.keep_firing_seconds:
        rule["keep_firing_for"] = duration(spec.keep_firing_seconds)
    rule["labels"] = {"severity": spec.severity}
    rule["annotations"] = {
        "summary": prometheus_summary(spec),
        "description": (
            f"Opinara's built-in rule {spec.name}: {spec.series} ({spec.aggregation} over "
            f"{duration(spec.window_seconds or 0)}) {spec.op} {format_value(spec.threshold)}; "
            f"here {mapping.note}."
        ),
    }
    return rule


def rules_document(rules: Iterable[RuleSpec] = DEFAULT_RULES) -> dict[str, Any]:
    """The rules file as data: one group with an alerting rule per default rule not in ``BUILT_IN_ONLY``."""
    rules = list(rules)
    names = {spec.name for spec in rules}
    stale = sorted(set(BUILT_IN_ONLY) - names)
    if stale:
        raise GenerationError(f"BUILT_IN_ONLY names rules that are not default rules: {stale}")
    alerting = []
    for spec in rules:
        if spec.name in BUILT_IN_ONLY:
            continue
        if spec.kind != "series":
            raise GenerationError(
                f"rule {spec.name!r}: an insight rule has no Prometheus form; list it in BUILT_IN_ONLY"
            )
        alerting.append(alerting_rule(spec))
    return {"groups": [{"name": GROUP, "rules": alerting}]}


def render_rules(rules: Iterable[RuleSpec] = DEFAULT_RULES) -> str:
    """``deploy/prometheus/rules.yml``'s text."""
    header = [
        f"# Generated by `{COMMAND}` from opinara.alerts.rules.DEFAULT_RULES: do not edit by hand.",
        "# Opinara's default alert rules over its own /metrics; alert names are the rules' names.",
        "# Built-in only (Prometheus cannot see their series):",
        *(f"#   {name}: {reason}" for name, reason in BUILT_IN_ONLY.items()),
    ]
    return "\n".join(header) + "\n" + to_yaml(rules_document(rules))


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists, strings, numbers and booleans; every string quoted."""
    return "\n".join(_yaml_lines(value, indent)) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, str) and '"' in value and value.isascii() and value.isprintable():
        return "'" + value.replace("'", "''") + "'"  # PromQL reads better without escaped quotes
    if isinstance(value, str | bool | int | float) or value is None:
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _key(key: str) -> str:
    return key if _KEY.fullmatch(key) else json.dumps(key)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                lines += [f"{pad}{_key(key)}:", *_yaml_lines(item, indent + 2)]
            else:
                lines.append(f"{pad}{_key(key)}: {_empty(item) if isinstance(item, Mapping | list) else _scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping | list) and item:
                nested = _yaml_lines(item, indent + 2)
                lines += [f"{pad}- {nested[0].lstrip()}", *nested[1:]]
            else:
                lines.append(f"{pad}- {_empty(item) if isinstance(item, Mapping | list) else _scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines


def _empty(value: Mapping[str, Any] | list[Any]) -> str:
    return "{}" if isinstance(value, Mapping) else "[]"


# --- Grafana ---------------------------------------------------------------------------------------

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[tuple[str, str], ...]  # (expr, legend)
    unit: str
    description: str
    rule: str | None = None  # a default rule whose threshold the panel draws


def _quantile(q: float, metric: str, by: str = "") -> str:
    labels = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) (rate({metric}_bucket[{RATE}])))"


PANELS: tuple[Panel, ...] = (
    Panel(
        "Request rate by route",
        ((f"sum by (route) (rate(opinara_http_requests_total[{RATE}]))", "{{route}}"),),
        "reqps",
        "HTTP requests per second, by route (as declared, not the raw path)",
    ),
    Panel(
        "Error ratio (5xx)",
        (
            (
                f'sum(rate(opinara_http_requests_total{{status=~"5.."}}[{RATE}]))'
                f" / clamp_min(sum(rate(opinara_http_requests_total[{RATE}])), 1e-9)",
                "5xx share",
            ),
        ),
        "percentunit",
        "Share of HTTP responses with a 5xx status; the line is the api-error-rate rule's threshold",
        "api-error-rate",
    ),
    Panel(
        "Request latency p50 / p99",
        (
            (_quantile(0.5, "opinara_http_request_duration_seconds"), "p50"),
            (_quantile(0.99, "opinara_http_request_duration_seconds"), "p99"),
        ),
        "s",
        "From the request latency histogram; the line is the api-latency-p99 rule's threshold",
        "api-latency-p99",
    ),
    Panel(
        "Queue depth",
        (("max(opinara_queue_depth)", "waiting jobs"),),
        "short",
        "Jobs waiting in the queue; the line is the queue-depth rule's threshold",
        "queue-depth",
    ),
    Panel(
        "Cache hit ratio",
        (
            (
                f'sum by (level) (rate(opinara_cache_lookups_total{{outcome="hit"}}[{RATE}]))'
                f" / sum by (level) (rate(opinara_cache_lookups_total[{RATE}]))",
                "{{level}}",
            ),
        ),
        "percentunit",
        "Result cache hits per lookup, by level; the line is the cache-hit-ratio rule's threshold (memory level)",
        "cache-hit-ratio",
    ),
    Panel(
        "Jobs finished by status",
        ((f"sum by (status) (rate(opinara_jobs_finished_total[{RATE}]))", "{{status}}"),),
        "ops",
        "Async jobs finished per second, by status",
    ),
    Panel(
        "Job duration p50 / p95",
        (
            (_quantile(0.5, "opinara_job_duration_seconds", "kind"), "p50 {{kind}}"),
            (_quantile(0.95, "opinara_job_duration_seconds", "kind"), "p95 {{kind}}"),
        ),
        "s",
        "Job run time by kind, from its histogram",
    ),
    Panel(
        "Monitor runs by status",
        ((f"sum by (status) (rate(opinara_monitor_runs_total[{RATE}]))", "{{status}}"),),
        "ops",
        "Monitor runs per second, by status",
    ),
    Panel(
        "Monitor lag p50 / p99",
        (
            (_quantile(0.5, "opinara_monitor_lag_seconds"), "p50"),
            (_quantile(0.99, "opinara_monitor_lag_seconds"), "p99"),
        ),
        "s",
        "From a monitor's due time to the start of its run",
    ),
    Panel(
        "Texts analyzed by backend",
        ((f"sum by (backend) (rate(opinara_texts_analyzed_total[{RATE}]))", "{{backend}}"),),
        "short",
        "Texts analyzed per second, by analysis backend (API and jobs)",
    ),
)


def _thresholds(rule: str | None) -> dict[str, Any]:
    spec = next((spec for spec in DEFAULT_RULES if spec.name == rule), None)
    if spec is None or spec.threshold is None:
        return {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
    if spec.op in (">", ">="):
        steps = [{"color": "green", "value": None}, {"color": "red", "value": spec.threshold}]
    else:
        steps = [{"color": "red", "value": None}, {"color": "green", "value": spec.threshold}]
    return {"mode": "absolute", "steps": steps}


def _panel(index: int, panel: Panel) -> dict[str, Any]:
    refs = "ABCDEFGH"
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                "min": 0,
                "thresholds": _thresholds(panel.rule),
                "custom": {"thresholdsStyle": {"mode": "line" if panel.rule else "off"}},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [
            {"refId": refs[number], "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for number, (expr, legend) in enumerate(panel.targets)
        ],
    }


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard (schema 39): a Prometheus data source variable and a panel per metric view."""
    return {
        "title": "Opinara",
        "uid": "opinara",
        "description": f"Opinara's Prometheus metrics. Generated by `{COMMAND}`: do not edit by hand.",
        "tags": ["opinara"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "regex": "",
                    "options": [],
                }
            ]
        },
        "panels": [_panel(index, panel) for index, panel in enumerate(PANELS)],
    }


def render_dashboard() -> str:
    """``deploy/grafana/opinara.json``'s text."""
    return json.dumps(dashboard(), indent=2) + "\n"


def generated(root: Path) -> dict[Path, str]:
    """Each generated file under ``root`` (the ``deploy/`` folder) with its text."""
    return {root / RULES_PATH: render_rules(), root / DASHBOARD_PATH: render_dashboard()}


def write_files(root: Path) -> list[Path]:
    """Writes the rules file and the dashboard under ``root``; returns their paths."""
    written = []
    for path, text in generated(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print(
            "usage: python -m opinara.alerts.prometheus DEPLOY_DIR   (writes prometheus/rules.yml, grafana/opinara.json)"
        )
        return 2
    for path in write_files(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
