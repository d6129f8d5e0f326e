"""Alembic environment: migrations run on the connection `callgate.store.migrate` hands in."""

from alembic import context

from callgate.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through callgate.store.migrate.upgrade(), which supplies a connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
