"""The webhook connector's rules: how a pushed body is signed, verified and read. Pure: no I/O.

A sender signs each body with the monitor's secret, Stripe-style::

    X-Opinara-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body bytes)>

The timestamp is inside the signed bytes, so an old body cannot be replayed with a fresh ``t``; a body
older than the tolerance (or from too far in the future) is refused even when its signature holds.
Several ``v1`` values may be sent at once, so a sender can sign with the old and the new secret while a
secret is rotated. Unknown keys (a future ``v2``) are ignored.

The body is ``{"items": [...]}`` or a bare list; each item ``{"id", "text", "author"?, "url"?,
"published_at"?}``. Bad items are reported by index and reason (never quoting their text), and the good
ones go on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opinara.errors import AuthenticationError, FieldError, InputError, LimitExceeded
from opinara.monitors.connectors.base import CONNECTORS, Cursor, FetchResult, Item, Limits, SourceError
from opinara.validation import text_problem

SIGNATURE_HEADER = "X-Opinara-Signature"
MAX_HEADER_CHARS = 1024  # room for a few signatures; a longer header is not one of ours
MAX_SIGNATURES = 5
MAX_ITEMS = 1000  # per body
MAX_ID_CHARS = 128
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class WebhookSignatureError(AuthenticationError):
    """A pushed body whose signature is missing, malformed, wrong, too old or from the future."""

    code = "E504"


def sign(secret: bytes, body: bytes, t: int) -> str:
    """The ``X-Opinara-Signature`` value for ``body`` sent at unix time ``t``."""
    return f"t={int(t)},v1={_digest(secret, body, int(t))}"


def verify(secret: bytes, header: str | None, body: bytes, now: float, tolerance: int) -> None:
    """Returns when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of ``now``;
    :class:`WebhookSignatureError` saying which rule failed otherwise."""
    t, signatures = _parse_header(header)
    expected = _digest(secret, body, t)
    # Every candidate is compared in constant time, and all of them, so timing tells nothing.
    matches = [hmac.compare_digest(expected, candidate) for candidate in signatures]
    if not any(matches):
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} does not match the body (wrong secret or altered body)")
    if now - t > tolerance:
        raise WebhookSignatureError(
            f"{SIGNATURE_HEADER} timestamp is {int(now - t)} s old; the limit is {tolerance} s (a replay?)"
        )
    if t - now > tolerance:
        raise WebhookSignatureError(
            f"{SIGNATURE_HEADER} timestamp is {int(t - now)} s in the future; the limit is {tolerance} s "
            "(check the sender's clock)"
        )


def _digest(secret: bytes, body: bytes, t: int) -> str:
    return hmac.new(secret, str(t).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    if header is None or not header.strip():
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header; sign the body with the monitor's secret")
    malformed = f"{SIGNATURE_HEADER} is malformed; expected t=<unix seconds>,v1=<hex HMAC-SHA256>"
    if len(header) > MAX_HEADER_CHARS:
        raise WebhookSignatureError(malformed)
    t: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookSignatureError(malformed)
        if key == "t":
            if t is not None or not value.isascii() or not value.isdigit():
                raise WebhookSignatureError(malformed)
            t = int(value)
        elif key == "v1":
            value = value.lower()
            if not _HEX_DIGEST.fullmatch(value):
                raise WebhookSignatureError(malformed)
            signatures.append(value)
    if t is None or not signatures or len(signatures) > MAX_SIGNATURES:
        raise WebhookSignatureError(malformed)
    return t, signatures


def parse_events(body: bytes) -> tuple[list[Item], list[tuple[int, str]]]:
    """The items of a pushed body and the problems of the others, as ``(index, reason)``.

    :class:`InputError` when the body as a whole cannot be read; bad items do not stop the good ones."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError("the webhook body is not JSON") from exc
    entries = payload.get("items") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        raise InputError('the webhook body must be {"items": [...]} or a list of items')
    if len(entries) > MAX_ITEMS:
        raise LimitExceeded(f"the webhook body has {len(entries)} items; the limit is {MAX_ITEMS}", "webhook_items")
    items: list[Item] = []
    problems: list[tuple[int, str]] = []
    ids: set[str] = set()
    for index, entry in enumerate(entries):
        try:
            item = read_event(entry)
        except FieldError as exc:
            problems.append((index, exc.message))
            continue
        if item.external_id in ids:
            problems.append((index, "id: repeats an earlier item's id in this body"))
            continue
        ids.add(item.external_id)
        items.append(item)
    return items, problems


def read_event(entry: Any) -> Item:
    """One pushed item; :class:`FieldError` naming the field and the reason (never its value)."""
    if not isinstance(entry, dict):
        raise FieldError("item", "must be an object")
    external_id = _string(entry, "id", required=True)
    if len(external_id) > MAX_ID_CHARS:
        raise FieldError("id", f"must be at most {MAX_ID_CHARS} characters")
    text = _string(entry, "text", required=True)
    url = _string(entry, "url")
    if url and not url.startswith(("http://", "https://")):
        raise FieldError("url", "must be an http(s) URL")
    published = _string(entry, "published_at")
    published_at = None
    if published:
        try:
            published_at = datetime.fromisoformat(published.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError("published_at", "must be an ISO 8601 time, such as 2024-05-01T12:00:00Z") from None
        if published_at.tzinfo is None:
            raise FieldError("published_at", "must include a timezone (Z or +hh:mm)")
    return Item(external_id=external_id, text=text, url=url, author=_string(entry, "author"), published_at=published_at)


def _string(entry: dict[str, Any], field: str, required: bool = False) -> Any:
    value = entry.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FieldError(field, "is missing or empty")
        return None
    if not isinstance(value, str):
        raise FieldError(field, "must be a string")
    problem = text_problem(value)
    if problem is not None:
        raise FieldError(field, problem)
    return value.strip() if field != "text" else value


class WebhookConnector:
    """``connector.webhook.v1``: items are pushed to the monitor's webhook URL, never fetched.

    It takes no params: the ``secret`` is generated by the monitor service when the monitor is made
    (and rotated there), so ``validate`` only checks that a secret, when present, is not empty."""

    name = "connector.webhook.v1"
    secret_params = frozenset({"secret"})

    def validate(self, params: Mapping[str, str]) -> dict[str, str]:
        unknown = sorted(set(params) - self.secret_params)
        if unknown:
            raise FieldError(unknown[0], "a webhook monitor takes no params; its secret is generated for it")
        if "secret" in params and not str(params["secret"]).strip():
            raise FieldError("secret", "must not be empty")
        return dict(params)

    def fetch(self, session: Any, params: Mapping[str, str], cursor: Cursor, limits: Limits) -> FetchResult:
        raise SourceError("webhook monitors are pushed to, not fetched")


@CONNECTORS.register("connector.webhook.v1")
def webhook_connector() -> WebhookConnector:
    return WebhookConnector()
