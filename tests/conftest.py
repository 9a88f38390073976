"""Shared fixtures: a real PostgreSQL (the machine's, when a URL is given, else embedded), the app, tokens.

Set NOTIFICATIONS_TEST_DATABASE_URL (a server URL; a fresh database is created on it for the session)
to run against an external PostgreSQL; otherwise an embedded PostgreSQL (pgserver) is used.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from altinn_notifications.api.app import create_app
from altinn_notifications.auth.dev import mint_token
from altinn_notifications.bootstrap import Container, build_container
from altinn_notifications.config import SCOPE_CREATE, Settings
from altinn_notifications.db import migrate
from altinn_notifications.db.embedded import start_embedded_postgres
from altinn_notifications.logging import configure_logging

ROOT = Path(__file__).resolve().parent.parent

configure_logging("info")  # the service's own log configuration (plain tracebacks, no local variables)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of a PostgreSQL server to create test databases on."""
    external = os.environ.get("NOTIFICATIONS_TEST_DATABASE_URL")
    if external:
        return external
    return start_embedded_postgres(ROOT / ".data" / "test", keep_running=True)


async def _create_database(server: str) -> str:
    name = "an_test_" + secrets.token_hex(4)
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def fresh_database(server_url: str) -> AsyncIterator[Callable[[], Any]]:
    """Factory of empty databases (dropped at the end of the session)."""
    created: list[str] = []

    async def make() -> str:
        name = await _create_database(server_url)
        created.append(name)
        return _with_database(server_url, name)

    yield make
    for name in created:
        await _drop_database(server_url, name)


@pytest.fixture(scope="session")
async def database_url(fresh_database: Callable[[], Any]) -> str:
    """One migrated database shared by the session; tables are emptied before each test that uses it."""
    url: str = await fresh_database()
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=data_dir, run_migrations=False)


@pytest.fixture(scope="session")
async def _session_container(settings: Settings, database_url: str) -> AsyncIterator[Container]:
    container = await build_container(settings, database_url)
    yield container
    await container.close()


@pytest.fixture
async def container(_session_container: Container) -> Container:
    """The session's container, over tables emptied for this test."""
    async with _session_container.pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'notifications' AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f"notifications.{t['tablename']}" for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return _session_container


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def make_token(settings: Settings) -> TokenFactory:
    """Mint a token trusted by the test service (its dev signing key)."""

    def make(org: str | None = "ttd", scopes: list[str] | None = None, **kwargs: Any) -> str:
        return mint_token(settings, org=org, scopes=[SCOPE_CREATE] if scopes is None else scopes, **kwargs)

    return make


@pytest.fixture
def auth(make_token: TokenFactory) -> dict[str, str]:
    """Headers of an authorised `ttd` caller."""
    return {"Authorization": f"Bearer {make_token('ttd')}"}


@pytest.fixture
def auth_for(make_token: TokenFactory) -> Callable[[str], dict[str, str]]:
    def headers(org: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(org)}"}

    return headers


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Loopback test servers must never be reached through a proxy from the environment.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield
