"""Persistence: SQLAlchemy models, migrations and the database engine (SQLite by default, PostgreSQL at scale)."""
