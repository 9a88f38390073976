"""Several trusted bearer-token issuers at once (`NOTIFICATIONS_TOKEN_ISSUERS`): Maskinporten tokens taken
directly (scope, consumer → org code), Altinn tokens as before, each checked only against its own keys."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from altinn_notifications.auth.dev import mint_token
from altinn_notifications.auth.issuers import OrgNotResolvedError, ServiceOwners
from altinn_notifications.auth.models import Caller
from altinn_notifications.auth.service import Authenticator, build_authenticator
from altinn_notifications.config import SCOPE_CREATE, Settings, SettingsError, TokenIssuer, load_settings
from altinn_notifications.errors import ForbiddenError, UnauthorizedError
from tests.auth.helpers import JwksHTTPServer, JwksServer, JwksServerState, jwk, public_pem

MASKINPORTEN = "https://maskinporten.test/"
ALTINN = "https://platform.altinn.test/authentication/api/v1/openid/"
AUDIENCE = "https://notifications.example.no"

OWNERS = {
    "orgs": {
        "digdir": {"name": {"nb": "Digitaliseringsdirektoratet"}, "orgnr": "991825827"},
        "ttd": {"name": {"nb": "Testdepartementet"}, "orgnr": ""},
        "one": {"orgnr": "910000009"},
        "two": {"orgnr": "910000009"},
    }
}


@contextmanager
def jwks_for(key: RSAPrivateKey, kid: str) -> Iterator[JwksServer]:
    state = JwksServerState(jwks={"keys": [jwk(key, kid)]})
    server = JwksHTTPServer(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield JwksServer(state=state, base_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def maskinporten_claims(orgnr: str | None = "991825827", ttl: int = 120, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": MASKINPORTEN,
        "aud": AUDIENCE,
        "scope": f"{SCOPE_CREATE} other:scope",
        "client_id": "3f1c0a55-2b0e-4a5e-9d6c-2f0f6a1b7c11",
        "token_type": "Bearer",
        "iat": now,
        "exp": now + ttl,
        "jti": "a-unique-id",
    }
    if orgnr is not None:
        claims["consumer"] = {"authority": "iso6523-actorid-upis", "ID": f"0192:{orgnr}"}
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: RSAPrivateKey, kid: str, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=None)


@pytest.fixture(scope="module")
def owners_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("owners") / "altinn-orgs.json"
    path.write_text(json.dumps(OWNERS))
    return path


@pytest.fixture
def servers(rsa_keys: list[RSAPrivateKey]) -> Iterator[tuple[JwksServer, JwksServer]]:
    with jwks_for(rsa_keys[0], "mp-1") as maskinporten, jwks_for(rsa_keys[1], "altinn-1") as altinn:
        yield maskinporten, altinn


def issuer_settings(
    base: Settings, servers: tuple[JwksServer, JwksServer], owners_file: Path | None, **update: Any
) -> Settings:
    maskinporten, altinn = servers
    issuers = [
        TokenIssuer(
            issuer=MASKINPORTEN, keys=maskinporten.openid_url, audience=AUDIENCE, claims="maskinporten"
        ),
        TokenIssuer(issuer=ALTINN, keys=altinn.jwks_url),
    ]
    return base.model_copy(update={"token_issuers": issuers, "service_owners_file": owners_file, **update})


@pytest.fixture
async def auth(
    base_settings: Settings, servers: tuple[JwksServer, JwksServer], owners_file: Path
) -> AsyncIterator[Authenticator]:
    authenticator = build_authenticator(issuer_settings(base_settings, servers, owners_file))
    yield authenticator
    await authenticator.close()


async def caller(auth: Authenticator, token: str) -> Caller:
    return await auth.authenticate(token, None, required_scope=SCOPE_CREATE)


async def test_a_maskinporten_token_names_its_consumer_by_org_code(
    auth: Authenticator, rsa_keys: list[RSAPrivateKey]
) -> None:
    token = sign(rsa_keys[0], "mp-1", maskinporten_claims())
    assert await caller(auth, token) == Caller(org="digdir", scopes=frozenset({SCOPE_CREATE, "other:scope"}))
    assert (await caller(auth, token)).org == "digdir"  # the remembered verification


async def test_an_unlisted_consumer_is_its_org_number(
    auth: Authenticator, rsa_keys: list[RSAPrivateKey]
) -> None:
    token = sign(rsa_keys[0], "mp-1", maskinporten_claims("987654321"))
    assert (await caller(auth, token)).org == "987654321"


@pytest.mark.parametrize(
    "consumer",
    [
        None,
        "0192:991825827",  # not an object
        {"authority": "iso6523-actorid-upis", "ID": "9908:991825827"},
        {"authority": "iso6523-actorid-upis", "ID": "0192:12345"},
        {"authority": "iso6523-actorid-upis", "ID": "0192:910000009"},  # two codes share it
    ],
)
async def test_an_unresolvable_consumer_is_forbidden(
    auth: Authenticator, rsa_keys: list[RSAPrivateKey], consumer: Any
) -> None:
    token = sign(rsa_keys[0], "mp-1", maskinporten_claims(None, consumer=consumer))
    with pytest.raises(OrgNotResolvedError):
        await caller(auth, token)


async def test_maskinporten_scopes_come_from_scope_only(
    auth: Authenticator, rsa_keys: list[RSAPrivateKey]
) -> None:
    token = sign(
        rsa_keys[0], "mp-1", maskinporten_claims(scope="other:scope", **{"urn:altinn:scope": SCOPE_CREATE})
    )
    with pytest.raises(ForbiddenError) as refused:
        await caller(auth, token)
    assert not isinstance(refused.value, OrgNotResolvedError)


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"aud": "https://someone-else.example.no"}, "wrong audience"),
        ({"aud": None}, "no audience"),
        ({"exp": int(time.time()) - 1}, "expired"),
        ({"exp": None}, "no lifetime"),
        ({"iss": "https://unknown.example.no/"}, "unknown issuer"),
        ({"iss": ALTINN}, "another issuer's key"),
    ],
)
async def test_invalid_maskinporten_tokens_are_unauthorized(
    auth: Authenticator, rsa_keys: list[RSAPrivateKey], claims: dict[str, Any], why: str
) -> None:
    token = sign(rsa_keys[0], "mp-1", maskinporten_claims(**claims))
    with pytest.raises(UnauthorizedError):
        await caller(auth, token)


async def test_altinn_tokens_keep_their_claims(auth: Authenticator, rsa_keys: list[RSAPrivateKey]) -> None:
    now = int(time.time())
    claims = {"iss": ALTINN, "exp": now + 60, "urn:altinn:org": "ttd", "urn:altinn:scope": SCOPE_CREATE}
    assert await caller(auth, sign(rsa_keys[1], "altinn-1", claims)) == Caller(
        org="ttd", scopes=frozenset({SCOPE_CREATE})
    )
    # A Maskinporten-shaped token from the Altinn issuer: no urn:altinn:org, so no org (as before).
    with pytest.raises(ForbiddenError):
        await caller(auth, sign(rsa_keys[1], "altinn-1", {**maskinporten_claims(), "iss": ALTINN}))


async def test_the_dev_key_is_not_trusted_next_to_issuers(
    auth: Authenticator, base_settings: Settings
) -> None:
    with pytest.raises(UnauthorizedError):
        await caller(auth, mint_token(base_settings, org="ttd", scopes=[SCOPE_CREATE]))


async def test_a_configured_key_file_still_vouches_for_other_issuers(
    base_settings: Settings,
    servers: tuple[JwksServer, JwksServer],
    rsa_keys: list[RSAPrivateKey],
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "keys.pem"
    key_file.write_bytes(public_pem(rsa_keys[2]))
    authenticator = build_authenticator(issuer_settings(base_settings, servers, None, jwks_file=key_file))
    try:
        now = int(time.time())
        legacy = {"iss": "anyone", "exp": now + 60, "urn:altinn:org": "ttd", "urn:altinn:scope": SCOPE_CREATE}
        assert (await caller(authenticator, sign(rsa_keys[2], "x", legacy))).org == "ttd"
        # ...but never for a configured issuer, whose own keys alone decide.
        with pytest.raises(UnauthorizedError):
            await caller(authenticator, sign(rsa_keys[2], "x", maskinporten_claims()))
        # without a service-owner list the consumer is its org number
        assert (
            await caller(authenticator, sign(rsa_keys[0], "mp-1", maskinporten_claims()))
        ).org == "991825827"
    finally:
        await authenticator.close()


def test_issuers_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    value = [{"issuer": MASKINPORTEN, "keys": "https://maskinporten.test/jwks", "claims": "maskinporten"}]
    monkeypatch.setenv("NOTIFICATIONS_TOKEN_ISSUERS", json.dumps(value))
    settings = load_settings(data_dir=tmp_path)
    assert settings.token_issuers == [
        TokenIssuer(issuer=MASKINPORTEN, keys="https://maskinporten.test/jwks", claims="maskinporten")
    ]
    monkeypatch.setenv("NOTIFICATIONS_TOKEN_ISSUERS", json.dumps([{"issuer": MASKINPORTEN}]))
    with pytest.raises(SettingsError, match="NOTIFICATIONS_TOKEN_ISSUERS"):
        load_settings(data_dir=tmp_path)


def test_a_bad_service_owner_list_stops_the_start(
    base_settings: Settings, servers: tuple[JwksServer, JwksServer], tmp_path: Path
) -> None:
    broken = tmp_path / "orgs.json"
    broken.write_text('{"not": "orgs"}')
    with pytest.raises(SettingsError, match=r"orgs\.json"):
        build_authenticator(issuer_settings(base_settings, servers, broken))


def test_service_owner_list_format() -> None:
    owners = ServiceOwners.from_document(OWNERS)
    assert owners.org_for("991825827") == "digdir"
    assert owners.org_for("123456789") == "123456789"


async def test_the_api_explains_an_unresolvable_consumer(
    make_container: Any,
    make_client: Any,
    auth: Authenticator,
    rsa_keys: list[RSAPrivateKey],
) -> None:
    client: httpx.AsyncClient = make_client(make_container(authenticator=auth))
    token = sign(rsa_keys[0], "mp-1", maskinporten_claims(None, consumer={"ID": "0192:1"}))
    response = await client.get(
        "/notifications/api/v1/orders",
        headers={"Authorization": f"Bearer {token}"},
        params={"sendersReference": "x"},
    )
    assert response.status_code == 403
    assert "consumer" in response.json()["detail"]
    good = sign(rsa_keys[0], "mp-1", maskinporten_claims())
    response = await client.get(
        "/notifications/api/v1/orders",
        headers={"Authorization": f"Bearer {good}"},
        params={"sendersReference": "x"},
    )
    assert response.status_code == 200
    expired = sign(rsa_keys[0], "mp-1", maskinporten_claims(ttl=-5))
    response = await client.get(
        "/notifications/api/v1/orders",
        headers={"Authorization": f"Bearer {expired}"},
        params={"sendersReference": "x"},
    )
    assert response.status_code == 401
