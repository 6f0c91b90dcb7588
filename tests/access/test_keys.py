"""API keys on the real databases: typed records, scopes, redaction, and the verifier's caches and poller."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text

from opinara.access.keys import (
    SCOPES,
    Caller,
    KeyInfo,
    KeyVerifier,
    create_key,
    find_key,
    list_keys,
    parse_scopes,
    revoke_key,
)
from opinara.errors import InputError, NotFoundError
from opinara.store.db import Store
from tests.store.conftest import make_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path)


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def count_key_lookups(store: Store) -> list[str]:
    """The key lookups (by hash) the engine sends, as they are sent."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "key_hash" in statement and "revoked_at IS NULL" in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


def test_a_key_record_is_typed_and_says_whether_requests_are_redacted(store):
    key, created = create_key(store, "private", "ingest,read", "10/second", 100, redact_pii=True)
    _, plain = create_key(store, "plain", ["analyze"], "10/second")
    assert isinstance(created, KeyInfo) and isinstance(created.created_at, datetime)
    assert created.scopes == ["read", "ingest"] and created.redact_pii and created.daily_quota == 100
    assert not plain.redact_pii and created.revoked_at is None and created.last_used_at is None
    assert key[:12] == created.prefix and key not in created.model_dump_json()
    assert [k.name for k in list_keys(store)] == ["private", "plain"]

    revoked = revoke_key(store, "private")
    assert isinstance(revoked.revoked_at, datetime) and revoked.redact_pii
    assert revoke_key(store, str(created.id)).revoked_at == revoked.revoked_at, "revoking twice keeps the first time"
    dumped = revoked.model_dump(mode="json")
    assert datetime.fromisoformat(dumped["revoked_at"]) == revoked.revoked_at
    assert set(dumped) == set(KeyInfo.model_fields) and "key_hash" not in dumped


def test_a_missing_key_is_not_found(store):
    with store.session() as session, pytest.raises(NotFoundError, match="no-such-key"):
        find_key(session, "no-such-key")
    with pytest.raises(NotFoundError):
        revoke_key(store, "404")


def test_ingest_is_a_scope_that_admin_implies():
    assert SCOPES == ("analyze", "read", "ingest", "monitor", "metrics", "alerts", "admin")
    assert parse_scopes("admin, ingest,read,ingest") == ["read", "ingest", "admin"]
    with pytest.raises(InputError, match="analyze, read, ingest, monitor, metrics, alerts, admin"):
        parse_scopes("write")
    ingester = Caller(1, "ingester", frozenset({"ingest"}), "1/second", None)
    admin = Caller(2, "root", frozenset({"admin"}), "1/second", None)
    assert ingester.allows("ingest") and not ingester.allows("read") and admin.allows("ingest")


def test_a_verified_key_carries_its_redaction_policy(store):
    redacted, _ = create_key(store, "redacted", "analyze", "5/second", redact_pii=True)
    plain, _ = create_key(store, "plain", "analyze", "5/second")
    verifier = KeyVerifier(store)
    try:
        caller = verifier.lookup(redacted)
        assert caller is not None and caller.redact_pii and caller.scopes == {"analyze"}
        assert verifier.cached(redacted) == caller
        assert verifier.lookup(plain).redact_pii is False
    finally:
        verifier.close()


def test_an_unknown_key_is_looked_up_once_until_its_answer_expires(store):
    lookups = count_key_lookups(store)
    verifier = KeyVerifier(store, unknown_seconds=0.5)
    unknown = "opn_" + "x" * 43
    try:
        assert [verifier.lookup(unknown) for _ in range(5)] == [None] * 5
        assert len(lookups) == 1 and verifier.known_invalid(unknown)
        assert wait_until(lambda: not verifier.known_invalid(unknown), 2)
        assert verifier.lookup(unknown) is None
        assert len(lookups) == 2
        assert verifier.known_invalid("not-a-key") and len(lookups) == 2, "malformed keys never reach the database"
    finally:
        verifier.close()


def test_the_unknown_key_cache_is_bounded_and_keeps_no_keys(store):
    lookups = count_key_lookups(store)
    verifier = KeyVerifier(store, unknown_seconds=60, max_cached=2)
    first, second, third = ("opn_" + c * 43 for c in "abc")
    try:
        for key in (first, second, third):
            verifier.lookup(key)
        assert not verifier.known_invalid(first), "the oldest answer was evicted"
        assert verifier.known_invalid(second) and verifier.known_invalid(third)
        remembered = repr(verifier._unknown._items)
        assert not any(key in remembered for key in (first, second, third)), "only digests are kept"
        verifier.lookup(first)
        assert len(lookups) == 4
    finally:
        verifier.close()


def test_a_key_created_after_a_lookup_is_found_without_the_unknown_cache(store):
    verifier = KeyVerifier(store, unknown_seconds=0)
    try:
        assert verifier.lookup("opn_" + "y" * 43) is None
        key, _ = create_key(store, "fresh", "read", "5/second")
        assert verifier.lookup(key) is not None, "the kept connection sees keys committed since"
    finally:
        verifier.close()


def test_the_revocation_poller_polls_on_through_a_database_failure_and_logs_it_once(store, caplog):
    """With its table gone for a while, lookups fail and polls fail; afterwards revocations apply again."""
    kept, _ = create_key(store, "kept", "read", "5/second")
    doomed, _ = create_key(store, "doomed", "read", "5/second")
    later, _ = create_key(store, "later", "read", "5/second")
    verifier = KeyVerifier(store, poll_seconds=0.05)
    verifier.start()
    caplog.set_level(logging.INFO, logger="opinara.outage")
    try:
        assert verifier.lookup(kept) and verifier.lookup(doomed)
        with store.engine.begin() as connection:
            connection.execute(text("ALTER TABLE api_keys RENAME TO api_keys_away"))
        try:
            with pytest.raises(Exception, match="api_keys"):
                verifier.lookup(later)
            time.sleep(0.5)  # about ten failed polls
        finally:
            with store.engine.begin() as connection:
                connection.execute(text("ALTER TABLE api_keys_away RENAME TO api_keys"))
        down = [r for r in caplog.records if "revoked-key poll" in r.getMessage() and r.levelno == logging.WARNING]
        assert len(down) == 1, "an outage is logged once, not once per poll"

        revoke_key(store, "doomed")
        assert wait_until(lambda: verifier.cached(doomed) is None, 20 * verifier.poll_seconds)
        assert verifier.cached(kept) is not None
        assert verifier.lookup(later) is not None, "lookups work again on a new connection"
        assert verifier.lookup(doomed) is None
        assert any("revoked-key poll" in r.getMessage() and "is back" in r.getMessage() for r in caplog.records)
    finally:
        verifier.close()
