"""``channel.slack.v1``: a Slack incoming webhook message with a ``text`` fallback and Block Kit ``blocks``.

The webhook URL is the credential (anyone holding it can post), so it is a *secret*, never config: it
is not shown, logged or quoted in an error (errors name ``hooks.slack.com`` and the status only).

Slack's wire rules followed here: ``&``, ``<`` and ``>`` are control characters in text objects and are
sent as ``&amp;``, ``&lt;``, ``&gt;`` (so an alert's text cannot make a link or an ``<!channel>`` mention);
a header holds at most 150 characters, a section 3000, a context 10 elements, a message 50 blocks.
Slack answers 200 ``ok``; 400/403/404/410 with a short reason (``invalid_payload``, ``no_service``,
``channel_is_archived``): not retried; 429 with ``Retry-After``: retried after it; 5xx: retried.
"""

from __future__ import annotations

import json
import re
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
    iso_utc,
)

NAME = "channel.slack.v1"
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_CONTEXT_TEXT = 2000
MAX_TEXT = 3000  # the fallback; Slack takes more but truncates what notifications show
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
MAX_SHOWN = 10  # notifications shown one by one; the rest are counted (a message holds 50 blocks)
_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
_REASON = re.compile(r"[a-z_]{1,64}")


def escape(text: str) -> str:
    """Slack's escaping of text objects: ``&``, ``<`` and ``>`` only (not a full HTML escape)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """``text`` escaped and cut to ``limit`` characters without splitting an entity (``…`` marks a cut)."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    raw = text[: limit - 1]
    while (overflow := len(escape(raw)) - (limit - 1)) > 0:
        raw = raw[: len(raw) - max(1, overflow // 5)]  # one character escapes to at most five
    return escape(raw) + "…"


def _summary(notifications: list[Notification]) -> str:
    first = notifications[0]
    statuses = {n.status for n in notifications}
    status = statuses.pop().upper() if len(statuses) == 1 else "CHANGED"
    count = f":{len(notifications)}" if len(notifications) > 1 else ""
    return f"[{status}{count}] {first.title}" + (f" (+{len(notifications) - 1} more)" if len(notifications) > 1 else "")


def _labels(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sorted(labels.items()))


def message(notifications: list[Notification], config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The incoming-webhook payload: ``text`` (notifications, screen readers) and ``blocks``."""
    summary = _summary(notifications)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": fit(summary, MAX_HEADER), "emoji": True}}
    ]
    for n in notifications[:MAX_SHOWN]:
        icon = ":white_check_mark:" if n.status == "resolved" else _EMOJI[n.severity]
        title = f"{icon} *{fit(n.title, 500)}*"
        body = fit(n.message, MAX_SECTION - len(title) - 1) if n.message else ""
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{title}\n{body}".rstrip()}})
        when = f"since {iso_utc(n.starts_at)}" + (f", resolved {iso_utc(n.ends_at)}" if n.ends_at else "")
        context = [
            {"type": "mrkdwn", "text": f"*{escape(n.severity)}* · {escape(n.status)} · {escape(when)}"},
        ]
        if n.labels:
            context.append({"type": "mrkdwn", "text": fit(_labels(n.labels), MAX_CONTEXT_TEXT)})
        blocks.append({"type": "context", "elements": context})
        if n.url and len(n.url) <= MAX_BUTTON_URL and n.url.startswith(("https://", "http://")):
            button = {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open in Opinara", "emoji": False},
                "url": n.url,
            }
            blocks.append({"type": "actions", "elements": [button]})
    hidden = len(notifications) - MAX_SHOWN
    if hidden > 0:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {hidden} more"}]})
    lines = [summary] + [f"{n.severity} {n.status}: {n.title}" for n in notifications[1:MAX_SHOWN]]
    return {"text": fit("\n".join(lines), MAX_TEXT), "blocks": blocks}


class SlackChannel:
    name = NAME
    secret_fields = frozenset({"url"})

    def __init__(self, settings: Any = None, transport: httpx.BaseTransport | None = None) -> None:
        self._poster = HttpPoster("slack", transport or default_transport(settings))

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        check_keys(config, ())  # the URL (the only setting of an incoming webhook) is a secret
        return {}

    def validate_secrets(self, secrets: Mapping[str, Any]) -> dict[str, str]:
        check_keys(secrets, self.secret_fields, required=self.secret_fields)
        return {"url": check_url("url", secrets["url"], secret=True)}

    def send(
        self, notifications: list[Notification], config: dict[str, Any], secrets: dict[str, Any], timeout: float
    ) -> None:
        check_group(notifications, "slack")
        url = secrets["url"]
        body = json.dumps(message(notifications, config), ensure_ascii=False).encode("utf-8")
        answer = self._poster.post(url, body, {"Content-Type": "application/json; charset=utf-8"}, timeout)
        reason = answer.text.strip()
        failure = http_failure(
            "slack", httpx.URL(url).host, answer, reason if answer.status >= 400 and _REASON.fullmatch(reason) else ""
        )
        if failure is not None:
            raise failure


@CHANNELS.register(NAME)
def slack_channel(settings: Any = None, transport: httpx.BaseTransport | None = None) -> SlackChannel:
    return SlackChannel(settings, transport)
