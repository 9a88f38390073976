"""Fixtures of the v2 order API tests: the app with the chains router, fake providers, row readers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications.chains import router as chains_router
from altinn_notifications.providers.base import EmailMessage, ReportSink, SendOutcome, SmsMessage
from tests.api.helpers import V1
from tests.conftest import AppFactory, ClientFactory, ContainerFactory
from tests.pipeline.conftest import run_workers  # noqa: F401  (re-exported fixture)


def app_with_chains(container: Container) -> Any:
    """The app, with the v2 router included unless `create_app` already does."""
    app = create_app(container)
    if not any(getattr(route, "path", None) == f"{V1}/future/orders" for route in app.routes):
        app.include_router(chains_router.router, prefix=V1)
    return app


@pytest.fixture
def app_factory() -> AppFactory:
    return app_with_chains


@pytest.fixture
def validation_client(_session_container: Container, make_client: ClientFactory) -> httpx.AsyncClient:
    """A client for requests rejected before any database access: the tables are not emptied (fast)."""
    return make_client(_session_container)


@dataclass
class FakeProvider:
    """An email and SMS provider port: records messages, answers `outcome` or raises `error`."""

    outcome: SendOutcome = field(default_factory=lambda: SendOutcome(result="Accepted", reference="ref-1"))
    error: Exception | None = None
    sent: list[EmailMessage | SmsMessage] = field(default_factory=list)
    name: str = "fake"
    delay: float = 0.0  # seconds each send takes, as a vendor's round trip

    async def start(self, sink: ReportSink) -> None:
        return None

    async def send(self, message: Any) -> SendOutcome:
        self.sent.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.outcome

    async def close(self) -> None:
        return None


@dataclass
class FakeProviders:
    email: FakeProvider
    sms: FakeProvider


@pytest.fixture
def providers() -> FakeProviders:
    """Fake email and SMS providers; a module's `container` override puts them in (`fake_provider_container`)."""
    return FakeProviders(
        email=FakeProvider(SendOutcome(result="Succeeded", reference="op-1")),
        sms=FakeProvider(SendOutcome(result="Accepted", reference="gw-1")),
    )


def fake_provider_container(make_container: ContainerFactory, providers: FakeProviders) -> Container:
    """This test's container with the fake providers (for a module's `container` fixture)."""
    return make_container(email_provider=providers.email, sms_provider=providers.sms)


async def fetch(container: Container, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with container.pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def count(container: Container, table: str) -> int:
    async with container.pool.acquire() as conn:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return value
