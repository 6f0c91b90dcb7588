"""Alembic environment: runs on the engine Opinara hands over (``config.attributes["engine"]``)."""

from alembic import context

from opinara.store.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=engine.dialect.name == "sqlite"
    )
    context.run_migrations()
