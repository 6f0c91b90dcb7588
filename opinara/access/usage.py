"""Usage per key and UTC day (requests, texts, characters), counted in memory and flushed in batches.

Counting in memory keeps a database write off every request; ``flush`` runs every few seconds and at
shutdown, adding the counts to the ``key_usage`` rows with an upsert, so several servers add up."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime

from pydantic import BaseModel
from sqlalchemy import select

from opinara.access.keys import touch_keys
from opinara.store.db import Store
from opinara.store.models import KeyUsage
from opinara.store.writes import insert_statement


class UsageRecorder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0, 0])

    def record(self, key_id: int, requests: int = 0, texts: int = 0, characters: int = 0) -> None:
        with self._lock:
            self._add((key_id, datetime.now(UTC).date()), (requests, texts, characters))

    def _add(self, key: tuple[int, date], counts: Iterable[int]) -> None:
        """Add to the pending counts of (key, day); the caller holds the lock."""
        pending = self._pending[key]
        for i, count in enumerate(counts):
            pending[i] += count

    def flush(self) -> int:
        """Write the pending counts; returns how many (key, day) rows were touched."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(lambda: [0, 0, 0])
        if not pending:
            return 0
        try:
            self._write(pending)
        except Exception:
            with self._lock:  # put the counts back for the next flush
                for key, counts in pending.items():
                    self._add(key, counts)
            raise
        touch_keys(self.store, {key_id for key_id, _ in pending}, datetime.now(UTC))
        return len(pending)

    def _write(self, pending: dict[tuple[int, date], list[int]]) -> None:
        with self.store.session() as session:
            for (key_id, day), (requests, texts, characters) in sorted(pending.items()):
                statement = insert_statement(session, KeyUsage).values(
                    key_id=key_id, day=day, requests=requests, texts=texts, characters=characters
                )
                session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["key_id", "day"],
                        set_={
                            "requests": KeyUsage.requests + requests,
                            "texts": KeyUsage.texts + texts,
                            "characters": KeyUsage.characters + characters,
                        },
                    )
                )


class UsageDay(BaseModel):
    """One key's use on one UTC day."""

    key_id: int
    day: date
    requests: int
    texts: int
    characters: int


def usage(store: Store, key_id: int | None = None) -> list[UsageDay]:
    with store.session() as session:
        query = select(KeyUsage).order_by(KeyUsage.day, KeyUsage.key_id)
        if key_id is not None:
            query = query.where(KeyUsage.key_id == key_id)
        return [
            UsageDay(key_id=r.key_id, day=r.day, requests=r.requests, texts=r.texts, characters=r.characters)
            for r in session.scalars(query)
        ]
