"""Trusted issuers of bearer tokens besides the single key set of `keys.py`: Altinn's and Maskinporten's,
each with its own keys and optional audience (`NOTIFICATIONS_TOKEN_ISSUERS`).

A token's `iss` (read unverified, only to choose the keys) picks its issuer; the signature check that
follows, with the issuer then required, binds it. For an issuer whose claims are `maskinporten`, the
sender is the token's `consumer` (ISO 6523 `0192:<org number>`), mapped to its org code through the
service-owner list Altinn publishes (`altinn-orgs.json`: `{"orgs": {code: {"orgnr": ...}}}`), or the org
number itself when the list has no entry for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import structlog

from altinn_notifications.auth.keys import FileKeySet, KeyDocumentError, KeySet, RemoteKeySet
from altinn_notifications.auth.platform_keys import is_url
from altinn_notifications.config import TokenIssuer
from altinn_notifications.errors import ExplainedForbiddenError

log = structlog.get_logger(__name__)

CONSUMER_CLAIM = "consumer"
MASKINPORTEN_SCOPE_CLAIM = "scope"
NORWEGIAN_ORG_NUMBER_PREFIX = "0192:"  # ISO 6523 ICD of Enhetsregisteret
_ORG_NUMBER = re.compile(r"\d{9}")


class IssuerSetupError(ValueError):
    """A trusted issuer or the service-owner list could not be used (a start-up error naming the file)."""


class OrgNotResolvedError(ExplainedForbiddenError):
    """403: a valid Maskinporten token whose consumer names no organisation we can use as the creator."""

    title = "The token's consumer does not identify an organisation."


# --- the service-owner list ----------------------------------------------------------------------------


class ServiceOwners:
    """Org number → short org code, from a document in the `altinn-orgs.json` format."""

    def __init__(self, codes: Mapping[str, str], ambiguous: Iterable[str] = ()) -> None:
        self._codes = dict(codes)
        self._ambiguous = frozenset(ambiguous)

    @classmethod
    def from_document(cls, document: object) -> ServiceOwners:
        orgs = document.get("orgs") if isinstance(document, Mapping) else None
        if not isinstance(orgs, Mapping):
            raise IssuerSetupError("not a service-owner list (no 'orgs' object)")
        codes: dict[str, str] = {}
        ambiguous: set[str] = set()
        for code, entry in orgs.items():
            number = entry.get("orgnr") if isinstance(entry, Mapping) else None
            if not isinstance(code, str) or not isinstance(number, str) or not _ORG_NUMBER.fullmatch(number):
                continue  # entries without an org number (test orgs) map nothing
            if number in codes and codes[number] != code:
                ambiguous.add(number)
            codes.setdefault(number, code)
        if ambiguous:
            log.warning("service-owner list maps org numbers to several codes", count=len(ambiguous))
        return cls(codes, ambiguous)

    @classmethod
    def from_file(cls, path: Path) -> ServiceOwners:
        try:
            return cls.from_document(json.loads(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise IssuerSetupError(f"{path}: {exc}") from None

    def org_for(self, org_number: str) -> str:
        """The org code of `org_number`, or the number itself when the list has none."""
        if org_number in self._ambiguous:
            raise OrgNotResolvedError("the consumer's org number belongs to several service owners")
        return self._codes.get(org_number, org_number)


def consumer_org_number(claims: Mapping[str, Any]) -> str:
    """The 9-digit org number of a Maskinporten token's `consumer` (`{"authority", "ID": "0192:<orgnr>"}`)."""
    consumer = claims.get(CONSUMER_CLAIM)
    identifier = consumer.get("ID") if isinstance(consumer, Mapping) else None
    if not isinstance(identifier, str) or not identifier.startswith(NORWEGIAN_ORG_NUMBER_PREFIX):
        raise OrgNotResolvedError("the token has no consumer with a Norwegian org number (0192:)")
    number = identifier.removeprefix(NORWEGIAN_ORG_NUMBER_PREFIX)
    if not _ORG_NUMBER.fullmatch(number):
        raise OrgNotResolvedError("the token's consumer is not a 9-digit org number")
    return number


def maskinporten_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """Maskinporten's `scope`: one space-separated string."""
    value = claims.get(MASKINPORTEN_SCOPE_CLAIM)
    return frozenset(value.split()) if isinstance(value, str) else frozenset()


# --- issuers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedIssuer:
    """One issuer: its keys, the decoder enforcing its rules, and how its claims name the sender."""

    issuer: str
    keys: KeySet
    audience: str | None
    claims: str
    decoder: jwt.PyJWT


def _decoder(audience: str | None) -> jwt.PyJWT:
    # As for the single key set: exp required, zero leeway, iat not checked.
    return jwt.PyJWT(
        {
            "require": ["exp", "iss", *(["aud"] if audience else [])],
            "verify_iat": False,
            "verify_iss": True,
            "verify_aud": audience is not None,
        }
    )


def _key_set(location: str, cache_seconds: float) -> KeySet:
    if is_url(location):
        return RemoteKeySet(location, cache_seconds=cache_seconds)
    try:
        return FileKeySet(Path(location))
    except (OSError, KeyDocumentError) as exc:
        raise IssuerSetupError(f"{location}: {exc}") from None


class TokenIssuers:
    """The configured issuers by `iss`, and the service-owner list for Maskinporten consumers."""

    def __init__(self, issuers: Sequence[TrustedIssuer], owners: ServiceOwners | None = None) -> None:
        self._by_issuer = {i.issuer: i for i in issuers}
        self._owners = owners or ServiceOwners({})

    @classmethod
    def build(
        cls, issuers: Sequence[TokenIssuer], *, owners_file: Path | None, cache_seconds: float
    ) -> TokenIssuers:
        trusted = [
            TrustedIssuer(
                issuer=i.issuer,
                keys=_key_set(i.keys, cache_seconds),
                audience=i.audience,
                claims=i.claims,
                decoder=_decoder(i.audience),
            )
            for i in issuers
        ]
        owners = ServiceOwners.from_file(owners_file) if owners_file is not None else None
        log.info("bearer token issuers", issuers=sorted(i.issuer for i in trusted))
        return cls(trusted, owners)

    def find(self, issuer: str) -> TrustedIssuer | None:
        return self._by_issuer.get(issuer)

    def org_of(self, claims: Mapping[str, Any]) -> str:
        """The creator org of a Maskinporten token: its consumer's org code, else its org number."""
        return self._owners.org_for(consumer_org_number(claims))

    async def close(self) -> None:
        for issuer in self._by_issuer.values():
            await issuer.keys.close()
