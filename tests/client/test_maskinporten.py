"""The Maskinporten client against the loopback Maskinporten: grants, caching, renewal, errors, exchange."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12

from altinn_notifications.auth.dev import dev_key_id, ensure_dev_key
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_CREATE, Settings
from altinn_notifications_client.maskinporten import (
    AsyncMaskinportenClient,
    MaskinportenClient,
    MaskinportenConfig,
    MaskinportenError,
    build_grant,
)
from tests.certificates import self_signed
from tests.client.conftest import ORG_NUMBER
from tests.conftest import ClientFactory
from tests.fakes.maskinporten import GRANT_TYPE, FakeMaskinporten, MaskinportenClientRegistration

SCOPES = {SCOPE_CREATE, "altinn:serviceowner/notifications.composedemail.create"}


def _register(fake: FakeMaskinporten, key: RSAPrivateKey, client_id: str = "sender") -> None:
    fake.register(
        MaskinportenClientRegistration(
            client_id=client_id, org_number=ORG_NUMBER, scopes=set(SCOPES), keys={"kid-1": key.public_key()}
        )
    )


def _config(fake: FakeMaskinporten, key: RSAPrivateKey, **options: Any) -> MaskinportenConfig:
    return MaskinportenConfig.with_key("sender", key, kid="kid-1", environment=fake.environment, **options)


async def test_a_registered_key_gets_a_signed_token_with_the_consumer(
    maskinporten: FakeMaskinporten, client_key: RSAPrivateKey
) -> None:
    _register(maskinporten, client_key)
    async with AsyncMaskinportenClient(_config(maskinporten, client_key)) as mp:
        token = await mp.token(SCOPE_CREATE, resource="https://notifications.example/")

    claims = maskinporten.verify_access_token(token.access_token, audience="https://notifications.example/")
    assert claims["client_id"] == "sender"
    assert claims["scope"] == SCOPE_CREATE
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": f"0192:{ORG_NUMBER}"}
    assert token.expires_in == maskinporten.token_lifetime
    assert token.access_token not in repr(token)


def test_the_grant_carries_the_documented_claims(client_key: RSAPrivateKey) -> None:
    config = MaskinportenConfig.with_key("sender", client_key, kid="kid-1")
    grant = build_grant(config, ["b:x a:y", "a:y"], "https://api.example/")
    header = jwt.get_unverified_header(grant)
    claims = jwt.decode(
        grant, client_key.public_key(), algorithms=["RS256"], audience="https://maskinporten.no/"
    )
    assert header["alg"] == "RS256" and header["kid"] == "kid-1" and "x5c" not in header
    assert claims["iss"] == "sender"
    assert claims["scope"] == "a:y b:x"
    assert claims["resource"] == "https://api.example/"
    assert 0 < claims["exp"] - claims["iat"] <= 120
    assert build_grant(config, "a:y") != build_grant(config, "a:y")  # a new jti every time
    assert jwt.decode(build_grant(config, "a:y"), options={"verify_signature": False})["jti"] != claims["jti"]


async def test_a_business_certificate_is_sent_as_x5c(maskinporten: FakeMaskinporten, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = self_signed(key, "SENDER AS")
    maskinporten.register(
        MaskinportenClientRegistration(
            client_id="cert-client", org_number=ORG_NUMBER, scopes=set(SCOPES), certificates=[certificate]
        )
    )
    p12 = tmp_path / "business.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"sender", key, certificate, None, serialization.BestAvailableEncryption(b"secret")
        )
    )
    config = MaskinportenConfig.from_pkcs12(
        "cert-client", p12, b"secret", environment=maskinporten.environment
    )
    grant_header = jwt.get_unverified_header(build_grant(config, SCOPE_CREATE))
    assert "kid" not in grant_header
    assert base64.b64decode(grant_header["x5c"][0]) == certificate.public_bytes(serialization.Encoding.DER)

    async with AsyncMaskinportenClient(config) as mp:
        token = await mp.access_token(SCOPE_CREATE)
    assert maskinporten.verify_access_token(token)["client_amr"] == "virksomhetssertifikat"

    # A certificate that is not the registered one is refused.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = MaskinportenConfig.with_certificate(
        "cert-client", stranger, [self_signed(stranger, "SENDER AS")], environment=maskinporten.environment
    )
    async with AsyncMaskinportenClient(other) as mp:
        with pytest.raises(MaskinportenError) as refused:
            await mp.token(SCOPE_CREATE)
    assert refused.value.error == "invalid_grant"


async def test_tokens_are_cached_per_scope_set(
    maskinporten: FakeMaskinporten, client_key: RSAPrivateKey
) -> None:
    _register(maskinporten, client_key)
    both = sorted(SCOPES)
    async with AsyncMaskinportenClient(_config(maskinporten, client_key)) as mp:
        first = await mp.access_token(both)
        again = await mp.access_token(" ".join(reversed(both)))  # the same set, another spelling
        assert again == first
        assert maskinporten.grants_accepted == 1
        other = await mp.access_token(SCOPE_CREATE)
    assert other != first
    assert maskinporten.grants_accepted == 2


async def test_concurrent_callers_share_one_refresh(
    maskinporten: FakeMaskinporten, client_key: RSAPrivateKey
) -> None:
    _register(maskinporten, client_key)
    async with AsyncMaskinportenClient(_config(maskinporten, client_key)) as mp:
        tokens = await asyncio.gather(*(mp.access_token(SCOPE_CREATE) for _ in range(10)))
    assert len(set(tokens)) == 1
    assert maskinporten.grants_accepted == 1


async def test_a_token_is_renewed_before_it_expires(
    maskinporten: FakeMaskinporten, client_key: RSAPrivateKey
) -> None:
    _register(maskinporten, client_key)
    maskinporten.token_lifetime = 2  # renewed after half of it at the latest
    async with AsyncMaskinportenClient(_config(maskinporten, client_key, renew_margin=30)) as mp:
        first = await mp.token(SCOPE_CREATE)
        assert first.renew_at - time.monotonic() <= 1.0
        await asyncio.sleep(1.1)
        second = await mp.token(SCOPE_CREATE)
    assert second.access_token != first.access_token
    assert maskinporten.grants_accepted == 2


async def test_refusals_carry_error_and_description(
    maskinporten: FakeMaskinporten, client_key: RSAPrivateKey
) -> None:
    _register(maskinporten, client_key)
    async with AsyncMaskinportenClient(_config(maskinporten, client_key)) as mp:
        with pytest.raises(MaskinportenError) as scope:
            await mp.token("altinn:not-granted")
        unknown = MaskinportenConfig.with_key(
            "sender", client_key, kid="kid-2", environment=maskinporten.environment
        )
        async with AsyncMaskinportenClient(unknown) as other:
            with pytest.raises(MaskinportenError) as kid:
                await other.token(SCOPE_CREATE)
        maskinporten.fail_next(1, 503)
        with pytest.raises(MaskinportenError) as down:
            await mp.token(SCOPE_CREATE)
    assert (scope.value.error, scope.value.status_code) == ("invalid_scope", 400)
    assert scope.value.error_description and "altinn:not-granted" in scope.value.error_description
    assert kid.value.error == "invalid_grant" and kid.value.error_description
    assert down.value.status_code == 503
    assert maskinporten.grants_refused == ["invalid_scope", "invalid_grant"]


async def test_the_fake_refuses_what_maskinporten_refuses(
    maskinporten: FakeMaskinporten, client_key: RSAPrivateKey
) -> None:
    _register(maskinporten, client_key)
    config = _config(maskinporten, client_key)
    now = int(time.time())

    def signed(**claims: Any) -> str:
        base = {
            "aud": maskinporten.issuer,
            "iss": "sender",
            "scope": SCOPE_CREATE,
            "iat": now,
            "exp": now + 60,
        }
        base.update(claims)
        return jwt.encode(
            {k: v for k, v in base.items() if v is not None}, client_key, "RS256", {"kid": "kid-1"}
        )

    async def post(assertion: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                maskinporten.token_endpoint, data={"grant_type": GRANT_TYPE, "assertion": assertion}
            )
        body: dict[str, Any] = answer.json()
        return body

    reused = build_grant(config, SCOPE_CREATE)
    assert "access_token" in await post(reused)
    assert (await post(reused))["error"] == "invalid_grant"  # a jti is never accepted twice
    assert (await post(signed(exp=now + 121)))["error"] == "invalid_grant"  # lives longer than 120 s
    assert (await post(signed(iat=now - 200, exp=now - 100)))["error"] == "invalid_grant"  # expired
    assert (await post(signed(aud=maskinporten.token_endpoint)))["error"] == "invalid_grant"  # wrong audience
    assert (await post(signed(iss="nobody")))["error"] == "invalid_grant"
    with pytest.raises(ValueError):
        MaskinportenConfig.with_key("sender", client_key, kid="kid-1", grant_lifetime=121)


def test_the_blocking_client_shares_one_refresh_between_threads(
    client_key: RSAPrivateKey,
) -> None:
    async def scenario() -> None:
        fake = FakeMaskinporten()
        _register(fake, client_key)
        async with fake.running():
            with MaskinportenClient(_config(fake, client_key)) as mp:
                tokens = await asyncio.gather(
                    *(asyncio.to_thread(mp.access_token, SCOPE_CREATE) for _ in range(6))
                )
                with pytest.raises(MaskinportenError) as refused:
                    await asyncio.to_thread(mp.token, "altinn:not-granted")
        assert len(set(tokens)) == 1
        assert fake.grants_accepted == 1
        assert refused.value.error == "invalid_scope"

    asyncio.run(scenario())


async def test_an_exchanged_altinn_token_is_accepted_by_the_service(
    client_key: RSAPrivateKey, settings: Settings, container: Container, make_client: ClientFactory
) -> None:
    dev_key = ensure_dev_key(settings.dev_key_path)
    fake = FakeMaskinporten(
        altinn_key=dev_key, altinn_key_id=dev_key_id(dev_key), org_codes={ORG_NUMBER: "ttd"}
    )
    _register(fake, client_key)
    async with fake.running(), AsyncMaskinportenClient(_config(fake, client_key)) as mp:
        altinn = await mp.altinn_token(SCOPE_CREATE)
        assert await mp.altinn_token(SCOPE_CREATE) == altinn  # cached by its own expiry
    assert fake.exchanges == 1
    claims = jwt.decode(altinn, options={"verify_signature": False})
    assert claims["urn:altinn:org"] == "ttd"
    http = make_client(container)
    answer = await http.get(
        "/notifications/api/v1/orders?sendersReference=x", headers={"Authorization": f"Bearer {altinn}"}
    )
    assert answer.status_code == 200, answer.text
