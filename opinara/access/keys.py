"""API keys: created once (the key is shown once, only its SHA-256 is kept), listed, revoked, verified."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from limits import parse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session

from opinara.errors import InputError, NotFoundError
from opinara.outage import Outage
from opinara.store.db import Store
from opinara.store.models import ApiKey
from opinara.validation import numeric_id

log = logging.getLogger(__name__)
SCOPES = ("analyze", "read", "ingest", "monitor", "metrics", "alerts", "admin")
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
    redact_pii: bool = False  # every request of this key is redacted, whatever it asks

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


class KeyInfo(BaseModel):
    """A key's public record: never the key, nor its hash."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: list[str]
    rate_limit: str
    daily_quota: int | None
    redact_pii: bool
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


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
    store: Store,
    name: str,
    scopes: str | list[str],
    rate_limit: str,
    daily_quota: int | None = None,
    *,
    redact_pii: bool = False,
) -> tuple[str, KeyInfo]:
    """A new key and its public record; the key itself is returned here and never again.

    With ``redact_pii``, every request made with the key has personal data redacted."""
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
            redact_pii=redact_pii,
            created_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        return key, describe(row)


def describe(row: ApiKey) -> KeyInfo:
    return KeyInfo.model_validate(row)


def list_keys(store: Store) -> list[KeyInfo]:
    with store.session() as session:
        return [describe(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def key_info(store: Store, key_id: int) -> KeyInfo:
    """The record of the key with id ``key_id``."""
    with store.session() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError(f"no API key with id {key_id}")
        return describe(row)


def find_key(session: Session, name_or_id: str) -> ApiKey:
    """The key named ``name_or_id`` (or with that id); :class:`NotFoundError` when there is none."""
    condition = ApiKey.name == name_or_id
    if (number := numeric_id(name_or_id)) is not None:
        condition = or_(condition, ApiKey.id == number)
    row = session.scalars(select(ApiKey).where(condition).order_by(ApiKey.id)).first()
    if row is None:
        raise NotFoundError(f"no API key named {name_or_id!r}")
    return row


def revoke_key(store: Store, name_or_id: str) -> KeyInfo:
    """Revoke by name or id; every server stops accepting it within ``key_revocation_poll_seconds``."""
    with store.session() as session:
        row = find_key(session, name_or_id)
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        return describe(row)


def _caller(row: Any) -> Caller:
    return Caller(row.id, row.name, frozenset(row.scopes), row.rate_limit, row.daily_quota, bool(row.redact_pii))


_ACTIVE_KEY = select(
    ApiKey.id, ApiKey.name, ApiKey.scopes, ApiKey.rate_limit, ApiKey.daily_quota, ApiKey.redact_pii
).where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))


def _presentable(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and len(key) <= 128


V = TypeVar("V")


class _Bounded(Generic[V]):
    """Values by key digest, the oldest evicted past ``size``; shared by the event loop, the lookup
    thread and the poller, hence the lock."""

    def __init__(self, size: int) -> None:
        self.size = max(size, 1)
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, digest: str) -> V | None:
        with self._lock:
            return self._items.get(digest)

    def put(self, digest: str, value: V) -> None:
        with self._lock:
            self._items.pop(digest, None)
            self._items[digest] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, digest: str) -> None:
        with self._lock:
            self._items.pop(digest, None)

    def drop_where(self, stale: Callable[[V], bool]) -> int:
        with self._lock:
            digests = [digest for digest, value in self._items.items() if stale(value)]
            for digest in digests:
                del self._items[digest]
        return len(digests)


class KeyVerifier:
    """Verified keys are kept in process; a key seen for the first time costs one indexed query.

    A poller re-reads the revoked keys every ``poll_seconds`` and drops them, so a key revoked from any
    process (the CLI, another server) stops working on every server within that interval, while a
    busy server does not query the database on every request. The poller outlives database errors:
    it logs the start and the end of an outage and polls on. A key the database did not know is
    answered from memory for ``unknown_seconds``, so repeating a bad key does not repeat the query.
    Only SHA-256 digests are kept, never keys.

    Lookups run on one thread of the caller's choosing, on one connection kept open; a connection
    that failed is dropped and the next lookup opens another."""

    def __init__(
        self, store: Store, poll_seconds: float = 0.25, unknown_seconds: float = 5.0, max_cached: int = 10_000
    ) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self.unknown_seconds = unknown_seconds
        self._verified: _Bounded[Caller] = _Bounded(max_cached)
        self._unknown: _Bounded[float] = _Bounded(max_cached)  # digest -> when to ask the database again
        self._connection: Connection | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="key-revocations", daemon=True)
        self._poll_outage = Outage("the revoked-key poll (database)", f"retrying every {poll_seconds:g} s")

    def start(self) -> None:
        self._poller.start()

    def cached(self, key: str) -> Caller | None:
        """The verified key from memory, or None when it must be looked up (or is invalid)."""
        return self._verified.get(hash_key(key)) if _presentable(key) else None

    def known_invalid(self, key: str) -> bool:
        """Whether ``key`` can be refused without the database: malformed, or found unknown lately."""
        return not _presentable(key) or self._recently_unknown(hash_key(key))

    def _recently_unknown(self, digest: str) -> bool:
        until = self._unknown.get(digest)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        self._unknown.pop(digest)
        return False

    def lookup(self, key: str) -> Caller | None:
        """The database's answer (not thread-safe: call it from one thread); database errors propagate."""
        if not _presentable(key):
            return None
        digest = hash_key(key)
        if self._recently_unknown(digest):
            return None
        try:
            if self._connection is None:
                self._connection = self.store.engine.connect()
            row = self._connection.execute(_ACTIVE_KEY, {"key_hash": digest}).first()
            self._connection.rollback()  # end the read transaction so the next lookup sees new keys
        except Exception:
            self._drop_connection()  # the next lookup opens a new one; the poller is not affected
            raise
        if row is None:
            if self.unknown_seconds > 0:
                self._unknown.put(digest, time.monotonic() + self.unknown_seconds)
            return None
        caller = _caller(row)
        self._verified.put(digest, caller)
        return caller

    def drop_revoked(self) -> int:
        """Forget the verified keys revoked since; returns how many were dropped."""
        with self.store.engine.connect() as connection:
            revoked = set(connection.scalars(select(ApiKey.id).where(ApiKey.revoked_at.is_not(None))))
        return self._verified.drop_where(lambda caller: caller.key_id in revoked)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.drop_revoked()
            except Exception as exc:  # down, restarting, locked: the next poll tries again
                self._poll_outage.failed(exc)
            else:
                self._poll_outage.succeeded()

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception as exc:  # already broken: the pool discards it
                log.debug("closing a failed key-lookup connection: %s", type(exc).__name__)

    def stop(self) -> None:
        """Stop the poller (from any thread); lookups still work."""
        self._stop.set()

    def close(self) -> None:
        """Stop the poller and close the lookup connection (from the lookup thread, or when idle)."""
        self.stop()
        if self._poller.is_alive() and self._poller is not threading.current_thread():
            self._poller.join(timeout=5)
        self._drop_connection()


def touch_keys(store: Store, key_ids: set[int], when: datetime) -> None:
    if key_ids:
        with store.session() as session:
            session.execute(update(ApiKey).where(ApiKey.id.in_(key_ids)).values(last_used_at=when))
