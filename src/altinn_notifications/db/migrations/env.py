"""Alembic environment: runs against the URL handed over by altinn_notifications.db.migrate."""

from alembic import context
from sqlalchemy import create_engine, pool, text

from altinn_notifications.db.schema import SCHEMA, include_name, metadata

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by the caller"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=SCHEMA,
            include_schemas=True,
            include_name=include_name,
            compare_server_default=True,
        )
        with context.begin_transaction():
            # One migrator at a time when several processes start together.
            connection.execute(text("SELECT pg_advisory_xact_lock(7482001)"))
            context.run_migrations()


run_migrations_online()
