"""Enhetsregisteret's open API on loopback (data.brreg.no), in its documented wire format.

`GET /enhetsregisteret/api/enheter/{orgnr}` and `/underenheter/{orgnr}`: a unit
(`organisasjonsnummer`, `navn`, `organisasjonsform`, `_links`), 404 for an unknown number, and for a
deleted unit either 410 Gone with `organisasjonsnummer` and `slettedato`, or 200 with a `slettedato`
(`deleted_as_200`). `names` (an async callable) may supply main units, e.g. from the local registry.
`requests` records the paths asked; `fail_next(n, status)` answers the next n requests with that status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.loopback import serve

BASE = "/enhetsregisteret/api/"
DELETED_ON = "2024-06-01"

NameSource = Callable[[str], Awaitable[str | None]]


class FakeBrreg:
    def __init__(self, *, names: NameSource | None = None) -> None:
        self.main_units: dict[str, str] = {}
        self.sub_units: dict[str, str] = {}
        self.deleted: set[str] = set()
        self.deleted_as_200: set[str] = set()
        self.names = names
        self.requests: list[str] = []
        self._failures: list[int] = []
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route(BASE + "enheter/{orgnr}", self._main, methods=["GET"]),
                Route(BASE + "underenheter/{orgnr}", self._sub, methods=["GET"]),
            ]
        )

    @property
    def api_url(self) -> str:
        return self.base_url + BASE

    def fail_next(self, count: int, status: int = 503) -> None:
        self._failures.extend([status] * count)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        async with serve(self.app) as url:
            self.base_url = url
            yield url

    def _unit(self, orgnr: str, name: str, kind: str, **extra: Any) -> dict[str, Any]:
        return {
            "organisasjonsnummer": orgnr,
            "navn": name,
            "organisasjonsform": {"kode": "BEDR" if kind == "underenheter" else "AS", "beskrivelse": "..."},
            **extra,
            "_links": {"self": {"href": f"https://data.brreg.no{BASE}{kind}/{orgnr}"}},
        }

    async def _answer(self, request: Request, kind: str, units: dict[str, str]) -> Response:
        orgnr = request.path_params["orgnr"]
        self.requests.append(f"{kind}/{orgnr}")
        if self._failures:
            return JSONResponse({"feilmelding": "unavailable"}, status_code=self._failures.pop(0))
        if orgnr in self.deleted:
            return JSONResponse({"organisasjonsnummer": orgnr, "slettedato": DELETED_ON}, status_code=410)
        name = units.get(orgnr)
        if name is None and kind == "enheter" and self.names is not None:
            name = await self.names(orgnr)
        if name is None:
            return JSONResponse(
                {"feilmelding": "Ingen enhet med organisasjonsnummer " + orgnr}, status_code=404
            )
        extra = {"slettedato": DELETED_ON} if orgnr in self.deleted_as_200 else {}
        return JSONResponse(self._unit(orgnr, name, kind, **extra))

    async def _main(self, request: Request) -> Response:
        return await self._answer(request, "enheter", self.main_units)

    async def _sub(self, request: Request) -> Response:
        return await self._answer(request, "underenheter", self.sub_units)
