"""Minted Platform Access Tokens for Register and the PDP (docs/compatibility.md C11), verified as a receiver would:
signature against the public key, issuer, app claim and lifetime; reused while fresh, renewed before expiry;
and sent by the Register adapter to a real HTTP server on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from altinn_notifications.auth.keys import jwk_thumbprint
from altinn_notifications.auth.platform_token import LIFETIME_SECONDS, PlatformAccessTokens
from altinn_notifications.bootstrap import platform_token_source
from altinn_notifications.config import SettingsError, load_settings
from altinn_notifications.recipients.altinn_http import AltinnRegisterNames
from tests.loopback import serve


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_file(key: rsa.RSAPrivateKey, tmp_path: Path) -> Path:
    path = tmp_path / "platform.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _verify(token: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, key.public_key(), algorithms=["RS256"], issuer="platform", options={"require": ["exp", "iat"]}
    )
    return claims


def test_a_minted_token_verifies_and_names_the_platform_app(key: rsa.RSAPrivateKey) -> None:
    token = PlatformAccessTokens(key, issuer="platform", app="notifications")()
    claims = _verify(token, key)
    assert claims["urn:altinn:app"] == "notifications"
    assert claims["exp"] - claims["iat"] == LIFETIME_SECONDS
    assert jwt.get_unverified_header(token)["kid"] == jwk_thumbprint(key)


def test_the_token_is_reused_while_fresh_and_renewed_before_it_expires(key: rsa.RSAPrivateKey) -> None:
    now = [time.time() - LIFETIME_SECONDS]  # so that the renewed token is not from the future
    tokens = PlatformAccessTokens(key, issuer="platform", app="notifications", clock=lambda: now[0])
    first = tokens()
    now[0] += LIFETIME_SECONDS - 61
    assert tokens() == first
    now[0] += 2  # less than a minute left: a new one
    second = tokens()
    assert second != first
    assert jwt.decode(second, key.public_key(), algorithms=["RS256"], options={"verify_exp": False})[
        "iat"
    ] == int(now[0])


def test_settings_take_a_key_file_or_a_static_token_not_both(key_file: Path) -> None:
    source = platform_token_source(load_settings(platform_access_token_key_file=key_file))
    assert isinstance(source, PlatformAccessTokens)
    assert platform_token_source(load_settings(platform_access_token="static")) == "static"
    assert platform_token_source(load_settings()) is None
    with pytest.raises(SettingsError, match="not both"):
        load_settings(platform_access_token="static", platform_access_token_key_file=key_file)


@pytest.fixture
async def register() -> AsyncIterator[tuple[str, list[str]]]:
    """A Register `parties/nameslookup` on loopback that records the PlatformAccessToken it gets."""
    seen: list[str] = []

    async def names(request: Request) -> Response:
        seen.append(request.headers.get("PlatformAccessToken", ""))
        return JSONResponse({"partyNames": [{"orgNo": "910000123", "name": "Firma AS"}]})

    async with serve(
        Starlette(routes=[Route("/register/api/v1/parties/nameslookup", names, methods=["POST"])])
    ) as base:
        yield base, seen


async def test_register_receives_a_minted_token(
    register: tuple[str, list[str]], key_file: Path, key: rsa.RSAPrivateKey
) -> None:
    base, seen = register
    source = platform_token_source(load_settings(platform_access_token_key_file=key_file))
    async with httpx.AsyncClient(trust_env=False) as client:
        names = AltinnRegisterNames(client, base + "/register/api/v1/", source)
        assert await names.party_names(["910000123"], []) == {"910000123": "Firma AS"}
    [token] = seen
    assert _verify(token, key)["urn:altinn:app"] == "notifications"
