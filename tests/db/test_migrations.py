"""The migrations and the declared schema agree, and migrate down and up cleanly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from altinn_notifications.db import migrate
from altinn_notifications.db.schema import include_name, metadata


def _diff(url: str) -> list[Any]:
    sync_url = migrate.alembic_config(url).get_main_option("sqlalchemy.url")
    assert sync_url
    engine = create_engine(sync_url.replace("%%", "%"), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"include_schemas": True, "include_name": include_name, "compare_server_default": True},
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


async def test_migrated_schema_matches_declared_schema(fresh_database: Callable[[], Any]) -> None:
    url = await fresh_database()
    migrate.upgrade(url)
    assert _diff(url) == []


async def test_empty_database_differs_from_declared_schema(fresh_database: Callable[[], Any]) -> None:
    # Guards the comparison itself: without migrations it must report every table as missing.
    url = await fresh_database()
    diff = _diff(url)
    added = {d[1].name for d in diff if d[0] == "add_table"}
    assert {"orders", "emailnotifications", "smsnotifications", "statusfeed", "orderschain"} <= added


async def test_downgrade_to_base_and_upgrade_again(fresh_database: Callable[[], Any]) -> None:
    url = await fresh_database()
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    assert any(d[0] == "add_table" for d in _diff(url))
    migrate.upgrade(url)
    assert _diff(url) == []


async def test_upgrade_is_idempotent(fresh_database: Callable[[], Any]) -> None:
    url = await fresh_database()
    migrate.upgrade(url)
    migrate.upgrade(url)
    assert _diff(url) == []
