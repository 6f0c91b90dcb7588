"""What every notification channel is: a pure payload builder plus one send step.

A channel turns a group of :class:`Notification` (the alerts that fire or resolve together) into its
service's wire format and sends it once. It never retries, sleeps or stores anything: the outbox does
that, guided by :class:`DeliveryFailed` (``retryable``, ``retry_after``). A channel's ``config`` is what
may be shown; its ``secrets`` (a webhook secret, a Slack URL, an SMTP password) are stored encrypted and
never appear in a message, an exception or a log line: errors name the host and the status, never a URL's
path or query.

Outbound HTTP goes through the monitors' guard (:class:`opinara.monitors.http.NetworkPolicy`), so the
same ``OPINARA_MONITOR_ALLOW_PRIVATE`` / ``OPINARA_MONITOR_ALLOWED_NETWORKS`` settings decide whether a
channel may reach an internal address.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from opinara.errors import FieldError, OpinaraError
from opinara.registry import Registry

STATUSES = ("firing", "resolved")
SEVERITIES = ("info", "warning", "critical")  # in rising order
MAX_URL_CHARS = 2048
MAX_ANSWER_BYTES = 64 * 1024  # of a receiver's answer; only its status and a short excerpt matter
TOTAL_TIMEOUTS = 3  # a whole answer may take this many ``timeout``s (a trickling server cannot hold a worker)
USER_AGENT = "Opinara-Alerts/1 (self-hosted review and social listening)"


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical; :class:`FieldError` for anything else."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise FieldError("severity", f"must be one of {', '.join(SEVERITIES)}") from None


@dataclass(frozen=True)
class Notification:
    """One alert's state change as channels send it; a group is a list of them."""

    key: str  # the dedupe / group key: the same alert keeps the same key from firing to resolved
    status: str  # firing | resolved
    severity: str  # info | warning | critical
    title: str
    message: str
    labels: dict[str, str]
    starts_at: datetime  # timezone-aware
    ends_at: datetime | None = None  # set when resolved
    url: str | None = None  # a dashboard link
    evidence: dict[str, Any] = field(default_factory=dict)  # JSON-able: the values that made it fire

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise FieldError("status", f"must be one of {', '.join(STATUSES)}")
        severity_rank(self.severity)
        if not self.key:
            raise FieldError("key", "must not be empty")
        for name, moment in (("starts_at", self.starts_at), ("ends_at", self.ends_at)):
            if moment is not None and moment.utcoffset() is None:
                raise FieldError(name, "must be timezone-aware")
        if any(not isinstance(k, str) or not isinstance(v, str) for k, v in self.labels.items()):
            raise FieldError("labels", "names and values must be strings")

    def to_json(self) -> dict[str, Any]:
        """The notification as JSON (times in ISO 8601 UTC), as the webhook channel sends it."""
        return {
            "key": self.key,
            "status": self.status,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "labels": dict(self.labels),
            "starts_at": iso_utc(self.starts_at),
            "ends_at": iso_utc(self.ends_at) if self.ends_at else None,
            "url": self.url,
            "evidence": self.evidence,
        }


def iso_utc(moment: datetime) -> str:
    """``2024-05-01T12:00:00Z`` (milliseconds kept when present)."""
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


class DeliveryFailed(OpinaraError):
    """A send that did not deliver. ``retryable``: the outbox tries again later (after ``retry_after``
    seconds when the receiver said so); not retryable: the channel's config or the payload is wrong, and
    trying again will not help. The message names the channel, the host and the status, never a secret."""

    code = "E700"

    def __init__(self, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    """A notification channel, registered under a versioned name (``channel.slack.v1``)."""

    name: str
    secret_fields: frozenset[str]  # the keys of ``secrets`` it reads: stored encrypted, never shown

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The config, checked and normalized; :class:`FieldError` naming the field otherwise."""
        ...

    def validate_secrets(self, secrets: Mapping[str, Any]) -> dict[str, str]:
        """The secrets, checked; a :class:`FieldError` names the field and never quotes the value."""
        ...

    def send(
        self, notifications: list[Notification], config: dict[str, Any], secrets: dict[str, Any], timeout: float
    ) -> None:
        """Delivers the group in one message/request, or raises :class:`DeliveryFailed`."""
        ...


CHANNELS: Registry[Channel] = Registry("channel")
"""One module per channel; each registers a factory ``(settings=None, transport=None) -> Channel``."""


# Helpers shared by the channels


def check_keys(config: Mapping[str, Any], allowed: Iterable[str], required: Iterable[str] = ()) -> None:
    if not isinstance(config, Mapping):
        raise FieldError("config", "must be an object")
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise FieldError(str(unknown[0]), f"unknown field; known: {', '.join(sorted(allowed)) or 'none'}")
    for name in required:
        if config.get(name) in (None, ""):
            raise FieldError(name, "is required")


def check_url(field_name: str, value: Any, secret: bool = False) -> str:
    """An absolute http(s) URL without credentials in it. A secret URL (Slack's) is never quoted back."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field_name, "must be a non-empty string")
    value = value.strip()
    if len(value) > MAX_URL_CHARS:
        raise FieldError(field_name, f"is longer than {MAX_URL_CHARS} characters")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError):
        raise FieldError(field_name, "is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise FieldError(field_name, "must be an absolute http:// or https:// URL")
    if url.userinfo:
        hint = "" if secret else "; give the username and password as their own fields"
        raise FieldError(field_name, "must not hold credentials" + hint)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise FieldError(field_name, "must not hold control characters")
    return value


def check_text(field_name: str, value: Any, max_chars: int = 512) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field_name, "must be a non-empty string")
    if len(value) > max_chars:
        raise FieldError(field_name, f"is longer than {max_chars} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise FieldError(field_name, "must not hold control characters")
    return value.strip()


def check_timeout(timeout: float) -> float:
    if not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise DeliveryFailed(f"the timeout must be between 0 and 300 s, not {timeout!r}", retryable=False)
    return float(timeout)


def redact(text: str, secrets: Mapping[str, Any]) -> str:
    """``text`` with every secret value (and a URL secret's path) replaced by ``***``."""
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "***")
            if value.startswith(("http://", "https://")):
                try:
                    path = httpx.URL(value).raw_path.decode("ascii", "replace")
                except (httpx.InvalidURL, ValueError):
                    continue
                if len(path) > 1:
                    text = text.replace(path, "/***")
    return text


def one_line(text: str, max_chars: int = 200) -> str:
    """A receiver's text made safe to quote: one line, printable, short."""
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned[:max_chars] + ("…" if len(cleaned) > max_chars else "")


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), capped at a day."""
    from opinara.monitors.http import retry_after

    seconds = retry_after(headers)
    return None if seconds is None else min(max(seconds, 0.0), 86400.0)


def default_transport(settings: Any = None) -> httpx.BaseTransport:
    """The guarded transport the monitors use: internal addresses only where the settings allow them."""
    from opinara.config import Settings
    from opinara.monitors.http import NetworkPolicy, PerThreadTransport

    return PerThreadTransport(NetworkPolicy.from_settings(settings or Settings()))


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    content: bytes  # at most MAX_ANSWER_BYTES

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class HttpPoster:
    """POSTs one body through a guarded transport, with a timeout on each step and on the whole answer,
    no redirects, and errors that name only the host. Network failures are :class:`DeliveryFailed`."""

    def __init__(self, channel: str, transport: httpx.BaseTransport) -> None:
        self.channel = channel
        self.transport = transport

    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float,
        auth: httpx.Auth | None = None,
    ) -> Answer:
        from opinara.monitors.connectors.base import SourceError
        from opinara.monitors.http import BlockedAddress

        timeout = check_timeout(timeout)
        host = httpx.URL(url).host
        started = time.monotonic()
        client = httpx.Client(
            transport=self.transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        try:
            with client.stream("POST", url, content=body, headers=dict(headers), auth=auth) as response:
                content = self._read(response, host, started, timeout)
                return Answer(response.status_code, response.headers, content)
        except DeliveryFailed:
            raise
        except BlockedAddress as exc:
            raise DeliveryFailed(f"{self.channel}: {exc.message}", retryable=False) from None
        except SourceError as exc:  # the guard could not resolve the host: DNS may come back
            raise DeliveryFailed(f"{self.channel}: {exc.message}", retryable=True) from None
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(
                f"{self.channel}: {host} did not answer within {timeout:g} s ({type(exc).__name__})", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, BlockedAddress):
                raise DeliveryFailed(f"{self.channel}: {cause.message}", retryable=False) from None
            raise DeliveryFailed(
                f"{self.channel}: cannot reach {host} ({type(exc).__name__})", retryable=True
            ) from None
        finally:
            client.close()

    def _read(self, response: httpx.Response, host: str, started: float, timeout: float) -> bytes:
        deadline = started + TOTAL_TIMEOUTS * timeout
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            chunks.append(chunk[: MAX_ANSWER_BYTES - size])
            size += len(chunk)
            if size >= MAX_ANSWER_BYTES:
                break  # the rest does not matter; the status is known
            if time.monotonic() > deadline:
                raise DeliveryFailed(
                    f"{self.channel}: {host} did not finish its answer within {TOTAL_TIMEOUTS * timeout:g} s",
                    retryable=True,
                )
        return b"".join(chunks)


def http_failure(channel: str, host: str, answer: Answer, detail: str = "") -> DeliveryFailed | None:
    """None for a 2xx answer; otherwise what the outbox should do: 429, 408, 425 and 5xx are retried
    (after ``Retry-After`` when given), 3xx (redirects are not followed) and other 4xx are not."""
    status = answer.status
    if 200 <= status < 300:
        return None
    suffix = f": {detail}" if detail else ""
    if status == 429 or (status == 503 and "retry-after" in answer.headers):
        wait = retry_after_seconds(answer.headers)
        return DeliveryFailed(f"{channel}: {host} asked to slow down ({status}){suffix}", True, wait)
    if status >= 500 or status in (408, 425):
        return DeliveryFailed(f"{channel}: {host} answered {status}{suffix}", retryable=True)
    if 300 <= status < 400:
        return DeliveryFailed(f"{channel}: {host} answered {status}; redirects are not followed", retryable=False)
    if status in (401, 403):
        return DeliveryFailed(f"{channel}: {host} refused the credentials ({status}){suffix}", retryable=False)
    return DeliveryFailed(f"{channel}: {host} refused the request ({status}){suffix}", retryable=False)


def check_group(notifications: list[Notification], channel: str) -> None:
    if not notifications:
        raise DeliveryFailed(f"{channel}: nothing to send", retryable=False)
    if not all(isinstance(n, Notification) for n in notifications):
        raise DeliveryFailed(f"{channel}: notifications must be Notification objects", retryable=False)


def now_utc() -> datetime:
    return datetime.now(UTC)
