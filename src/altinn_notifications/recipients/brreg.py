"""Organisation names from Enhetsregisteret's open API (data.brreg.no), for `$recipientName$`.

`GET <brreg>enheter/{orgnr}` answers a main unit (`organisasjonsnummer`, `navn`, ...); a number it does not
know (404) is tried as a sub-unit, `GET <brreg>underenheter/{orgnr}`. A deleted unit has no name: it is
answered either 410 Gone, or 200 with a `slettedato`. Unknown and deleted units are absent from the result.

Names (and their absence) are kept in memory for `cache_seconds`, so an order to thousands of recipients of
the same few organisations asks once per organisation. Person names have no open register: they come
from the `persons` names port given (the local registry, or Altinn Register).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from altinn_notifications.errors import DependencyError
from altinn_notifications.recipients.addresses import is_organization_number
from altinn_notifications.recipients.ports import PartyNamesPort

MAIN_UNITS = "enheter/"
SUB_UNITS = "underenheter/"
DEFAULT_CACHE_SECONDS = 86400.0
DEFAULT_CONCURRENCY = 8
CACHE_LIMIT = 100_000

_NOT_FOUND = 404
_GONE = 410


class BrregNames:
    """`PartyNamesPort`: organisations from Enhetsregisteret, persons from `persons` (if any)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        persons: PartyNamesPort | None = None,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url.strip():
            raise ValueError("Enhetsregisteret: base URL is empty")
        self._client = client
        self._base_url = base_url.strip().rstrip("/") + "/"
        self._persons = persons
        self._cache_seconds = cache_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._timeout = timeout
        self._clock = clock
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def party_names(
        self, organization_numbers: list[str], national_identity_numbers: list[str]
    ) -> dict[str, str]:
        orgs = list(dict.fromkeys(o.strip() for o in organization_numbers if o and o.strip()))
        names: dict[str, str] = {}
        if self._persons is not None and national_identity_numbers:
            names.update(await self._persons.party_names([], national_identity_numbers))
        wanted = [o for o in orgs if is_organization_number(o)]  # nothing else goes into a URL
        try:
            async with asyncio.TaskGroup() as group:
                calls = {org: group.create_task(self.organization_name(org)) for org in wanted}
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        names.update({org: name for org, call in calls.items() if (name := call.result()) is not None})
        return names

    async def organization_name(self, org: str) -> str | None:
        now = self._clock()
        cached = self._cache.get(org)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._slots:
            name = await self._unit_name(MAIN_UNITS, org)
            if name is _MISSING:
                name = await self._unit_name(SUB_UNITS, org)
        found = None if name is _MISSING or name is _DELETED else str(name)
        self._remember(org, found, now)
        return found

    def _remember(self, org: str, name: str | None, now: float) -> None:
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()  # rare; a bounded memory beats a perfect hit rate
        self._cache[org] = (now + self._cache_seconds, name)

    async def _unit_name(self, kind: str, org: str) -> object:
        where = f"Enhetsregisteret {kind.rstrip('/')}"
        timeout = httpx.USE_CLIENT_DEFAULT if self._timeout is None else self._timeout
        try:
            response = await self._client.get(
                self._base_url + kind + org, headers={"Accept": "application/json"}, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise DependencyError(f"{where} failed: {type(exc).__name__}") from exc
        if response.status_code == _NOT_FOUND:
            return _MISSING
        if response.status_code == _GONE:
            return _DELETED
        if not response.is_success:
            raise DependencyError(f"{where} failed with status code {response.status_code}")
        try:
            unit: Any = response.json()
        except ValueError as exc:
            raise DependencyError(f"{where} answered malformed JSON") from exc
        if not isinstance(unit, dict):
            raise DependencyError(f"{where} answered an unexpected shape")
        if unit.get("slettedato"):
            return _DELETED
        name = unit.get("navn")
        return name.strip() if isinstance(name, str) and name.strip() else _MISSING


_MISSING = object()  # the register has no such unit (or no name for it)
_DELETED = object()  # the unit is deleted: it has no name
