"""Fixtures of the client library's tests: a Maskinporten stand-in and client keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from tests.fakes.maskinporten import FakeMaskinporten

ORG_NUMBER = "991825827"


@pytest.fixture(scope="session")
def client_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def maskinporten() -> AsyncIterator[FakeMaskinporten]:
    fake = FakeMaskinporten()
    async with fake.running():
        yield fake
