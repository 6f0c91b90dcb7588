"""Connector credentials at rest: encrypted with a key derived from the deployment secret (Fernet:
AES-128-CBC with HMAC-SHA256), or given as references (``env:NAME``, ``file:/path``) that are read when a
run needs them. Never stored, logged or returned in plain text: the API shows ``****`` for a value and
the reference itself for a reference."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from opinara.config import Settings
from opinara.errors import InputError
from opinara.monitors.connectors.base import SourceAuthError
from opinara.privacy import deployment_secret

MASK = "****"
REFERENCE_PREFIXES = ("env:", "file:")


def _fernet(settings: Settings) -> Fernet:
    key = hmac.new(deployment_secret(settings), b"opinara monitor secrets", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(settings: Settings, values: dict[str, str]) -> str | None:
    """The secret params as one encrypted token (None when there are none)."""
    if not values:
        return None
    return _fernet(settings).encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def unseal(settings: Settings, token: str | None) -> dict[str, str]:
    """The stored secret params (values or references), decrypted."""
    if not token:
        return {}
    try:
        return json.loads(_fernet(settings).decrypt(token.encode()))
    except InvalidToken as exc:
        raise InputError(
            "the monitor's credentials cannot be decrypted: the deployment secret (OPINARA_SECRET_KEY or "
            "secret.key in the data folder) is not the one they were stored with"
        ) from exc


def is_reference(value: str) -> bool:
    return value.startswith(REFERENCE_PREFIXES)


def masked(values: dict[str, str]) -> dict[str, str]:
    """What may be shown of secret params: references as they are, values as ``****``."""
    return {name: value if is_reference(value) else MASK for name, value in values.items()}


def resolve(values: dict[str, str]) -> dict[str, str]:
    """Values for a run: references read from the environment or a file; :class:`SourceAuthError` when
    one cannot be read (the monitor is paused with the reason, which names the reference, not a value)."""
    out = {}
    for name, value in values.items():
        if value.startswith("env:"):
            variable = value.removeprefix("env:")
            if variable not in os.environ:
                raise SourceAuthError(f"{name}: the environment variable {variable} is not set")
            out[name] = os.environ[variable]
        elif value.startswith("file:"):
            path = Path(value.removeprefix("file:"))
            try:
                out[name] = path.read_text().strip()
            except OSError as exc:
                raise SourceAuthError(f"{name}: cannot read {path} ({exc.strerror})") from exc
        else:
            out[name] = value
    return out


def mask_in(text: str, secrets: dict[str, str]) -> str:
    """``text`` with any secret value replaced by ``****`` (an error message of a run, before it is stored)."""
    for value in secrets.values():
        if len(value) >= 4 and not is_reference(value):
            text = text.replace(value, MASK)
    return text
