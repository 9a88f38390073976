"""Kontaktregisteret (KRR) directly: its REST lookup for public bodies, for person contact points.

`POST <krr_url>` (e.g. `https://kontaktregisteret.no/rest/v2/personer`) with a Maskinporten token for
`krr:global/kontaktinformasjon.read` and `{"personidentifikatorer": [...]}` (1..1000 identifiers); the
answer is `{"personer": [{"personidentifikator", "reservasjon": "JA"|"NEI", "status": "AKTIV"|"SLETTET"|
"IKKE_REGISTRERT", "varslingsstatus": "KAN_VARSLES"|"KAN_IKKE_VARSLES", "kontaktinformasjon":
{"epostadresse", "mobiltelefonnummer", ...}}]}`.

Mapped the way the reference treats Profile's answers (docs/compatibility.md C11):

- `status` other than `AKTIV` (deleted, not registered): the person is absent (unknown to the register);
- `reservasjon: JA`: reserved (the pipeline decides: not contacted unless the order ignores reservation);
  the addresses are kept for that decision, as Profile's are;
- `varslingsstatus: KAN_IKKE_VARSLES` for an active person who is not reserved: the contact details are
  too old to be used (eForvaltningsforskriften § 32, Profile's 18 months), so they are absent unless the
  order accepts stale contact information; the reservation flag is still reported;
- the mobile number normalised to E.164 (an invalid one dropped).

Identifiers go in batches of at most 1000, several batches in flight. Every failure (token, connection,
timeout, non-2xx, malformed answer) is a `DependencyError`, which the pipeline retries. Nothing is kept
here: the answer lives only as long as the lookup; no identifier or address appears in errors or logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from altinn_notifications.errors import DependencyError
from altinn_notifications.recipients.addresses import normalize_mobile_number
from altinn_notifications.recipients.models import PersonContactPoints
from altinn_notifications.recipients.ports import AccessTokenPort

KRR_SCOPE = "krr:global/kontaktinformasjon.read"
KRR_BATCH_LIMIT = 1000  # identifiers per request, as documented
DEFAULT_CONCURRENCY = 4

ACTIVE = "AKTIV"
RESERVED = "JA"
CANNOT_NOTIFY = "KAN_IKKE_VARSLES"

_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class _UnexpectedAnswer(Exception):
    """The answer is JSON but not of the documented shape."""


def _text(entry: dict[str, Any], name: str) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _UnexpectedAnswer(f"{name!r} is not a string")
    return value.strip() or None


def person_from_krr(entry: object, *, use_stale_contact_info: bool) -> PersonContactPoints | None:
    """One `personer` entry as our contact points; None when the register does not hold the person."""
    if not isinstance(entry, dict):
        raise _UnexpectedAnswer("a person is not an object")
    nin = _text(entry, "personidentifikator")
    if nin is None or _text(entry, "status") != ACTIVE:
        return None
    reserved = _text(entry, "reservasjon") == RESERVED
    outdated = not reserved and _text(entry, "varslingsstatus") == CANNOT_NOTIFY
    contact = entry.get("kontaktinformasjon") or {}
    if not isinstance(contact, dict):
        raise _UnexpectedAnswer("'kontaktinformasjon' is not an object")
    usable = use_stale_contact_info or not outdated
    return PersonContactPoints(
        national_identity_number=nin,
        email=_text(contact, "epostadresse") if usable else None,
        mobile_number=normalize_mobile_number(_text(contact, "mobiltelefonnummer")) if usable else None,
        is_reserved=reserved,
    )


class KrrPersonContactPoints:
    """Person contact points from KRR (`person_contact_points` of `ContactPointsPort`)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        tokens: AccessTokenPort,
        *,
        scope: str = KRR_SCOPE,
        batch_size: int = KRR_BATCH_LIMIT,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | None = None,
    ) -> None:
        if not url.strip():
            raise ValueError("KRR: URL is empty")
        if not 0 < batch_size <= KRR_BATCH_LIMIT or concurrency <= 0:
            raise ValueError(f"batch_size must be 1..{KRR_BATCH_LIMIT} and concurrency positive")
        self._client = client
        self._url = url.strip()
        self._tokens = tokens
        self._scopes = (scope,)
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._timeout = timeout

    async def person_contact_points(
        self, national_identity_numbers: list[str], *, use_stale_contact_info: bool
    ) -> list[PersonContactPoints]:
        nins = list(dict.fromkeys(n.strip() for n in national_identity_numbers if n and n.strip()))
        if not nins:
            return []
        batches = [nins[i : i + self._batch_size] for i in range(0, len(nins), self._batch_size)]
        slots = asyncio.Semaphore(self._concurrency)

        async def look_up(batch: list[str]) -> list[PersonContactPoints]:
            async with slots:
                return await self._look_up(batch, use_stale_contact_info)

        try:  # a failed batch cancels the others: the lookup has failed anyway
            async with asyncio.TaskGroup() as group:
                calls = [group.create_task(look_up(batch)) for batch in batches]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [person for call in calls for person in call.result()]

    async def _look_up(self, batch: Sequence[str], use_stale: bool) -> list[PersonContactPoints]:
        answer = await self._post({"personidentifikatorer": list(batch)})
        asked = set(batch)
        try:
            entries = answer.get("personer") if isinstance(answer, dict) else None
            if not isinstance(entries, list):
                raise _UnexpectedAnswer("no 'personer' list")
            found = [person_from_krr(e, use_stale_contact_info=use_stale) for e in entries]
        except _UnexpectedAnswer as exc:
            raise DependencyError("KRR person lookup answered an unexpected shape") from exc
        # Never trust a person who was not asked about.
        return [p for p in found if p is not None and p.national_identity_number in asked]

    async def _post(self, body: dict[str, Any]) -> Any:
        token = await self._tokens.access_token(self._scopes)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        timeout = httpx.USE_CLIENT_DEFAULT if self._timeout is None else self._timeout
        for attempt in (1, 2):
            try:
                response = await self._client.post(self._url, json=body, headers=headers, timeout=timeout)
                break
            except _STALE_CONNECTION as exc:
                # A pooled keep-alive connection the server had just closed: a lookup has no side
                # effects, so one retry on a fresh connection beats rescheduling the whole order.
                if attempt == 2:
                    raise DependencyError(f"KRR person lookup failed: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise DependencyError(f"KRR person lookup failed: {type(exc).__name__}") from exc
        if not response.is_success:
            raise DependencyError(f"KRR person lookup failed with status code {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise DependencyError("KRR person lookup answered malformed JSON") from exc
