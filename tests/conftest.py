"""Shared fixtures: a real PostgreSQL (the machine's, when a URL is given, else embedded), the app, tokens.

Set NOTIFICATIONS_TEST_DATABASE_URL (a server URL; a fresh database is created on it for the session)
to run against an external PostgreSQL; otherwise an embedded PostgreSQL (pgserver) is used, in
`.data/test` of the checkout, and stopped when the run ends.

With pytest-xdist (`-n 2`) every worker process has its own database on the one server, created and
migrated when its first test needs it; the workers share the embedded server, which the first of them
to need it starts.

Each test gets its own `Container` (`container`, a copy of the session's over emptied tables). A test
that needs other parts asks `make_container(email_provider=..., settings=...)` for a copy with those
parts and hands it to what it builds (`make_client(c)`, `run_workers(container=c)`); a module whose
tests all need the same parts overrides the `container` fixture with such a copy, and the fixtures
built on `container` (`client`, `run_workers`, ...) use it. The session's container is never changed.
"""

from __future__ import annotations

import dataclasses
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
from altinn_notifications.auth.service import build_authenticator
from altinn_notifications.bootstrap import Container, build_container
from altinn_notifications.config import SCOPE_CREATE, Settings
from altinn_notifications.db import migrate
from altinn_notifications.db.embedded import start_embedded_postgres, stop_embedded_postgres
from altinn_notifications.logging import configure_logging
from tests.auth.helpers import PlatformIssuers, write_platform_issuers

ROOT = Path(__file__).resolve().parent.parent

configure_logging("info")  # the service's own log configuration (plain tracebacks, no local variables)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


EMBEDDED_DIR = ROOT / ".data" / "test"
_EXTERNAL = "NOTIFICATIONS_TEST_DATABASE_URL"
# Set where this process starts (or reuses) the embedded server; an xdist worker reports it to the controller.
_USED_EMBEDDED = "used_embedded_postgres"
_embedded_used = False


def _worker_id() -> str:
    """The xdist worker's id (`gw0`, `gw1`, ...), `main` when not run by xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def server_url(pytestconfig: pytest.Config) -> str:
    """URL of a PostgreSQL server to create test databases on."""
    global _embedded_used
    external = os.environ.get(_EXTERNAL)
    if external:
        return external
    # Kept running past this process: the xdist workers share it; `pytest_unconfigure` stops it at the end.
    url = start_embedded_postgres(EMBEDDED_DIR, keep_running=True)
    _embedded_used = True
    workeroutput = getattr(pytestconfig, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_USED_EMBEDDED] = True
    return url


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist (controller): a worker finished; note whether it used the embedded server (one that crashed
    may have started it without saying so)."""
    global _embedded_used
    if error is not None or getattr(node, "workeroutput", {}).get(_USED_EMBEDDED):
        _embedded_used = True


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the embedded server when this run used it (in the controller of an xdist run, after its workers)."""
    if not hasattr(config, "workerinput") and _embedded_used and not os.environ.get(_EXTERNAL):
        stop_embedded_postgres(EMBEDDED_DIR)


async def _create_database(server: str) -> str:
    name = f"an_test_{_worker_id()}_{secrets.token_hex(4)}"
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


#: What the tests' outbound clients may reach besides public addresses: their loopback servers.
LOOPBACK_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    # The tests' condition endpoints and blob servers listen on loopback, which is refused by default.
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        run_migrations=False,
        outbound_allowed_hosts=LOOPBACK_NETWORKS,
    )


@pytest.fixture(scope="session")
async def _session_container(settings: Settings, database_url: str) -> AsyncIterator[Container]:
    container = await build_container(settings, database_url)
    yield container
    await container.close()


@pytest.fixture
async def empty_tables(_session_container: Container) -> None:
    """Every table of the session's database emptied for this test."""
    async with _session_container.pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'notifications' AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f"notifications.{t['tablename']}" for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


ContainerFactory = Callable[..., Container]


@pytest.fixture
def make_container(_session_container: Container, empty_tables: None) -> ContainerFactory:
    """Containers of this test with some parts replaced: `make_container(email_provider=fake, settings=s)`.

    Each is a new object (`dataclasses.replace`) sharing the pool, HTTP client and all parts not replaced
    with the session's container, which stays as it is. Whoever creates a replacement closes it.
    """

    def make(**overrides: Any) -> Container:
        return dataclasses.replace(_session_container, **overrides)

    return make


@pytest.fixture
def container(make_container: ContainerFactory) -> Container:
    """This test's container, over emptied tables (override it in a module to replace parts for all tests)."""
    return make_container()


AppFactory = Callable[[Container], Any]
ClientFactory = Callable[[Container], httpx.AsyncClient]


@pytest.fixture
def app_factory() -> AppFactory:
    """How the tests' clients build the app over a container (a conftest may mount more routers)."""
    return create_app


@pytest.fixture
async def make_client(app_factory: AppFactory) -> AsyncIterator[ClientFactory]:
    """In-process HTTP clients of the app over a given container (closed after the test)."""
    opened: list[httpx.AsyncClient] = []

    def make(over: Container) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app_factory(over), raise_app_exceptions=False)
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
def client(container: Container, make_client: ClientFactory) -> httpx.AsyncClient:
    return make_client(container)


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


@pytest.fixture(scope="session")
def platform_issuers(tmp_path_factory: pytest.TempPathFactory) -> PlatformIssuers:
    """Platform-token issuers `ttd` and `digdir`, each with its own key (`.mint(issuer)` signs with it)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    keys = {i: rsa.generate_private_key(public_exponent=65537, key_size=2048) for i in ("ttd", "digdir")}
    return write_platform_issuers(tmp_path_factory.mktemp("platform-keys"), keys)


@pytest.fixture
async def pat_container(
    make_container: ContainerFactory, settings: Settings, platform_issuers: PlatformIssuers
) -> AsyncIterator[Container]:
    """This test's container, trusting platform access tokens of `platform_issuers` (and the dev bearer key)."""
    trusted = settings.model_copy(update={"platform_token_keys_dir": platform_issuers.keys_dir})
    authenticator = build_authenticator(trusted)
    yield make_container(authenticator=authenticator)
    await authenticator.close()
