"""Token validation, policy `CreateScopeOrPlatfomAccessToken`, and creator (org) extraction (docs/compatibility.md C2).

- Bearer JWT, RS256 only, checked against the trusted keys (see `keys.py`); `exp` required and
  enforced with zero clock skew, `nbf` honoured; `iss`/`aud` checked only when configured.
- Scopes: claim `urn:altinn:scope`, else `scope`; a space-separated string (a JSON list also works).
- Authorised when the scopes hold the required one, or a valid `PlatformAccessToken` is present.
- A platform access token is checked only against the keys of its own issuer (`platform_keys.py`), never
  the bearer keys; it needs `exp` and `urn:altinn:app`, and an allowed issuer. Without a configured
  platform trust the header is refused (401).
- Org: the `iss` of the platform access token when one is present, else claim `urn:altinn:org`.
- Trusted issuers (`issuers.py`, `NOTIFICATIONS_TOKEN_ISSUERS`): a bearer token whose `iss` names one is
  checked against that issuer's keys and audience only; a Maskinporten issuer's tokens give their scopes
  in `scope` and the org through their `consumer`. A token naming none of them falls back to the single
  key set above when one is configured (a JWKS URL or file), else it is refused.

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
from altinn_notifications.auth.issuers import (
    IssuerSetupError,
    TokenIssuers,
    TrustedIssuer,
    maskinporten_scopes,
)
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
from altinn_notifications.auth.platform_keys import (
    PlatformTokenTrust,
    PlatformTrustError,
    build_platform_trust,
)
from altinn_notifications.config import Settings, SettingsError
from altinn_notifications.errors import ForbiddenError, UnauthorizedError

log = structlog.get_logger(__name__)

ALGORITHMS = ["RS256"]
SCOPE_CLAIM = "urn:altinn:scope"
SCOPE_FALLBACK_CLAIM = "scope"
ORG_CLAIM = "urn:altinn:org"
APP_CLAIM = "urn:altinn:app"
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


def _read_part(part: str, what: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _read_header(token: str) -> dict[str, Any]:
    """The JOSE header, read only to choose the key; PyJWT re-reads and checks the whole token."""
    head, dot, _ = token.partition(".")
    if not dot:
        raise ValueError("not a JWS")
    return _read_part(head, "header")


def _read_issuer(token: str) -> str:
    """The unverified `iss` of a token, read only to choose its issuer's keys; the signature check that
    follows (with the issuer then required to be this one) binds it."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    issuer = _read_part(parts[1], "payload").get("iss")
    if not isinstance(issuer, str) or not issuer.strip():
        raise ValueError("no issuer")
    return issuer


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that passed full validation, and what its reuse depends on."""

    claims: dict[str, Any]
    kid: str | None
    key: RSAPublicKey
    exp: int
    keys: KeySet | None = None  # the key set that vouched for a bearer token
    issuer: TrustedIssuer | None = None  # the trusted issuer that did, if any


class Authenticator:
    """Validates the request's tokens and answers who the caller is."""

    def __init__(
        self,
        keys: KeySet | None,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        platform_trust: PlatformTokenTrust | None = None,
        issuers: TokenIssuers | None = None,
        verified_cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        if keys is None and issuers is None:
            raise ValueError("a key set or trusted issuers are required")
        self._keys = keys
        self._issuers = issuers
        self._platform_trust = platform_trust
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
        # A platform access token's issuer is the app owner's org, so `jwt_issuer` does not apply: the
        # issuer is the one whose keys verified it.
        self._platform_decoder = jwt.PyJWT(
            {
                "require": ["exp", "iss", APP_CLAIM],
                "verify_iat": False,
                "verify_iss": True,
                "verify_aud": False,
            }
        )

    async def authenticate(
        self, bearer_token: str | None, platform_token: str | None, *, required_scope: str
    ) -> Caller:
        bearer_token = _present(bearer_token)
        platform_token = _present(platform_token)
        if bearer_token is None and platform_token is None:
            raise UnauthorizedError("no token")

        bearer = await self._decode(bearer_token) if bearer_token else None
        platform_claims = await self._decode_platform(platform_token) if platform_token else None
        from_maskinporten = (
            bearer is not None and bearer.issuer is not None and bearer.issuer.claims == "maskinporten"
        )

        scopes: frozenset[str] = frozenset()
        if bearer is not None:
            scopes = maskinporten_scopes(bearer.claims) if from_maskinporten else scopes_of(bearer.claims)
        if required_scope not in scopes and platform_claims is None:
            raise ForbiddenError("required scope missing")

        org: object
        if platform_claims is not None:
            org = platform_claims.get("iss")
        elif bearer is not None and from_maskinporten:
            assert self._issuers is not None  # a trusted issuer vouched for the token
            org = self._issuers.org_of(bearer.claims)
        else:
            org = bearer.claims.get(ORG_CLAIM) if bearer is not None else None
        if not isinstance(org, str) or not org.strip():
            raise ForbiddenError("no org")
        return Caller(org=org, scopes=scopes, via_platform_token=platform_claims is not None)

    def _reuse(self, cache_key: tuple[bool, bytes]) -> _Verified | None:
        """A remembered verification of this token while it is unexpired (else forgotten)."""
        seen = self._verified.get(cache_key)
        if seen is None:
            return None
        # Same rule as PyJWT with zero leeway: expired once exp <= now.
        if seen.exp > time.time():
            return seen
        del self._verified[cache_key]
        return None

    async def _decode(self, token: str) -> _Verified:
        kind = "bearer token"
        if len(token) > MAX_TOKEN_LENGTH:
            raise UnauthorizedError(f"{kind} too long")
        cache_key = (False, hashlib.sha256(token.encode()).digest())
        seen = self._reuse(cache_key)
        if seen is not None and seen.keys is not None:
            try:
                if await seen.keys.get(seen.kid) is seen.key:
                    return seen
            except KeyLookupError:
                pass
            del self._verified[cache_key]  # validate afresh, which gives the precise failure
        kid = self._checked_kid(token, kind)
        trusted = self._trusted_issuer(token)
        keys = trusted.keys if trusted is not None else self._keys
        if keys is None:
            log.info("token rejected", token_kind=kind, reason="issuer not trusted")
            raise UnauthorizedError(f"{kind} from an untrusted issuer")
        try:
            key: RSAPublicKey = await keys.get(kid)
        except KeysUnavailableError:
            raise UnauthorizedError("signing keys unavailable") from None
        except KeyLookupError:
            log.info("token rejected", token_kind=kind, reason="unknown signing key")
            raise UnauthorizedError(f"{kind} signed with an unknown key") from None
        try:
            if trusted is not None:
                claims: dict[str, Any] = trusted.decoder.decode(
                    token,
                    key,
                    algorithms=ALGORITHMS,
                    issuer=trusted.issuer,
                    audience=trusted.audience,
                    leeway=0,
                )
            else:
                claims = self._bearer_decoder.decode(
                    token, key, algorithms=ALGORITHMS, issuer=self._issuer, audience=self._audience, leeway=0
                )
        except jwt.PyJWTError as exc:
            log.info("token rejected", token_kind=kind, reason=type(exc).__name__)
            raise UnauthorizedError(f"{kind} invalid: {type(exc).__name__}") from None
        verified = _Verified(
            claims=claims, kid=kid, key=key, exp=int(claims["exp"]), keys=keys, issuer=trusted
        )
        self._remember(cache_key, verified)
        return verified

    def _trusted_issuer(self, token: str) -> TrustedIssuer | None:
        """The configured issuer the token names, if any (None: the single key set decides)."""
        if self._issuers is None:
            return None
        try:
            issuer = _read_issuer(token)
        except (ValueError, binascii.Error):
            issuer = ""
        return self._issuers.find(issuer)

    async def _decode_platform(self, token: str) -> dict[str, Any]:
        kind = "platform access token"
        trust = self._platform_trust
        if trust is None:
            log.info("token rejected", token_kind=kind, reason="platform access tokens not trusted")
            raise UnauthorizedError(f"{kind} not accepted: no platform token issuers configured")
        if len(token) > MAX_TOKEN_LENGTH:
            raise UnauthorizedError(f"{kind} too long")
        cache_key = (True, hashlib.sha256(token.encode()).digest())
        seen = self._reuse(cache_key)
        if seen is not None:
            try:
                current = await trust.keys_for(seen.claims["iss"], seen.kid)
                if any(k is seen.key for k in current):
                    return seen.claims
            except KeyLookupError:
                pass
            del self._verified[cache_key]
        kid = self._checked_kid(token, kind)
        try:
            issuer = _read_issuer(token)
        except (ValueError, binascii.Error):
            log.info("token rejected", token_kind=kind, reason="no issuer")
            raise UnauthorizedError(f"{kind} has no issuer") from None
        # Only the issuer's own keys: another issuer's key (or a bearer key) does not vouch for it.
        try:
            keys = await trust.keys_for(issuer, kid)
        except KeysUnavailableError:
            raise UnauthorizedError("platform signing keys unavailable") from None
        except KeyLookupError:
            log.info("token rejected", token_kind=kind, reason="issuer not trusted")
            raise UnauthorizedError(f"{kind} from an untrusted issuer") from None
        failure: jwt.PyJWTError | None = None
        for key in keys:
            try:
                claims: dict[str, Any] = self._platform_decoder.decode(
                    token, key, algorithms=ALGORITHMS, issuer=issuer, leeway=0
                )
            except jwt.InvalidSignatureError as exc:
                failure = exc  # perhaps the issuer's other key
                continue
            except jwt.PyJWTError as exc:
                failure = exc
                break
            app = claims.get(APP_CLAIM)
            if not isinstance(app, str) or not app.strip():
                log.info("token rejected", token_kind=kind, reason="no app")
                raise UnauthorizedError(f"{kind} names no app")
            self._remember(cache_key, _Verified(claims=claims, kid=kid, key=key, exp=int(claims["exp"])))
            return claims
        reason = type(failure).__name__ if failure is not None else "no key"
        log.info("token rejected", token_kind=kind, reason=reason)
        raise UnauthorizedError(f"{kind} invalid: {reason}")

    @staticmethod
    def _checked_kid(token: str, kind: str) -> str | None:
        """The header's kid, after the checks made before any key lookup (so forged tokens cannot
        trigger key refreshes)."""
        try:
            header = _read_header(token)
        except (ValueError, binascii.Error):
            log.info("token rejected", token_kind=kind, reason="malformed")
            raise UnauthorizedError(f"{kind} malformed") from None
        if header.get("alg") not in ALGORITHMS:
            log.info("token rejected", token_kind=kind, reason="algorithm not allowed")
            raise UnauthorizedError(f"{kind} algorithm not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            log.info("token rejected", token_kind=kind, reason="malformed kid")
            raise UnauthorizedError(f"{kind} kid malformed")
        return kid

    def _remember(self, cache_key: tuple[bool, bytes], verified: _Verified) -> None:
        if self._verified_cache_size <= 0:
            return
        while len(self._verified) >= self._verified_cache_size:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        self._verified[cache_key] = verified

    async def close(self) -> None:
        if self._keys is not None:
            await self._keys.close()
        if self._issuers is not None:
            await self._issuers.close()
        if self._platform_trust is not None:
            await self._platform_trust.close()


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


def build_platform_token_trust(settings: Settings) -> PlatformTokenTrust | None:
    """The issuers of incoming platform access tokens and their keys; None (header refused) by default."""
    try:
        return build_platform_trust(
            keys_dir=settings.platform_token_keys_dir,
            issuers=settings.platform_token_issuers,
            allowed_issuers=settings.platform_token_allowed_issuers,
            cache_seconds=settings.jwks_cache_seconds,
        )
    except PlatformTrustError as exc:
        raise SettingsError(f"NOTIFICATIONS_PLATFORM_TOKEN_KEYS_DIR / _ISSUERS: {exc}") from None


def build_token_issuers(settings: Settings) -> TokenIssuers | None:
    """The trusted bearer-token issuers (Maskinporten, Altinn), or None when none is configured."""
    if not settings.token_issuers:
        return None
    try:
        return TokenIssuers.build(
            settings.token_issuers,
            owners_file=settings.service_owners_file,
            cache_seconds=settings.jwks_cache_seconds,
        )
    except IssuerSetupError as exc:
        raise SettingsError(f"NOTIFICATIONS_TOKEN_ISSUERS / _SERVICE_OWNERS_FILE: {exc}") from None


def build_authenticator(settings: Settings) -> Authenticator:
    """With trusted issuers configured, the dev key is no longer trusted: only a configured JWKS URL or
    file still vouches for tokens naming none of the issuers."""
    issuers = build_token_issuers(settings)
    keys = build_key_set(settings) if issuers is None or not settings.uses_dev_key else None
    return Authenticator(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        platform_trust=build_platform_token_trust(settings),
        issuers=issuers,
    )
