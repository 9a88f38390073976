"""Maskinporten access tokens by the JWT grant (RFC 7523), cached and renewed before they expire.

The grant is a short-lived JWT signed with RS256 by the client's key: either a key registered with
Maskinporten (named in the header by `kid`) or a business certificate (sent in the header as `x5c`, the
certificate chain). Its claims: `aud` = Maskinporten's issuer identifier, `iss` = the client id, `scope`
(space separated), optionally `resource` (audience restriction), `iat`, `exp` (at most 120 s later) and a
unique `jti`. It is posted form-encoded to the token endpoint
(`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<grant>`); the answer holds
`access_token`, `token_type`, `expires_in` and `scope`, or `error` and `error_description`
(raised as `MaskinportenError`).

Tokens are cached per (scope set, resource) and renewed `renew_margin` seconds before expiry; only one
refresh per key runs at a time (an `asyncio.Lock` in `AsyncMaskinportenClient`, a `threading.Lock` in
`MaskinportenClient`). Optionally a Maskinporten token is exchanged for an Altinn token
(`GET /authentication/api/v1/exchange/maskinporten` with the Maskinporten token as bearer).

Needs the `maskinporten` extra (PyJWT with cryptography). Neither tokens nor keys are ever logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

try:
    import jwt
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import pkcs12
    from jwt.algorithms import RSAAlgorithm
except ImportError as exc:  # pragma: no cover - depends on the installed extra
    raise ImportError(
        "Maskinporten support needs the 'maskinporten' extra: pip install 'altinn-notifications-client[maskinporten]'"
    ) from exc

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Maskinporten refuses grants that live longer than this (exp - iat).
MAX_GRANT_LIFETIME = 120
ALGORITHMS = ("RS256", "RS384", "RS512")


@dataclass(frozen=True)
class Environment:
    """Where a Maskinporten (and the matching Altinn platform) lives."""

    issuer: str
    token_endpoint: str
    altinn_exchange_url: str | None = None


PRODUCTION = Environment(
    issuer="https://maskinporten.no/",
    token_endpoint="https://maskinporten.no/token",
    altinn_exchange_url="https://platform.altinn.no/authentication/api/v1/exchange/maskinporten",
)
TEST = Environment(
    issuer="https://test.maskinporten.no/",
    token_endpoint="https://test.maskinporten.no/token",
    altinn_exchange_url="https://platform.tt02.altinn.no/authentication/api/v1/exchange/maskinporten",
)


class MaskinportenError(Exception):
    """Maskinporten (or the Altinn exchange) refused or failed: `error` (e.g. `invalid_grant`,
    `invalid_scope`, `unavailable`), `error_description` and the HTTP status when there was one."""

    def __init__(self, error: str, error_description: str | None = None, status_code: int | None = None):
        self.error = error
        self.error_description = error_description
        self.status_code = status_code
        detail = f": {error_description}" if error_description else ""
        super().__init__(f"{error}{detail}" + (f" (HTTP {status_code})" if status_code else ""))


KeyInput = RSAPrivateKey | bytes | str | Mapping[str, Any]


def load_private_key(key: KeyInput, password: bytes | None = None) -> RSAPrivateKey:
    """An RSA private key from a key object, PEM (bytes or str) or a private JWK (a mapping or JSON)."""
    if isinstance(key, RSAPrivateKey):
        return key
    loaded: object
    if isinstance(key, Mapping) or (isinstance(key, str) and key.lstrip().startswith("{")):
        jwk = json.dumps(dict(key)) if isinstance(key, Mapping) else key
        loaded = RSAAlgorithm.from_jwk(jwk)
    else:
        data = key.encode() if isinstance(key, str) else key
        loaded = serialization.load_pem_private_key(data, password=password)
    if not isinstance(loaded, RSAPrivateKey):
        raise ValueError("the Maskinporten key must be an RSA private key")
    return loaded


def _certificates(chain: Sequence[x509.Certificate | bytes | str]) -> list[x509.Certificate]:
    certificates: list[x509.Certificate] = []
    for item in chain:
        if isinstance(item, x509.Certificate):
            certificates.append(item)
        else:
            certificates.extend(
                x509.load_pem_x509_certificates(item.encode() if isinstance(item, str) else item)
            )
    return certificates


@dataclass(frozen=True)
class MaskinportenConfig:
    """A Maskinporten client: its id, its signing key, and how Maskinporten knows the key.

    Give `kid` for a key registered with the client, or `certificate_chain` (leaf first) for a business
    certificate, which is then sent as `x5c`. `renew_margin`: seconds before expiry at which a cached
    token is renewed (at most half its lifetime).
    """

    client_id: str
    private_key: RSAPrivateKey
    kid: str | None = None
    certificate_chain: tuple[x509.Certificate, ...] = ()
    environment: Environment = PRODUCTION
    algorithm: str = "RS256"
    grant_lifetime: int = MAX_GRANT_LIFETIME
    renew_margin: float = 30.0
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id is required")
        if (self.kid is None) == (not self.certificate_chain):
            raise ValueError(
                "give exactly one of kid (a registered key) or certificate_chain (a business certificate)"
            )
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        if not 0 < self.grant_lifetime <= MAX_GRANT_LIFETIME:
            raise ValueError(f"grant_lifetime must be 1..{MAX_GRANT_LIFETIME} seconds")

    @classmethod
    def with_key(
        cls,
        client_id: str,
        key: KeyInput,
        *,
        kid: str | None = None,
        password: bytes | None = None,
        **options: Any,
    ) -> MaskinportenConfig:
        """A client with a registered key: PEM, key object or private JWK (whose `kid` is used if none is given)."""
        if kid is None and isinstance(key, Mapping):
            kid = key.get("kid")
        if kid is None and isinstance(key, str) and key.lstrip().startswith("{"):
            kid = json.loads(key).get("kid")
        if not kid:
            raise ValueError("a registered key needs its kid")
        return cls(client_id=client_id, private_key=load_private_key(key, password), kid=kid, **options)

    @classmethod
    def with_certificate(
        cls,
        client_id: str,
        key: KeyInput,
        certificate_chain: Sequence[x509.Certificate | bytes | str],
        *,
        password: bytes | None = None,
        **options: Any,
    ) -> MaskinportenConfig:
        """A client authenticated by a business certificate (the chain, leaf first, PEM or objects)."""
        chain = tuple(_certificates(certificate_chain))
        return cls(
            client_id=client_id,
            private_key=load_private_key(key, password),
            certificate_chain=chain,
            **options,
        )

    @classmethod
    def from_pkcs12(
        cls, client_id: str, path: str | Path, password: bytes | None = None, **options: Any
    ) -> MaskinportenConfig:
        """A client authenticated by a business certificate kept in a PKCS#12 (.p12/.pfx) file."""
        key, certificate, extra = pkcs12.load_key_and_certificates(Path(path).read_bytes(), password)
        if not isinstance(key, RSAPrivateKey) or certificate is None:
            raise ValueError(f"{path} holds no RSA key with its certificate")
        return cls(client_id=client_id, private_key=key, certificate_chain=(certificate, *extra), **options)


def normalise_scopes(scopes: str | Sequence[str]) -> tuple[str, ...]:
    """Scopes as a sorted tuple without duplicates (the cache key), from a space-separated string or a list."""
    items = scopes.split() if isinstance(scopes, str) else [part for s in scopes for part in s.split()]
    if not items:
        raise ValueError("at least one scope is required")
    return tuple(sorted(set(items)))


def _resource_key(resource: str | Sequence[str] | None) -> tuple[str, ...]:
    if resource is None:
        return ()
    return (resource,) if isinstance(resource, str) else tuple(resource)


def build_grant(
    config: MaskinportenConfig,
    scopes: str | Sequence[str],
    resource: str | Sequence[str] | None = None,
    *,
    now: float | None = None,
) -> str:
    """The signed JWT grant for `scopes` (and `resource`), valid from now for `config.grant_lifetime` s."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "aud": config.environment.issuer,
        "iss": config.client_id,
        "scope": " ".join(normalise_scopes(scopes)),
        "iat": issued,
        "exp": issued + config.grant_lifetime,
        "jti": str(uuid.uuid4()),
    }
    resources = _resource_key(resource)
    if resources:
        claims["resource"] = resources[0] if len(resources) == 1 else list(resources)
    headers: dict[str, Any] = {"alg": config.algorithm}
    if config.kid is not None:
        headers["kid"] = config.kid
    else:
        # RFC 7517 §4.7: standard (not URL-safe) base64 of each certificate's DER, leaf first.
        headers["x5c"] = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for c in config.certificate_chain
        ]
    return jwt.encode(claims, config.private_key, algorithm=config.algorithm, headers=headers)


@dataclass(frozen=True)
class AccessToken:
    """An access token and when to stop using it (`renew_at`, monotonic clock)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    renew_at: float = field(repr=False)

    def __repr__(self) -> str:  # never show the token itself
        return (
            f"AccessToken(token_type={self.token_type!r}, expires_in={self.expires_in}, scope={self.scope!r})"
        )

    @property
    def fresh(self) -> bool:
        return time.monotonic() < self.renew_at


def _renew_at(lifetime: float, margin: float) -> float:
    return time.monotonic() + max(0.0, lifetime - min(margin, lifetime / 2))


def _error_of(response: httpx.Response) -> MaskinportenError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        return MaskinportenError(
            body["error"], description if isinstance(description, str) else None, response.status_code
        )
    return MaskinportenError(
        "server_error", "unexpected answer from the token endpoint", response.status_code
    )


def parse_token_response(response: httpx.Response, margin: float) -> AccessToken:
    """The token of a token endpoint's answer, or `MaskinportenError` with its `error`/`error_description`."""
    if response.status_code != 200:
        raise _error_of(response)
    try:
        body = response.json()
        token, expires_in = body["access_token"], int(body["expires_in"])
    except (ValueError, KeyError, TypeError):
        raise MaskinportenError(
            "server_error", "the token answer lacks access_token or expires_in", 200
        ) from None
    if not isinstance(token, str) or not token:
        raise MaskinportenError("server_error", "the token answer has an empty access_token", 200)
    return AccessToken(
        access_token=token,
        token_type=str(body.get("token_type", "Bearer")),
        expires_in=expires_in,
        scope=str(body.get("scope", "")),
        renew_at=_renew_at(expires_in, margin),
    )


def _jwt_lifetime(token: str) -> float | None:
    """Seconds until the `exp` of a JWT (read, not verified: only to know when to renew it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - time.time()
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None


def parse_exchange_response(response: httpx.Response, fallback_lifetime: float, margin: float) -> AccessToken:
    """The Altinn token of an exchange answer: the token as plain text (or as a JSON string)."""
    if response.status_code != 200:
        raise MaskinportenError(
            "exchange_failed", "Altinn did not exchange the Maskinporten token", response.status_code
        )
    token = response.text.strip()
    if token.startswith('"'):
        try:
            token = str(json.loads(token))
        except ValueError:
            token = token.strip('"')
    if not token:
        raise MaskinportenError("exchange_failed", "Altinn answered an empty token", 200)
    lifetime = _jwt_lifetime(token)
    lifetime = fallback_lifetime if lifetime is None else lifetime
    return AccessToken(
        access_token=token,
        token_type="Bearer",
        expires_in=max(0, int(lifetime)),
        scope="",
        renew_at=_renew_at(lifetime, margin),
    )


def _token_request(
    config: MaskinportenConfig, scopes: tuple[str, ...], resource: tuple[str, ...]
) -> httpx.Request:
    grant = build_grant(config, scopes, resource or None)
    return httpx.Request(
        "POST",
        config.environment.token_endpoint,
        data={"grant_type": GRANT_TYPE, "assertion": grant},
        headers={"Accept": "application/json"},
    )


def _exchange_request(url: str, maskinporten_token: str) -> httpx.Request:
    return httpx.Request(
        "GET", url, headers={"Authorization": f"Bearer {maskinporten_token}", "Accept": "*/*"}
    )


def _exchange_url(config: MaskinportenConfig, url: str | None) -> str:
    chosen = url or config.environment.altinn_exchange_url
    if not chosen:
        raise ValueError("no Altinn exchange URL configured for this environment")
    return chosen


CacheKey = tuple[str, tuple[str, ...], tuple[str, ...]]


class AsyncMaskinportenClient:
    """Maskinporten tokens for asyncio code. Share one per client id; close it (or use `async with`)."""

    def __init__(self, config: MaskinportenConfig, http: httpx.AsyncClient | None = None):
        self.config = config
        self._http = http or httpx.AsyncClient(timeout=config.timeout)
        self._owns_http = http is None
        self._cache: dict[CacheKey, AccessToken] = {}
        self._locks: dict[CacheKey, asyncio.Lock] = {}

    async def __aenter__(self) -> AsyncMaskinportenClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def forget(self) -> None:
        """Drop the cached tokens (e.g. after an API refused one): the next call fetches new ones."""
        self._cache.clear()

    async def _cached(self, key: CacheKey, fetch: Callable[[], Awaitable[AccessToken]]) -> AccessToken:
        token = self._cache.get(key)
        if token is not None and token.fresh:
            return token
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._cache.get(key)  # another task may have renewed it while this one waited
            if token is not None and token.fresh:
                return token
            token = await fetch()
            self._cache[key] = token
            return token

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.HTTPError as exc:
            raise MaskinportenError(
                "unavailable", f"{type(exc).__name__} calling {request.url.host}"
            ) from exc

    async def token(
        self, scopes: str | Sequence[str], resource: str | Sequence[str] | None = None
    ) -> AccessToken:
        """A Maskinporten token for `scopes` (cached until shortly before it expires)."""
        key: CacheKey = ("maskinporten", normalise_scopes(scopes), _resource_key(resource))

        async def fetch() -> AccessToken:
            response = await self._send(_token_request(self.config, key[1], key[2]))
            return parse_token_response(response, self.config.renew_margin)

        return await self._cached(key, fetch)

    async def access_token(
        self, scopes: str | Sequence[str], resource: str | Sequence[str] | None = None
    ) -> str:
        return (await self.token(scopes, resource)).access_token

    async def altinn_token(
        self,
        scopes: str | Sequence[str],
        resource: str | Sequence[str] | None = None,
        *,
        exchange_url: str | None = None,
    ) -> str:
        """A Maskinporten token for `scopes` exchanged for an Altinn token (cached by its own `exp`)."""
        url = _exchange_url(self.config, exchange_url)
        key: CacheKey = (url, normalise_scopes(scopes), _resource_key(resource))

        async def fetch() -> AccessToken:
            source = await self.token(scopes, resource)
            response = await self._send(_exchange_request(url, source.access_token))
            return parse_exchange_response(response, source.expires_in, self.config.renew_margin)

        return (await self._cached(key, fetch)).access_token


class MaskinportenClient:
    """Maskinporten tokens for threaded code: the same as `AsyncMaskinportenClient`, blocking."""

    def __init__(self, config: MaskinportenConfig, http: httpx.Client | None = None):
        self.config = config
        self._http = http or httpx.Client(timeout=config.timeout)
        self._owns_http = http is None
        self._cache: dict[CacheKey, AccessToken] = {}
        self._locks: dict[CacheKey, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def __enter__(self) -> MaskinportenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def forget(self) -> None:
        """Drop the cached tokens (e.g. after an API refused one): the next call fetches new ones."""
        self._cache.clear()

    def _cached(self, key: CacheKey, fetch: Callable[[], AccessToken]) -> AccessToken:
        token = self._cache.get(key)
        if token is not None and token.fresh:
            return token
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            token = self._cache.get(key)
            if token is not None and token.fresh:
                return token
            token = fetch()
            self._cache[key] = token
            return token

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.HTTPError as exc:
            raise MaskinportenError(
                "unavailable", f"{type(exc).__name__} calling {request.url.host}"
            ) from exc

    def token(self, scopes: str | Sequence[str], resource: str | Sequence[str] | None = None) -> AccessToken:
        key: CacheKey = ("maskinporten", normalise_scopes(scopes), _resource_key(resource))
        return self._cached(
            key,
            lambda: parse_token_response(
                self._send(_token_request(self.config, key[1], key[2])), self.config.renew_margin
            ),
        )

    def access_token(self, scopes: str | Sequence[str], resource: str | Sequence[str] | None = None) -> str:
        return self.token(scopes, resource).access_token

    def altinn_token(
        self,
        scopes: str | Sequence[str],
        resource: str | Sequence[str] | None = None,
        *,
        exchange_url: str | None = None,
    ) -> str:
        url = _exchange_url(self.config, exchange_url)
        key: CacheKey = (url, normalise_scopes(scopes), _resource_key(resource))

        def fetch() -> AccessToken:
            source = self.token(scopes, resource)
            response = self._send(_exchange_request(url, source.access_token))
            return parse_exchange_response(response, source.expires_in, self.config.renew_margin)

        return self._cached(key, fetch).access_token
