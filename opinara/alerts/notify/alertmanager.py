"""``channel.alertmanager.v1``: alerts posted to a Prometheus Alertmanager (API v2), for teams that
already route, group, silence and page from there.

``POST {url}/api/v2/alerts`` with a list of postable alerts (Alertmanager's ``postableAlerts``)::

    [{"labels": {"alertname": ..., "severity": ..., "opinara_key": ..., ...},
      "annotations": {"summary": title, "description": message, ...},
      "startsAt": ..., "endsAt": ... (resolved alerts), "generatorURL": dashboard link}]

Alertmanager tells alerts apart by their labels, so they are kept stable from firing to resolved: the
notification's labels (names made valid for Alertmanager: ``[a-zA-Z_][a-zA-Z0-9_]*``), ``alertname`` (the
notification's own ``alertname`` or ``rule`` label, else ``opinara``), ``severity`` and ``opinara_key``.
A firing alert has no ``endsAt`` unless ``firing_ttl_seconds`` is set: Alertmanager then resolves it on its
own after its ``resolve_timeout`` (5 minutes by default) unless it is posted again, as Prometheus does, so
the sender should repeat firing alerts more often than that, or set ``firing_ttl_seconds`` to match.

Auth: none, basic (``username`` in config, ``password`` secret) or a bearer token (``bearer_token``
secret). 400 (a refused alert) is not retried; 5xx, 429 and network failures are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from opinara.alerts.notify.base import (
    CHANNELS,
    DeliveryFailed,
    HttpPoster,
    Notification,
    check_group,
    check_keys,
    check_text,
    check_url,
    default_transport,
    http_failure,
    iso_utc,
    now_utc,
    one_line,
    redact,
)
from opinara.errors import FieldError

NAME = "channel.alertmanager.v1"
PATH = "/api/v2/alerts"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
MAX_EVIDENCE_CHARS = 2000


def label_name(name: str) -> str:
    """A label name Alertmanager accepts: other characters become ``_``, a leading digit gets a ``_``."""
    cleaned = _INVALID.sub("_", name) or "_"
    return "_" + cleaned if cleaned[0].isdigit() else cleaned


def alert(n: Notification) -> dict[str, Any]:
    """One postable alert."""
    labels = {label_name(k): v for k, v in sorted(n.labels.items()) if v != ""}
    labels["alertname"] = n.labels.get("alertname") or n.labels.get("rule") or "opinara"
    labels["severity"] = n.severity
    labels["opinara_key"] = n.key
    annotations = {"summary": n.title, "description": n.message}
    if n.evidence:
        evidence = json.dumps(n.evidence, ensure_ascii=False, default=str, sort_keys=True)
        annotations["evidence"] = evidence[:MAX_EVIDENCE_CHARS]
    if n.url:
        annotations["dashboard"] = n.url
    document: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": iso_utc(n.starts_at)}
    if n.status == "resolved":
        ends = n.ends_at or now_utc()
        document["endsAt"] = iso_utc(max(ends, n.starts_at))  # Alertmanager refuses an end before the start
    if n.url and n.url.startswith(("https://", "http://")):
        document["generatorURL"] = n.url
    return document


def alerts(notifications: list[Notification], firing_ttl: float | None = None) -> list[dict[str, Any]]:
    documents = [alert(n) for n in notifications]
    if firing_ttl:
        ends = iso_utc(now_utc() + timedelta(seconds=firing_ttl))
        for n, document in zip(notifications, documents, strict=True):
            if n.status == "firing":
                document["endsAt"] = ends
    return documents


class AlertmanagerChannel:
    name = NAME
    secret_fields = frozenset({"password", "bearer_token"})

    def __init__(self, settings: Any = None, transport: httpx.BaseTransport | None = None) -> None:
        self._poster = HttpPoster("alertmanager", transport or default_transport(settings))

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        check_keys(config, {"url", "username", "firing_ttl_seconds"}, required={"url"})
        url = check_url("url", config["url"]).rstrip("/")
        if url.endswith(PATH) or url.endswith("/api/v2"):
            raise FieldError("url", f"is Alertmanager's base URL (http://alertmanager:9093), without {PATH}")
        normalized: dict[str, Any] = {"url": url}
        if config.get("username") not in (None, ""):
            normalized["username"] = check_text("username", config["username"], 256)
        ttl = config.get("firing_ttl_seconds")
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 60 <= ttl <= 7 * 86400:
                raise FieldError("firing_ttl_seconds", "must be a number of seconds from 60 to 604800")
            normalized["firing_ttl_seconds"] = float(ttl)
        return normalized

    def validate_secrets(self, secrets: Mapping[str, Any]) -> dict[str, str]:
        check_keys(secrets, self.secret_fields)
        normalized = {}
        for name in sorted(self.secret_fields):
            value = secrets.get(name)
            if value in (None, ""):
                continue
            if not isinstance(value, str) or any(ord(c) < 0x20 for c in value):
                raise FieldError(name, "must be a string without control characters")
            normalized[name] = value
        if len(normalized) > 1:
            raise FieldError("bearer_token", "give a password (basic auth) or a bearer token, not both")
        return normalized

    def send(
        self, notifications: list[Notification], config: dict[str, Any], secrets: dict[str, Any], timeout: float
    ) -> None:
        check_group(notifications, "alertmanager")
        url = config["url"].rstrip("/") + PATH
        host = httpx.URL(url).host
        headers = {"Content-Type": "application/json"}
        auth: httpx.Auth | None = None
        if secrets.get("bearer_token"):
            headers["Authorization"] = f"Bearer {secrets['bearer_token']}"
        elif config.get("username"):
            if not secrets.get("password"):
                raise DeliveryFailed(f"alertmanager: a username is set for {host} but no password", retryable=False)
            auth = httpx.BasicAuth(config["username"], secrets["password"])
        body = json.dumps(alerts(notifications, config.get("firing_ttl_seconds")), ensure_ascii=False).encode()
        answer = self._poster.post(url, body, headers, timeout, auth=auth)
        detail = ""
        if answer.status == 400:  # Alertmanager says why (a JSON string): an invalid label, an end before the start
            detail = one_line(redact(answer.text.strip().strip('"'), secrets))
        failure = http_failure("alertmanager", host, answer, detail)
        if failure is not None:
            raise failure


@CHANNELS.register(NAME)
def alertmanager_channel(settings: Any = None, transport: httpx.BaseTransport | None = None) -> AlertmanagerChannel:
    return AlertmanagerChannel(settings, transport)
