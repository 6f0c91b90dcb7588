"""The delivery outbox: notifications are rows first and messages second.

The evaluator enqueues a delivery (one channel, the notifications that fire together) in the same
transaction that records the alert's transition, so a crash loses neither; ``dedupe`` makes a second
enqueue of the same thing a no-op. Any worker sends due deliveries: it claims one with a conditional
UPDATE (so two workers never send the same delivery), calls the channel once with a timeout, and records
the attempt. A retryable failure comes back after an exponential, jittered backoff (or the receiver's
``Retry-After``), up to ``alert_delivery_max_attempts``; then, or at once for a failure that retrying
cannot fix, the delivery is ``dead`` with its last error. A dead or slow channel holds up only its own
deliveries: each is claimed, sent and settled on its own.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from opinara.alerts.notify import CHANNELS, DeliveryFailed, Notification, load
from opinara.config import Settings
from opinara.monitors import secrets as sealed
from opinara.monitors.connectors.base import SourceError
from opinara.store.db import Store
from opinara.store.models import AlertChannel, Delivery, DeliveryAttempt
from opinara.store.writes import insert_statement

log = logging.getLogger(__name__)


class DeliveryReport(BaseModel):
    sent: int = 0
    retrying: int = 0
    dead: int = 0


def enqueue(session: Session, channel_id: int, dedupe: str, notifications: list[Notification], now: datetime) -> None:
    """Add a delivery in the caller's transaction; the same ``dedupe`` twice is one delivery."""
    row = {
        "channel_id": channel_id,
        "dedupe": dedupe[:128],
        "notifications": [n.to_json() for n in notifications],
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    session.execute(insert_statement(session, Delivery).on_conflict_do_nothing(), [row])


def backoff(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after ``attempts`` failures: full jitter over an exponential."""
    return (rng or random).uniform(0.5, 1.0) * min(cap, base * 2 ** max(attempts - 1, 0))


class Outbox:
    def __init__(self, settings: Settings, store: Store, transport: Any = None) -> None:
        self.settings = settings
        self.store = store
        self.transport = transport  # tests hand one; channels build the guarded one otherwise

    def deliver_due(self, worker: str, now: datetime | None = None, limit: int = 50) -> DeliveryReport:
        """Send the deliveries that are due, each claimed by this worker alone. The due deliveries of one
        channel go out together, in one message: alerts that fire together arrive as one group."""
        current = now or datetime.now(UTC)
        report = DeliveryReport()
        with self.store.session() as session:
            due = session.execute(
                select(Delivery.id, Delivery.channel_id)
                .where(
                    Delivery.status == "pending",
                    Delivery.next_attempt_at <= current,
                    or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < current),
                )
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .limit(limit)
            ).all()
        by_channel: dict[int, list[int]] = {}
        for delivery_id, channel_id in due:
            by_channel.setdefault(channel_id, []).append(delivery_id)
        for channel_id, ids in by_channel.items():
            claimed = [delivery_id for delivery_id in ids if self._claim(delivery_id, worker, current)]
            if claimed:  # the others are another worker's now
                for outcome in self._deliver(channel_id, claimed, current):
                    setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def _claim(self, delivery_id: int, worker: str, current: datetime) -> bool:
        hold = current + timedelta(seconds=self.settings.alert_delivery_timeout_seconds * 4 + 30)
        with self.store.session() as session:
            claimed = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.status == "pending",
                    or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < current),
                )
                .values(claimed_by=worker, claimed_until=hold)
            )
            return claimed.rowcount == 1

    def _deliver(self, channel_id: int, ids: list[int], current: datetime) -> list[str]:
        with self.store.session() as session:
            channel_row = session.get(AlertChannel, channel_id)
            deliveries = list(session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)))
            kind, config, token = channel_row.kind, dict(channel_row.config), channel_row.secrets  # type: ignore[union-attr]
            payload = [item for delivery in deliveries for item in delivery.notifications]
            attempts = {delivery.id: delivery.attempts for delivery in deliveries}
        started = time.monotonic()
        error: DeliveryFailed | None = None
        try:
            load()
            channel = CHANNELS.create(kind, settings=self.settings, transport=self.transport)
            notifications = [_notification(item) for item in payload]
            secrets = sealed.resolve(sealed.unseal(self.settings, token))
            channel.send(notifications, config, secrets, self.settings.alert_delivery_timeout_seconds)
        except DeliveryFailed as exc:
            error = exc
        except SourceError as exc:  # a secret's env:NAME or file:PATH cannot be read here: fixable, so retried
            error = DeliveryFailed(exc.message, retryable=True)
        except Exception as exc:  # a bug in a channel must not stop the others; recorded, retried
            error = DeliveryFailed(f"{kind} failed unexpectedly ({type(exc).__name__})", retryable=True)
            log.exception("channel send crashed", extra={"channel_id": channel_id})
        seconds = time.monotonic() - started
        return [self._settle(delivery_id, attempts[delivery_id] + 1, error, current, seconds) for delivery_id in ids]

    def _settle(
        self, delivery_id: int, attempts: int, error: DeliveryFailed | None, current: datetime, seconds: float
    ) -> str:
        settings = self.settings
        with self.store.session() as session:
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery_id,
                    at=current,
                    ok=error is None,
                    error=error.message if error else None,
                    seconds=seconds,
                )
            )
            values: dict[str, Any] = {"attempts": attempts, "claimed_by": None, "claimed_until": None}
            if error is None:
                values.update(status="sent", sent_at=current, last_error=None)
                outcome = "sent"
            elif error.retryable and attempts < settings.alert_delivery_max_attempts:
                wait = backoff(
                    attempts, settings.alert_delivery_backoff_seconds, settings.alert_delivery_max_backoff_seconds
                )
                wait = max(wait, error.retry_after or 0.0)
                values.update(next_attempt_at=current + timedelta(seconds=wait), last_error=error.message)
                outcome = "retrying"
            else:
                values.update(status="dead", last_error=error.message)
                outcome = "dead"
            session.execute(update(Delivery).where(and_(Delivery.id == delivery_id)).values(**values))
        log.info("delivery %s", outcome, extra={"delivery_id": delivery_id, "attempts": attempts})
        return outcome


def _notification(item: dict[str, Any]) -> Notification:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    return Notification(
        key=item["key"],
        status=item["status"],
        severity=item["severity"],
        title=item["title"],
        message=item["message"],
        labels=dict(item["labels"]),
        starts_at=when(item["starts_at"]) or datetime.now(UTC),
        ends_at=when(item.get("ends_at")),
        url=item.get("url"),
        evidence=dict(item.get("evidence") or {}),
    )
