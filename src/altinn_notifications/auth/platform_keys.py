"""Trusted issuers of incoming platform access tokens, each with the keys it signs with (docs/compatibility.md C2).

A platform access token names its issuer (`iss`, an org or `platform`); it is checked only against the keys
configured for that issuer, so a key vouches for the issuer it is bound to and no other. Keys come from:

- a directory (`NOTIFICATIONS_PLATFORM_TOKEN_KEYS_DIR`) of files named after their issuer: `<issuer>.pem`,
  `<issuer>.crt` or `<issuer>.cer` (PEM public keys or certificates), `<issuer>.json` / `<issuer>.jwks`
  (a JWKS); an issuer may have several files (a certificate rotation);
- a mapping (`NOTIFICATIONS_PLATFORM_TOKEN_ISSUERS`) of issuer to a JWKS URL or a key file path.

These keys are separate from the ones trusting bearer tokens (`keys.py`). A file that changes is read again
when a token names a key it does not hold; a URL is fetched and cached like the bearer JWKS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from altinn_notifications.auth.keys import (
    FileKeySet,
    KeyDocumentError,
    KeysUnavailableError,
    RemoteKeySet,
    UnknownKeyError,
)

log = structlog.get_logger(__name__)

KEY_FILE_SUFFIXES = (".pem", ".crt", ".cer", ".json", ".jwks")


class _IssuerKeySource(Protocol):
    async def candidates(self, kid: str | None) -> Sequence[RSAPublicKey]:
        """The keys a token with this kid may be signed with (the kid's key first); may be empty."""
        ...

    async def close(self) -> None: ...


class _FileKeys:
    """One key file of one issuer (a `FileKeySet`: read at start-up, again when it changed)."""

    def __init__(self, path: Path) -> None:
        self._keys = FileKeySet(path)

    async def candidates(self, kid: str | None) -> Sequence[RSAPublicKey]:
        try:
            return (await self._keys.get(kid),)
        except UnknownKeyError:
            # Every key of the file is this issuer's, so an unmatched kid may still be one of them (a
            # certificate file whose keys are not indexed by the kid the issuer sends).
            return self._keys.all_keys()

    async def close(self) -> None:
        return None


class _UrlKeys:
    """An issuer's JWKS (or OpenID configuration) URL: the key named by the kid."""

    def __init__(self, keys: RemoteKeySet) -> None:
        self._keys = keys

    async def candidates(self, kid: str | None) -> Sequence[RSAPublicKey]:
        try:
            return (await self._keys.get(kid),)
        except UnknownKeyError:
            return ()

    async def close(self) -> None:
        await self._keys.close()


class PlatformTokenTrust:
    """The issuers whose platform access tokens are accepted, and each one's keys."""

    def __init__(
        self,
        sources: Mapping[str, Sequence[_IssuerKeySource]],
        *,
        allowed_issuers: Iterable[str] | None = None,
    ) -> None:
        self._sources = {issuer: tuple(found) for issuer, found in sources.items() if found}
        self._allowed = frozenset(allowed_issuers) if allowed_issuers is not None else None

    @property
    def issuers(self) -> frozenset[str]:
        """The issuers that have keys and are allowed."""
        return frozenset(i for i in self._sources if self.allows(i))

    def allows(self, issuer: str) -> bool:
        return self._allowed is None or issuer in self._allowed

    async def keys_for(self, issuer: str, kid: str | None) -> Sequence[RSAPublicKey]:
        """The keys of `issuer` to try for a token naming `kid`.

        Raises `UnknownKeyError` when the issuer has none (or is not allowed), `KeysUnavailableError` when
        its only sources could not be fetched.
        """
        if not self.allows(issuer):
            raise UnknownKeyError("issuer not allowed")
        sources = self._sources.get(issuer)
        if not sources:
            raise UnknownKeyError("issuer has no keys")
        found: list[RSAPublicKey] = []
        unavailable = False
        for source in sources:
            try:
                found.extend(await source.candidates(kid))
            except KeysUnavailableError:
                unavailable = True
        if not found:
            if unavailable:
                raise KeysUnavailableError("issuer keys unavailable")
            raise UnknownKeyError("unknown kid for issuer")
        return found

    async def close(self) -> None:
        for sources in self._sources.values():
            for source in sources:
                await source.close()


class PlatformTrustError(ValueError):
    """A platform key directory or file could not be used (a start-up error; the message names the file)."""


def _issuer_files(directory: Path) -> dict[str, list[Path]]:
    if not directory.is_dir():
        raise PlatformTrustError(f"{directory} is not a directory")
    files: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        named = path.suffix.lower() in KEY_FILE_SUFFIXES and path.stem and not path.name.startswith(".")
        if named and path.is_file():
            files.setdefault(path.stem, []).append(path)
    return files


def _file_keys(path: Path) -> _FileKeys:
    try:
        return _FileKeys(path)
    except (OSError, KeyDocumentError) as exc:
        raise PlatformTrustError(f"{path}: {exc}") from None


def is_url(location: str) -> bool:
    return location.startswith(("https://", "http://"))


def build_platform_trust(
    *,
    keys_dir: Path | None,
    issuers: Mapping[str, str],
    allowed_issuers: Iterable[str] | None,
    cache_seconds: float,
) -> PlatformTokenTrust | None:
    """The configured trust, or None when no issuer key is configured (platform access tokens refused)."""
    sources: dict[str, list[_IssuerKeySource]] = {}
    if keys_dir is not None:
        for issuer, paths in _issuer_files(keys_dir).items():
            sources.setdefault(issuer, []).extend(_file_keys(p) for p in paths)
    for issuer, location in issuers.items():
        if is_url(location):
            sources.setdefault(issuer, []).append(
                _UrlKeys(RemoteKeySet(location, cache_seconds=cache_seconds))
            )
        else:
            sources.setdefault(issuer, []).append(_file_keys(Path(location)))
    if keys_dir is None and not issuers:
        return None
    trust = PlatformTokenTrust(sources, allowed_issuers=allowed_issuers)
    log.info("platform access token issuers", issuers=sorted(trust.issuers))
    return trust
