"""Token validation, the create policy and creator extraction (docs/compatibility.md C2), against the dev key."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from structlog.testing import capture_logs

from altinn_notifications.auth.dev import dev_key_id, ensure_dev_key, mint_token
from altinn_notifications.auth.models import Caller
from altinn_notifications.auth.service import Authenticator, build_authenticator, build_key_set
from altinn_notifications.config import SCOPE_COMPOSED_EMAIL, SCOPE_CREATE, Settings
from altinn_notifications.errors import ForbiddenError, UnauthorizedError
from tests.auth.helpers import PlatformIssuers, claims, sign, write_platform_issuers


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default settings: the dev key (generated once for this module) is trusted."""
    return Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=None)


@pytest.fixture
async def authenticator(settings: Settings) -> AsyncIterator[Authenticator]:
    auth = build_authenticator(settings)
    yield auth
    await auth.close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())


async def _create(auth: Authenticator, bearer: str | None, platform: str | None = None) -> Caller:
    return await auth.authenticate(bearer, platform, required_scope=SCOPE_CREATE)


# --- the happy path -----------------------------------------------------------------------------------


async def test_valid_dev_token_gives_the_caller(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE, "altinn:other"])
    caller = await _create(authenticator, token)
    assert caller == Caller(
        org="ttd", scopes=frozenset({SCOPE_CREATE, "altinn:other"}), via_platform_token=False
    )


async def test_other_required_scope(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(settings, org="digdir", scopes=[SCOPE_COMPOSED_EMAIL])
    caller = await authenticator.authenticate(token, None, required_scope=SCOPE_COMPOSED_EMAIL)
    assert caller.org == "digdir"
    with pytest.raises(ForbiddenError):
        await _create(authenticator, token)


async def test_the_dev_key_is_shared_by_authenticators_on_the_same_data_dir(settings: Settings) -> None:
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE])
    other = build_authenticator(Settings(data_dir=settings.data_dir, database_url=None))
    try:
        assert (await _create(other, token)).org == "ttd"
    finally:
        await other.close()


# --- lifetime -----------------------------------------------------------------------------------------


async def test_expired_token_is_401(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], ttl_seconds=-1)
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, token)


async def test_no_clock_skew_allowed(settings: Settings, authenticator: Authenticator) -> None:
    # exp == now is already expired (zero leeway; a 5-minute default skew would accept it).
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], ttl_seconds=0)
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, token)
    skewed = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], ttl_seconds=-30)
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, skewed)


async def test_token_without_exp_is_401(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], extra_claims={"exp": None})
    assert "exp" not in jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, token)


async def test_not_yet_valid_token_is_401(settings: Settings, authenticator: Authenticator) -> None:
    future = int(time.time()) + 120
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], extra_claims={"nbf": future})
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, token)


async def test_iat_in_the_future_is_not_checked(settings: Settings, authenticator: Authenticator) -> None:
    # The reference validates lifetime (nbf/exp) only; an issuer clock slightly ahead must not matter.
    token = mint_token(
        settings, org="ttd", scopes=[SCOPE_CREATE], extra_claims={"iat": int(time.time()) + 30}
    )
    assert (await _create(authenticator, token)).org == "ttd"


# --- signature and algorithm ----------------------------------------------------------------------------


async def test_token_signed_by_another_key_with_the_dev_kid_is_401(
    settings: Settings, authenticator: Authenticator, rsa_keys: list[RSAPrivateKey]
) -> None:
    kid = dev_key_id(ensure_dev_key(settings.dev_key_path))
    forged = sign(rsa_keys[0], kid)
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, forged)


async def test_unknown_kid_is_401(
    settings: Settings, authenticator: Authenticator, rsa_keys: list[RSAPrivateKey]
) -> None:
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, sign(rsa_keys[0], "some-other-kid"))


async def test_tampered_payload_is_401(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE])
    header, _, signature = token.split(".")
    payload = jwt.decode(token, options={"verify_signature": False})
    payload["urn:altinn:org"] = "skd"
    tampered = header + "." + _b64(json.dumps(payload).encode()) + "." + signature
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, tampered)


async def test_alg_none_is_401(settings: Settings, authenticator: Authenticator) -> None:
    kid = dev_key_id(ensure_dev_key(settings.dev_key_path))
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": kid}, claims()) + "."
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, token)


async def test_hs256_forged_with_the_public_key_is_401(
    settings: Settings, authenticator: Authenticator
) -> None:
    key = ensure_dev_key(settings.dev_key_path)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _unsigned({"alg": "HS256", "typ": "JWT", "kid": dev_key_id(key)}, claims())
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, signing_input + "." + _b64(mac))


async def test_rs512_is_not_accepted(settings: Settings, authenticator: Authenticator) -> None:
    key = ensure_dev_key(settings.dev_key_path)
    token = jwt.encode(claims(), key, algorithm="RS512", headers={"kid": dev_key_id(key)})
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, token)


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "Bearer x", "eyJhbGciOiJSUzI1NiJ9..", "x" * 20_000])
async def test_malformed_bearer_is_401(authenticator: Authenticator, garbage: str) -> None:
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, garbage)


async def test_non_string_kid_is_401(settings: Settings, authenticator: Authenticator) -> None:
    key = ensure_dev_key(settings.dev_key_path)
    signing_input = _unsigned({"alg": "RS256", "typ": "JWT", "kid": 7}, claims())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    token = signing_input + "." + _b64(signature)
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, token)


@pytest.mark.parametrize(("bearer", "platform"), [(None, None), ("", None), ("  ", ""), (None, "")])
async def test_no_token_is_401(
    authenticator: Authenticator, bearer: str | None, platform: str | None
) -> None:
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, bearer, platform)


# --- scopes ---------------------------------------------------------------------------------------------


async def test_missing_scope_is_403(settings: Settings, authenticator: Authenticator) -> None:
    with pytest.raises(ForbiddenError):
        await _create(authenticator, mint_token(settings, org="ttd", scopes=["altinn:something.else"]))
    with pytest.raises(ForbiddenError):
        await _create(authenticator, mint_token(settings, org="ttd", scopes=None))
    with pytest.raises(ForbiddenError):
        # A scope is a whole word, not a substring.
        await _create(authenticator, mint_token(settings, org="ttd", scopes=[SCOPE_CREATE + ".more"]))


async def test_scope_claim_is_the_fallback(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(settings, org="ttd", scopes=None, extra_claims={"scope": f"openid {SCOPE_CREATE}"})
    caller = await _create(authenticator, token)
    assert caller.scopes == frozenset({"openid", SCOPE_CREATE})


async def test_altinn_scope_claim_wins_over_scope(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(settings, org="ttd", scopes=["altinn:other"], extra_claims={"scope": SCOPE_CREATE})
    with pytest.raises(ForbiddenError):
        await _create(authenticator, token)


async def test_list_valued_scope(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(
        settings, org="ttd", scopes=None, extra_claims={"urn:altinn:scope": ["altinn:a", SCOPE_CREATE]}
    )
    assert (await _create(authenticator, token)).scopes == frozenset({"altinn:a", SCOPE_CREATE})
    fallback = mint_token(settings, org="ttd", scopes=None, extra_claims={"scope": [SCOPE_CREATE]})
    assert (await _create(authenticator, fallback)).org == "ttd"


# --- org ------------------------------------------------------------------------------------------------


async def test_missing_org_is_403(settings: Settings, authenticator: Authenticator) -> None:
    with pytest.raises(ForbiddenError):
        await _create(authenticator, mint_token(settings, org=None, scopes=[SCOPE_CREATE]))
    with pytest.raises(ForbiddenError):
        await _create(authenticator, mint_token(settings, org="", scopes=[SCOPE_CREATE]))
    bad_type = mint_token(settings, org=None, scopes=[SCOPE_CREATE], extra_claims={"urn:altinn:org": ["ttd"]})
    with pytest.raises(ForbiddenError):
        await _create(authenticator, bad_type)


# --- platform access token ------------------------------------------------------------------------------


@pytest.fixture
async def pat_auth(settings: Settings, platform_issuers: PlatformIssuers) -> AsyncIterator[Authenticator]:
    """The dev bearer key, and platform access tokens of `platform_issuers` (ttd, digdir)."""
    auth = build_authenticator(
        settings.model_copy(update={"platform_token_keys_dir": platform_issuers.keys_dir})
    )
    yield auth
    await auth.close()


async def test_platform_access_token_alone_authorises_as_its_issuer(
    pat_auth: Authenticator, platform_issuers: PlatformIssuers
) -> None:
    caller = await _create(pat_auth, None, platform_issuers.mint("ttd"))
    assert caller == Caller(org="ttd", scopes=frozenset(), via_platform_token=True)
    assert (await _create(pat_auth, None, platform_issuers.mint("digdir"))).org == "digdir"


async def test_platform_token_issuer_wins_over_org_claim(
    settings: Settings, pat_auth: Authenticator, platform_issuers: PlatformIssuers
) -> None:
    bearer = mint_token(settings, org="digdir", scopes=["altinn:unrelated"])
    caller = await _create(pat_auth, bearer, platform_issuers.mint("ttd"))
    assert caller.org == "ttd"
    assert caller.via_platform_token is True
    assert caller.scopes == frozenset({"altinn:unrelated"})


async def test_invalid_platform_token_is_401_even_with_a_good_bearer(
    settings: Settings,
    pat_auth: Authenticator,
    platform_issuers: PlatformIssuers,
    rsa_keys: list[RSAPrivateKey],
) -> None:
    bearer = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE])
    expired = platform_issuers.mint("ttd", ttl=-5)
    foreign = sign(rsa_keys[1], None, claims(iss="ttd", **{"urn:altinn:app": "ttd/app"}))
    for pat in (expired, foreign, "not-a-jwt"):
        with pytest.raises(UnauthorizedError):
            await _create(pat_auth, bearer, pat)
        with pytest.raises(UnauthorizedError):
            await _create(pat_auth, None, pat)


async def test_invalid_bearer_is_401_even_with_a_good_platform_token(
    settings: Settings, pat_auth: Authenticator, platform_issuers: PlatformIssuers
) -> None:
    expired = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], ttl_seconds=-5)
    with pytest.raises(UnauthorizedError):
        await _create(pat_auth, expired, platform_issuers.mint("ttd"))


async def test_platform_token_without_issuer_is_401(
    pat_auth: Authenticator, platform_issuers: PlatformIssuers
) -> None:
    # Without an issuer there are no keys to check it with.
    for iss in (None, "", "  "):
        with pytest.raises(UnauthorizedError):
            await _create(pat_auth, None, platform_issuers.mint("ttd", iss=iss))


# --- issuer and audience --------------------------------------------------------------------------------


async def test_issuer_and_audience_not_checked_unless_configured(
    settings: Settings, authenticator: Authenticator
) -> None:
    token = mint_token(
        settings, org="ttd", scopes=[SCOPE_CREATE], issuer="https://anyone", extra_claims={"aud": "whatever"}
    )
    assert (await _create(authenticator, token)).org == "ttd"
    no_iss = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], extra_claims={"iss": None})
    assert (await _create(authenticator, no_iss)).org == "ttd"


async def test_issuer_enforced_when_configured(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=None, jwt_issuer="https://platform.test/authentication"
    )
    auth = build_authenticator(settings)
    try:
        good = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE])  # defaults to the configured issuer
        assert jwt.decode(good, options={"verify_signature": False})["iss"] == settings.jwt_issuer
        assert (await _create(auth, good)).org == "ttd"
        for bad in (
            mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], issuer="https://evil.test"),
            mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], extra_claims={"iss": None}),
        ):
            with pytest.raises(UnauthorizedError):
                await _create(auth, bad)
    finally:
        await auth.close()


async def test_audience_enforced_when_configured(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None, jwt_audience="altinn-notifications")
    auth = build_authenticator(settings)
    try:
        good = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE])  # carries the configured audience
        assert (await _create(auth, good)).org == "ttd"
        listed = mint_token(
            settings, org="ttd", scopes=[SCOPE_CREATE], extra_claims={"aud": ["x", "altinn-notifications"]}
        )
        assert (await _create(auth, listed)).org == "ttd"
        for bad in (
            mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], extra_claims={"aud": "someone-else"}),
            mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], extra_claims={"aud": None}),
        ):
            with pytest.raises(UnauthorizedError):
                await _create(auth, bad)
    finally:
        await auth.close()


# --- re-use of verified tokens -------------------------------------------------------------------------


async def test_a_reused_token_still_expires(settings: Settings, authenticator: Authenticator) -> None:
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], ttl_seconds=1)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert (await _create(authenticator, token)).org == "ttd"
    assert (await _create(authenticator, token)).org == "ttd"
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(UnauthorizedError):
        await _create(authenticator, token)


async def test_a_token_accepted_as_platform_token_is_not_thereby_a_valid_bearer(tmp_path: Path) -> None:
    # Platform tokens skip the configured issuer (their issuer is an org); bearer tokens do not. Here ttd's
    # platform key happens to be the bearer key.
    keys_dir = tmp_path / "platform"
    settings = Settings(
        data_dir=tmp_path,
        database_url=None,
        jwt_issuer="https://platform.test",
        platform_token_keys_dir=keys_dir,
    )
    write_platform_issuers(keys_dir, {"ttd": ensure_dev_key(settings.dev_key_path)})
    auth = build_authenticator(settings)
    try:
        token = mint_token(
            settings, org="ttd", scopes=[SCOPE_CREATE], issuer="ttd", extra_claims={"urn:altinn:app": "ttd/a"}
        )
        assert (await _create(auth, None, token)).via_platform_token
        with pytest.raises(UnauthorizedError):
            await _create(auth, token)
    finally:
        await auth.close()


async def test_cache_is_bounded(settings: Settings) -> None:
    auth = Authenticator(build_key_set(settings), verified_cache_size=3)
    try:
        tokens = [mint_token(settings, org=f"org{i}", scopes=[SCOPE_CREATE]) for i in range(5)]
        for token in tokens + tokens:
            assert (await _create(auth, token)).org.startswith("org")
        assert len(auth._verified) == 3
    finally:
        await auth.close()


# --- logging --------------------------------------------------------------------------------------------


async def test_tokens_are_never_logged(settings: Settings, authenticator: Authenticator) -> None:
    expired = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE], ttl_seconds=-5)
    with capture_logs() as logs:
        with pytest.raises(UnauthorizedError):
            await _create(authenticator, expired)
        with pytest.raises(UnauthorizedError):
            await _create(authenticator, "abc.def.ghi")
    assert logs, "rejections are logged"
    text = json.dumps(logs, default=str)
    assert expired not in text
    assert expired.split(".")[2] not in text
    assert "abc.def.ghi" not in text
