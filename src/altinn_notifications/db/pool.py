"""asyncpg connection pool: the data path of the service."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from altinn_notifications.db.schema import SCHEMA

Connection = asyncpg.Connection
Pool = asyncpg.Pool
# asyncpg ships no type information; these aliases name what the rest of the code passes around.


async def _init_connection(conn: Any) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_reset(conn: Any) -> None:
    """Skip asyncpg's reset round trip on release: pooled connections keep no session state (advisory
    locks are transaction-scoped, LISTEN has its own connection, nothing runs SET)."""


async def create_pool(database_url: str, *, min_size: int = 2, max_size: int = 10) -> Any:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_no_reset,
        server_settings={"search_path": f"{SCHEMA},public", "application_name": "altinn-notifications"},
    )
    return pool
