"""Alert rules, channels and silences in the database, and what is firing: every write goes through here.

Rules are :class:`~opinara.alerts.rules.RuleSpec` rows; the shipped defaults are installed once
(``install_defaults``) as ``builtin`` rows, which can be edited or disabled but not deleted. Channels
keep their secrets sealed with the deployment secret and show them masked. Silences stop notifications
for matching alerts between two times; evaluation goes on under them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select

from opinara.alerts.notify import CHANNELS, load
from opinara.alerts.notify.base import SEVERITIES
from opinara.alerts.routing import Matcher
from opinara.alerts.routing import Silence as SilenceRule
from opinara.alerts.rules import DEFAULT_RULES, RuleSpec, RuleState
from opinara.config import Settings
from opinara.errors import FieldError, InputError, JobConflict, NotFoundError
from opinara.monitors import secrets as sealed
from opinara.monitors.connectors.base import SourceError
from opinara.store.db import Store
from opinara.store.models import AlertChannel, AlertEvent, AlertRule, AlertState, Silence
from opinara.store.writes import insert_statement
from opinara.validation import numeric_id

# Every open warning or critical insight is notified once when it opens and once when it ends.
INSIGHT_RULE = RuleSpec(kind="insight", name="insights", severity="warning", min_severity="warning")
CHANNEL_KINDS = ("webhook", "slack", "email", "alertmanager")


class RuleInfo(BaseModel):
    id: int
    name: str
    builtin: bool
    enabled: bool
    spec: RuleSpec
    firing: int = Field(description="Subjects (series or insights) firing now")
    updated_at: datetime


class RuleChanges(BaseModel):
    enabled: bool | None = None
    spec: RuleSpec | None = None


class AlertInfo(BaseModel):
    rule: str
    subject: str
    labels: dict[str, str]
    state: str
    since: datetime | None
    value: float | None
    error: str | None


class AlertEventInfo(BaseModel):
    id: int
    rule: str
    subject: str
    event: str
    severity: str
    labels: dict[str, str]
    message: str
    value: float | None
    silenced_by: int | None
    at: datetime


class AlertHistory(BaseModel):
    events: list[AlertEventInfo]
    next_cursor: int | None


class ChannelSpec(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: Literal["webhook", "slack", "email", "alertmanager"]
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict, description="Stored encrypted; shown masked")
    min_severity: Literal["info", "warning", "critical"] = "warning"
    matchers: list[str] = Field(default_factory=list, description='Label matchers: team="payments", host=~"web-.*"')
    repeat_seconds: int = Field(default=4 * 3600, ge=60, le=30 * 86400)
    enabled: bool = True


class ChannelInfo(BaseModel):
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    secrets: dict[str, str]
    min_severity: str
    matchers: list[str]
    repeat_seconds: int
    enabled: bool
    created_at: datetime


class SilenceSpec(BaseModel):
    matchers: list[str] = Field(min_length=1)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration_seconds: int | None = Field(default=None, ge=60, le=366 * 86400)
    comment: str = Field(default="", max_length=1000)


class SilenceInfo(BaseModel):
    id: int
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    active: bool


class AlertService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    # Rules

    def install_defaults(self, now: datetime | None = None) -> int:
        """Add the shipped rules that are missing (by name); returns how many were added."""
        current = now or datetime.now(UTC)
        rows = [
            {
                "name": s.name,
                "spec": s.model_dump(mode="json"),
                "enabled": s.enabled,
                "builtin": True,
                "updated_at": current,
            }
            for s in [*DEFAULT_RULES, INSIGHT_RULE]
        ]
        with self.store.session() as session:
            before = session.scalar(select(func.count()).select_from(AlertRule)) or 0
            session.execute(insert_statement(session, AlertRule).on_conflict_do_nothing(), rows)
            after = session.scalar(select(func.count()).select_from(AlertRule)) or 0
        return after - before

    def rules(self) -> list[RuleInfo]:
        with self.store.session() as session:
            firing = dict(
                session.execute(
                    select(AlertState.rule_id, func.count())
                    .where(AlertState.state["state"].as_string() == "firing")
                    .group_by(AlertState.rule_id)
                ).all()
            )
            return [
                _rule_info(row, firing.get(row.id, 0))
                for row in session.scalars(select(AlertRule).order_by(AlertRule.id))
            ]

    def create_rule(self, spec: RuleSpec, now: datetime | None = None) -> RuleInfo:
        with self.store.session() as session:
            if session.scalar(select(AlertRule.id).where(AlertRule.name == spec.name)) is not None:
                raise JobConflict(f"a rule named {spec.name!r} exists")
            row = AlertRule(
                name=spec.name,
                spec=spec.model_dump(mode="json"),
                enabled=spec.enabled,
                builtin=False,
                updated_at=now or datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return _rule_info(row, 0)

    def update_rule(self, ref: str, changes: RuleChanges, now: datetime | None = None) -> RuleInfo:
        with self.store.session() as session:
            row = _find(session, AlertRule, ref)
            if changes.spec is not None:
                if changes.spec.name != row.name:
                    raise FieldError("spec.name", "a rule keeps its name; make a new rule instead")
                row.spec = changes.spec.model_dump(mode="json")
                session.query(AlertState).filter(AlertState.rule_id == row.id).delete()  # a new rule, fresh states
            if changes.enabled is not None:
                row.enabled = changes.enabled
            row.updated_at = now or datetime.now(UTC)
            session.flush()
            return _rule_info(row, 0)

    def delete_rule(self, ref: str) -> None:
        with self.store.session() as session:
            row = _find(session, AlertRule, ref)
            if row.builtin:
                raise JobConflict(f"rule {row.name!r} is shipped with Opinara: disable it instead")
            session.delete(row)

    def alerts(self) -> list[AlertInfo]:
        """Every rule subject that is not inactive: pending, firing, resolved a moment ago, no data, error."""
        with self.store.session() as session:
            rows = session.execute(
                select(AlertRule.name, AlertState).join(AlertState, AlertState.rule_id == AlertRule.id)
            ).all()
        out = []
        for name, row in rows:
            state = RuleState.model_validate(row.state)
            if state.state != "inactive":
                out.append(
                    AlertInfo(
                        rule=name,
                        subject=row.subject,
                        labels=row.labels,
                        state=state.state,
                        since=state.since,
                        value=state.value,
                        error=state.error,
                    )
                )
        return sorted(out, key=lambda a: (a.state != "firing", a.rule, a.subject))

    def history(self, rule: str | None, cursor: int | None, limit: int) -> AlertHistory:
        query = (
            select(AlertEvent, AlertRule.name)
            .join(AlertRule, AlertRule.id == AlertEvent.rule_id)
            .order_by(AlertEvent.id.desc())
            .limit(limit + 1)
        )
        if rule is not None:
            query = query.where(AlertRule.name == rule)
        if cursor is not None:
            query = query.where(AlertEvent.id < cursor)
        with self.store.session() as session:
            rows = session.execute(query).all()
        events = [
            AlertEventInfo(
                id=e.id,
                rule=name,
                subject=e.subject,
                event=e.event,
                severity=e.severity,
                labels=e.labels,
                message=e.message,
                value=e.value,
                silenced_by=e.silenced_by,
                at=e.at,
            )
            for e, name in rows[:limit]
        ]
        return AlertHistory(events=events, next_cursor=events[-1].id if len(rows) > limit else None)

    # Channels

    def create_channel(self, spec: ChannelSpec, now: datetime | None = None) -> ChannelInfo:
        load()
        channel = CHANNELS.create(f"channel.{spec.kind}.v1", settings=self.settings)
        config = channel.validate(spec.config)
        try:  # env:NAME and file:PATH are stored as they are, and checked through what they hold now
            checked = channel.validate_secrets(sealed.resolve(spec.secrets))
        except SourceError as exc:
            raise FieldError("secrets", exc.message) from None
        secrets = {
            k: spec.secrets[k] if sealed.is_reference(spec.secrets.get(k, "")) else v for k, v in checked.items()
        }
        matchers = [str(Matcher.parse(text)) for text in spec.matchers]
        with self.store.session() as session:
            if session.scalar(select(AlertChannel.id).where(AlertChannel.name == spec.name)) is not None:
                raise JobConflict(f"a channel named {spec.name!r} exists")
            row = AlertChannel(
                name=spec.name,
                kind=channel.name,
                config=config,
                secrets=sealed.seal(self.settings, secrets),
                min_severity=spec.min_severity,
                matchers=matchers,
                repeat_seconds=spec.repeat_seconds,
                enabled=spec.enabled,
                created_at=now or datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return self._channel_info(row)

    def channels(self) -> list[ChannelInfo]:
        with self.store.session() as session:
            return [self._channel_info(row) for row in session.scalars(select(AlertChannel).order_by(AlertChannel.id))]

    def delete_channel(self, ref: str) -> None:
        with self.store.session() as session:
            session.delete(_find(session, AlertChannel, ref))

    def _channel_info(self, row: AlertChannel) -> ChannelInfo:
        names = sealed.unseal(self.settings, row.secrets)
        return ChannelInfo(
            id=row.id,
            name=row.name,
            kind=row.kind,
            config=row.config,
            secrets=sealed.masked(names),
            min_severity=row.min_severity,
            matchers=list(row.matchers),
            repeat_seconds=row.repeat_seconds,
            enabled=row.enabled,
            created_at=row.created_at,
        )

    # Silences

    def create_silence(self, spec: SilenceSpec, by: str, now: datetime | None = None) -> SilenceInfo:
        current = now or datetime.now(UTC)
        starts = _aware(spec.starts_at) if spec.starts_at else current
        if spec.ends_at is not None:
            ends = _aware(spec.ends_at)
        elif spec.duration_seconds is not None:
            ends = starts + timedelta(seconds=spec.duration_seconds)
        else:
            raise FieldError("ends_at", "give ends_at or duration_seconds")
        if ends <= starts:
            raise FieldError("ends_at", "must be after starts_at")
        matchers = tuple(Matcher.parse(text) for text in spec.matchers)
        SilenceRule(matchers, starts, ends)  # the rules a silence must meet (not matching everything)
        with self.store.session() as session:
            row = Silence(
                matchers=[str(m) for m in matchers],
                starts_at=starts,
                ends_at=ends,
                comment=spec.comment,
                created_by=by,
            )
            session.add(row)
            session.flush()
            return _silence_info(row, current)

    def silences(self, now: datetime | None = None) -> list[SilenceInfo]:
        current = now or datetime.now(UTC)
        with self.store.session() as session:
            return [_silence_info(row, current) for row in session.scalars(select(Silence).order_by(Silence.id.desc()))]

    def expire_silence(self, silence_id: int, now: datetime | None = None) -> SilenceInfo:
        current = now or datetime.now(UTC)
        with self.store.session() as session:
            row = session.get(Silence, silence_id)
            if row is None:
                raise NotFoundError(f"no silence {silence_id}")
            row.ends_at = min(row.ends_at, current)
            row.starts_at = min(row.starts_at, row.ends_at)
            session.flush()
            return _silence_info(row, current)


def active_silences(session: Any, now: datetime) -> list[SilenceRule]:
    rows = session.scalars(select(Silence).where(Silence.ends_at > now, Silence.starts_at <= now))
    return [
        SilenceRule(tuple(Matcher.parse(text) for text in row.matchers), row.starts_at, row.ends_at, id=row.id)
        for row in rows
    ]


def _rule_info(row: AlertRule, firing: int) -> RuleInfo:
    try:
        spec = RuleSpec.model_validate(row.spec)
    except ValidationError as exc:  # a row written by an older version: say so rather than fail the list
        raise InputError(f"rule {row.name!r} is not a valid rule any more: {exc.errors()[0]['msg']}") from None
    return RuleInfo(
        id=row.id,
        name=row.name,
        builtin=row.builtin,
        enabled=row.enabled,
        spec=spec,
        firing=firing,
        updated_at=row.updated_at,
    )


def _silence_info(row: Silence, now: datetime) -> SilenceInfo:
    return SilenceInfo(
        id=row.id,
        matchers=list(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        comment=row.comment,
        created_by=row.created_by,
        active=row.starts_at <= now < row.ends_at,
    )


def _find(session: Any, model: type, ref: str) -> Any:
    number = numeric_id(ref)
    row = session.get(model, number) if number is not None else None
    if row is None:
        row = session.scalars(select(model).where(model.name == ref)).first()
    if row is None:
        raise NotFoundError(f"no {model.__tablename__.rstrip('s').replace('_', ' ')} {ref!r}")
    return row


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


__all__ = ["SEVERITIES", "AlertService"]
