"""Key sources: JWKS / PEM files, and an OpenID configuration / JWKS served over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID
from structlog.testing import capture_logs

from altinn_notifications.auth.keys import RemoteKeySet
from altinn_notifications.auth.models import Caller
from altinn_notifications.auth.service import Authenticator, build_authenticator
from altinn_notifications.config import SCOPE_CREATE, Settings, SettingsError
from altinn_notifications.errors import UnauthorizedError
from tests.auth.helpers import JwksServer, claims, jwk, sign


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def _create(auth: Authenticator, token: str) -> Caller:
    return await auth.authenticate(token, None, required_scope=SCOPE_CREATE)


def _public_pem(key: RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _certificate(key: RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platform.test")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


async def _file_authenticator(tmp_path: Path, content: bytes, name: str = "keys") -> Authenticator:
    path = tmp_path / name
    path.write_bytes(content)
    return build_authenticator(Settings(data_dir=tmp_path, database_url=None, jwks_file=path))


# --- files ----------------------------------------------------------------------------------------------


async def test_jwks_file(tmp_path: Path, rsa_keys: list[RSAPrivateKey]) -> None:
    a, b, other = rsa_keys
    doc = {"keys": [jwk(a, "key-a"), jwk(b, "key-b")]}
    auth = await _file_authenticator(tmp_path, json.dumps(doc).encode(), "jwks.json")
    try:
        assert (await _create(auth, sign(a, "key-a"))).org == "ttd"
        assert (await _create(auth, sign(b, "key-b"))).org == "ttd"
        for bad in (sign(a, "key-b"), sign(other, "key-a"), sign(a, "key-c"), sign(a, None)):
            with pytest.raises(UnauthorizedError):
                await _create(auth, bad)
        # The dev key is not trusted when a key file is configured.
        assert not (tmp_path / "dev-signing-key.pem").exists()
    finally:
        await auth.close()


async def test_jwks_file_skips_unusable_keys_and_reads_x5c(
    tmp_path: Path, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, b, _ = rsa_keys
    cert_b = base64.b64encode(_certificate(b).public_bytes(serialization.Encoding.DER)).decode()
    doc = {
        "keys": [
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {**jwk(a, "enc-key"), "use": "enc"},
            {"kty": "RSA", "kid": "broken", "n": "!!!", "e": "AQAB"},
            {"kty": "RSA", "kid": "cert-only", "x5c": [cert_b]},
            jwk(a, "key-a"),
        ]
    }
    auth = await _file_authenticator(tmp_path, json.dumps(doc).encode())
    try:
        assert (await _create(auth, sign(a, "key-a"))).org == "ttd"
        assert (await _create(auth, sign(b, "cert-only"))).org == "ttd"
        with pytest.raises(UnauthorizedError):
            await _create(auth, sign(a, "enc-key"))
    finally:
        await auth.close()


async def test_jwks_file_with_one_key_without_kid(tmp_path: Path, rsa_keys: list[RSAPrivateKey]) -> None:
    a, b, _ = rsa_keys
    auth = await _file_authenticator(tmp_path, json.dumps({"keys": [jwk(a, None)]}).encode())
    try:
        assert (await _create(auth, sign(a, None))).org == "ttd"
        assert (await _create(auth, sign(a, "whatever"))).org == "ttd"
        with pytest.raises(UnauthorizedError):
            await _create(auth, sign(b, None))
    finally:
        await auth.close()


async def test_pem_public_key_file(tmp_path: Path, rsa_keys: list[RSAPrivateKey]) -> None:
    a, b, _ = rsa_keys
    auth = await _file_authenticator(tmp_path, _public_pem(a), "key.pem")
    try:
        # A single PEM key has no kid: it checks every token, whatever kid the token names.
        assert (await _create(auth, sign(a, "any-kid"))).org == "ttd"
        assert (await _create(auth, sign(a, None))).org == "ttd"
        with pytest.raises(UnauthorizedError):
            await _create(auth, sign(b, "any-kid"))
    finally:
        await auth.close()


async def test_pem_certificate_file(tmp_path: Path, rsa_keys: list[RSAPrivateKey]) -> None:
    a, b, _ = rsa_keys
    pem = _certificate(a).public_bytes(serialization.Encoding.PEM)
    auth = await _file_authenticator(tmp_path, pem, "cert.pem")
    try:
        assert (await _create(auth, sign(a, "cert-thumbprint"))).org == "ttd"
        with pytest.raises(UnauthorizedError):
            await _create(auth, sign(b, "cert-thumbprint"))
    finally:
        await auth.close()


async def test_replaced_key_file_is_reread_for_an_unknown_kid(
    tmp_path: Path, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, b, _ = rsa_keys
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk(a, "key-a")]}))
    auth = build_authenticator(Settings(data_dir=tmp_path, database_url=None, jwks_file=path))
    try:
        with pytest.raises(UnauthorizedError):
            await _create(auth, sign(b, "key-b"))
        replacement = tmp_path / "jwks.new"
        replacement.write_text(json.dumps({"keys": [jwk(a, "key-a"), jwk(b, "key-b")]}))
        replacement.replace(path)
        assert (await _create(auth, sign(b, "key-b"))).org == "ttd"
        assert (await _create(auth, sign(a, "key-a"))).org == "ttd"
    finally:
        await auth.close()


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"keys": []}', b'{"issuer": "x"}', b"-----BEGIN CERTIFICATE-----\nAAAA\n"],
)
def test_unusable_key_file_is_a_startup_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keys"
    path.write_bytes(content)
    with pytest.raises(SettingsError, match="NOTIFICATIONS_JWKS_FILE"):
        build_authenticator(Settings(data_dir=tmp_path, database_url=None, jwks_file=path))


def test_missing_key_file_is_a_startup_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="NOTIFICATIONS_JWKS_FILE"):
        build_authenticator(
            Settings(data_dir=tmp_path, database_url=None, jwks_file=tmp_path / "absent.json")
        )


# --- over HTTP ------------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def remote(jwks_server: JwksServer, clock: FakeClock) -> AsyncIterator[Authenticator]:
    """An authenticator trusting the server's OpenID configuration, on a hand-moved clock."""
    auth = Authenticator(RemoteKeySet(jwks_server.openid_url, cache_seconds=3600, clock=clock))
    yield auth
    await auth.close()


async def test_openid_configuration_is_followed_and_keys_cached(
    tmp_path: Path, jwks_server: JwksServer, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, _, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(a, "key-a")]}
    auth = build_authenticator(
        Settings(data_dir=tmp_path, database_url=None, jwks_url=jwks_server.openid_url)
    )
    try:
        assert jwks_server.state.count() == 0  # nothing fetched before the first request
        for _ in range(5):
            assert (await _create(auth, sign(a, "key-a"))).org == "ttd"
        assert jwks_server.state.requests == ["/.well-known/openid-configuration", "/jwks"]
        assert not (tmp_path / "dev-signing-key.pem").exists()
    finally:
        await auth.close()


async def test_jwks_url_directly(
    tmp_path: Path, jwks_server: JwksServer, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, b, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(a, "key-a")]}
    auth = build_authenticator(Settings(data_dir=tmp_path, database_url=None, jwks_url=jwks_server.jwks_url))
    try:
        assert (await _create(auth, sign(a, "key-a"))).org == "ttd"
        with pytest.raises(UnauthorizedError):
            await _create(auth, sign(b, "key-a"))
        assert jwks_server.state.requests == ["/jwks"]
    finally:
        await auth.close()


async def test_concurrent_first_requests_share_one_fetch(
    remote: Authenticator, jwks_server: JwksServer, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, _, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(a, "key-a")]}
    token = sign(a, "key-a")
    callers = await asyncio.gather(*(_create(remote, token) for _ in range(20)))
    assert {c.org for c in callers} == {"ttd"}
    assert jwks_server.state.count("/jwks") == 1


async def test_cache_expires_after_the_configured_time(
    remote: Authenticator, jwks_server: JwksServer, clock: FakeClock, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, _, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(a, "key-a")]}
    token = sign(a, "key-a")
    await _create(remote, token)
    clock.advance(3599)
    await _create(remote, token)
    assert jwks_server.state.count("/jwks") == 1
    clock.advance(2)
    await _create(remote, token)
    assert jwks_server.state.count("/jwks") == 2
    await _create(remote, token)
    assert jwks_server.state.count("/jwks") == 2


async def test_unknown_kid_refreshes_once_then_rotation_works(
    remote: Authenticator, jwks_server: JwksServer, clock: FakeClock, rsa_keys: list[RSAPrivateKey]
) -> None:
    old, new, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(old, "2024")]}
    assert (await _create(remote, sign(old, "2024"))).org == "ttd"
    assert jwks_server.state.count("/jwks") == 1

    # The identity provider rotates; a token with the new kid arrives within the rate limit window.
    jwks_server.state.jwks = {"keys": [jwk(new, "2025"), jwk(old, "2024")]}
    clock.advance(5)
    with pytest.raises(UnauthorizedError):
        await _create(remote, sign(new, "2025"))
    assert jwks_server.state.count("/jwks") == 1  # rate-limited: no fetch

    clock.advance(6)  # 11 s after the last fetch
    assert (await _create(remote, sign(new, "2025"))).org == "ttd"
    assert jwks_server.state.count("/jwks") == 2
    assert (await _create(remote, sign(old, "2024"))).org == "ttd"

    # A kid nobody publishes: one refresh, then nothing more until the window passes.
    clock.advance(11)
    for _ in range(5):
        with pytest.raises(UnauthorizedError):
            await _create(remote, sign(new, "bogus"))
    assert jwks_server.state.count("/jwks") == 3
    assert (await _create(remote, sign(new, "2025"))).org == "ttd"
    assert jwks_server.state.count("/jwks") == 3


async def test_tokens_with_a_wrong_algorithm_never_cause_a_fetch(
    remote: Authenticator, jwks_server: JwksServer, clock: FakeClock, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, _, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(a, "key-a")]}
    await _create(remote, sign(a, "key-a"))
    clock.advance(60)
    forged = jwt.encode(claims(), "s" * 64, algorithm="HS256", headers={"kid": "new-kid"})
    with pytest.raises(UnauthorizedError):
        await _create(remote, forged)
    assert jwks_server.state.count("/jwks") == 1


async def test_a_key_withdrawn_by_the_provider_stops_working(
    remote: Authenticator, jwks_server: JwksServer, clock: FakeClock, rsa_keys: list[RSAPrivateKey]
) -> None:
    old, new, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(old, "2024"), jwk(new, "2025")]}
    token = sign(old, "2024")
    assert (await _create(remote, token)).org == "ttd"
    assert (await _create(remote, token)).org == "ttd"  # served from the verified-token cache
    jwks_server.state.jwks = {"keys": [jwk(new, "2025")]}
    clock.advance(3601)
    with pytest.raises(UnauthorizedError):
        await _create(remote, token)
    assert (await _create(remote, sign(new, "2025"))).org == "ttd"


async def test_server_error_is_401_then_recovers(
    remote: Authenticator, jwks_server: JwksServer, clock: FakeClock, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, _, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(a, "key-a")]}
    jwks_server.state.fail_status = 500
    token = sign(a, "key-a")
    with capture_logs() as logs, pytest.raises(UnauthorizedError):
        await _create(remote, token)
    assert [e for e in logs if e["event"] == "signing key fetch failed" and e["status"] == 500]
    assert token not in json.dumps(logs, default=str)
    # A request right after a failure does not hammer the server.
    with pytest.raises(UnauthorizedError):
        await _create(remote, token)
    assert jwks_server.state.count() == 1

    jwks_server.state.fail_status = None
    clock.advance(2)
    assert (await _create(remote, token)).org == "ttd"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"keys": "nope"}', b'{"something": "else"}'])
async def test_unusable_document_is_401(
    remote: Authenticator, jwks_server: JwksServer, rsa_keys: list[RSAPrivateKey], body: bytes
) -> None:
    jwks_server.state.body_override = body
    with pytest.raises(UnauthorizedError):
        await _create(remote, sign(rsa_keys[0], "key-a"))


async def test_failed_refresh_keeps_the_cached_keys(
    remote: Authenticator, jwks_server: JwksServer, clock: FakeClock, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, _, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(a, "key-a")]}
    token = sign(a, "key-a")
    await _create(remote, token)
    jwks_server.state.fail_status = 503
    clock.advance(3601)  # the cache has expired and the identity provider is down
    assert (await _create(remote, token)).org == "ttd"
    assert jwks_server.state.count("/.well-known/openid-configuration") == 2


async def test_unreachable_server_is_401_and_logged_without_credentials(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens here
    url = f"http://user:s3cret@127.0.0.1:{port}/.well-known/openid-configuration?code=s3cret"
    auth = build_authenticator(Settings(data_dir=tmp_path, database_url=None, jwks_url=url))
    try:
        with capture_logs() as logs, pytest.raises(UnauthorizedError):
            await _create(auth, "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30.c2ln")
        failures = [e for e in logs if e["event"] == "signing key fetch failed"]
        assert failures
        assert failures[0]["url"] == f"http://127.0.0.1:{port}/.well-known/openid-configuration"
        assert "s3cret" not in json.dumps(logs, default=str)
    finally:
        await auth.close()


async def test_jwks_url_wins_over_a_key_file(
    tmp_path: Path, jwks_server: JwksServer, rsa_keys: list[RSAPrivateKey]
) -> None:
    a, b, _ = rsa_keys
    jwks_server.state.jwks = {"keys": [jwk(a, "key-a")]}
    path = tmp_path / "key.pem"
    path.write_bytes(_public_pem(b))
    auth = build_authenticator(
        Settings(data_dir=tmp_path, database_url=None, jwks_url=jwks_server.jwks_url, jwks_file=path)
    )
    try:
        assert (await _create(auth, sign(a, "key-a"))).org == "ttd"
        with pytest.raises(UnauthorizedError):
            await _create(auth, sign(b, "key-a"))
    finally:
        await auth.close()
