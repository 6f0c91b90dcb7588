"""``channel.webhook.v1``: a signed JSON POST to the team's own endpoint.

The body is ``{"version": 1, "notifications": [...]}`` (see :meth:`Notification.to_json`), signed as
Opinara's inbound webhooks are (:func:`opinara.monitors.webhooks.sign`)::

    X-Opinara-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

so a receiver verifies it with the same code (:func:`opinara.monitors.webhooks.verify`) and refuses
replays. ``X-Opinara-Idempotency-Key`` is the body's SHA-256: a retry of the same group carries the same
key, so a receiver can drop a delivery it already took.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from opinara.alerts.notify.base import (
    CHANNELS,
    HttpPoster,
    Notification,
    check_group,
    check_keys,
    check_url,
    default_transport,
    http_failure,
)
from opinara.errors import FieldError
from opinara.monitors.webhooks import SIGNATURE_HEADER, sign

NAME = "channel.webhook.v1"
VERSION = 1
IDEMPOTENCY_HEADER = "X-Opinara-Idempotency-Key"
MIN_SECRET_CHARS = 16


def payload(notifications: list[Notification]) -> bytes:
    """The body, as sent and signed (compact JSON, UTF-8)."""
    document = {"version": VERSION, "notifications": [n.to_json() for n in notifications]}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


class WebhookChannel:
    name = NAME
    secret_fields = frozenset({"secret"})

    def __init__(self, settings: Any = None, transport: httpx.BaseTransport | None = None) -> None:
        self._poster = HttpPoster("webhook", transport or default_transport(settings))

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        check_keys(config, {"url"}, required={"url"})
        return {"url": check_url("url", config["url"])}

    def validate_secrets(self, secrets: Mapping[str, Any]) -> dict[str, str]:
        check_keys(secrets, self.secret_fields, required=self.secret_fields)
        secret = secrets["secret"]
        if not isinstance(secret, str) or len(secret.strip()) < MIN_SECRET_CHARS:
            raise FieldError("secret", f"must be a string of at least {MIN_SECRET_CHARS} characters")
        return {"secret": secret}

    def send(
        self, notifications: list[Notification], config: dict[str, Any], secrets: dict[str, Any], timeout: float
    ) -> None:
        check_group(notifications, "webhook")
        url = config["url"]
        body = payload(notifications)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(str(secrets["secret"]).encode("utf-8"), body, int(time.time())),
            IDEMPOTENCY_HEADER: hashlib.sha256(body).hexdigest(),
        }
        answer = self._poster.post(url, body, headers, timeout)
        failure = http_failure("webhook", httpx.URL(url).host, answer)
        if failure is not None:
            raise failure


@CHANNELS.register(NAME)
def webhook_channel(settings: Any = None, transport: httpx.BaseTransport | None = None) -> WebhookChannel:
    return WebhookChannel(settings, transport)
