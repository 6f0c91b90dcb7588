"""API keys: created once (the key is shown once, only its SHA-256 is kept), listed, revoked, verified."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from limits import parse
from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session

from opinara.errors import InputError
from opinara.store.db import Store
from opinara.store.models import ApiKey

log = logging.getLogger(__name__)
SCOPES = ("analyze", "read", "admin")
KEY_PREFIX = "opn_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def hash_key(key: str) -> str:
    """Keys are 256 random bits, so a plain SHA-256 cannot be brute-forced; no salt or slow hash is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """The verified key behind a request."""

    key_id: int
    name: str
    scopes: frozenset[str]
    rate_limit: str
    daily_quota: int | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def parse_scopes(value: str | list[str]) -> list[str]:
    scopes = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if s.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InputError(f"scopes must be a comma-separated list of {', '.join(SCOPES)}; got {value!r}")
    return sorted(set(scopes), key=SCOPES.index)


def check_rate_limit(expression: str) -> str:
    try:
        parse(expression)
    except ValueError as exc:
        raise InputError(f"rate limit {expression!r} is not like 600/minute or 10/second") from exc
    return expression


def create_key(
    store: Store, name: str, scopes: str | list[str], rate_limit: str, daily_quota: int | None = None
) -> tuple[str, dict[str, Any]]:
    """A new key and its public record; the key itself is returned here and never again."""
    if not _NAME.match(name):
        raise InputError(f"key name {name!r} must be 1-128 letters, digits, '.', '_' or '-'")
    if daily_quota is not None and daily_quota < 1:
        raise InputError("the daily quota must be a positive number of texts")
    scope_list = parse_scopes(scopes)
    check_rate_limit(rate_limit)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.session() as session:
        if session.scalars(select(ApiKey.id).where(ApiKey.name == name)).first() is not None:
            raise InputError(f"a key named {name!r} exists; revoke it or choose another name")
        row = ApiKey(
            name=name,
            prefix=key[:12],
            key_hash=hash_key(key),
            scopes=scope_list,
            rate_limit=rate_limit,
            daily_quota=daily_quota,
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        return key, describe(row)


def describe(row: ApiKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": list(row.scopes),
        "rate_limit": row.rate_limit,
        "daily_quota": row.daily_quota,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
    }


def list_keys(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        return [describe(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def find_key(session: Session, name_or_id: str) -> ApiKey:
    condition = ApiKey.name == name_or_id
    if name_or_id.isdigit():
        condition = or_(condition, ApiKey.id == int(name_or_id))
    row = session.scalars(select(ApiKey).where(condition).order_by(ApiKey.id)).first()
    if row is None:
        raise InputError(f"no API key named {name_or_id!r}")
    return row


def revoke_key(store: Store, name_or_id: str) -> dict[str, Any]:
    """Revoke by name or id; every server stops accepting it within ``key_revocation_poll_seconds``."""
    with store.session() as session:
        row = find_key(session, name_or_id)
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        return describe(row)


def _caller(row: Any) -> Caller:
    return Caller(row.id, row.name, frozenset(row.scopes), row.rate_limit, row.daily_quota)


_ACTIVE_KEY = select(ApiKey.id, ApiKey.name, ApiKey.scopes, ApiKey.rate_limit, ApiKey.daily_quota).where(
    ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)
)


def _presentable(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and len(key) <= 128


class KeyVerifier:
    """Verified keys are kept in process; a key seen for the first time costs one indexed query.

    A poller re-reads the revoked keys every ``poll_seconds`` and drops them, so a key revoked from any
    process (the CLI, another server) stops working on every server within that interval, while a
    busy server does not query the database on every request. Lookups run on one thread of the API's
    own, on one connection kept open."""

    def __init__(self, store: Store, poll_seconds: float = 0.25, max_cached: int = 10_000) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.max_cached = max_cached
        self._cached: dict[str, Caller] = {}
        self._connection: Connection | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="key-revocations", daemon=True)

    def start(self) -> None:
        self._poller.start()

    def cached(self, key: str) -> Caller | None:
        return self._cached.get(hash_key(key)) if _presentable(key) else None

    def lookup(self, key: str) -> Caller | None:
        """The database's answer (not thread-safe: call it from one thread)."""
        if not _presentable(key):
            return None
        digest = hash_key(key)
        if self._connection is None:
            self._connection = self.store.engine.connect()
        try:
            row = self._connection.execute(_ACTIVE_KEY, {"key_hash": digest}).first()
            self._connection.rollback()  # end the read transaction so the next lookup sees new keys
        except Exception:
            self.close()  # a broken connection is replaced on the next call
            raise
        if row is None:
            return None
        caller = _caller(row)
        if len(self._cached) >= self.max_cached:
            self._cached.clear()
        self._cached[digest] = caller
        return caller

    def drop_revoked(self) -> int:
        with self.store.engine.connect() as connection:
            revoked = set(connection.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_not(None))))
        stale = [digest for digest, caller in list(self._cached.items()) if caller.key_id in revoked]
        for digest in stale:
            self._cached.pop(digest, None)
        return len(stale)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.drop_revoked()
            except Exception:  # the database may be briefly unreachable; keep polling
                log.exception("revoked-key poll failed")

    def close(self) -> None:
        self._stop.set()
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()


def touch_keys(store: Store, key_ids: set[int], when: datetime) -> None:
    if key_ids:
        with store.session() as session:
            session.execute(update(ApiKey).where(ApiKey.id.in_(key_ids)).values(last_used_at=when))
