"""Who is calling: the key behind a request, checked before any body is read, and its rate and quota.

:class:`Authenticator` answers from memory whenever it can (a verified key, a key found unknown
lately, an address over its failed-authentication limit). The rest (key lookups in the database and
rate limits in Redis) runs on one thread of its own, on one connection kept open, behind a bounded
queue: past ``auth_queue_max`` waiting calls, requests are refused at once with 503 instead of piling
up behind a slow database. Errors are Opinara's (``AuthenticationError``, ``RateLimited``,
``Unavailable``, ``StoreUnavailable``); their messages never carry a library's exception text."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from opinara.access.keys import Caller, KeyVerifier
from opinara.access.limits import Decision, FailedAuthLimiter, KeyLimiter
from opinara.config import Settings
from opinara.errors import AuthenticationError, RateLimited, StoreUnavailable, Unavailable
from opinara.outage import Outage
from opinara.store.db import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

MISSING_KEY = "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
INVALID_KEY = "the API key is not valid or has been revoked"
FAILED_AUTH_LIMIT = "failed authentications"


class Authenticator:
    """Verifies keys and counts their rate and quota for the API; one per server process."""

    def __init__(self, settings: Settings, store: Store, limiter: KeyLimiter) -> None:
        self.limiter = limiter
        self.verifier = KeyVerifier(
            store,
            poll_seconds=settings.key_revocation_poll_seconds,
            unknown_seconds=settings.unknown_key_cache_seconds,
        )
        self.failures = FailedAuthLimiter(settings.failed_auth_limit)
        self.queue_max = settings.auth_queue_max
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auth")
        self._lock = threading.Lock()
        self._waiting = 0  # calls submitted to the thread and not finished (running or queued)
        self._lookup_outage = Outage("key lookups (database)", "answering 503 to keys not verified before")

    @property
    def waiting(self) -> int:
        """Calls queued for, or running on, the authentication thread."""
        return self._waiting

    def start(self) -> None:
        """Start polling for revoked keys."""
        self.verifier.start()

    async def authenticate(self, key: str | None, client: str | None) -> Caller:
        """The caller behind ``key``, presented from the address ``client``.

        Raises :class:`AuthenticationError` (no key, or an invalid one), :class:`RateLimited` (the
        address failed too often lately, whatever key it presents now), :class:`Unavailable` (the
        queue for the database is full) or :class:`StoreUnavailable` (the database did not answer)."""
        if not key:
            raise AuthenticationError(MISSING_KEY)
        retry_after = self.failures.retry_after(client)
        if retry_after is not None:
            raise RateLimited(
                f"too many failed authentications from this address; try again in {retry_after} s",
                limit=FAILED_AUTH_LIMIT,
                headers={"Retry-After": str(retry_after)},
            )
        caller = self.verifier.cached(key)
        if caller is not None:
            return caller
        if not self.verifier.known_invalid(key):
            try:
                caller = await self.on_thread(self.verifier.lookup, key)
            except SQLAlchemyError as exc:
                self._lookup_outage.failed(exc)
                raise StoreUnavailable("the database is unavailable; try again shortly", 5) from exc
            self._lookup_outage.succeeded()
        if caller is None:
            self.failures.failed(client)
            raise AuthenticationError(INVALID_KEY)
        return caller

    async def check_rate(self, caller: Caller) -> Decision:
        """Count one request against the key's rate limit (on the thread when the count is in Redis)."""
        if self.limiter.shared:
            return await self.on_thread(self.limiter.check_rate, caller.key_id, caller.rate_limit)
        return self.limiter.check_rate(caller.key_id, caller.rate_limit)

    async def take_quota(self, caller: Caller, texts: int) -> Decision:
        """Take ``texts`` from the key's daily quota (nothing when refused). A key without a quota is
        allowed without counting, with a decision of limit 0."""
        quota, texts = caller.daily_quota, max(texts, 0)
        if quota is None:
            return Decision(True, 0, 0, 0)
        if self.limiter.shared:
            return await self.on_thread(self.limiter.take_quota, caller.key_id, quota, texts)
        return self.limiter.take_quota(caller.key_id, quota, texts)

    async def on_thread(self, function: Callable[..., T], *args: object) -> T:
        """Run ``function(*args)`` on the authentication thread; :class:`Unavailable` when its queue is full."""
        with self._lock:
            if self._waiting >= self.queue_max:
                raise Unavailable("authentication is busy; try again shortly", retry_after=1)
            self._waiting += 1
        try:
            future: Future[T] = self._thread.submit(function, *args)
        except RuntimeError:  # shut down
            self._finished()
            raise Unavailable("the server is shutting down; try again shortly", retry_after=1) from None
        # Counted until the call ends on the thread, not until its awaiting request gives up.
        future.add_done_callback(self._finished)
        return await asyncio.wrap_future(future)

    def _finished(self, _future: object = None) -> None:
        with self._lock:
            self._waiting -= 1

    def close(self) -> None:
        """Stop polling, close the lookup connection on its own thread, and stop the thread."""
        self.verifier.stop()
        try:
            self._thread.submit(self.verifier.close).result(timeout=10)
        except Exception as exc:  # a lookup stuck on the database: leave it to the process exit
            log.warning("closing the key verifier failed: %s", type(exc).__name__)
        self._thread.shutdown(wait=False, cancel_futures=True)
