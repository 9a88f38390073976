"""Incoming platform access tokens are checked against their own issuer's keys only (docs/compatibility.md C2)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from altinn_notifications.auth.dev import mint_platform_token, mint_token
from altinn_notifications.auth.models import Caller
from altinn_notifications.auth.service import Authenticator, build_authenticator
from altinn_notifications.config import SCOPE_CREATE, Settings, SettingsError, load_settings
from altinn_notifications.errors import UnauthorizedError
from tests.auth.helpers import JwksServer, PlatformIssuers, jwk, write_platform_issuers
from tests.certificates import pem, self_signed


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=None)


def _trusting(settings: Settings, **update: object) -> Authenticator:
    return build_authenticator(settings.model_copy(update=update))


@pytest.fixture
async def auth(settings: Settings, platform_issuers: PlatformIssuers) -> AsyncIterator[Authenticator]:
    authenticator = _trusting(settings, platform_token_keys_dir=platform_issuers.keys_dir)
    yield authenticator
    await authenticator.close()


async def _pat(auth: Authenticator, token: str) -> Caller:
    return await auth.authenticate(None, token, required_scope=SCOPE_CREATE)


async def test_a_properly_signed_token_of_a_trusted_issuer_is_accepted(
    auth: Authenticator, platform_issuers: PlatformIssuers
) -> None:
    caller = await _pat(auth, platform_issuers.mint("ttd"))
    assert caller == Caller(org="ttd", scopes=frozenset(), via_platform_token=True)
    assert (await _pat(auth, platform_issuers.mint("ttd"))).org == "ttd"  # the remembered verification


async def test_no_trust_configured_refuses_the_header(
    settings: Settings, platform_issuers: PlatformIssuers
) -> None:
    authenticator = build_authenticator(settings)
    try:
        with pytest.raises(UnauthorizedError):
            await _pat(authenticator, platform_issuers.mint("ttd"))
        bearer = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE])
        assert (await authenticator.authenticate(bearer, None, required_scope=SCOPE_CREATE)).org == "ttd"
    finally:
        await authenticator.close()


async def test_a_token_signed_with_the_bearer_key_is_refused(settings: Settings, auth: Authenticator) -> None:
    forged = mint_token(
        settings, org=None, scopes=None, issuer="ttd", extra_claims={"urn:altinn:app": "ttd/a"}
    )
    with pytest.raises(UnauthorizedError):
        await _pat(auth, forged)


async def test_another_issuers_key_does_not_vouch_for_an_issuer(
    auth: Authenticator, platform_issuers: PlatformIssuers
) -> None:
    # digdir's key signs a token claiming to be ttd's (and one of an issuer with no key at all).
    with pytest.raises(UnauthorizedError):
        await _pat(auth, platform_issuers.mint("ttd", signer="digdir"))
    with pytest.raises(UnauthorizedError):
        await _pat(auth, platform_issuers.mint("digdir", iss="nav"))


async def test_the_app_claim_is_required(auth: Authenticator, platform_issuers: PlatformIssuers) -> None:
    for app in (None, "", 42):
        with pytest.raises(UnauthorizedError):
            await _pat(auth, platform_issuers.mint("ttd", **{"urn:altinn:app": app}))


async def test_issuers_outside_the_allow_list_are_refused(
    settings: Settings, platform_issuers: PlatformIssuers
) -> None:
    authenticator = _trusting(
        settings, platform_token_keys_dir=platform_issuers.keys_dir, platform_token_allowed_issuers=["digdir"]
    )
    try:
        assert (await _pat(authenticator, platform_issuers.mint("digdir"))).org == "digdir"
        with pytest.raises(UnauthorizedError):
            await _pat(authenticator, platform_issuers.mint("ttd"))
    finally:
        await authenticator.close()


async def test_lifetime_is_enforced(auth: Authenticator, platform_issuers: PlatformIssuers) -> None:
    for token in (
        platform_issuers.mint("ttd", ttl=-1),
        platform_issuers.mint("ttd", exp=None),
        platform_issuers.mint("ttd", nbf=2_000_000_000_0),
    ):
        with pytest.raises(UnauthorizedError):
            await _pat(auth, token)


async def test_only_rs256(auth: Authenticator, platform_issuers: PlatformIssuers) -> None:
    key = platform_issuers.keys["ttd"]
    now = 1_700_000_000
    claims = {"iss": "ttd", "urn:altinn:app": "ttd/a", "exp": now * 2}
    for token in (
        jwt.encode(claims, key, algorithm="RS512"),
        jwt.encode(claims, key, algorithm="PS256"),
        jwt.encode(claims, "secret-of-32-bytes-at-least-0123", algorithm="HS256"),
    ):
        with pytest.raises(UnauthorizedError):
            await _pat(auth, token)


def _certificate(key: RSAPrivateKey, name: str) -> bytes:
    return pem(self_signed(key, name))


async def test_certificates_and_jwks_files_in_the_directory(
    settings: Settings, tmp_path: Path, rsa_keys: list[RSAPrivateKey]
) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    # ttd rotates: two certificates in one file (the token's kid names neither thumbprint).
    (keys_dir / "ttd.crt").write_bytes(_certificate(rsa_keys[0], "old") + _certificate(rsa_keys[1], "new"))
    (keys_dir / "digdir.json").write_text(json.dumps({"keys": [jwk(rsa_keys[2], "d1")]}))
    (keys_dir / "README.txt").write_text("not a key")
    authenticator = _trusting(settings, platform_token_keys_dir=keys_dir)
    try:
        for key in rsa_keys[:2]:
            claims = {"iss": "ttd", "urn:altinn:app": "ttd/a", "exp": int(time.time()) + 60}
            token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "0A1B2C3D4E5F"})
            assert (await _pat(authenticator, token)).org == "ttd"
        assert (
            await _pat(authenticator, mint_platform_token(rsa_keys[2], issuer="digdir", app="a"))
        ).org == "digdir"
        with pytest.raises(UnauthorizedError):  # ttd's certificate key does not sign for digdir
            await _pat(authenticator, mint_platform_token(rsa_keys[0], issuer="digdir", app="a"))
        with pytest.raises(UnauthorizedError):  # README is no issuer
            await _pat(authenticator, mint_platform_token(rsa_keys[0], issuer="README", app="a"))
    finally:
        await authenticator.close()


async def test_issuer_mapping_to_a_jwks_url_or_a_file(
    settings: Settings, tmp_path: Path, rsa_keys: list[RSAPrivateKey], jwks_server: JwksServer
) -> None:
    jwks_server.state.jwks = {"keys": [jwk(rsa_keys[0], None)]}
    key_file = write_platform_issuers(tmp_path / "k", {"digdir": rsa_keys[1]}).keys_dir / "digdir.pem"
    authenticator = _trusting(
        settings, platform_token_issuers={"ttd": jwks_server.openid_url, "digdir": str(key_file)}
    )
    try:
        assert (
            await _pat(authenticator, mint_platform_token(rsa_keys[0], issuer="ttd", app="a"))
        ).org == "ttd"
        assert (
            await _pat(authenticator, mint_platform_token(rsa_keys[1], issuer="digdir", app="a"))
        ).org == "digdir"
        for forged in (
            mint_platform_token(rsa_keys[1], issuer="ttd", app="a"),
            mint_platform_token(rsa_keys[0], issuer="digdir", app="a"),
        ):
            with pytest.raises(UnauthorizedError):
                await _pat(authenticator, forged)
    finally:
        await authenticator.close()


def test_bad_trust_settings_stop_the_start(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(SettingsError, match="NOTIFICATIONS_PLATFORM_TOKEN"):
        build_authenticator(load_settings(data_dir=tmp_path, platform_token_keys_dir=missing))
    (tmp_path / "ttd.pem").write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    with pytest.raises(SettingsError, match=r"ttd\.pem"):
        build_authenticator(load_settings(data_dir=tmp_path, platform_token_keys_dir=tmp_path))
    with pytest.raises(SettingsError, match="NOTIFICATIONS_PLATFORM_TOKEN_ISSUERS"):
        load_settings(data_dir=tmp_path, platform_token_issuers={"ttd": ""})


async def test_the_token_command_mints_platform_tokens_only_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from altinn_notifications.cli import app

    runner = CliRunner()
    monkeypatch.delenv("NOTIFICATIONS_PLATFORM_TOKEN_KEYS_DIR", raising=False)
    refused = runner.invoke(app, ["token", "--platform-issuer", "ttd", "--data-dir", str(tmp_path)])
    assert refused.exit_code == 2 and "NOTIFICATIONS_PLATFORM_TOKEN_KEYS_DIR" in refused.output
    keys_dir = tmp_path / "platform-keys"
    monkeypatch.setenv("NOTIFICATIONS_PLATFORM_TOKEN_KEYS_DIR", str(keys_dir))
    absent = runner.invoke(app, ["token", "--platform-issuer", "ttd", "--data-dir", str(tmp_path)])
    assert absent.exit_code == 2 and not (keys_dir / "ttd.pem").exists()
    made = runner.invoke(
        app, ["token", "--platform-issuer", "ttd", "--create-key", "--data-dir", str(tmp_path)]
    )
    assert made.exit_code == 0, made.output
    settings = load_settings(data_dir=tmp_path)
    authenticator = build_authenticator(settings)
    try:
        assert (await _pat(authenticator, made.output.strip())).org == "ttd"
    finally:
        await authenticator.close()
