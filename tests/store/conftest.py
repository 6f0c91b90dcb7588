"""Stores on the real databases: a SQLite file, and PostgreSQL at 127.0.0.1:5432 in a schema of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from opinara.config import Settings
from opinara.store.db import Store, open_store
from tests.conftest import IN_CI

POSTGRES_URL = os.environ.get("OPINARA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards; skip (or fail under CI) when unreachable."""
    try:
        admin = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL must be available)")
        pytest.skip(message)
    schema = f"opinara_test_{uuid.uuid4().hex[:10]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_store(kind: str, tmp_path: Path) -> Iterator[Store]:
    if kind == "sqlite":
        store = open_store(Settings(data_dir=tmp_path))
        yield store
        store.engine.dispose()
        return
    for url in postgres_schema_url():
        store = open_store(Settings(data_dir=tmp_path, database_url=url))
        yield store
        store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from make_store(request.param, tmp_path)
