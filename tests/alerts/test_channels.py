"""Each notification channel against a real local receiver: an HTTP server on 127.0.0.1 for the webhook,
Slack and Alertmanager payloads (and a real Alertmanager when Debian's binary is installed), a real SMTP
server (aiosmtpd) for e-mail. Failure paths: a receiver that is down and comes back, a timeout, 429 with
Retry-After, 5xx (retried), 4xx (not retried), an internal address the policy refuses; no secret (a webhook
secret, a Slack URL's path, a password) in any error."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest

from opinara.alerts.notify import CHANNELS, DeliveryFailed, Notification, load
from opinara.alerts.notify.slack import escape
from opinara.config import Settings
from opinara.monitors.webhooks import SIGNATURE_HEADER, verify
from tests.alerts.receiver import Received, Reply
from tests.conftest import IN_CI

load()
LOCAL = Settings(monitor_allowed_networks=["127.0.0.1/32"])
WEBHOOK_SECRET = "whsec-TOP-SECRET-0123456789"
SLACK_PATH = "/services/T000SECRET/B000SECRET/XXXXSECRETXXXX"
PASSWORD = "smtp-PASSWORD-42"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def notification(**overrides: Any) -> Notification:
    values: dict[str, Any] = {
        "key": "rule-7/product=phone-x",
        "status": "firing",
        "severity": "critical",
        "title": "Battery complaints <up> & rising",
        "message": "Negative mentions of *battery* rose to 41% (<@U123> <!channel>)",
        "labels": {"alertname": "battery_negative", "product": "phone-x", "team": "hardware"},
        "starts_at": T0,
        "url": "https://opinara.example.org/dashboard?product=phone-x&aspect=battery",
        "evidence": {"value": 0.41, "baseline": 0.12},
    }
    return Notification(**{**values, **overrides})


def messages(error: BaseException) -> str:
    """The error and everything chained to it, as a logged traceback would show them."""
    seen, current = [], error
    while current is not None and len(seen) < 10:
        seen.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(seen)


def channel(name: str, settings: Settings = LOCAL) -> Any:
    return CHANNELS.create(f"channel.{name}.v1", settings=settings)


def failure(send: Any) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        send()
    return caught.value


# The signed webhook


def test_registry_names_every_channel():
    assert CHANNELS.names() == [
        "channel.alertmanager.v1",
        "channel.email.v1",
        "channel.slack.v1",
        "channel.webhook.v1",
    ]


def test_webhook_posts_a_signed_body_the_inbound_verifier_accepts(receiver):
    webhook = channel("webhook")
    config = webhook.validate({"url": receiver.url + "/hooks/opinara"})
    secrets = webhook.validate_secrets({"secret": WEBHOOK_SECRET})
    group = [
        notification(),
        notification(key="k2", status="resolved", severity="info", ends_at=T0 + timedelta(hours=1)),
    ]
    webhook.send(group, config, secrets, timeout=5)

    [request] = receiver.requests
    assert request.path == "/hooks/opinara"
    assert request.headers["content-type"].startswith("application/json")
    verify(WEBHOOK_SECRET.encode(), request.headers[SIGNATURE_HEADER.lower()], request.body, time.time(), 300)
    document = request.json()
    assert document["version"] == 1
    first, second = document["notifications"]
    assert first["key"] == "rule-7/product=phone-x" and first["starts_at"] == "2024-05-01T12:00:00Z"
    assert first["labels"]["product"] == "phone-x" and first["evidence"] == {"value": 0.41, "baseline": 0.12}
    assert second["status"] == "resolved" and second["ends_at"] == "2024-05-01T13:00:00Z"

    webhook.send(group, config, secrets, timeout=5)  # a retry of the same group: the same idempotency key
    keys = {r.headers["x-opinara-idempotency-key"] for r in receiver.requests}
    assert len(keys) == 1


def test_webhook_down_then_back(receiver):
    webhook = channel("webhook")
    config, secrets = {"url": receiver.url + "/in"}, {"secret": WEBHOOK_SECRET}
    receiver.stop()
    error = failure(lambda: webhook.send([notification()], config, secrets, timeout=2))
    assert error.retryable and "cannot reach 127.0.0.1" in error.message
    receiver.start()  # the same port
    webhook.send([notification()], config, secrets, timeout=2)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after", "words"),
    [
        (Reply(500), True, None, "answered 500"),
        (Reply(503), True, None, "answered 503"),
        (Reply(429, headers={"Retry-After": "7"}), True, 7.0, "asked to slow down (429)"),
        (Reply(400, b"bad"), False, None, "refused the request (400)"),
        (Reply(401), False, None, "refused the credentials (401)"),
        (Reply(302, headers={"Location": "http://127.0.0.1:1/x"}), False, None, "redirects are not followed"),
    ],
)
def test_webhook_failures_say_whether_to_retry(receiver, reply, retryable, retry_after, words):
    receiver.answer(reply)
    error = failure(
        lambda: channel("webhook").send(
            [notification()], {"url": receiver.url + "/path/SECRETPATH?token=abc"}, {"secret": WEBHOOK_SECRET}, 2
        )
    )
    assert error.retryable is retryable and error.retry_after == retry_after
    assert words in error.message
    for secret in (WEBHOOK_SECRET, "SECRETPATH", "token=abc"):
        assert secret not in messages(error)


def test_webhook_timeout_is_retryable_and_bounded(receiver):
    receiver.answer(Reply(200, b"ok", delay=5))
    started = time.monotonic()
    error = failure(
        lambda: channel("webhook").send([notification()], {"url": receiver.url + "/x"}, {"secret": WEBHOOK_SECRET}, 0.3)
    )
    assert time.monotonic() - started < 3
    assert error.retryable and "did not answer within 0.3 s" in error.message


def test_internal_addresses_are_refused_unless_allowed(receiver):
    webhook = channel("webhook", Settings())  # the default policy: no loopback
    error = failure(lambda: webhook.send([notification()], {"url": receiver.url + "/x"}, {"secret": WEBHOOK_SECRET}, 2))
    assert not error.retryable and "internal address" in error.message
    assert receiver.requests == []
    channel("webhook", Settings(monitor_allow_private=True)).send(
        [notification()], {"url": receiver.url + "/x"}, {"secret": WEBHOOK_SECRET}, 2
    )
    assert len(receiver.requests) == 1


def test_webhook_config_checks():
    webhook = channel("webhook")
    for config, field_name in [({}, "url"), ({"url": "ftp://x"}, "url"), ({"url": "https://u:p@x.org"}, "url")]:
        with pytest.raises(Exception, match=field_name):
            webhook.validate(config)
    with pytest.raises(Exception, match="secret") as caught:
        webhook.validate_secrets({"secret": "short"})
    assert "short" not in str(caught.value).replace("secret: must", "")


# Slack


def test_slack_payload_has_text_and_blocks_with_escaping(receiver):
    slack = channel("slack")
    secrets = slack.validate_secrets({"url": receiver.url + SLACK_PATH})
    assert slack.validate({}) == {}
    slack.send([notification()], {}, secrets, timeout=5)

    [request] = receiver.requests
    assert request.path == SLACK_PATH
    payload = request.json()
    assert payload["text"].startswith("[FIRING] Battery complaints &lt;up&gt; &amp; rising")
    kinds = [block["type"] for block in payload["blocks"]]
    assert kinds == ["header", "section", "context", "actions"]
    header, section, context, actions = payload["blocks"]
    assert header["text"]["type"] == "plain_text" and len(header["text"]["text"]) <= 150
    assert section["text"]["type"] == "mrkdwn"
    text = section["text"]["text"]
    assert "&lt;@U123&gt; &lt;!channel&gt;" in text and "<!channel>" not in text  # no mention, no link
    assert "Battery complaints &lt;up&gt; &amp; rising" in text
    assert "critical" in context["elements"][0]["text"]
    assert "product=phone-x" in context["elements"][1]["text"]
    button = actions["elements"][0]
    assert button["type"] == "button" and button["url"] == notification().url  # a URL is not escaped


def test_slack_groups_and_limits():
    from opinara.alerts.notify.slack import fit, message

    group = [notification(key=f"k{i}", title="t" * 400, message="&" * 5000) for i in range(25)]
    payload = message(group)
    assert len(payload["blocks"]) <= 50
    assert payload["blocks"][-1]["elements"][0]["text"] == "and 15 more"
    assert all(len(b["text"]["text"]) <= 3000 for b in payload["blocks"] if b["type"] == "section")
    assert len(payload["blocks"][0]["text"]["text"]) <= 150
    assert fit("a&b", 5) == "a…"  # never cuts an entity
    for cut in (fit("&" * 50, n) for n in range(2, 40)):
        assert cut.rstrip("…").endswith("&amp;") or cut == "…"
    assert escape("<a & b>") == "&lt;a &amp; b&gt;"


@pytest.mark.parametrize(
    ("reply", "retryable", "retry_after", "words"),
    [
        (Reply(400, b"invalid_payload"), False, None, "invalid_payload"),
        (Reply(404, b"no_service"), False, None, "no_service"),
        (Reply(410, b"channel_is_archived"), False, None, "channel_is_archived"),
        (Reply(403, b"action_prohibited"), False, None, "action_prohibited"),
        (Reply(429, b"rate_limited", {"Retry-After": "30"}), True, 30.0, "slow down"),
        (Reply(500, b"rollup_error"), True, None, "answered 500"),
    ],
)
def test_slack_failures(receiver, reply, retryable, retry_after, words):
    receiver.answer(reply)
    url = receiver.url + SLACK_PATH
    error = failure(lambda: channel("slack").send([notification()], {}, {"url": url}, 2))
    assert error.retryable is retryable and error.retry_after == retry_after and words in error.message
    assert "SECRET" not in messages(error) and SLACK_PATH not in messages(error)


def test_slack_down_and_back_never_shows_the_url(receiver):
    slack, url = channel("slack"), receiver.url + SLACK_PATH
    receiver.stop()
    error = failure(lambda: slack.send([notification()], {}, {"url": url}, 2))
    assert error.retryable and "SECRET" not in messages(error)
    receiver.start()
    slack.send([notification()], {}, {"url": url}, 2)
    assert receiver.requests[-1].path == SLACK_PATH


def test_slack_secret_url_is_not_quoted_by_validation():
    with pytest.raises(Exception) as caught:
        channel("slack").validate_secrets({"url": "https://user:SECRETPASS@hooks.slack.com" + SLACK_PATH})
    assert "SECRET" not in str(caught.value)
    with pytest.raises(Exception, match="unknown field"):
        channel("slack").validate({"url": "https://hooks.slack.com" + SLACK_PATH})  # not config: a secret


# E-mail through a real SMTP server


@dataclass
class Mailbox:
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    rcpt_answer: str | None = None  # e.g. "451 4.3.0 try later" or "550 5.1.1 no such user"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd's hook names
        if self.rcpt_answer:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted"


@pytest.fixture
def smtp():
    controller_module = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is a dev dependency")
    mailbox = Mailbox()
    controller = controller_module.Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller
    controller.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def email_config(port: int, **overrides: Any) -> dict[str, Any]:
    config = {"host": "127.0.0.1", "port": port, "security": "none", "from": "Opinara <alerts@opinara.example.org>"}
    return {**config, "to": ["ops@example.org", "Lead <lead@example.org>"], **overrides}


def test_email_sends_plain_and_html_parts(smtp):
    mailbox, controller = smtp
    email = channel("email")
    config = email.validate(email_config(controller.port))
    email.send(
        [notification(), notification(key="k2", status="resolved", ends_at=T0 + timedelta(hours=2))], config, {}, 5
    )

    [(sender, recipients, message)] = mailbox.messages
    assert sender == "alerts@opinara.example.org" and recipients == ["ops@example.org", "lead@example.org"]
    assert message["Subject"] == "[Opinara] [CHANGED:2] Battery complaints <up> & rising (+1 more)"
    assert message["Auto-Submitted"] == "auto-generated"
    plain = message.get_payload()[0].get_payload(decode=True).decode()
    rich = message.get_payload()[1].get_payload(decode=True).decode()
    assert message.get_payload()[1].get_content_type() == "text/html"
    assert "Battery complaints <up> & rising" in plain and "product=phone-x" in plain
    assert "Battery complaints &lt;up&gt; &amp; rising" in rich and "<up>" not in rich
    assert 'href="https://opinara.example.org/dashboard?product=phone-x&amp;aspect=battery"' in rich


def test_email_retries_4xx_and_connection_failures_but_not_5xx(smtp):
    mailbox, controller = smtp
    email, config = channel("email"), email_config(controller.port)
    mailbox.rcpt_answer = "451 4.3.0 try again later"
    error = failure(lambda: email.send([notification()], config, {}, 5))
    assert error.retryable and "451" in error.message
    mailbox.rcpt_answer = "550 5.1.1 no such user"
    error = failure(lambda: email.send([notification()], config, {}, 5))
    assert not error.retryable and "550" in error.message
    mailbox.rcpt_answer = None
    email.send([notification()], config, {}, 5)
    assert len(mailbox.messages) == 1

    closed = email_config(free_port())
    error = failure(lambda: email.send([notification()], closed, {}, 2))
    assert error.retryable and "cannot reach 127.0.0.1" in error.message


def test_email_password_needs_tls_and_never_shows(smtp):
    _, controller = smtp
    email = channel("email")
    with pytest.raises(Exception, match="only over TLS"):
        email.validate(email_config(controller.port, username="alerts"))
    config = email.validate(email_config(controller.port, security="starttls", username="alerts"))
    error = failure(lambda: email.send([notification()], config, {"password": PASSWORD}, 5))
    assert not error.retryable  # the test server offers no STARTTLS: a config problem, not a passing one
    assert PASSWORD not in messages(error)
    error = failure(lambda: email.send([notification()], config, {}, 5))
    assert "no password" in error.message


def test_email_config_checks():
    email = channel("email")
    for bad, field_name in [
        ({"to": []}, "to"),
        ({"to": ["not-an-address"]}, "to"),
        ({"from": "x@y.org\r\nBcc: a@b.org"}, "from"),
        ({"security": "tls"}, "security"),
        ({"port": 70000}, "port"),
    ]:
        with pytest.raises(Exception, match=field_name):
            email.validate(email_config(25, **bad))


# Alertmanager


def alertmanager_schema(request: Received) -> Reply:
    """What Alertmanager's v2 API checks of postableAlerts, answered as it does (a JSON string on 400)."""
    alerts = request.json()
    if request.path != "/api/v2/alerts" or not isinstance(alerts, list):
        return Reply(404)
    for alert in alerts:
        if set(alert) - {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}:
            return Reply(400, b'"unknown field"')
        labels = alert.get("labels")
        if not labels or not all(isinstance(v, str) for v in labels.values()):
            return Reply(400, b'"labels: at least one label pair required"')
        if not all(k.replace("_", "a").isalnum() and not k[0].isdigit() for k in labels):
            return Reply(400, b'"invalid label set"')
        if "endsAt" in alert and alert["endsAt"] < alert["startsAt"]:
            return Reply(400, b'"start time must be before end time"')
    return Reply(200)


def test_alertmanager_payload_against_a_schema_checking_server(receiver):
    receiver.check = alertmanager_schema
    alertmanager = channel("alertmanager")
    config = alertmanager.validate({"url": receiver.url + "/", "username": "opinara"})
    secrets = alertmanager.validate_secrets({"password": PASSWORD})
    resolved = notification(status="resolved", labels={"rule": "r1", "product.id": "9", "1st": "x"}, ends_at=T0)
    alertmanager.send([notification(), resolved], config, secrets, 5)

    [request] = receiver.requests
    assert request.path == "/api/v2/alerts"
    assert request.headers["authorization"].startswith("Basic ")
    firing, done = request.json()
    assert firing["labels"] == {
        "alertname": "battery_negative",
        "product": "phone-x",
        "team": "hardware",
        "severity": "critical",
        "opinara_key": "rule-7/product=phone-x",
    }
    assert firing["annotations"]["summary"] == notification().title
    assert firing["startsAt"] == "2024-05-01T12:00:00Z" and "endsAt" not in firing
    assert firing["generatorURL"] == notification().url
    assert done["labels"]["alertname"] == "r1" and done["labels"]["product_id"] == "9" and done["labels"]["_1st"] == "x"
    assert done["endsAt"] == "2024-05-01T12:00:00Z"


def test_alertmanager_failures(receiver):
    alertmanager = channel("alertmanager")
    config = alertmanager.validate({"url": receiver.url})
    secrets = {"bearer_token": "BEARER-SECRET-TOKEN"}
    receiver.answer(Reply(400, b'"start time must be before end time"'))
    error = failure(lambda: alertmanager.send([notification()], config, secrets, 2))
    assert not error.retryable and "start time must be before end time" in error.message
    receiver.answer(Reply(500))
    assert failure(lambda: alertmanager.send([notification()], config, secrets, 2)).retryable
    assert receiver.requests[-1].headers["authorization"] == "Bearer BEARER-SECRET-TOKEN"
    receiver.stop()
    error = failure(lambda: alertmanager.send([notification()], config, secrets, 2))
    assert error.retryable and "BEARER" not in messages(error)
    receiver.start()
    receiver.answer(Reply(200))
    alertmanager.send([notification()], config, secrets, 2)
    with pytest.raises(Exception, match="not both"):
        alertmanager.validate_secrets({"password": "a", "bearer_token": "b"})
    with pytest.raises(Exception, match="base URL"):
        alertmanager.validate({"url": receiver.url + "/api/v2/alerts"})


ALERTMANAGER = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


@pytest.fixture
def real_alertmanager(tmp_path):
    if ALERTMANAGER is None:
        reason = "Debian's prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
        if IN_CI:  # make test installs it (the alertmanager target)
            pytest.fail(reason)
        pytest.skip(reason)
    config = tmp_path / "alertmanager.yml"
    config.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = free_port()
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"alertmanager did not start: {process.stderr.read().decode()[-500:] if process.stderr else ''}"
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_a_real_alertmanager_takes_the_alerts(real_alertmanager):
    alertmanager = channel("alertmanager")
    config = alertmanager.validate({"url": real_alertmanager})
    now = datetime.now(UTC).replace(microsecond=0)
    firing = notification(starts_at=now - timedelta(minutes=1), labels={"alertname": "battery", "product.id": "7"})
    other = notification(
        key="k2", starts_at=now - timedelta(minutes=3), status="resolved", ends_at=now - timedelta(minutes=2)
    )
    alertmanager.send([firing, other], config, {}, 5)

    with urllib.request.urlopen(real_alertmanager + "/api/v2/alerts?active=true", timeout=5) as answer:
        stored = json.load(answer)
    [alert] = [a for a in stored if a["labels"].get("opinara_key") == firing.key]
    assert alert["labels"]["alertname"] == "battery" and alert["labels"]["product_id"] == "7"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == firing.title
    assert alert["status"]["state"] == "active"
    assert not [a for a in stored if a["labels"].get("opinara_key") == "k2"]  # resolved: not active

    # A wrong base URL: the real server answers 404, which is not retried.
    error = failure(lambda: alertmanager.send([firing], {"url": real_alertmanager + "/nope"}, {}, 5))
    assert not error.retryable and "(404)" in error.message
