"""Trusted token-signing keys: from an OpenID configuration / JWKS URL, a local file, or the dev key.

Every source answers one question, `await keys.get(kid)`: the RSA public key to check a token with.
Parsed key objects are kept by kid, so a request whose kid is known costs a dictionary lookup. The URL
source refreshes after `jwks_cache_seconds`, and once (rate-limited) when a token names an unknown kid,
which is how a key rotation is picked up. Key material and tokens are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey, RSAPublicNumbers

log = structlog.get_logger(__name__)

DEFAULT_MIN_REFRESH_SECONDS = 10.0
DEFAULT_FAILURE_BACKOFF_SECONDS = 1.0
DEFAULT_FETCH_TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 1_000_000


class KeyLookupError(Exception):
    """No trusted key for a token (base class)."""


class UnknownKeyError(KeyLookupError):
    """The token's kid is not among the trusted keys."""


class KeysUnavailableError(KeyLookupError):
    """The trusted keys could not be obtained (fetch failure and nothing cached)."""


class KeyDocumentError(ValueError):
    """A JWKS / OpenID configuration / PEM document could not be used."""


class KeySet(Protocol):
    async def get(self, kid: str | None) -> RSAPublicKey:
        """The key for `kid`; raises `UnknownKeyError` or `KeysUnavailableError`."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class KeyIndex:
    """Parsed public keys by kid, plus any keys that came without one (a PEM file)."""

    by_kid: Mapping[str, RSAPublicKey] = field(default_factory=dict)
    anonymous: tuple[RSAPublicKey, ...] = ()

    def __len__(self) -> int:
        return len(self.by_kid) + len(self.anonymous)

    def find(self, kid: str | None) -> RSAPublicKey | None:
        if kid is not None:
            key = self.by_kid.get(kid)
            if key is not None:
                return key
        if len(self.anonymous) == 1:
            # A single key without a kid (a PEM file) is the key, whatever kid the token names.
            return self.anonymous[0]
        if kid is None and len(self) == 1:
            return next(iter(self.by_kid.values()))
        return None


# --- parsing ---------------------------------------------------------------------------------------


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwk_thumbprint(key: RSAPublicKey | RSAPrivateKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of an RSA key's public part."""
    public = key.public_key() if isinstance(key, RSAPrivateKey) else key
    numbers = public.public_numbers()
    # RFC 7638: only the required members, in lexicographic order, no whitespace.
    canonical = f'{{"e":"{_b64url_uint(numbers.e)}","kty":"RSA","n":"{_b64url_uint(numbers.n)}"}}'
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _b64url_int(value: object, name: str) -> int:
    if not isinstance(value, str) or not value:
        raise KeyDocumentError(f"RSA JWK member {name!r} missing")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyDocumentError(f"RSA JWK member {name!r} is not base64url") from exc
    return int.from_bytes(raw, "big")


def _public_key_from_der_certificate(value: object) -> RSAPublicKey:
    if not isinstance(value, str):
        raise KeyDocumentError("x5c entry is not a string")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(value))
    except (binascii.Error, ValueError) as exc:
        raise KeyDocumentError("x5c entry is not a DER certificate") from exc
    public = cert.public_key()
    if not isinstance(public, RSAPublicKey):
        raise KeyDocumentError("x5c certificate does not hold an RSA key")
    return public


def rsa_key_from_jwk(jwk: Mapping[str, Any]) -> RSAPublicKey:
    """The RSA public key of one JWK (from `n`/`e`, or else its first `x5c` certificate)."""
    if jwk.get("kty") != "RSA":
        raise KeyDocumentError("not an RSA key")
    if "n" in jwk or "e" in jwk:
        numbers = RSAPublicNumbers(_b64url_int(jwk.get("e"), "e"), _b64url_int(jwk.get("n"), "n"))
        try:
            return numbers.public_key()
        except ValueError as exc:
            raise KeyDocumentError("invalid RSA public numbers") from exc
    x5c = jwk.get("x5c")
    if isinstance(x5c, list) and x5c:
        return _public_key_from_der_certificate(x5c[0])
    raise KeyDocumentError("RSA JWK has neither n/e nor x5c")


def index_from_jwks(document: object) -> KeyIndex:
    """Index the usable signing keys of a JWKS document (`{"keys": [...]}`).

    Keys that are not RSA, are marked for encryption (`use: enc`), or are malformed are skipped; a
    document with no usable key at all is an error.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise KeyDocumentError("not a JWKS document (no 'keys' list)")
    by_kid: dict[str, RSAPublicKey] = {}
    anonymous: list[RSAPublicKey] = []
    skipped = 0
    for jwk in document["keys"]:
        if not isinstance(jwk, Mapping) or jwk.get("use", "sig") != "sig":
            skipped += 1
            continue
        try:
            key = rsa_key_from_jwk(jwk)
        except KeyDocumentError:
            skipped += 1
            continue
        kid = jwk.get("kid")
        if isinstance(kid, str) and kid:
            by_kid[kid] = key
        else:
            anonymous.append(key)
    if not by_kid and not anonymous:
        raise KeyDocumentError("JWKS holds no usable RSA signing key")
    if skipped:
        log.debug("jwks keys skipped", skipped=skipped)
    return KeyIndex(by_kid=by_kid, anonymous=tuple(anonymous))


def _public_keys_from_pem(data: bytes) -> list[RSAPublicKey]:
    """RSA public keys from PEM blocks: public keys, certificates, or (public part of) private keys."""
    keys: list[RSAPublicKey] = []
    blocks = data.split(b"-----BEGIN ")[1:]
    for block in blocks:
        pem = b"-----BEGIN " + block
        label = block.split(b"-----", 1)[0].strip()
        try:
            if label == b"CERTIFICATE":
                public: object = x509.load_pem_x509_certificate(pem).public_key()
            elif label.endswith(b"PRIVATE KEY"):
                private = serialization.load_pem_private_key(pem, password=None)
                public = private.public_key() if isinstance(private, RSAPrivateKey) else None
            elif label.endswith(b"PUBLIC KEY"):
                public = serialization.load_pem_public_key(pem)
            else:
                continue
        except (ValueError, TypeError) as exc:
            raise KeyDocumentError(f"unreadable PEM block {label.decode('ascii', 'replace')!r}") from exc
        if isinstance(public, RSAPublicKey):
            keys.append(public)
    return keys


def index_from_bytes(data: bytes) -> KeyIndex:
    """Index a key file: a JWKS JSON document, or PEM public key(s) / certificate(s)."""
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        try:
            document = json.loads(stripped)
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyDocumentError("key file is not valid JSON") from exc
        return index_from_jwks(document)
    if b"-----BEGIN " in stripped:
        keys = _public_keys_from_pem(stripped)
        if not keys:
            raise KeyDocumentError("PEM file holds no RSA public key or certificate")
        if len(keys) == 1:
            return KeyIndex(anonymous=(keys[0],))
        # Several keys: index them by their RFC 7638 thumbprint (tokens then need that kid).
        return KeyIndex(by_kid={jwk_thumbprint(k): k for k in keys})
    raise KeyDocumentError("key file is neither JWKS JSON nor PEM")


# --- sources ---------------------------------------------------------------------------------------


class StaticKeySet:
    """A fixed set of keys (the dev key)."""

    def __init__(self, index: KeyIndex) -> None:
        self._index = index

    @classmethod
    def of(cls, keys: Mapping[str, RSAPublicKey]) -> StaticKeySet:
        return cls(KeyIndex(by_kid=dict(keys)))

    async def get(self, kid: str | None) -> RSAPublicKey:
        key = self._index.find(kid)
        if key is None:
            raise UnknownKeyError("unknown kid")
        return key

    async def close(self) -> None:
        return None


class FileKeySet:
    """Keys from a local JWKS or PEM file, read at start-up (a bad file is a start-up error).

    When a token names an unknown kid and the file has changed since it was read, it is read again,
    so keys can be rotated by replacing the file. A replacement that cannot be parsed is logged and
    the previous keys are kept.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp = self._file_stamp()
        self._index = index_from_bytes(path.read_bytes())

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    async def get(self, kid: str | None) -> RSAPublicKey:
        key = self._index.find(kid)
        if key is None and self._reload_if_changed():
            key = self._index.find(kid)
        if key is None:
            raise UnknownKeyError("unknown kid")
        return key

    def all_keys(self) -> tuple[RSAPublicKey, ...]:
        """Every key of the file, indexed by kid or not."""
        return (*self._index.by_kid.values(), *self._index.anonymous)

    def _reload_if_changed(self) -> bool:
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self._index = index_from_bytes(self._path.read_bytes())
        except (OSError, KeyDocumentError) as exc:
            log.warning("key file reload failed; keeping previous keys", error=str(exc))
            return False
        log.info("key file reloaded", keys=len(self._index))
        return True

    async def close(self) -> None:
        return None


def _safe_url(url: str) -> str:
    """The URL without credentials, query or fragment, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class RemoteKeySet:
    """Keys from an OpenID configuration URL (its `jwks_uri` is followed) or a JWKS URL.

    - The first request fetches; the keys are then served from memory for `cache_seconds`.
    - An unknown kid triggers a refresh, at most once per `min_refresh_seconds`.
    - Concurrent requests share one fetch.
    - A failed fetch is logged (URL without credentials, error class, status) and leaves any previous
      keys in use; with no keys at all the request fails with `KeysUnavailableError` (a 401). After a
      failure, the next attempt waits at least `failure_backoff_seconds`.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float,
        min_refresh_seconds: float = DEFAULT_MIN_REFRESH_SECONDS,
        failure_backoff_seconds: float = DEFAULT_FAILURE_BACKOFF_SECONDS,
        timeout_seconds: float = DEFAULT_FETCH_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._failure_backoff_seconds = failure_backoff_seconds
        self._clock = clock
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout_seconds,
            follow_redirects=True,
            headers={"Accept": "application/json"},
        )
        self._index: KeyIndex | None = None
        self._expires_at = 0.0
        self._last_attempt: float | None = None
        self._last_failed = False
        self._fetches_done = 0  # bumped when a fetch ends; lets waiters see that one happened meanwhile
        self._lock = asyncio.Lock()

    async def get(self, kid: str | None) -> RSAPublicKey:
        now = self._clock()
        index = self._index
        elapsed = float("inf") if self._last_attempt is None else now - self._last_attempt
        if index is not None and now < self._expires_at:
            key = index.find(kid)
            if key is not None:
                return key  # the hot path: no await, no I/O
            may_fetch = elapsed >= self._min_refresh_seconds  # an unknown kid: maybe a rotation
        else:
            # Empty or expired cache: fetch, unless a fetch has just failed (then back off a little,
            # serving the expired keys if there are any).
            may_fetch = not self._last_failed or elapsed >= self._failure_backoff_seconds
        if may_fetch:
            await self._refresh(seen_fetches=self._fetches_done)
        index = self._index
        if index is None:
            raise KeysUnavailableError("signing keys unavailable")
        key = index.find(kid)
        if key is None:
            raise UnknownKeyError("unknown kid")
        return key

    async def _refresh(self, *, seen_fetches: int) -> None:
        async with self._lock:
            if self._fetches_done != seen_fetches:
                return  # a fetch ended while this request waited: use its result, good or bad
            started = self._clock()
            self._last_attempt = started
            try:
                index = await self._fetch()
            except Exception as exc:  # any failure is a 401 for this request, never a crash
                self._fetches_done += 1
                self._last_failed = True
                status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
                log.warning(
                    "signing key fetch failed",
                    url=_safe_url(self._url),
                    error_type=type(exc).__name__,
                    status=status,
                    keeping_cached_keys=self._index is not None,
                )
                return
            self._fetches_done += 1
            self._last_failed = False
            self._index = index
            self._expires_at = started + self._cache_seconds
            log.info("signing keys fetched", url=_safe_url(self._url), keys=len(index))

    async def _get_json(self, url: str) -> object:
        response = await self._client.get(url)
        response.raise_for_status()
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise KeyDocumentError("key document too large")
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyDocumentError("key document is not JSON") from exc

    async def _fetch(self) -> KeyIndex:
        document = await self._get_json(self._url)
        if isinstance(document, Mapping) and "keys" in document:
            return index_from_jwks(document)
        if isinstance(document, Mapping) and isinstance(document.get("jwks_uri"), str):
            # An OpenID configuration: follow its jwks_uri (relative URIs resolve against the config URL).
            jwks_uri = str(httpx.URL(self._url).join(document["jwks_uri"]))
            return index_from_jwks(await self._get_json(jwks_uri))
        raise KeyDocumentError("document is neither a JWKS nor an OpenID configuration")

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
