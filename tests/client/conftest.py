"""Fixtures of the client library's tests: a Maskinporten stand-in and client keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from altinn_notifications.api.app import create_app
from altinn_notifications.bootstrap import Container
from altinn_notifications_client import AsyncClient, RetryPolicy
from tests.conftest import TokenFactory
from tests.fakes.maskinporten import FakeMaskinporten
from tests.loopback import serve
from tests.pipeline.conftest import run_workers  # noqa: F401 - the pipeline's fixture, for the wait helpers

ORG_NUMBER = "991825827"
FAST_RETRIES = RetryPolicy(attempts=4, backoff=0.05, max_backoff=0.2)


@pytest.fixture(scope="session")
def client_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def maskinporten() -> AsyncIterator[FakeMaskinporten]:
    fake = FakeMaskinporten()
    async with fake.running():
        yield fake


@pytest.fixture
async def service(container: Container) -> AsyncIterator[str]:
    """The service over this test's container, on real HTTP (loopback); yields its base URL."""
    async with serve(create_app(container)) as url:
        yield url


@pytest.fixture
def token(make_token: TokenFactory) -> str:
    """A token of sender `ttd` with the create scope."""
    return make_token("ttd")


@pytest.fixture
async def client(service: str, token: str) -> AsyncIterator[AsyncClient]:
    """The async client against `service` (short back-off, so retries do not slow the tests)."""
    async with AsyncClient(service, token, retry=FAST_RETRIES) as api:
        yield api
