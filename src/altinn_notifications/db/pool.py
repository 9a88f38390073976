"""asyncpg connection pool: the data path of the service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias

import asyncpg

from altinn_notifications.db.schema import SCHEMA

Connection: TypeAlias = asyncpg.Connection
Pool: TypeAlias = asyncpg.Pool
# asyncpg ships no type information; these aliases name what the rest of the code passes around.

#: The unit of work: opens a transaction on a pooled connection, commits on success, rolls back on error.
#: Flows and workers take one and keep each transaction short (never across a network call).
Transaction = Callable[[], AbstractAsyncContextManager[Connection]]


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


def transactions(pool: Any) -> Transaction:
    """The unit of work over `pool`: each call opens a transaction on a pooled connection."""

    @asynccontextmanager
    async def transaction() -> AsyncIterator[Connection]:
        async with pool.acquire() as conn, conn.transaction():
            yield conn

    return transaction


async def database_answers(pool: Any, wait_seconds: float = 5.0) -> bool:
    """True when the database answers a trivial query, a connection found within `wait_seconds`."""
    try:
        async with pool.acquire(timeout=wait_seconds) as conn:
            await conn.fetchval("SELECT 1")
    except Exception:  # any failure of the database means unhealthy
        return False
    return True
