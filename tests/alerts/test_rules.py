from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from opinara.alerts.rules import (
    DEFAULT_RULES,
    InsightRef,
    RuleSpec,
    RuleState,
    aggregate,
    evaluate,
    evaluate_insight,
    render_summary,
    series_value,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rule(**overrides: object) -> RuleSpec:
    fields: dict[str, object] = {
        "kind": "series",
        "name": "errors",
        "series": "api_error_ratio",
        "aggregation": "last",
        "window_seconds": 60,
        "op": ">",
        "threshold": 0.05,
    }
    return RuleSpec(**{**fields, **overrides})


def run(
    spec: RuleSpec,
    value_at: Callable[[int], float | None],
    until: int,
    step: int = 60,
    start: int = 0,
) -> list[tuple[int, str, tuple[str, ...]]]:
    """Feed a series to the rule as an evaluator would: one point and one evaluation every ``step``
    seconds; ``value_at`` None means the series wrote no point then. Returns (t, state, events)."""
    points: list[tuple[datetime, float]] = []
    state = RuleState()
    trace = []
    for t in range(start, until + 1, step):
        value = value_at(t)
        if value is not None:
            points.append((at(t), value))
        step_ = evaluate(spec, state, at(t), points)
        state = step_.state
        trace.append((t, state.state, step_.events))
    return trace


def events_of(trace: list[tuple[int, str, tuple[str, ...]]]) -> list[tuple[int, str]]:
    return [(t, event) for t, _, events in trace for event in events]


def states_of(trace: list[tuple[int, str, tuple[str, ...]]]) -> list[str]:
    return [state for _, state, _ in trace]


# --- the state machine -------------------------------------------------------------------------


def test_pending_then_firing_then_resolved_then_inactive_each_event_once() -> None:
    spec = rule(for_seconds=120)
    trace = run(spec, lambda t: 0.2 if 60 <= t <= 300 else 0.0, until=480)

    assert states_of(trace) == [
        "inactive",
        "pending",
        "pending",
        "firing",
        "firing",
        "firing",
        "resolved",
        "inactive",
        "inactive",
    ]
    assert events_of(trace) == [(180, "fired"), (360, "resolved")]


def test_state_records_when_it_began_and_when_the_condition_first_held() -> None:
    spec = rule(for_seconds=120)
    state = RuleState()
    for t in (0, 60):
        state = evaluate(spec, state, at(t), [(at(t), 0.2)]).state
    assert state.state == "pending"
    assert state.since == at(0) and state.active_since == at(0) and state.last_true_at == at(60)
    assert state.value == 0.2

    state = evaluate(spec, state, at(120), [(at(120), 0.3)]).state
    assert state.state == "firing" and state.since == at(120) and state.fired_at == at(120)
    assert state.active_since == at(0)


def test_zero_for_seconds_fires_on_the_first_evaluation_where_the_condition_holds() -> None:
    trace = run(rule(), lambda t: 0.2 if t >= 120 else 0.0, until=240)

    assert states_of(trace) == ["inactive", "inactive", "firing", "firing", "firing"]
    assert events_of(trace) == [(120, "fired")]


def test_pending_that_recovers_before_for_seconds_never_fires() -> None:
    spec = rule(for_seconds=300)
    # true for 4 minutes, false once, true for 4 minutes again: the timer starts over
    trace = run(spec, lambda t: 0.0 if t == 240 else 0.2, until=480)

    assert "firing" not in states_of(trace)
    assert states_of(trace)[4] == "inactive"
    assert events_of(trace) == []


def test_flapping_within_keep_firing_stays_firing_with_one_fired_event() -> None:
    spec = rule(keep_firing_seconds=180)
    # fires at 0, then flaps: false for two evaluations out of every three
    trace = run(spec, lambda t: 0.2 if (t // 60) % 3 == 0 and t <= 600 else 0.0, until=1200)

    firing = [t for t, state, _ in trace if state == "firing"]
    assert firing == list(range(0, 720 + 1, 60))  # last true at 540: kept until 720, resolved at 780
    assert events_of(trace) == [(0, "fired"), (780, "resolved")]


def test_zero_keep_firing_resolves_at_the_first_false_evaluation() -> None:
    trace = run(rule(), lambda t: 0.2 if t <= 60 else 0.0, until=180)

    assert states_of(trace) == ["firing", "firing", "resolved", "inactive"]
    assert events_of(trace) == [(0, "fired"), (120, "resolved")]


def test_a_resolved_rule_whose_condition_holds_again_starts_a_new_episode() -> None:
    spec = rule(for_seconds=60)
    trace = run(spec, lambda t: 0.0 if t == 180 else 0.2, until=360)

    assert states_of(trace) == ["pending", "firing", "firing", "resolved", "pending", "firing", "firing"]
    assert events_of(trace) == [(60, "fired"), (180, "resolved"), (300, "fired")]


def test_no_points_in_the_window_without_no_data_seconds_is_inactive_with_no_value() -> None:
    step = evaluate(rule(), RuleState(), at(0), [])

    assert step.state.state == "inactive" and step.state.value is None and step.events == ()


def test_a_series_that_stops_reporting_goes_to_no_data_once_and_recovers() -> None:
    spec = rule(no_data_seconds=180)
    trace = run(spec, lambda t: 0.0 if t < 120 or t >= 600 else None, until=720)

    # last point at 60: no data from 240 (180 s later) until a point comes again at 600
    assert states_of(trace) == ["inactive"] * 4 + ["no_data"] * 6 + ["inactive"] * 3
    assert events_of(trace) == [(240, "no_data"), (600, "recovered")]


def test_no_data_is_judged_by_the_last_point_even_with_points_left_in_a_long_window() -> None:
    spec = rule(window_seconds=3600, no_data_seconds=300)
    points = [(at(0), 0.01)]

    assert evaluate(spec, RuleState(), at(299), points).state.state == "inactive"
    assert evaluate(spec, RuleState(), at(300), points).state.state == "no_data"


def test_last_point_at_from_the_caller_counts_when_the_window_is_empty() -> None:
    spec = rule(no_data_seconds=300)

    assert evaluate(spec, RuleState(), at(1000), [], last_point_at=at(800)).state.state == "inactive"
    assert evaluate(spec, RuleState(), at(1000), [], last_point_at=at(600)).state.state == "no_data"


def test_a_series_that_never_reported_is_no_data_never_a_silent_inactive() -> None:
    step = evaluate(rule(no_data_seconds=60), RuleState(), at(0), [])

    assert step.state.state == "no_data" and step.events == ("no_data",)


def test_an_unreadable_series_is_an_error_with_its_message_then_recovers() -> None:
    spec = rule()
    first = evaluate(spec, RuleState(), at(0), None, error="database is locked")
    again = evaluate(spec, first.state, at(60), None, error="connection refused")
    back = evaluate(spec, again.state, at(120), [(at(120), 0.0)])

    assert (first.state.state, first.state.error, first.events) == ("error", "database is locked", ("error",))
    assert (again.state.state, again.state.error, again.events) == ("error", "connection refused", ())
    assert again.state.since == at(0)
    assert (back.state.state, back.state.error, back.events) == ("inactive", None, ("recovered",))


def test_a_firing_alert_through_an_error_neither_fires_twice_nor_forgets_to_resolve() -> None:
    spec = rule()
    firing = evaluate(spec, RuleState(), at(0), [(at(0), 0.2)]).state
    broken = evaluate(spec, firing, at(60), None, error="timeout")
    still = evaluate(spec, broken.state, at(120), [(at(120), 0.3)])
    gone = evaluate(spec, broken.state, at(120), [(at(120), 0.0)])

    assert broken.events == ("error",) and broken.state.fired_at == at(0)
    assert (still.state.state, still.events) == ("firing", ("recovered",))
    assert (gone.state.state, gone.events) == ("resolved", ("recovered", "resolved"))


def test_recovering_straight_into_a_firing_condition_yields_both_events() -> None:
    spec = rule(no_data_seconds=60)
    no_data = evaluate(spec, RuleState(), at(0), [])
    back = evaluate(spec, no_data.state, at(60), [(at(60), 0.2)])

    assert (back.state.state, back.events) == ("firing", ("recovered", "fired"))


def test_a_pending_timer_starts_over_after_an_outage() -> None:
    spec = rule(for_seconds=120)
    state = evaluate(spec, RuleState(), at(0), [(at(0), 0.2)]).state
    state = evaluate(spec, state, at(60), None, error="timeout").state
    back = evaluate(spec, state, at(120), [(at(120), 0.2)])

    assert (back.state.state, back.state.active_since, back.events) == ("pending", at(120), ("recovered",))


def test_moving_from_no_data_to_error_is_one_event_for_the_new_state() -> None:
    spec = rule(no_data_seconds=60)
    no_data = evaluate(spec, RuleState(), at(0), [])
    error = evaluate(spec, no_data.state, at(60), None, error="timeout")

    assert error.state.state == "error" and error.events == ("error",)


def test_disabling_a_firing_rule_resolves_it() -> None:
    firing = evaluate(rule(), RuleState(), at(0), [(at(0), 0.2)]).state
    step = evaluate(rule(enabled=False), firing, at(60), [(at(60), 0.2)])

    assert (step.state.state, step.events) == ("inactive", ("resolved",))


def test_points_outside_the_window_or_in_the_future_are_ignored() -> None:
    spec = rule(aggregation="max", window_seconds=60)
    points = [(at(0), 9.0), (at(60), 0.01), (at(120), 0.02), (at(200), 9.0)]

    assert evaluate(spec, RuleState(), at(120), points).state.value == 0.02


def test_a_state_survives_a_round_trip_through_json() -> None:
    state = evaluate(rule(), RuleState(), at(0), [(at(0), 0.2)]).state

    assert RuleState.model_validate_json(state.model_dump_json()) == state


def test_the_wrong_evaluator_for_the_kind_is_refused() -> None:
    insight_rule = RuleSpec(kind="insight", name="any-insight")
    with pytest.raises(ValueError, match="evaluate_insight"):
        evaluate(insight_rule, RuleState(), at(0), [])
    with pytest.raises(ValueError, match="series rule"):
        evaluate_insight(rule(), RuleState(), at(0), [])


# --- aggregations --------------------------------------------------------------------------------

SERIES = [(at(0), 4.0), (at(10), 1.0), (at(20), 3.0), (at(30), 2.0)]


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("avg", 2.5),
        ("min", 1.0),
        ("max", 4.0),
        ("sum", 10.0),
        ("count", 4.0),
        ("last", 2.0),
        ("p50", 2.5),
        ("p90", 3.7),
        ("p95", 3.85),
        ("p99", 3.97),
    ],
)
def test_each_aggregation(how: str, expected: float) -> None:
    assert aggregate(SERIES, how) == pytest.approx(expected)


@pytest.mark.parametrize("how", ["avg", "min", "max", "sum", "count", "last", "p50", "p90", "p95", "p99", "rate"])
def test_each_aggregation_of_no_points_is_none(how: str) -> None:
    assert aggregate([], how) is None


def test_last_is_the_latest_point_whatever_the_order_given() -> None:
    assert aggregate(list(reversed(SERIES)), "last") == 2.0


def test_rate_is_a_counters_increase_per_second_across_a_reset() -> None:
    counter = [(at(0), 100.0), (at(30), 160.0), (at(60), 10.0), (at(90), 40.0)]

    # +60, reset (counts 10), +30 = 100 over 90 s
    assert aggregate(counter, "rate") == pytest.approx(100 / 90)
    assert aggregate(counter[:1], "rate") is None


def test_nan_points_are_skipped() -> None:
    assert aggregate([(at(0), math.nan), (at(10), 2.0)], "avg") == 2.0
    assert aggregate([(at(0), math.nan)], "max") is None


def test_an_unknown_aggregation_is_refused() -> None:
    with pytest.raises(ValueError, match="median"):
        aggregate(SERIES, "median")


def test_ratio_to_baseline_divides_the_window_by_the_period_before_it() -> None:
    spec = rule(aggregation="ratio_to_baseline", window_seconds=100, baseline_seconds=300, threshold=1.5)
    points = [(at(t), 10.0) for t in (50, 150, 250)] + [(at(350), 30.0)]

    assert series_value(spec, at(400), points) == pytest.approx(3.0)
    assert spec.lookback_seconds == 400
    assert series_value(spec, at(400), points[-1:]) is None  # no baseline to compare with
    assert series_value(spec, at(400), [(at(150), 0.0), (at(350), 5.0)]) is None


# --- the shipped defaults ------------------------------------------------------------------------

DAY = 86_400
# name -> (a series that breaks the rule, one that doesn't, evaluation step, how long to run)
SCENARIOS: dict[str, tuple[Callable[[int], float | None], Callable[[int], float | None], int, int]] = {
    "api-error-rate": (lambda t: 0.08, lambda t: 0.08 if t % 600 == 0 else 0.01, 60, 1800),
    "api-latency-p99": (lambda t: 2.5, lambda t: 2.5 if t < 480 else 0.4, 60, 1800),
    "health-check-failing": (lambda t: float(t // 60), lambda t: float((t // 60) % 3), 60, 600),
    "queue-depth": (lambda t: 150.0, lambda t: 95.0, 60, 600),
    "cache-hit-ratio": (lambda t: 0.3, lambda t: 0.3 if t < 1500 else 0.9, 60, 3600),
    "cost-over-baseline": (
        lambda t: 200.0 if t >= 8 * DAY else 100.0,
        lambda t: 140.0 if t >= 8 * DAY else 100.0,
        DAY,
        8 * DAY,
    ),
    "monitor-failing": (lambda t: 1.0 if t >= 600 else 0.0, lambda t: 0.0, 60, 1200),
    "host-stopped-reporting": (lambda t: 40.0 if t < 600 else None, lambda t: 40.0, 60, 1200),
}


def test_the_defaults_validate_have_stable_unique_names_and_are_enabled() -> None:
    names = [spec.name for spec in DEFAULT_RULES]

    assert names == list(SCENARIOS)
    for spec in DEFAULT_RULES:
        assert spec.enabled
        assert RuleSpec.model_validate(spec.model_dump()) == spec


@pytest.mark.parametrize("spec", DEFAULT_RULES, ids=lambda spec: spec.name)
def test_each_default_goes_off_on_a_series_that_breaks_it_and_not_on_one_that_does_not(spec: RuleSpec) -> None:
    breaking, fine, step, until = SCENARIOS[spec.name]
    expected = "no_data" if spec.op is None else "fired"

    broken = run(spec, breaking, until=until, step=step)
    quiet = run(spec, fine, until=until, step=step)

    assert [event for _, event in events_of(broken)] == [expected]
    assert events_of(quiet) == []
    assert set(states_of(quiet)) <= {"inactive", "pending"}


def test_the_error_rate_default_waits_five_minutes_before_firing() -> None:
    spec = next(spec for spec in DEFAULT_RULES if spec.name == "api-error-rate")
    trace = run(spec, lambda t: 0.08 if t >= 600 else 0.0, until=1200)

    assert events_of(trace) == [(900, "fired")]


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "API errors"}, "name"),
        ({"name": ""}, "name"),
        ({"kind": "metric"}, "kind"),
        ({"series": None}, "series"),
        ({"series": "api-error-ratio"}, "series"),
        ({"aggregation": "median"}, "aggregation"),
        ({"aggregation": None}, "aggregation"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": None}, "window_seconds"),
        ({"op": "=="}, "op"),
        ({"threshold": None}, "threshold"),
        ({"threshold": math.inf}, "threshold"),
        ({"op": None}, "threshold"),
        ({"op": None, "threshold": None}, "no_data_seconds"),
        ({"for_seconds": -1}, "for_seconds"),
        ({"keep_firing_seconds": -5}, "keep_firing_seconds"),
        ({"no_data_seconds": 0}, "no_data_seconds"),
        ({"severity": "page"}, "severity"),
        ({"labels": {"bad-label": "x"}}, "labels"),
        ({"aggregation": "ratio_to_baseline"}, "baseline_seconds"),
        ({"baseline_seconds": 3600}, "baseline_seconds"),
        ({"insight_types": ["spike"]}, "insight_types"),
        ({"min_severity": "warning"}, "min_severity"),
        ({"summary": "{value.__class__}"}, "summary"),
        ({"summary": "{value!r}"}, "summary"),
        ({"summary": "{value:>10}"}, "summary"),
        ({"summary": "{0}"}, "summary"),
        ({"summary": "{labels[host]}"}, "summary"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_a_bad_series_rule_is_refused_naming_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rule(**overrides)

    assert field in {str(part) for error in caught.value.errors() for part in error["loc"]}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"series": "queue_depth"}, "series"),
        ({"op": ">"}, "op"),
        ({"window_seconds": 60}, "window_seconds"),
        ({"no_data_seconds": 60}, "no_data_seconds"),
        ({"min_severity": "urgent"}, "min_severity"),
    ],
)
def test_a_bad_insight_rule_is_refused_naming_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RuleSpec(**{"kind": "insight", "name": "insights", **overrides})

    assert field in {str(part) for error in caught.value.errors() for part in error["loc"]}


def test_a_rule_that_only_watches_for_no_data_needs_no_threshold() -> None:
    spec = rule(op=None, threshold=None, no_data_seconds=120)

    assert evaluate(spec, RuleState(), at(0), [(at(0), 1e9)]).state.state == "inactive"


# --- summaries -----------------------------------------------------------------------------------


def test_a_summary_renders_value_threshold_and_labels() -> None:
    spec = rule(summary="{name}: error ratio {value} over {threshold} on {host} ({labels}) {{literal}}")

    text = render_summary(spec, 0.0734, {"host": "web-1", "region": "eu"})

    assert text == "errors: error ratio 0.0734 over 0.05 on web-1 (host=web-1, region=eu) {literal}"


def test_an_unknown_placeholder_stays_as_written() -> None:
    assert render_summary(rule(summary="{value} on {hots}"), 3.0) == "3 on {hots}"


def test_a_missing_value_renders_as_not_available() -> None:
    assert render_summary(rule(summary="ratio {value}"), None) == "ratio n/a"


def test_a_default_summary_when_none_is_given() -> None:
    assert render_summary(rule(), 0.2, {"host": "web-1"}) == "errors: api_error_ratio host=web-1 is 0.2 (> 0.05)"


@pytest.mark.parametrize(
    "template", ["{value.__class__}", "{value.__class__.__mro__}", "{0}", "{value!r}", "{labels[host]}"]
)
def test_a_malicious_template_that_skipped_validation_is_rendered_literally(template: str) -> None:
    spec = RuleSpec.model_construct(**{**rule().model_dump(), "summary": template})

    assert render_summary(spec, 0.2, {"host": "web-1"}) == template


# --- insight rules -------------------------------------------------------------------------------


def insight_rule(**overrides: object) -> RuleSpec:
    fields: dict[str, object] = {
        "kind": "insight",
        "name": "battery-complaints",
        "insight_types": ["negative_shift", "spike"],
        "min_severity": "warning",
        "entity": {"aspect": "battery"},
    }
    return RuleSpec(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("insight", "matches"),
    [
        (InsightRef("spike", "warning", {"aspect": "battery", "product": "x1"}), True),
        (InsightRef("spike", "critical", {"aspect": "battery"}), True),
        (InsightRef("spike", "info", {"aspect": "battery"}), False),
        (InsightRef("volume", "critical", {"aspect": "battery"}), False),
        (InsightRef("spike", "critical", {"aspect": "screen"}), False),
        (InsightRef("spike", "critical", {}), False),
    ],
)
def test_an_insight_rule_matches_by_type_severity_and_entity(insight: InsightRef, matches: bool) -> None:
    step = evaluate_insight(insight_rule(), RuleState(), at(0), [insight])

    assert (step.state.state == "firing") is matches


def test_an_insight_rule_fires_while_a_match_is_open_and_resolves_when_none_is() -> None:
    spec = insight_rule()
    open_ = [
        InsightRef("spike", "warning", {"aspect": "battery"}),
        InsightRef("spike", "critical", {"aspect": "battery"}),
    ]
    first = evaluate_insight(spec, RuleState(), at(0), open_)
    one_left = evaluate_insight(spec, first.state, at(60), open_[:1])
    none_left = evaluate_insight(spec, one_left.state, at(120), [])
    after = evaluate_insight(spec, none_left.state, at(180), [])

    assert (first.state.state, first.state.value, first.events) == ("firing", 2.0, ("fired",))
    assert (one_left.state.state, one_left.events) == ("firing", ())
    assert (none_left.state.state, none_left.events) == ("resolved", ("resolved",))
    assert (after.state.state, after.events) == ("inactive", ())


def test_an_insight_rule_without_types_watches_every_type() -> None:
    spec = RuleSpec(kind="insight", name="anything-critical", min_severity="critical")

    assert evaluate_insight(spec, RuleState(), at(0), [InsightRef("volume", "critical")]).events == ("fired",)


def test_an_insight_rule_reports_an_error_reading_insights() -> None:
    step = evaluate_insight(insight_rule(), RuleState(), at(0), [], error="database is locked")

    assert (step.state.state, step.state.error, step.events) == ("error", "database is locked", ("error",))
