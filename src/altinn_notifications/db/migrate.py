"""Apply Alembic migrations (at start-up and by `altinn-notifications migrate`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(database_url: str) -> Config:
    config = Config(str(_INI))
    config.set_main_option("script_location", str(_INI.with_name("migrations")))
    # Alembic runs on the synchronous psycopg2 driver; the service's data path uses asyncpg.
    sync_url = database_url.replace("postgres://", "postgresql://", 1).replace(
        "postgresql://", "postgresql+psycopg2://", 1
    )
    config.set_main_option("sqlalchemy.url", sync_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
