"""The webhook connector's rules: signed bodies are verified (signature, age, rotation) and read item by
item, with bad items reported by index and the good ones kept."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from opinara.errors import AuthenticationError, InputError, LimitExceeded
from opinara.monitors.connectors.base import CONNECTORS, Limits, SourceError
from opinara.monitors.webhooks import MAX_ITEMS, WebhookSignatureError, parse_events, sign, verify

SECRET = b"whsec_0123456789abcdef"
NOW = 1_714_560_000
BODY = json.dumps({"items": [{"id": "r-1", "text": "Arrived broken."}]}).encode()


def test_a_body_signed_with_the_secret_is_accepted():
    verify(SECRET, sign(SECRET, BODY, NOW), BODY, now=NOW + 10, tolerance=300)


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_the_raw_body():
    digest = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={digest}"
    verify(SECRET, f"t={NOW}, v1={digest.upper()}", BODY, now=NOW, tolerance=300)  # spaces, case: fine


def test_a_wrong_secret_or_an_altered_body_is_refused():
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(SECRET, sign(b"another secret", BODY, NOW), BODY, now=NOW, tolerance=300)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(SECRET, sign(SECRET, BODY, NOW), BODY + b" ", now=NOW, tolerance=300)


def test_a_signature_moved_to_a_new_timestamp_is_refused():
    signature = sign(SECRET, BODY, NOW).split("v1=")[1]
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify(SECRET, f"t={NOW + 5},v1={signature}", BODY, now=NOW + 5, tolerance=300)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=" + "a" * 64,  # no timestamp
        f"t={NOW}",  # no signature
        f"t=soon,v1={'a' * 64}",
        f"t={NOW},v1=not-hex",
        f"t={NOW},t={NOW},v1={'a' * 64}",
        "sha256=" + "a" * 64,  # another service's format
        f"t={NOW}," + ",".join(["v1=" + "a" * 64] * 6),  # more signatures than a rotation needs
    ],
)
def test_a_missing_or_malformed_header_is_refused(header):
    with pytest.raises(WebhookSignatureError) as caught:
        verify(SECRET, header, BODY, now=NOW, tolerance=300)
    assert isinstance(caught.value, AuthenticationError)
    assert "X-Opinara-Signature" in caught.value.message


def test_an_old_timestamp_is_refused_as_a_replay():
    header = sign(SECRET, BODY, NOW)
    verify(SECRET, header, BODY, now=NOW + 300, tolerance=300)
    with pytest.raises(WebhookSignatureError, match="301 s old; the limit is 300 s"):
        verify(SECRET, header, BODY, now=NOW + 301, tolerance=300)


def test_a_timestamp_too_far_in_the_future_is_refused():
    with pytest.raises(WebhookSignatureError, match="in the future"):
        verify(SECRET, sign(SECRET, BODY, NOW + 400), BODY, now=NOW, tolerance=300)


def test_during_a_rotation_either_secret_signs():
    old, new = b"old-secret", b"new-secret"
    both = sign(old, BODY, NOW) + ",v1=" + sign(new, BODY, NOW).split("v1=")[1]
    verify(old, both, BODY, now=NOW, tolerance=300)
    verify(new, both, BODY, now=NOW, tolerance=300)
    with pytest.raises(WebhookSignatureError):
        verify(b"third", both, BODY, now=NOW, tolerance=300)


def test_unknown_header_keys_are_ignored():
    verify(SECRET, sign(SECRET, BODY, NOW) + ",v2=future-scheme", BODY, now=NOW, tolerance=300)


def test_items_are_read_from_an_object_or_a_list():
    entry = {
        "id": "r-1",
        "text": "Arrived broken.",
        "author": "cust-9",
        "url": "https://shop.example/r/1",
        "published_at": "2024-05-01T12:00:00Z",
    }
    items, problems = parse_events(json.dumps({"items": [entry]}).encode())
    assert problems == []
    [item] = items
    assert (item.external_id, item.text, item.author, item.url) == ("r-1", "Arrived broken.", "cust-9", entry["url"])
    assert item.published_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_events(json.dumps([entry]).encode())[0] == items


def test_bad_items_are_reported_by_index_and_the_rest_are_kept():
    entries = [
        {"id": "ok-1", "text": "Fine."},
        {"text": "no id here"},
        {"id": "x" * 129, "text": "long id"},
        {"id": "ok-2", "text": "   "},
        {"id": "ok-3", "text": "bad \x00 byte"},
        {"id": "ok-4", "text": "naive", "published_at": "2024-05-01T12:00:00"},
        {"id": "ok-5", "text": "not a time", "published_at": "yesterday"},
        {"id": 7, "text": "numeric id"},
        {"id": "ok-6", "text": "ftp", "url": "ftp://x.example/"},
        "just a string",
        {"id": "ok-1", "text": "repeated id"},
        {"id": "ok-7", "text": "Also fine.", "published_at": "2024-05-01T14:00:00+02:00"},
    ]
    items, problems = parse_events(json.dumps(entries).encode())
    assert [item.external_id for item in items] == ["ok-1", "ok-7"]
    assert problems == [
        (1, "id: is missing or empty"),
        (2, "id: must be at most 128 characters"),
        (3, "text: is missing or empty"),
        (4, "text: contains a NUL character at character 4"),
        (5, "published_at: must include a timezone (Z or +hh:mm)"),
        (6, "published_at: must be an ISO 8601 time, such as 2024-05-01T12:00:00Z"),
        (7, "id: must be a string"),
        (8, "url: must be an http(s) URL"),
        (9, "item: must be an object"),
        (10, "id: repeats an earlier item's id in this body"),
    ]
    assert not any("broken" in reason or "byte" in reason for _, reason in problems)  # no text quoted


@pytest.mark.parametrize("body", [b"not json", b'{"entries": []}', b'"text"', b"\xff\xfe"])
def test_an_unreadable_body_is_an_input_error(body):
    with pytest.raises(InputError):
        parse_events(body)


def test_a_body_with_too_many_items_is_refused():
    with pytest.raises(LimitExceeded):
        parse_events(json.dumps([{"id": str(n), "text": "x"} for n in range(MAX_ITEMS + 1)]).encode())


def test_the_webhook_connector_is_pushed_to_not_fetched():
    connector = CONNECTORS.create("connector.webhook.v1")
    assert connector.secret_params == {"secret"}
    assert connector.validate({}) == {}
    with pytest.raises(SourceError, match="pushed to, not fetched"):
        connector.fetch(None, {}, {}, Limits())
