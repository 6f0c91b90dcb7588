"""Which channels an alert goes to, how alerts are grouped, when a group is sent again, and whether a
silence holds it back. Pure: no I/O, no clock (``now`` is passed in).

Modelled on Alertmanager's routing tree and matchers, flattened to a list:

- A :class:`Matcher` is ``label op value`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``. A missing
  label reads as the empty string (so ``team=""`` matches alerts without a ``team``). Regexes are anchored
  at both ends (``=~ "bat.*"`` is ``^(?:bat.*)$``), capped in length, and refused when they use features
  Alertmanager's RE2 lacks (backreferences, lookarounds) or a nested quantifier (``(a+)+``, the shape of
  catastrophic backtracking).
- :func:`route` walks the routes in order; the first that matches wins, unless it says ``continue``, in
  which case the walk goes on and every matching route is returned.
- :func:`group_key` names the group an alert joins on a route (``group_by`` labels; ``["..."]`` means all).
- A :class:`Silence` (matchers and a time range) stops notifications, never evaluation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opinara.alerts.notify.base import SEVERITIES, severity_rank
from opinara.errors import FieldError

OPS = ("=", "!=", "=~", "!~")
MAX_PATTERN_CHARS = 256
MAX_MATCHERS = 32
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,127}")
ALL_LABELS = "..."
_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=|\\g<")  # lookarounds and backreferences
_NESTED = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")  # a quantified group holding one
_MATCHER_TEXT = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*")


def compile_pattern(pattern: str, field_name: str = "value") -> re.Pattern[str]:
    """An anchored regex from an Alertmanager-style pattern; :class:`FieldError` when unsafe or invalid."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise FieldError(field_name, f"a regex may be at most {MAX_PATTERN_CHARS} characters")
    if _UNSUPPORTED.search(pattern):
        raise FieldError(field_name, "lookarounds and backreferences are not supported (Alertmanager uses RE2)")
    if _NESTED.search(pattern):
        raise FieldError(field_name, "a quantified group that holds a quantifier, like (a+)+, is refused (too slow)")
    try:
        return re.compile(f"^(?:{pattern})$")
    except re.error as exc:
        raise FieldError(field_name, f"is not a valid regex ({exc.msg})") from None


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not LABEL_NAME.fullmatch(self.label):
            raise FieldError("label", "must be a label name: letters, digits and _, not starting with a digit")
        if self.op not in OPS:
            raise FieldError("op", f"must be one of {' '.join(OPS)}")
        if not isinstance(self.value, str):
            raise FieldError("value", "must be a string")
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", compile_pattern(self.value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.label, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self._regex is not None
        found = self._regex.match(value) is not None
        return found if self.op == "=~" else not found

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``severity="critical"``, ``product=~"phone-.*"`` or unquoted ``team!=ops``."""
        if not isinstance(text, str) or len(text) > MAX_PATTERN_CHARS + 160:
            raise FieldError("matcher", 'must be a string like name="value"')
        found = _MATCHER_TEXT.fullmatch(text)
        if not found:
            raise FieldError("matcher", 'must look like name="value", name!="value", name=~"regex" or name!~"regex"')
        label, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise FieldError("matcher", "has a badly quoted value") from None
        return cls(label, op, value)

    @classmethod
    def from_json(cls, data: Any) -> Matcher:
        if isinstance(data, str):
            return cls.parse(data)
        if not isinstance(data, Mapping) or set(data) - {"label", "op", "value"}:
            raise FieldError("matcher", 'must be {"label", "op", "value"} or a string like name="value"')
        return cls(data.get("label", ""), data.get("op", "="), data.get("value", ""))

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        return f"{self.label}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


def _matchers(values: Iterable[Any]) -> tuple[Matcher, ...]:
    matchers = tuple(m if isinstance(m, Matcher) else Matcher.from_json(m) for m in values)
    if len(matchers) > MAX_MATCHERS:
        raise FieldError("matchers", f"at most {MAX_MATCHERS}")
    return matchers


def matches_all(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True)
class Silence:
    """Notifications of alerts whose labels match every matcher are held back from ``starts_at`` until
    ``ends_at`` (exclusive). As in Alertmanager, a silence needs a matcher that does not match the empty
    label set, so that it cannot silence everything by accident."""

    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str = ""
    created_by: str = ""
    id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "matchers", _matchers(self.matchers))
        if not self.matchers:
            raise FieldError("matchers", "a silence needs at least one matcher")
        if all(m.matches({}) for m in self.matchers):
            raise FieldError("matchers", "would silence every alert; one matcher must not match an empty label")
        for name, moment in (("starts_at", self.starts_at), ("ends_at", self.ends_at)):
            if moment.utcoffset() is None:
                raise FieldError(name, "must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise FieldError("ends_at", "must be after starts_at")

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(labels, self.matchers)


def silenced(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> Silence | None:
    """The first silence active at ``now`` that matches ``labels``; None when none holds it back."""
    for silence in silences:
        if silence.active(now) and silence.matches(labels):
            return silence
    return None


@dataclass(frozen=True)
class Route:
    """Alerts matching every matcher, at ``min_severity`` or above, go to ``channels`` (channel ids or
    names, as the caller keeps them), grouped by ``group_by``. A new group waits ``group_wait`` seconds for
    alerts that fire together, later changes are sent at most every ``group_interval``, and an unchanged
    group is sent again after ``repeat_interval`` (Alertmanager's defaults: 30 s, 5 min, 4 h)."""

    channels: tuple[str, ...]
    matchers: tuple[Matcher, ...] = ()
    min_severity: str = "info"
    group_by: tuple[str, ...] = ()
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    continue_: bool = False  # "continue" in JSON
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "matchers", _matchers(self.matchers))
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "group_by", tuple(self.group_by))
        if not self.channels or not all(isinstance(c, str) and c for c in self.channels):
            raise FieldError("channels", "a route needs at least one channel")
        if self.min_severity not in SEVERITIES:
            raise FieldError("min_severity", f"must be one of {', '.join(SEVERITIES)}")
        for label in self.group_by:
            if label != ALL_LABELS and not LABEL_NAME.fullmatch(label):
                raise FieldError("group_by", f"{label!r} is not a label name (or '...' for all labels)")
        if ALL_LABELS in self.group_by and len(self.group_by) > 1:
            raise FieldError("group_by", "'...' (all labels) stands alone")
        for name in ("group_wait", "group_interval", "repeat_interval"):
            value = getattr(self, name)
            minimum = 0 if name == "group_wait" else 1
            if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= 30 * 86400:
                raise FieldError(name, f"must be a number of seconds from {minimum} to {30 * 86400}")

    def matches(self, labels: Mapping[str, str], severity: str) -> bool:
        return severity_rank(severity) >= severity_rank(self.min_severity) and matches_all(labels, self.matchers)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Route:
        known = {"channels", "matchers", "min_severity", "group_by", "group_wait", "group_interval"}
        known |= {"repeat_interval", "continue", "name"}
        if not isinstance(data, Mapping):
            raise FieldError("route", "must be an object")
        unknown = sorted(set(data) - known)
        if unknown:
            raise FieldError(unknown[0], "unknown field of a route")
        values = {k: v for k, v in data.items() if k != "continue"}
        channels = values.pop("channels", ())
        if isinstance(channels, str) or not isinstance(channels, list | tuple):
            raise FieldError("channels", "must be a list")
        if "group_by" in values and not isinstance(values["group_by"], list | tuple):
            raise FieldError("group_by", "must be a list")
        return cls(channels=tuple(channels), continue_=bool(data.get("continue", False)), **values)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channels": list(self.channels),
            "matchers": [m.to_json() for m in self.matchers],
            "min_severity": self.min_severity,
            "group_by": list(self.group_by),
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
            "continue": self.continue_,
        }


def route(labels: Mapping[str, str], severity: str, routes: Iterable[Route]) -> list[Route]:
    """The routes an alert takes: the first that matches, and the ones after it while each matching route
    says ``continue``. Empty when none matches (the caller decides whether that is a default route)."""
    taken = []
    for candidate in routes:
        if candidate.matches(labels, severity):
            taken.append(candidate)
            if not candidate.continue_:
                break
    return taken


def group_labels(labels: Mapping[str, str], group_by: Iterable[str]) -> dict[str, str]:
    """The labels that name an alert's group: those of ``group_by`` it has (all of them for ``...``)."""
    wanted = tuple(group_by)
    if ALL_LABELS in wanted:
        return dict(sorted(labels.items()))
    return {name: labels[name] for name in sorted(set(wanted)) if name in labels}


def group_key(labels: Mapping[str, str], group_by: Iterable[str]) -> str:
    """A stable, unambiguous key: ``{product="x",rule="y"}`` (values JSON-quoted); ``{}`` for one group."""
    pairs = group_labels(labels, group_by)
    return "{" + ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in pairs.items()) + "}"


def due_for_repeat(last_sent_at: datetime | None, now: datetime, repeat_interval: float) -> bool:
    """Whether an unchanged group is sent again: never sent, or sent ``repeat_interval`` seconds ago or more."""
    return last_sent_at is None or (now - last_sent_at).total_seconds() >= repeat_interval


def group_due(created_at: datetime, last_sent_at: datetime | None, now: datetime, rt: Route) -> bool:
    """Whether a group with changes is flushed now: ``group_wait`` after it formed for its first message,
    then at most every ``group_interval``."""
    if last_sent_at is None:
        return (now - created_at).total_seconds() >= rt.group_wait
    return (now - last_sent_at).total_seconds() >= rt.group_interval
