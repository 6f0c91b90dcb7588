"""The Authenticator on the real databases: who may call, failed-auth limits, the bounded queue, outages."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from opinara.access.authenticator import Authenticator
from opinara.access.keys import create_key, revoke_key
from opinara.access.limits import KeyLimiter
from opinara.config import Settings
from opinara.errors import AuthenticationError, RateLimited, StoreUnavailable, Unavailable
from opinara.store.db import Store, open_store
from tests.conftest import require_redis
from tests.store.conftest import make_store, postgres_schema_url

CLIENT = "203.0.113.7"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path)


@pytest.fixture
def postgres_store(tmp_path: Path) -> Iterator[Store]:
    """A PostgreSQL store whose connections carry an application name of their own, to find them by."""
    for url in postgres_schema_url():
        store = open_store(Settings(data_dir=tmp_path, database_url=f"{url}&application_name=t{uuid.uuid4().hex}"))
        yield store
        store.engine.dispose()


@pytest.fixture
def authenticators(tmp_path: Path) -> Iterator[Any]:
    """Builds started Authenticators over a store with some settings changed; closes them afterwards."""
    built: list[Authenticator] = []

    def build(store: Store, limiter: KeyLimiter | None = None, **changes: Any) -> Authenticator:
        settings = Settings(data_dir=tmp_path, **{"key_revocation_poll_seconds": 0.05, **changes})
        authenticator = Authenticator(settings, store, limiter or KeyLimiter())
        authenticator.start()
        built.append(authenticator)
        return authenticator

    yield build
    for authenticator in built:
        authenticator.close()


def key_lookups(store: Store) -> list[str]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "key_hash" in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


def test_a_key_is_required_and_a_bad_one_is_refused_without_saying_which_way(store, authenticators):
    auth = authenticators(store)
    key, _ = create_key(store, "good", "analyze", "10/second", redact_pii=True)

    async def scenario() -> None:
        with pytest.raises(AuthenticationError, match="Authorization: Bearer <key>"):
            await auth.authenticate(None, CLIENT)
        for bad in ("opn_" + "z" * 43, "hunter2", key + "x"):
            with pytest.raises(AuthenticationError, match="not valid or has been revoked"):
                await auth.authenticate(bad, CLIENT)
        caller = await auth.authenticate(key, CLIENT)
        assert caller.name == "good" and caller.redact_pii

    asyncio.run(scenario())


def test_a_verified_key_is_answered_from_memory(store, authenticators):
    auth = authenticators(store)
    key, _ = create_key(store, "busy", "analyze", "10/second")
    lookups = key_lookups(store)

    async def scenario() -> None:
        callers = [await auth.authenticate(key, CLIENT) for _ in range(20)]
        assert len(set(callers)) == 1

    asyncio.run(scenario())
    assert len(lookups) == 1


def test_an_address_that_failed_too_often_is_refused_before_any_lookup(store, authenticators):
    auth = authenticators(store, failed_auth_limit="3/minute")
    key, _ = create_key(store, "valid", "analyze", "10/second")
    lookups = key_lookups(store)

    async def scenario() -> None:
        for _ in range(5):  # sending no key is not a failed guess
            with pytest.raises(AuthenticationError):
                await auth.authenticate(None, CLIENT)
        for bad in ("opn_" + "q" * 43, "opn_" + "q" * 43, "garbage"):
            with pytest.raises(AuthenticationError):
                await auth.authenticate(bad, CLIENT)
        with pytest.raises(RateLimited) as refused:
            await auth.authenticate(key, CLIENT)
        assert refused.value.limit == "failed authentications"
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
        assert (await auth.authenticate(key, "198.51.100.1")).name == "valid", "other addresses are not affected"

    asyncio.run(scenario())
    assert len(lookups) == 2, "one lookup of the unknown key, one of the valid key from the other address"


def test_lookups_wait_in_a_bounded_queue_and_the_rest_are_refused_at_once(store, authenticators):
    auth = authenticators(store, auth_queue_max=2)
    known, _ = create_key(store, "known", "analyze", "100/second")
    new, _ = create_key(store, "new", "analyze", "100/second")
    released = threading.Event()

    async def scenario() -> None:
        await auth.authenticate(known, CLIENT)
        blocked = [asyncio.create_task(auth.on_thread(released.wait)) for _ in range(2)]
        await asyncio.sleep(0)
        assert auth.waiting == 2
        started = time.monotonic()
        with pytest.raises(Unavailable, match="authentication is busy") as busy:
            await auth.authenticate(new, CLIENT)
        assert busy.value.retry_after == 1 and time.monotonic() - started < 0.5
        assert (await auth.authenticate(known, CLIENT)).name == "known", "a verified key needs no queue"
        assert (await auth.check_rate(await auth.authenticate(known, CLIENT))).allowed, "memory limits run inline"
        released.set()
        await asyncio.gather(*blocked)
        assert (await auth.authenticate(new, CLIENT)).name == "new"
        assert auth.waiting == 0

    asyncio.run(scenario())


def test_a_request_that_gives_up_still_holds_its_place_until_its_lookup_ends(store, authenticators):
    auth = authenticators(store, auth_queue_max=1)
    released = threading.Event()

    async def scenario() -> None:
        impatient = asyncio.create_task(auth.on_thread(released.wait))
        await asyncio.sleep(0)
        impatient.cancel()
        await asyncio.sleep(0.05)
        assert auth.waiting == 1, "the thread is still busy with it"
        with pytest.raises(Unavailable):
            await auth.on_thread(time.time)
        released.set()
        for _ in range(100):
            if auth.waiting == 0:
                break
            await asyncio.sleep(0.01)
        assert await auth.on_thread(lambda: "free") == "free"

    asyncio.run(scenario())


def test_a_database_stuck_on_a_lock_fills_the_queue_and_later_callers_get_503(postgres_store, authenticators):
    auth = authenticators(postgres_store, auth_queue_max=2)
    first, _ = create_key(postgres_store, "first", "analyze", "100/second")
    second, _ = create_key(postgres_store, "second", "analyze", "100/second")
    third, _ = create_key(postgres_store, "third", "analyze", "100/second")

    async def scenario() -> None:
        with postgres_store.engine.connect() as locker:
            locker.execute(text("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE"))
            waiting = [asyncio.create_task(auth.authenticate(key, CLIENT)) for key in (first, second)]
            await asyncio.sleep(0.2)
            assert not any(task.done() for task in waiting), "both wait for the lock"
            with pytest.raises(Unavailable, match="busy"):
                await auth.authenticate(third, CLIENT)
            locker.rollback()
        assert [caller.name for caller in await asyncio.gather(*waiting)] == ["first", "second"]
        assert (await auth.authenticate(third, CLIENT)).name == "third"

    asyncio.run(scenario())


def test_a_failed_lookup_does_not_stop_revocations(postgres_store, authenticators):
    """The lookup connection is killed under the verifier; a key revoked afterwards still stops working."""
    store = postgres_store
    auth = authenticators(store)
    kept, _ = create_key(store, "kept", "read", "100/second")
    doomed, _ = create_key(store, "doomed", "read", "100/second")
    later, _ = create_key(store, "later", "read", "100/second")

    async def scenario() -> None:
        assert await auth.authenticate(kept, CLIENT) and await auth.authenticate(doomed, CLIENT)
        with store.engine.connect() as admin:
            killed = admin.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = current_setting('application_name') AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert killed >= 1
        with pytest.raises(StoreUnavailable) as down:
            await auth.authenticate(later, CLIENT)
        assert down.value.retry_after == 5 and "terminat" not in str(down.value).lower()

        revoke_key(store, "doomed")
        deadline = time.monotonic() + 20 * auth.verifier.poll_seconds
        while True:
            try:
                await auth.authenticate(doomed, CLIENT)
            except AuthenticationError:
                break
            assert time.monotonic() < deadline, "the revoked key still works after twenty polls"
            await asyncio.sleep(0.02)
        assert (await auth.authenticate(kept, CLIENT)).name == "kept"
        assert (await auth.authenticate(later, CLIENT)).name == "later", "lookups work again"

    asyncio.run(scenario())


def test_rate_and_quota_are_counted_per_key(store, authenticators):
    auth = authenticators(store)
    metered, _ = create_key(store, "metered", "analyze", "2/minute", 10)
    free, _ = create_key(store, "free", "analyze", "2/minute")

    async def scenario() -> None:
        caller = await auth.authenticate(metered, CLIENT)
        assert [(await auth.check_rate(caller)).allowed for _ in range(3)] == [True, True, False]
        assert (await auth.take_quota(caller, 8)).allowed
        refused = await auth.take_quota(caller, 3)
        assert not refused.allowed and refused.reason == "daily quota" and refused.remaining == 2
        assert (await auth.take_quota(await auth.authenticate(free, CLIENT), 10**6)).allowed

    asyncio.run(scenario())


def test_redis_limits_are_counted_on_the_bounded_thread(store, authenticators):
    limiter = KeyLimiter(require_redis(), f"test-{uuid.uuid4().hex[:8]}")
    auth = authenticators(store, limiter, auth_queue_max=1)
    key, _ = create_key(store, "shared", "analyze", "5/minute", 100)
    released = threading.Event()

    async def scenario() -> None:
        caller = await auth.authenticate(key, CLIENT)
        blocked = asyncio.create_task(auth.on_thread(released.wait))
        await asyncio.sleep(0)
        for charge in (auth.check_rate(caller), auth.take_quota(caller, 1)):
            with pytest.raises(Unavailable):
                await charge
        released.set()
        await blocked
        assert (await auth.check_rate(caller)).remaining == 4
        assert (await auth.take_quota(caller, 30)).remaining == 70
        assert limiter.backend == "redis"

    asyncio.run(scenario())


def test_close_stops_polling_and_refuses_further_work(store, tmp_path):
    auth = Authenticator(Settings(data_dir=tmp_path), store, KeyLimiter())
    auth.start()
    auth.close()
    assert not auth.verifier._poller.is_alive()

    async def scenario() -> None:
        with pytest.raises(Unavailable, match="shutting down"):
            await auth.on_thread(time.time)
        assert auth.waiting == 0

    asyncio.run(scenario())
