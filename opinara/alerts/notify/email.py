"""``channel.email.v1``: one e-mail per group over SMTP, with a plain-text and an HTML part.

Config: ``host``, ``port`` (by default 25, 587 or 465 after ``security``), ``security`` (``starttls``,
the default; ``ssl``, TLS from the first byte; ``none``), ``from``, ``to`` (a list), ``username`` and
``subject_prefix`` (``[Opinara]``). The only secret is ``password``; it is sent only over TLS, so a
``username`` needs ``starttls`` or ``ssl``. Certificates are verified against the system's CAs.

Failures: no connection, a timeout, a dropped connection or a 4xx answer (the server's "try later") are
retried; a 5xx answer (an unknown recipient, refused credentials, a message refused), a certificate that
does not verify or a server without STARTTLS are not. A message some recipients took and others refused
is not retried either (the others would get it twice); the error says which codes came back.

SMTP servers are often internal relays, so this channel is not held to the monitors' network policy.
"""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from opinara.alerts.notify.base import (
    CHANNELS,
    DeliveryFailed,
    Notification,
    check_group,
    check_keys,
    check_text,
    check_timeout,
    iso_utc,
    now_utc,
    one_line,
    redact,
)
from opinara.errors import FieldError

NAME = "channel.email.v1"
SECURITIES = {"starttls": 587, "ssl": 465, "none": 25}
MAX_RECIPIENTS = 50
MAX_SUBJECT = 200
CONFIG_FIELDS = ("host", "port", "security", "from", "to", "username", "subject_prefix")


def _address(field_name: str, value: Any) -> str:
    text = check_text(field_name, value, max_chars=320)
    _, address = parseaddr(text)
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or " " in address:
        raise FieldError(field_name, "must be an e-mail address (name@example.org or Name <name@example.org>)")
    return text


def _subject(prefix: str, notifications: list[Notification]) -> str:
    statuses = {n.status for n in notifications}
    status = statuses.pop().upper() if len(statuses) == 1 else "CHANGED"
    count = f":{len(notifications)}" if len(notifications) > 1 else ""
    more = f" (+{len(notifications) - 1} more)" if len(notifications) > 1 else ""
    subject = f"{prefix} [{status}{count}] {notifications[0].title}{more}".strip()
    return one_line(subject, MAX_SUBJECT)


def _when(n: Notification) -> str:
    return f"since {iso_utc(n.starts_at)}" + (f", resolved {iso_utc(n.ends_at)}" if n.ends_at else "")


def plain_text(notifications: list[Notification]) -> str:
    parts = []
    for n in notifications:
        lines = [f"{n.status.upper()} · {n.severity} · {n.title}", "", n.message, "", _when(n)]
        if n.labels:
            lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(n.labels.items())))
        if n.url:
            lines.append(f"Open: {n.url}")
        parts.append("\n".join(lines))
    return "\n\n----\n\n".join(parts) + "\n"


def html_text(notifications: list[Notification]) -> str:
    colours = {"critical": "#b3261e", "warning": "#b26a00", "info": "#1f5fa8"}
    items = []
    for n in notifications:
        colour = "#2e7d32" if n.status == "resolved" else colours[n.severity]
        labels = "".join(f"<code>{html.escape(k)}={html.escape(v)}</code> " for k, v in sorted(n.labels.items()))
        link = (
            f'<p><a href="{html.escape(n.url, quote=True)}">Open in Opinara</a></p>'
            if n.url and n.url.startswith(("https://", "http://"))
            else ""
        )
        message = html.escape(n.message).replace("\n", "<br>")
        items.append(
            f'<div style="border-left:4px solid {colour};padding:4px 12px;margin:12px 0">'
            f'<h2 style="margin:0;font-size:16px">{html.escape(n.title)}</h2>'
            f"<p><strong>{html.escape(n.status.upper())}</strong> · {html.escape(n.severity)} · "
            f"{html.escape(_when(n))}</p><p>{message}</p><p>{labels}</p>{link}</div>"
        )
    return f'<!doctype html><html><body style="font-family:sans-serif">{"".join(items)}</body></html>\n'


def build_message(notifications: list[Notification], config: Mapping[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _subject(config.get("subject_prefix", "[Opinara]"), notifications)
    message["From"] = config["from"]
    message["To"] = ", ".join(config["to"])
    message["Date"] = format_datetime(now_utc())
    message["Message-ID"] = make_msgid(domain=parseaddr(config["from"])[1].rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to alerts
    message.set_content(plain_text(notifications))
    message.add_alternative(html_text(notifications), subtype="html")
    return message


class EmailChannel:
    name = NAME
    secret_fields = frozenset({"password"})

    def __init__(self, settings: Any = None, transport: Any = None, ssl_context: ssl.SSLContext | None = None) -> None:
        # ``transport`` is taken for a uniform factory and unused; ``ssl_context`` trusts a private CA.
        self._ssl_context = ssl_context

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        check_keys(config, CONFIG_FIELDS, required=("host", "from", "to"))
        security = config.get("security", "starttls")
        if security not in SECURITIES:
            raise FieldError("security", f"must be one of {', '.join(SECURITIES)}")
        port = config.get("port", SECURITIES[security])
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise FieldError("port", "must be a number from 1 to 65535")
        recipients = config["to"]
        if isinstance(recipients, str):
            recipients = [recipients]
        if not isinstance(recipients, list) or not 0 < len(recipients) <= MAX_RECIPIENTS:
            raise FieldError("to", f"must be a list of 1 to {MAX_RECIPIENTS} addresses")
        normalized: dict[str, Any] = {
            "host": check_text("host", config["host"], max_chars=253),
            "port": port,
            "security": security,
            "from": _address("from", config["from"]),
            "to": [_address(f"to[{i}]", value) for i, value in enumerate(recipients)],
            "subject_prefix": check_text("subject_prefix", config.get("subject_prefix", "[Opinara]"), 64),
        }
        if config.get("username") not in (None, ""):
            if security == "none":
                raise FieldError("username", "a password is sent only over TLS; set security to starttls or ssl")
            normalized["username"] = check_text("username", config["username"], 320)
        return normalized

    def validate_secrets(self, secrets: Mapping[str, Any]) -> dict[str, str]:
        check_keys(secrets, self.secret_fields)
        password = secrets.get("password")
        if password is not None and (not isinstance(password, str) or not password):
            raise FieldError("password", "must be a non-empty string")
        return {"password": password} if password else {}

    def send(
        self, notifications: list[Notification], config: dict[str, Any], secrets: dict[str, Any], timeout: float
    ) -> None:
        check_group(notifications, "email")
        timeout = check_timeout(timeout)
        host, port, security = config["host"], config["port"], config.get("security", "starttls")
        where = f"{host}:{port}"
        username, password = config.get("username"), secrets.get("password")
        if username and not password:
            raise DeliveryFailed(f"email: a username is set for {where} but no password", retryable=False)
        message = build_message(notifications, config)
        context = self._ssl_context or ssl.create_default_context()
        try:
            if security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            try:
                if security == "starttls":
                    smtp.starttls(context=context)
                if username:
                    smtp.login(username, password)
                refused = smtp.send_message(message)
            finally:
                _quit(smtp)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            retryable = all(400 <= code < 500 for code in codes)
            raise DeliveryFailed(f"email: {where} refused every recipient ({_codes(codes)})", retryable) from None
        except smtplib.SMTPResponseException as exc:
            said = one_line(redact(_decode(exc.smtp_error), secrets))
            raise DeliveryFailed(
                f"email: {where} answered {exc.smtp_code} ({type(exc).__name__}: {said})",
                retryable=400 <= exc.smtp_code < 500 or exc.smtp_code < 0,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryFailed(
                f"email: {where} does not offer what {security} needs (STARTTLS or AUTH)", False
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise DeliveryFailed(f"email: {where} closed the connection", retryable=True) from None
        except smtplib.SMTPException as exc:
            said = one_line(redact(str(exc), secrets))
            raise DeliveryFailed(f"email: {where}: {type(exc).__name__}: {said}", retryable=False) from None
        except ssl.SSLCertVerificationError:
            raise DeliveryFailed(f"email: {where}'s certificate does not verify", retryable=False) from None
        except TimeoutError:
            raise DeliveryFailed(f"email: {where} did not answer within {timeout:g} s", retryable=True) from None
        except OSError as exc:
            raise DeliveryFailed(f"email: cannot reach {where} ({type(exc).__name__})", retryable=True) from None
        if refused:
            codes = sorted({code for code, _ in refused.values()})
            raise DeliveryFailed(
                f"email: {where} took the message for {len(config['to']) - len(refused)} of {len(config['to'])} "
                f"recipients and refused the others ({_codes(codes)}); not retried, the others have it",
                retryable=False,
            )


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _codes(codes: list[int]) -> str:
    return ", ".join(str(code) for code in codes)


@CHANNELS.register(NAME)
def email_channel(
    settings: Any = None, transport: Any = None, ssl_context: ssl.SSLContext | None = None
) -> EmailChannel:
    return EmailChannel(settings, transport, ssl_context)
