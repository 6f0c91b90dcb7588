from sqlalchemy import inspect

from opinara.config import Settings
from opinara.errors import StoreError
from opinara.store.db import make_engine, open_store, pending_migrations, upgrade


def test_open_store_applies_the_migrations(store):
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "products",
        "reviews",
        "analyses",
        "aspect_mentions",
        "aspect_daily",
        "ingest_runs",
        "rejected_records",
        "api_keys",
        "key_usage",
        "jobs",
        "job_items",
        "product_variants",
        "product_review_counts",
        "monitors",
        "monitor_runs",
        "monitor_daily",
    } <= tables
    assert pending_migrations(store.engine) == []
    assert upgrade(store.engine) == [], "a second upgrade has nothing to do"


def test_a_store_without_migrations_refuses_with_a_clear_message(tmp_path):
    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings)
    assert pending_migrations(engine) == ["0001", "0002", "0003", "0004", "0005", "0006", "0007"], (
        "all revisions, oldest first"
    )
    try:
        open_store(settings, migrate=False)
    except StoreError as exc:
        assert "opinara db upgrade" in str(exc)
    else:
        raise AssertionError("expected a StoreError")


def test_sqlite_uses_wal(tmp_path):
    store = open_store(Settings(data_dir=tmp_path))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_unreachable_postgres_is_a_store_error(tmp_path):
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    )
    try:
        open_store(settings)
    except StoreError as exc:
        assert "cannot reach the database" in str(exc) and "nobody" in str(exc)
    else:
        raise AssertionError("expected a StoreError")


def test_0003_gives_existing_products_their_variant_and_review_counts(store):
    from alembic import command
    from sqlalchemy import text

    from opinara.store.db import alembic_config

    config = alembic_config(store.engine)
    command.downgrade(config, "0002")
    with store.engine.begin() as connection:
        connection.execute(text("INSERT INTO products (id, source, external_id) VALUES (1, 'amazon', 'B01')"))
        for i, score in enumerate((1.0, 1.0, 0.4)):
            connection.execute(
                text(
                    "INSERT INTO reviews (source, review_key, product_id, text, text_hash, ingested_at, day, "
                    "quality_score, quality_flags) VALUES ('amazon', :key, 1, 'x', 'h', :now, :day, :score, '[]')"
                ),
                {"key": f"k{i}", "now": "2026-01-01 00:00:00", "day": "2026-01-01", "score": score},
            )
    command.upgrade(config, "head")
    with store.engine.connect() as connection:
        variants = connection.execute(text("SELECT product_id, external_id FROM product_variants")).all()
        counts = dict(connection.execute(text("SELECT reason, reviews FROM product_review_counts")).all())
    assert [tuple(v) for v in variants] == [(1, "B01")]
    assert counts == {"stored": 3, "counted": 2}
