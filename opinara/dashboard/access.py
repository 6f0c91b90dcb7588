"""Who may see the dashboard: where it may listen, its password, and which API keys it may share.

No Streamlit here, so the CLI can check the same rules before it starts the server."""

from __future__ import annotations

import hmac
import ipaddress

from opinara.config import Settings

PASSWORD_VARIABLE = "OPINARA_DASHBOARD_PASSWORD"  # noqa: S105 - the variable's name, not a password


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host``: a loopback address, or ``localhost``.

    Any other name counts as reachable from elsewhere: what it resolves to is not ours to trust."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def password(settings: Settings) -> bytes | None:
    """The dashboard password as bytes, or None when none is set (an empty one counts as none)."""
    secret = settings.dashboard_password.get_secret_value() if settings.dashboard_password else ""
    return secret.encode() if secret else None


def password_matches(given: str, expected: bytes) -> bool:
    """Constant-time comparison, so response times say nothing about how much of a guess was right."""
    return hmac.compare_digest(given.encode(), expected)


def unprotected_host_problem(host: str, settings: Settings) -> str | None:
    """Why the dashboard must not listen on ``host``, or None when it may."""
    if is_loopback(host) or password(settings) is not None:
        return None
    return (
        f"the dashboard would listen on {host}, reachable from other machines, without a password: "
        f"set {PASSWORD_VARIABLE}, or listen on 127.0.0.1"
    )


def admin_key_problem(scopes: list[str], settings: Settings) -> str | None:
    """Why the dashboard must not run with a key of ``scopes``, or None when it may.

    Every visitor acts with the dashboard's key; an admin key is shared only behind a password."""
    if "admin" not in scopes or password(settings) is not None:
        return None
    return (
        "The dashboard's API key has the admin scope and no dashboard password is set, so every visitor "
        f"would act as an administrator. Set {PASSWORD_VARIABLE}, or give the dashboard a key without admin "
        "(`opinara keys create --name dashboard --scopes read,analyze,ingest`) in OPINARA_API_KEY."
    )
