"""A webhook monitor through the real API: signed deliveries become mentions once, whatever is resent; a
wrong, missing or old signature is refused; mentions, trends and share of voice read them back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from opinara.config import Settings
from opinara.monitors.models import MonitorSpec
from opinara.monitors.webhooks import sign
from tests.api.server import RunningApi, running_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("webhook"),
        backend="lexicon",
        aspect_extractor="rules",
        embedded_workers=0,
        monitor_threads=0,
    )
    with running_api(settings) as running:
        yield running


def _deliver(api: RunningApi, monitor: str, secret: str, items: list[dict], t: float | None = None, signature=None):
    body = json.dumps({"items": items}).encode()
    header = signature if signature is not None else sign(secret.encode(), body, int(t or time.time()))
    with api.client() as client:
        return client.post(
            f"/v1/monitors/{monitor}/events",
            content=body,
            headers={"content-type": "application/json", "X-Opinara-Signature": header},
        )


ITEMS = [
    {"id": "t-1", "text": "The new checkout flow is fantastic, so fast!", "author": "u1", "url": "https://support/t/1"},
    {
        "id": "t-2",
        "text": "Refund still missing after two weeks, terrible support.",
        "published_at": "2026-11-20T10:00:00Z",
    },
]


def test_signed_deliveries_become_mentions_once(api):
    created = api.platform.monitors.create(MonitorSpec(name="helpdesk", connector="webhook", tags=["acme"]))
    secret = created.webhook_secret or ""
    first = _deliver(api, "helpdesk", secret, [*ITEMS, {"id": "t-3"}])
    again = _deliver(api, "helpdesk", secret, ITEMS)  # resent: nothing new
    assert first.status_code == 200, first.text
    assert (first.json()["new"], first.json()["duplicates"], first.json()["rejected"][0]["index"]) == (2, 0, 2)
    assert (again.json()["new"], again.json()["duplicates"]) == (0, 2)
    reader = api.key("mention-reader", "read")
    with api.client(reader) as client:
        mentions = client.get("/v1/mentions", params={"monitor": "helpdesk"}).json()["mentions"]
        trends = client.get("/v1/monitors/helpdesk/trends").json()
        voice = client.get("/v1/share-of-voice", params={"tags": "acme,nobody"}).json()
        runs = client.get("/v1/monitors/helpdesk/runs").json()["runs"]
    by_id = {m["external_id"]: m for m in mentions}
    assert set(by_id) == {"t-1", "t-2"}
    assert by_id["t-1"]["sentiment"]["label"] == "positive" and by_id["t-2"]["sentiment"]["label"] == "negative"
    assert by_id["t-1"]["url"] == "https://support/t/1" and by_id["t-1"]["author"] not in (None, "u1")
    assert sum(p["mentions"] for p in trends["periods"]) == 2
    totals = {
        tag: sum(s["mentions"] for p in voice["periods"] for s in p["tags"] if s["tag"] == tag) for tag in voice["tags"]
    }
    assert totals == {"acme": 2, "nobody": 0}
    assert all(s["share"] == 1.0 for p in voice["periods"] for s in p["tags"] if s["tag"] == "acme")
    assert [r["new"] for r in runs] == [0, 2] and all(r["status"] == "success" for r in runs)


def test_bad_signatures_are_refused_and_store_nothing(api):
    created = api.platform.monitors.create(MonitorSpec(name="helpdesk-2", connector="webhook"))
    secret = created.webhook_secret or ""
    wrong = _deliver(api, "helpdesk-2", "whsec_not-the-secret", ITEMS)
    missing = _deliver(api, "helpdesk-2", secret, ITEMS, signature="")
    stale = _deliver(api, "helpdesk-2", secret, ITEMS, t=time.time() - 3600)
    for answer in (wrong, missing, stale):
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert secret not in answer.text
    reader = api.key("mention-reader-2", "read")
    with api.client(reader) as client:
        assert client.get("/v1/mentions", params={"monitor": "helpdesk-2"}).json()["mentions"] == []


def test_a_monitor_that_is_not_a_webhook_takes_no_events(api):
    api.platform.monitors.create(MonitorSpec(name="hn-nope", connector="hackernews", params={"query": "acme"}))
    answer = _deliver(api, "hn-nope", "whatever", ITEMS)
    assert answer.status_code == 422 and "not a webhook monitor" in answer.json()["detail"]


def test_an_address_that_keeps_sending_wrong_signatures_is_slowed_down(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        backend="lexicon",
        aspect_extractor="rules",
        embedded_workers=0,
        monitor_threads=0,
        failed_auth_limit="3/minute",
    )
    with running_api(settings) as guessed:
        created = guessed.platform.monitors.create(MonitorSpec(name="helpdesk-guess", connector="webhook"))
        wrong = [_deliver(guessed, "helpdesk-guess", "whsec_guess", ITEMS).status_code for _ in range(4)]
        assert wrong == [401, 401, 401, 429]
        right = _deliver(guessed, "helpdesk-guess", created.webhook_secret or "", ITEMS)
        assert right.status_code == 429 and int(right.headers["retry-after"]) > 0, "even the right secret waits"
