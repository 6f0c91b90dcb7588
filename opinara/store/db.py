"""The database engine and sessions for SQLite (WAL) or PostgreSQL (psycopg 3), and schema upgrades."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from opinara.config import Settings
from opinara.errors import StoreError, StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # kept in the file once set
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def pool_size(settings: Settings) -> int:
    """Connections for the threads that use the database: the API's thread pool, the embedded job
    workers, and the few background threads (key lookups and polls, usage flush, reaper, maintenance)."""
    return settings.api_threads + settings.embedded_workers + 5


def make_engine(settings: Settings) -> Engine:
    """An engine for the configured database; the SQLite file's folder is created when needed.

    Statement parameters never appear in SQLAlchemy's error messages (``hide_parameters``): they may
    hold review texts, and errors reach logs."""
    url = settings.resolved_database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    size = pool_size(settings)
    try:
        if url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            # New SQLite connections (and their pragmas) are costly: keep one per thread that may need one.
            engine = create_engine(
                url, connect_args={"timeout": 30}, pool_size=size, max_overflow=size, hide_parameters=True
            )
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(
                url, pool_pre_ping=True, pool_size=size, max_overflow=4, pool_timeout=10, hide_parameters=True
            )
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StoreError(f"cannot use database {redact_url(url)}: {exc}") from exc
    return engine


def redact_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def pending_migrations(engine: Engine) -> list[str]:
    """Revisions not yet applied, oldest first."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    revisions = [r.revision for r in script.walk_revisions()]
    applied: set[str] = set()
    for head in current:
        applied.update(r.revision for r in script.iterate_revisions(head, "base"))
    return [r for r in reversed(revisions) if r not in applied]


def upgrade(engine: Engine) -> list[str]:
    """Apply pending migrations; returns the revisions applied."""
    from alembic import command

    try:
        pending = pending_migrations(engine)
        if pending:
            command.upgrade(alembic_config(engine), "head")
    except OperationalError as exc:
        raise StoreError(f"cannot reach the database {redact_url(str(engine.url))}: {exc.orig}") from exc
    return pending


def is_outage(exc: BaseException) -> bool:
    """Whether a database error means "not answering now" rather than "this statement is wrong"."""
    if isinstance(exc, PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and (isinstance(exc, OperationalError) or exc.connection_invalidated)


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("reviews")


class Store:
    """An engine and a session factory; ``open_store`` applies pending migrations first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        A database that does not answer (down, locked past the busy timeout, out of connections)
        raises :class:`StoreUnavailable`, which the API answers with 503 and Retry-After."""
        try:
            with self.sessions() as session, session.begin():
                yield session
        except (DBAPIError, PoolTimeout) as exc:
            if is_outage(exc):
                raise StoreUnavailable(
                    f"the database is unavailable ({type(exc).__name__}); try again shortly", 5
                ) from exc
            raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def open_store(settings: Settings, migrate: bool = True) -> Store:
    """Open the configured database; with ``migrate``, pending migrations are applied on start."""
    engine = make_engine(settings)
    if migrate:
        upgrade(engine)
    elif pending := pending_migrations(engine):
        raise StoreError(f"the database needs migrations {', '.join(pending)}: run `opinara db upgrade`")
    return Store(engine)
