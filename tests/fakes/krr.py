"""Kontaktregisteret's REST lookup on loopback, in its documented wire format.

`POST /rest/v2/personer` with `Authorization: Bearer <Maskinporten token>` and
`{"personidentifikatorer": [...]}` (1..1000): the token must verify against the Maskinporten fake and
grant `krr:global/kontaktinformasjon.read` (else 401 / 403); more than 1000 identifiers is a 400. The
answer has one `personer` entry per identifier asked: `personidentifikator`, `reservasjon` (`JA`/`NEI`),
`status` (`AKTIV`, `SLETTET`, `IKKE_REGISTRERT`), `varslingsstatus` (`KAN_VARSLES`/`KAN_IKKE_VARSLES`) and,
for active persons, `kontaktinformasjon` (`epostadresse`, `epostadresse_oppdatert`,
`epostadresse_sist_verifisert`, `mobiltelefonnummer`, `mobiltelefonnummer_oppdatert`,
`mobiltelefonnummer_sist_verifisert`).

Persons are `KrrPerson`s in `persons`, or come from `source` (an async callable, e.g. over the local
registry). `fail_next(n, status)` answers the next n requests with that status; `stall_next(n, seconds)`
makes them wait (a timeout on the caller's side). `requests` records the batch sizes; `max_in_flight`
the most requests served at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.maskinporten import FakeMaskinporten
from tests.loopback import serve

PATH = "/rest/v2/personer"
SCOPE = "krr:global/kontaktinformasjon.read"
LIMIT = 1000
RECENT = "2025-11-20T10:14:52+01"
OLD = "2019-01-05T08:00:00+01"


@dataclass(frozen=True)
class KrrPerson:
    nin: str
    email: str | None = None
    mobile: str | None = None
    reserved: bool = False
    status: str = "AKTIV"
    outdated: bool = False  # contact details not confirmed for too long (varslingsstatus)

    def entry(self) -> dict[str, Any]:
        can_notify = self.status == "AKTIV" and not self.reserved and not self.outdated
        entry: dict[str, Any] = {
            "personidentifikator": self.nin,
            "reservasjon": "JA" if self.reserved else "NEI",
            "status": self.status,
            "varslingsstatus": "KAN_VARSLES" if can_notify else "KAN_IKKE_VARSLES",
        }
        if self.status != "AKTIV":
            return {k: v for k, v in entry.items() if k in ("personidentifikator", "status")}
        verified = OLD if self.outdated else RECENT
        contact: dict[str, Any] = {}
        if self.email is not None:
            contact |= {
                "epostadresse": self.email,
                "epostadresse_oppdatert": OLD,
                "epostadresse_sist_verifisert": verified,
            }
        if self.mobile is not None:
            contact |= {
                "mobiltelefonnummer": self.mobile,
                "mobiltelefonnummer_oppdatert": OLD,
                "mobiltelefonnummer_sist_verifisert": verified,
            }
        entry["kontaktinformasjon"] = contact
        entry["spraak"] = "nb"
        return entry


Source = Callable[[list[str]], Awaitable[list[KrrPerson]]]


class FakeKrr:
    def __init__(
        self,
        maskinporten: FakeMaskinporten,
        persons: Iterable[KrrPerson] = (),
        *,
        source: Source | None = None,
    ) -> None:
        self.maskinporten = maskinporten
        self.persons = {p.nin: p for p in persons}
        self.source = source
        self.requests: list[int] = []
        self.refused: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._failures: list[int] = []
        self._stalls: list[float] = []
        self.base_url = ""
        self.app = Starlette(routes=[Route(PATH, self._lookup, methods=["POST"])])

    @property
    def url(self) -> str:
        return self.base_url + PATH

    def fail_next(self, count: int, status: int = 503) -> None:
        self._failures.extend([status] * count)

    def stall_next(self, count: int, seconds: float) -> None:
        self._stalls.extend([seconds] * count)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        async with serve(self.app) as url:
            self.base_url = url
            yield url

    def _authorised(self, request: Request) -> int | None:
        """None when the bearer token is a valid Maskinporten token with the KRR scope, else the status."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 401
        try:
            claims = self.maskinporten.verify_access_token(token.strip())
        except jwt.PyJWTError:
            return 401
        return None if SCOPE in str(claims.get("scope", "")).split() else 403

    async def _found(self, nins: list[str]) -> dict[str, KrrPerson]:
        found = dict(self.persons)
        if self.source is not None:
            found |= {p.nin: p for p in await self.source(nins)}
        return found

    async def _lookup(self, request: Request) -> Response:
        refusal = self._authorised(request)
        if refusal is not None:
            self.refused.append(refusal)
            return JSONResponse({"error": "unauthorized"}, status_code=refusal)
        body = await request.json()
        nins = body.get("personidentifikatorer") if isinstance(body, dict) else None
        if not isinstance(nins, list) or not 1 <= len(nins) <= LIMIT:
            return JSONResponse(
                {"message": f"personidentifikatorer: 1..{LIMIT} identifiers"}, status_code=400
            )
        self.requests.append(len(nins))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._stalls:
                await asyncio.sleep(self._stalls.pop(0))
            if self._failures:
                return JSONResponse({"message": "unavailable"}, status_code=self._failures.pop(0))
            found = await self._found(nins)
            missing = KrrPerson("", status="IKKE_REGISTRERT")
            entries = [(found.get(n) or KrrPerson(n, status=missing.status)).entry() for n in nins]
            return JSONResponse({"personer": entries})
        finally:
            self.in_flight -= 1
