"""The development signing key and a token issuer for it.

With no JWKS URL or key file configured, the service trusts one RSA key kept in the data dir. The same
key signs the tokens that `altinn-notifications token` prints and that the tests use, shaped like the
reference's test tokens (docs/compatibility.md C2).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from altinn_notifications.auth.keys import jwk_thumbprint
from altinn_notifications.config import Settings

DEV_ISSUER = "altinn-notifications-dev"
DEV_KEY_BITS = 2048

# Parsed keys by file identity, so that minting many tokens does not re-parse the PEM each time.
_cache_lock = threading.Lock()
_key_cache: dict[tuple[str, int, int, int], RSAPrivateKey] = {}


def dev_key_id(key: RSAPrivateKey | RSAPublicKey) -> str:
    """A stable key id: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key."""
    return jwk_thumbprint(key)


def _load_private_key(path: Path) -> RSAPrivateKey:
    stat = path.stat()
    identity = (str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _key_cache.get(identity)
    if cached is not None:
        return cached
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    with _cache_lock:
        _key_cache[identity] = key
    return key


def ensure_dev_key(path: Path) -> RSAPrivateKey:
    """Load the RSA signing key at `path`, generating it (2048 bits, PEM, mode 0600) if absent.

    Safe when several processes start at once: the key is written to a private temporary file and
    hard-linked into place, which fails if another process got there first; the loser then loads the
    winner's key, so every process ends up trusting and signing with the same key.
    """
    if path.exists():
        return _load_private_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=DEV_KEY_BITS)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process already wrote
        except FileExistsError:
            pass
        except OSError:
            # A file system without hard links: fall back to an atomic rename (last writer wins);
            # whatever ends up in place is what we load below.
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _load_private_key(path)


def mint_token(
    settings: Settings,
    *,
    org: str | None,
    scopes: list[str] | None,
    ttl_seconds: int = 3600,
    extra_claims: dict[str, Any] | None = None,
    issuer: str | None = None,
) -> str:
    """A token signed with the dev key, shaped like the reference's test tokens.

    `org` and `scopes` are left out of the token when None. `ttl_seconds` may be negative (an expired
    token). The issuer defaults to the configured `jwt_issuer`, else `altinn-notifications-dev`; `aud`
    is set to the configured `jwt_audience` when there is one. `extra_claims` override everything; a
    None value removes that claim (e.g. `{"exp": None}` for a token without expiry, to test rejection).
    """
    key = ensure_dev_key(settings.dev_key_path)
    now = int(time.time())
    claims: dict[str, Any] = {}
    if org is not None:
        claims["urn:altinn:org"] = org
    if scopes is not None:
        claims["urn:altinn:scope"] = " ".join(scopes)
    claims["iss"] = issuer if issuer is not None else (settings.jwt_issuer or DEV_ISSUER)
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    claims["iat"] = now
    claims["nbf"] = now
    claims["exp"] = now + ttl_seconds
    return _sign(key, claims, extra_claims)


def mint_platform_token(
    key: RSAPrivateKey,
    *,
    issuer: str,
    app: str,
    ttl_seconds: int = 300,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A platform access token of `issuer`'s app `app`, signed with `key` (one of the issuer's platform
    keys). `extra_claims` override the claims; a None value removes that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "urn:altinn:app": app,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
    }
    return _sign(key, claims, extra_claims)


def dev_platform_key(settings: Settings, issuer: str, *, create: bool) -> RSAPrivateKey:
    """The private platform key `<issuer>.pem` in `NOTIFICATIONS_PLATFORM_TOKEN_KEYS_DIR` (development only),
    generated there when absent and `create` is set. Raises ValueError when it cannot be had."""
    directory = settings.platform_token_keys_dir
    if directory is None:
        raise ValueError("NOTIFICATIONS_PLATFORM_TOKEN_KEYS_DIR is not set: no platform issuer is trusted")
    if not issuer or "/" in issuer or issuer.startswith("."):
        raise ValueError(f"not an issuer name: {issuer!r}")
    path = directory / f"{issuer}.pem"
    if not path.exists() and not create:
        raise ValueError(f"{path} does not exist (pass --create-key to generate it)")
    try:
        return ensure_dev_key(path)
    except (TypeError, ValueError):
        raise ValueError(f"{path} does not hold an unencrypted RSA private key") from None


def _sign(key: RSAPrivateKey, claims: dict[str, Any], overrides: dict[str, Any] | None) -> str:
    """RS256 with the key's id; `overrides` replace claims, a None value removes that claim."""
    for name, value in (overrides or {}).items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": dev_key_id(key)})
