"""Routing, grouping, repeat and silences: pure functions, Alertmanager's semantics on a flat list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opinara.alerts.routing import (
    Matcher,
    Route,
    Silence,
    due_for_repeat,
    group_due,
    group_key,
    route,
    silenced,
)
from opinara.errors import FieldError

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LABELS = {"alertname": "battery_negative", "product": "phone-x", "team": "hardware"}


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('product="phone-x"', LABELS, True),
        ('product!="phone-x"', LABELS, False),
        ('product=~"phone-.*"', LABELS, True),
        ('product=~"phone"', LABELS, False),  # anchored: a part does not match
        ('product!~"tablet-.*"', LABELS, True),
        ('region=""', LABELS, True),  # a missing label reads as ""
        ('region!=""', LABELS, False),
        ('product=~"phone-x|tablet"', LABELS, True),  # the alternation is anchored as a whole
        ("team=hardware", LABELS, True),
        ('title="a \\"quoted\\" one"', {"title": 'a "quoted" one'}, True),
    ],
)
def test_matchers(text, labels, expected):
    assert Matcher.parse(text).matches(labels) is expected


@pytest.mark.parametrize("pattern", ["(a+)+", "(.*)*", "(?:x{1,9})+", "(?=a)", "(?<!a)b", "(a)\\1", "(", "a" * 300])
def test_unsafe_or_invalid_regexes_are_refused(pattern):
    with pytest.raises(FieldError):
        Matcher("product", "=~", pattern)


def test_matcher_checks_and_round_trip():
    for label, op in [("1x", "="), ("ok", "=="), ("bad-name", "=")]:
        with pytest.raises(FieldError):
            Matcher(label, op, "v")
    matcher = Matcher("product", "=~", "phone-.*")
    assert Matcher.from_json(matcher.to_json()) == matcher
    assert Matcher.from_json(str(matcher)) == matcher
    with pytest.raises(FieldError):
        Matcher.parse("no operator")


def test_silences_hold_back_matching_alerts_inside_their_time_range():
    silence = Silence(
        (Matcher("product", "=", "phone-x"), Matcher("team", "=~", "hard.*")),
        NOW,
        NOW + timedelta(hours=2),
        comment="maintenance",
        created_by="ana",
    )
    other = Silence((Matcher.parse('product="tablet"'),), NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert silenced(LABELS, [other, silence], NOW) is silence
    assert silenced(LABELS, [silence], NOW + timedelta(hours=1, minutes=59)) is silence
    assert silenced(LABELS, [silence], NOW + timedelta(hours=2)) is None  # the end is exclusive
    assert silenced(LABELS, [silence], NOW - timedelta(seconds=1)) is None  # not started
    assert silenced({**LABELS, "team": "software"}, [silence], NOW) is None
    assert silenced(LABELS, [], NOW) is None


def test_a_silence_cannot_silence_everything_or_end_before_it_starts():
    with pytest.raises(FieldError, match="at least one"):
        Silence((), NOW, NOW + timedelta(hours=1))
    with pytest.raises(FieldError, match="every alert"):
        Silence((Matcher("product", "=~", ".*"), Matcher("x", "=", "")), NOW, NOW + timedelta(hours=1))
    with pytest.raises(FieldError, match="after"):
        Silence((Matcher("product", "=", "x"),), NOW, NOW)
    with pytest.raises(FieldError, match="timezone"):
        Silence((Matcher("product", "=", "x"),), NOW.replace(tzinfo=None), NOW.replace(tzinfo=None))


def test_route_first_match_wins_unless_continue():
    pager = Route(("pager",), (Matcher.parse('team="hardware"'),), min_severity="critical", name="pager")
    audit = Route(("audit",), continue_=True, name="audit")
    team = Route(("team-slack",), (Matcher.parse('team=~"hard.*"'),), name="team")
    fallback = Route(("email",), name="fallback")
    routes = [audit, pager, team, fallback]
    assert [r.name for r in route(LABELS, "critical", routes)] == ["audit", "pager"]
    assert [r.name for r in route(LABELS, "warning", routes)] == ["audit", "team"]  # below the pager's severity
    assert [r.name for r in route({"team": "web"}, "info", routes)] == ["audit", "fallback"]
    assert route(LABELS, "info", [pager]) == []


def test_route_checks_and_json():
    with pytest.raises(FieldError, match="channels"):
        Route(())
    with pytest.raises(FieldError, match="min_severity"):
        Route(("a",), min_severity="fatal")
    with pytest.raises(FieldError, match="group_interval"):
        Route(("a",), group_interval=0)
    with pytest.raises(FieldError, match="group_by"):
        Route(("a",), group_by=("...", "product"))
    data = {
        "name": "hw",
        "channels": ["c1"],
        "matchers": ['team="hardware"'],
        "min_severity": "warning",
        "group_by": ["product"],
        "continue": True,
    }
    parsed = Route.from_json(data)
    assert parsed.continue_ and parsed.matchers == (Matcher("team", "=", "hardware"),)
    assert Route.from_json(parsed.to_json()) == parsed
    with pytest.raises(FieldError, match="unknown"):
        Route.from_json({"channels": ["c"], "receiver": "x"})


def test_group_key():
    assert group_key(LABELS, ["product", "alertname"]) == '{alertname="battery_negative",product="phone-x"}'
    assert group_key(LABELS, ["product", "missing"]) == '{product="phone-x"}'
    assert group_key(LABELS, []) == "{}"  # one group for the route
    assert group_key(LABELS, ["..."]) == group_key(LABELS, ["alertname", "product", "team"])
    assert group_key({"a": 'x",b="y'}, ["a"]) != group_key({"a": "x", "b": "y"}, ["a", "b"])  # unambiguous


def test_repeat_and_group_timing():
    assert due_for_repeat(None, NOW, 3600)
    assert not due_for_repeat(NOW - timedelta(minutes=59), NOW, 3600)
    assert due_for_repeat(NOW - timedelta(hours=1), NOW, 3600)
    rt = Route(("c",), group_wait=30, group_interval=300)
    assert not group_due(NOW - timedelta(seconds=29), None, NOW, rt)
    assert group_due(NOW - timedelta(seconds=30), None, NOW, rt)
    assert not group_due(NOW - timedelta(hours=1), NOW - timedelta(seconds=299), NOW, rt)
    assert group_due(NOW - timedelta(hours=1), NOW - timedelta(seconds=300), NOW, rt)
