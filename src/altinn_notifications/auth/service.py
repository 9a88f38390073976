"""Token validation, policy `CreateScopeOrPlatfomAccessToken`, and creator (org) extraction (docs/compatibility.md C2).

- Bearer JWT, RS256 only, checked against the trusted keys (see `keys.py`); `exp` required and
  enforced with zero clock skew, `nbf` honoured; `iss`/`aud` checked only when configured.
- Scopes: claim `urn:altinn:scope`, else `scope`; a space-separated string (a JSON list also works).
- Authorised when the scopes hold the required one, or a valid `PlatformAccessToken` is present.
- Org: the `iss` of the platform access token when one is present, else claim `urn:altinn:org`.

Cost per request: the header is parsed once by hand to pick the key (PyJWT then parses and checks the
whole token itself), and a token already verified is remembered (bounded, by SHA-256 of the token) so
that a client re-using its token costs a hash, a clock read and a key lookup; the remembered entry is
used only while the token is unexpired and its signing key is still the trusted one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from altinn_notifications.auth.dev import dev_key_id, ensure_dev_key
from altinn_notifications.auth.keys import (
    FileKeySet,
    KeyDocumentError,
    KeyLookupError,
    KeySet,
    KeysUnavailableError,
    RemoteKeySet,
    StaticKeySet,
)
from altinn_notifications.auth.models import Caller
from altinn_notifications.config import Settings, SettingsError
from altinn_notifications.errors import ForbiddenError, UnauthorizedError

log = structlog.get_logger(__name__)

ALGORITHMS = ["RS256"]
SCOPE_CLAIM = "urn:altinn:scope"
SCOPE_FALLBACK_CLAIM = "scope"
ORG_CLAIM = "urn:altinn:org"
MAX_TOKEN_LENGTH = 16_384
VERIFIED_CACHE_SIZE = 1024


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """The token's scopes: `urn:altinn:scope`, falling back to `scope`; space-separated or a list."""
    value = claims.get(SCOPE_CLAIM)
    if value is None:
        value = claims.get(SCOPE_FALLBACK_CLAIM)
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(part for item in value if isinstance(item, str) for part in item.split())
    return frozenset()


def _present(token: str | None) -> str | None:
    if token is None:
        return None
    token = token.strip()
    return token or None


def _read_header(token: str) -> dict[str, Any]:
    """The JOSE header, read only to choose the key; PyJWT re-reads and checks the whole token."""
    head, dot, _ = token.partition(".")
    if not dot:
        raise ValueError("not a JWS")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    return header


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed full validation, and what its reuse depends on."""

    claims: dict[str, Any]
    kid: str | None
    key: RSAPublicKey
    exp: int


class Authenticator:
    """Validates the request's tokens and answers who the caller is."""

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        verified_cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._verified: dict[tuple[bool, bytes], _Verified] = {}
        self._verified_cache_size = verified_cache_size
        # iat is not checked (the reference does not; a skewed issuer clock must not reject tokens).
        self._bearer_decoder = jwt.PyJWT(
            {
                "require": ["exp", *(["iss"] if issuer else []), *(["aud"] if audience else [])],
                "verify_iat": False,
                "verify_iss": issuer is not None,
                "verify_aud": audience is not None,
            }
        )
        # A platform access token's issuer is the app owner's org, so `jwt_issuer` does not apply.
        self._platform_decoder = jwt.PyJWT(
            {"require": ["exp"], "verify_iat": False, "verify_iss": False, "verify_aud": False}
        )

    async def authenticate(
        self, bearer_token: str | None, platform_token: str | None, *, required_scope: str
    ) -> Caller:
        bearer_token = _present(bearer_token)
        platform_token = _present(platform_token)
        if bearer_token is None and platform_token is None:
            raise UnauthorizedError("no token")

        bearer_claims = await self._decode(bearer_token, platform=False) if bearer_token else None
        platform_claims = await self._decode(platform_token, platform=True) if platform_token else None

        scopes = scopes_of(bearer_claims) if bearer_claims is not None else frozenset()
        if required_scope not in scopes and platform_claims is None:
            raise ForbiddenError("required scope missing")

        if platform_claims is not None:
            org = platform_claims.get("iss")
        else:
            org = bearer_claims.get(ORG_CLAIM) if bearer_claims is not None else None
        if not isinstance(org, str) or not org.strip():
            raise ForbiddenError("no org")
        return Caller(org=org, scopes=scopes, via_platform_token=platform_claims is not None)

    async def _decode(self, token: str, *, platform: bool) -> dict[str, Any]:
        kind = "platform access token" if platform else "bearer token"
        if len(token) > MAX_TOKEN_LENGTH:
            raise UnauthorizedError(f"{kind} too long")
        cache_key = (platform, hashlib.sha256(token.encode()).digest())
        seen = self._verified.get(cache_key)
        if seen is not None:
            # Same rule as PyJWT with zero leeway: expired once exp <= now.
            if seen.exp > time.time():
                try:
                    if await self._keys.get(seen.kid) is seen.key:
                        return seen.claims
                except KeyLookupError:
                    pass
            del self._verified[cache_key]  # validate afresh, which gives the precise failure
        try:
            header = _read_header(token)
        except (ValueError, binascii.Error):
            log.info("token rejected", token_kind=kind, reason="malformed")
            raise UnauthorizedError(f"{kind} malformed") from None
        # Checked before any key lookup, so forged tokens cannot trigger key refreshes.
        if header.get("alg") not in ALGORITHMS:
            log.info("token rejected", token_kind=kind, reason="algorithm not allowed")
            raise UnauthorizedError(f"{kind} algorithm not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            log.info("token rejected", token_kind=kind, reason="malformed kid")
            raise UnauthorizedError(f"{kind} kid malformed")
        try:
            key: RSAPublicKey = await self._keys.get(kid)
        except KeysUnavailableError:
            raise UnauthorizedError("signing keys unavailable") from None
        except KeyLookupError:
            log.info("token rejected", token_kind=kind, reason="unknown signing key")
            raise UnauthorizedError(f"{kind} signed with an unknown key") from None
        decoder = self._platform_decoder if platform else self._bearer_decoder
        try:
            claims: dict[str, Any] = decoder.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=None if platform else self._issuer,
                audience=None if platform else self._audience,
                leeway=0,
            )
        except jwt.PyJWTError as exc:
            log.info("token rejected", token_kind=kind, reason=type(exc).__name__)
            raise UnauthorizedError(f"{kind} invalid: {type(exc).__name__}") from None
        self._remember(cache_key, _Verified(claims=claims, kid=kid, key=key, exp=int(claims["exp"])))
        return claims

    def _remember(self, cache_key: tuple[bool, bytes], verified: _Verified) -> None:
        if self._verified_cache_size <= 0:
            return
        while len(self._verified) >= self._verified_cache_size:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        self._verified[cache_key] = verified

    async def close(self) -> None:
        await self._keys.close()


def build_key_set(settings: Settings) -> KeySet:
    """The configured key source: JWKS URL, else key file, else the dev key in the data dir."""
    if settings.jwks_url is not None:
        return RemoteKeySet(str(settings.jwks_url), cache_seconds=settings.jwks_cache_seconds)
    if settings.jwks_file is not None:
        try:
            return FileKeySet(settings.jwks_file)
        except (OSError, KeyDocumentError) as exc:
            raise SettingsError(f"NOTIFICATIONS_JWKS_FILE: {exc}") from None
    key = ensure_dev_key(settings.dev_key_path)
    return StaticKeySet.of({dev_key_id(key): key.public_key()})


def build_authenticator(settings: Settings) -> Authenticator:
    return Authenticator(build_key_set(settings), issuer=settings.jwt_issuer, audience=settings.jwt_audience)
