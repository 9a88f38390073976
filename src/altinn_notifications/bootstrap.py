"""The composition root: the one place where settings become concrete adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from altinn_notifications.auth.service import Authenticator, build_authenticator
from altinn_notifications.config import Settings
from altinn_notifications.db import migrate
from altinn_notifications.db.embedded import start_embedded_postgres
from altinn_notifications.db.pool import Connection, Pool, create_pool
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.ports import ContactPointsPort

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Container:
    settings: Settings
    database_url: str
    pool: Pool
    authenticator: Authenticator
    contact_points: ContactPointsPort
    clock: Callable[[], datetime] = field(default=utcnow)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """The unit of work of a request or a worker step: commits on success, rolls back on error."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        await self.authenticator.close()
        await self.pool.close()


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or an embedded PostgreSQL in the data dir when none is set."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.data_dir)


async def build_container(settings: Settings, database_url: str | None = None) -> Container:
    url = database_url or resolve_database_url(settings)
    if settings.run_migrations:
        migrate.upgrade(url)
    pool = await create_pool(url, min_size=settings.db_pool_min_size, max_size=settings.db_pool_max_size)
    authenticator = build_authenticator(settings)
    contact_points = LocalRegistryContactPoints(pool)
    return Container(
        settings=settings,
        database_url=url,
        pool=pool,
        authenticator=authenticator,
        contact_points=contact_points,
    )
