"""Fixtures of the v2 order API tests: the app with the chains router, fake providers, row readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications.chains import router as chains_router
from altinn_notifications.providers.base import EmailMessage, ReportSink, SendOutcome, SmsMessage
from tests.api.helpers import V1
from tests.pipeline.conftest import run_workers  # noqa: F401  (re-exported fixture)


def app_with_chains(container: Container) -> Any:
    """The app, with the v2 router included unless `create_app` already does."""
    app = create_app(container)
    if not any(getattr(route, "path", None) == f"{V1}/future/orders" for route in app.routes):
        app.include_router(chains_router.router, prefix=V1)
    return app


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_with_chains(container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def validation_client(_session_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """A client for requests rejected before any database access: the tables are not emptied (fast)."""
    transport = httpx.ASGITransport(app=app_with_chains(_session_container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


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
def providers(container: Container) -> Iterator[FakeProviders]:
    """Swap the container's providers for fakes for one test, then put the real ones back."""
    saved = container.email_provider, container.sms_provider
    fakes = FakeProviders(
        email=FakeProvider(SendOutcome(result="Succeeded", reference="op-1")),
        sms=FakeProvider(SendOutcome(result="Accepted", reference="gw-1")),
    )
    container.email_provider, container.sms_provider = fakes.email, fakes.sms
    try:
        yield fakes
    finally:
        container.email_provider, container.sms_provider = saved


async def fetch(container: Container, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with container.pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def count(container: Container, table: str) -> int:
    async with container.pool.acquire() as conn:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return value
