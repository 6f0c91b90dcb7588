"""The deployment's secret and what it keys: author pseudonyms and cache keys.

Authors are stored as an HMAC of their id, never in plain text. The HMAC's key lives outside the
database, in ``OPINARA_SECRET_KEY`` or in a file created with mode 0600 in the data folder on first
use, so a stolen database alone cannot be searched for a known author id, the same author gets the
same pseudonym across runs of one deployment, and a different one in another deployment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from opinara.config import Settings
from opinara.errors import InputError

SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
_lock = threading.Lock()
_loaded: dict[Path, bytes] = {}


def deployment_secret(settings: Settings) -> bytes:
    """``secret_key`` when set; otherwise the key in ``data_dir/secret.key``, created (0600) when missing."""
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value().encode()
        if len(value) < 16:
            raise InputError("OPINARA_SECRET_KEY must be at least 16 characters")
        return value
    path = (settings.data_dir / SECRET_FILE).resolve()
    with _lock:
        if path not in _loaded:
            _loaded[path] = _read_or_create(path)
        return _loaded[path]


def _read_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_bytes().strip()
        if len(value) < 16:
            raise InputError(f"{path} holds no usable secret; remove it to make a new one") from None
        return value
    value = secrets.token_hex(32).encode()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(value + b"\n")
    return value


class Pseudonymizer:
    """Keyed pseudonyms: the same input gives the same 32 hex characters within one deployment."""

    def __init__(self, secret: bytes, purpose: str = "author") -> None:
        self._key = hmac.new(secret, purpose.encode(), hashlib.sha256).digest()  # one key per purpose

    def __call__(self, value: str | None) -> str | None:
        if not value:
            return None
        return hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]

    @classmethod
    def for_settings(cls, settings: Settings, purpose: str = "author") -> Pseudonymizer:
        return cls(deployment_secret(settings), purpose)
