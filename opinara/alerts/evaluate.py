"""The alert evaluator: rules over series and insights, their transitions recorded and notified once.

One evaluator runs at a time across all workers: it holds the ``alert-evaluator`` lease (a row taken
with a conditional UPDATE when free or expired). Each pass, for every enabled rule and every subject
(a series' label set, or an open insight), it applies the pure state machine (``rules.evaluate``), and in
ONE transaction per rule stores the new states, records each transition as an event and enqueues its
notification in the outbox for every channel that takes it (severity and label matchers), unless a
silence covers it. So a crash re-runs a rule's pass rather than losing or repeating its notifications,
and a transition is notified once however many workers there are. Firing alerts are notified again
after each channel's repeat interval. The workers then send the outbox (``Outbox.deliver_due``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from opinara.alerts.notify import Notification
from opinara.alerts.notify.base import severity_rank
from opinara.alerts.outbox import enqueue
from opinara.alerts.routing import Matcher, matches_all, silenced
from opinara.alerts.rules import InsightRef, RuleSpec, RuleState, evaluate, evaluate_insight, render_summary
from opinara.alerts.service import active_silences
from opinara.config import Settings
from opinara.store.db import Store
from opinara.store.models import (
    AlertChannel,
    AlertEvent,
    AlertRule,
    AlertState,
    Insight,
    Lease,
    MetricPoint,
    MetricSeries,
)
from opinara.store.writes import insert_statement

log = logging.getLogger(__name__)
EVALUATOR_LEASE = "alert-evaluator"
NOTIFIED = {"fired": "firing", "resolved": "resolved", "no_data": "firing", "error": "firing", "recovered": "resolved"}


class EvaluationReport(BaseModel):
    rules: int = 0
    subjects: int = 0
    events: int = 0
    notifications: int = 0
    silenced: int = 0


def take_lease(
    store: Store, name: str, holder: str, seconds: float, now: datetime | None = None, renew: bool = True
) -> bool:
    """Hold ``name`` for ``seconds`` if it is free, expired or (with ``renew``) already ours; True when we
    hold it. Without ``renew`` the lease is a schedule: taken at most once per ``seconds`` by anyone."""
    current = now or datetime.now(UTC)
    until = current + timedelta(seconds=seconds)
    with store.session() as session:
        session.execute(
            insert_statement(session, Lease).on_conflict_do_nothing(),
            [{"name": name, "holder": None, "expires_at": current - timedelta(seconds=1)}],
        )
        taken = session.execute(
            update(Lease)
            .where(
                Lease.name == name,
                or_(Lease.holder.is_(None), Lease.expires_at < current, *([Lease.holder == holder] if renew else [])),
            )
            .values(holder=holder, expires_at=until)
        )
        return taken.rowcount == 1


@dataclass
class _Pass:
    """What one evaluation reads once and every rule shares: channels, silences, series, points, insights."""

    now: datetime
    channels: list[AlertChannel]
    silences: list[Any]
    series: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    points: dict[tuple[int, datetime], tuple[list[tuple[datetime, float]], datetime | None]] = field(
        default_factory=dict
    )
    insights: list[Insight] | None = None


class AlertEvaluator:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def evaluate(self, now: datetime | None = None) -> EvaluationReport:
        """One pass over every enabled rule (the caller holds the evaluator lease)."""
        current = now or datetime.now(UTC)
        report = EvaluationReport()
        with self.store.session() as session:
            rules = [
                (row.id, RuleSpec.model_validate(row.spec), row.enabled) for row in session.scalars(select(AlertRule))
            ]
            channels = list(session.scalars(select(AlertChannel).where(AlertChannel.enabled.is_(True))))
            session.expunge_all()
            shared = _Pass(current, channels, active_silences(session, current))
        for rule_id, spec, enabled in rules:
            report.rules += 1
            try:
                with self.store.session() as session:
                    self._rule(session, shared, rule_id, spec.model_copy(update={"enabled": enabled}), report)
            except Exception:  # one broken rule must not stop the others; the next pass retries it
                log.exception("rule evaluation failed", extra={"rule_id": rule_id, "rule": spec.name})
        return report

    def _rule(self, session: Session, shared: _Pass, rule_id: int, spec: RuleSpec, report: EvaluationReport) -> None:
        now, channels, silences = shared.now, shared.channels, shared.silences
        states = {row.subject: row for row in session.scalars(select(AlertState).where(AlertState.rule_id == rule_id))}
        subjects = (
            self._series_subjects(session, shared, spec)
            if spec.kind == "series"
            else self._insight_subjects(session, shared)
        )
        for subject in set(states) - set(subjects):  # a subject gone (series removed, insight resolved)
            subjects[subject] = (dict(states[subject].labels), [] if spec.kind == "insight" else None, None, None)
        for subject, (labels, data, last_point_at, context) in subjects.items():
            report.subjects += 1
            row = states.get(subject)
            state = RuleState.model_validate(row.state) if row else RuleState()
            if spec.kind == "insight":
                step = evaluate_insight(spec, state, now, data)
            else:
                step = evaluate(spec, state, now, data, last_point_at=last_point_at)
            if row is None:
                row = AlertState(rule_id=rule_id, subject=subject, labels=labels)
                session.add(row)
            row.state, row.updated_at = step.state.model_dump(mode="json"), now
            due_repeat = step.state.state == "firing" and not step.events and row.last_notified_at is not None
            if not step.events and not due_repeat:
                continue
            severity = (context or {}).get("severity", spec.severity)
            full = {"alertname": spec.name, "severity": severity, **labels}
            message = (context or {}).get("message") or render_summary(spec, step.state.value, labels)
            for event in step.events:
                report.events += 1
                silence = silenced(full, silences, now)
                record = AlertEvent(
                    rule_id=rule_id,
                    subject=subject,
                    event=event,
                    severity=severity,
                    labels=full,
                    message=message,
                    value=step.state.value,
                    silenced_by=silence.id if silence else None,
                    at=now,
                )
                session.add(record)
                session.flush()
                if silence is not None:
                    report.silenced += 1
                    continue
                note = self._notification(spec, subject, event, severity, full, message, step.state, context, now)
                report.notifications += self._send(session, channels, note, f"e{record.id}", now)
                row.last_notified_at = now
            if due_repeat:
                repeat = [c for c in channels if row.last_notified_at + timedelta(seconds=c.repeat_seconds) <= now]
                if repeat and silenced(full, silences, now) is None:
                    note = self._notification(spec, subject, "fired", severity, full, message, step.state, context, now)
                    report.notifications += self._send(
                        session, repeat, note, f"r{rule_id}:{subject}:{now.isoformat()}", now
                    )
                    row.last_notified_at = now

    def _series_subjects(self, session: Session, shared: _Pass, spec: RuleSpec) -> dict[str, tuple]:
        name, now = spec.series or "", shared.now
        if name not in shared.series:
            found = session.execute(select(MetricSeries.id, MetricSeries.labels).where(MetricSeries.name == name))
            shared.series[name] = [(sid, dict(labels)) for sid, labels in found]
        out: dict[str, tuple] = {}
        since = now - timedelta(seconds=spec.lookback_seconds)
        for series_id, labels in shared.series[name]:
            if not spec.matches_labels(labels):
                continue
            if (series_id, since) not in shared.points:
                points = [
                    (at, value)
                    for at, value in session.execute(
                        select(MetricPoint.at, MetricPoint.value)
                        .where(MetricPoint.series_id == series_id, MetricPoint.at > since, MetricPoint.at <= now)
                        .order_by(MetricPoint.at)
                    )
                ]
                last = (
                    points[-1][0]
                    if points
                    else session.scalar(
                        select(func.max(MetricPoint.at)).where(
                            MetricPoint.series_id == series_id, MetricPoint.at <= now
                        )
                    )
                )
                shared.points[(series_id, since)] = (points, last)
            points, last = shared.points[(series_id, since)]
            subject = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))[:255]
            out[subject] = (labels, points, last, None)
        return out

    def _insight_subjects(self, session: Session, shared: _Pass) -> dict[str, tuple]:
        if shared.insights is None:
            shared.insights = list(session.scalars(select(Insight).where(Insight.status != "resolved")))
            session.expunge_all()
        out: dict[str, tuple] = {}
        for row in shared.insights:
            ref = InsightRef(row.type, row.severity, {k: str(v) for k, v in row.entity.items()})
            subject = f"{row.type}:{row.entity_key}"[:255]
            labels = {"insight_type": row.type, **{k: str(v) for k, v in row.entity.items() if not k.endswith("_name")}}
            context = {"severity": row.severity, "message": row.message, "insight": row.id, "evidence": row.evidence}
            out[subject] = (labels, [ref], None, context)
        return out

    def _notification(
        self,
        spec: RuleSpec,
        subject: str,
        event: str,
        severity: str,
        labels: dict[str, str],
        message: str,
        state: RuleState,
        context: dict[str, Any] | None,
        now: datetime,
    ) -> Notification:
        status = NOTIFIED[event]
        evidence: dict[str, Any] = {"event": event, "value": state.value}
        if context and "insight" in context:
            evidence.update(insight=context["insight"], **context["evidence"])
        base = (self.settings.dashboard_url or "").rstrip("/")
        return Notification(
            key=f"{spec.name}:{subject}",
            status=status,
            severity=severity,
            title=f"{spec.name}: {event.replace('_', ' ')}",
            message=message,
            labels=labels,
            starts_at=state.fired_at or state.since or now,
            ends_at=now if status == "resolved" else None,
            url=(
                f"{base}/insights?insight={context['insight']}"
                if context and "insight" in context
                else f"{base}/alerts"
            )
            if base
            else None,
            evidence=evidence,
        )

    def _send(
        self, session: Session, channels: list[AlertChannel], note: Notification, dedupe: str, now: datetime
    ) -> int:
        sent = 0
        for channel in channels:
            if severity_rank(note.severity) < severity_rank(channel.min_severity):
                continue
            if not matches_all(note.labels, [Matcher.parse(text) for text in channel.matchers]):
                continue
            enqueue(session, channel.id, f"{dedupe}:c{channel.id}", [note], now)
            sent += 1
        return sent
