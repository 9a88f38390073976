"""`PathFilteredRouter`: paths its routes cannot match are turned away before any route is tried; every
other request is routed exactly as by FastAPI (matches, wrong methods, trailing slashes)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from altinn_notifications.api.routing import PathFilteredRouter, literal_tail


class CountingRoute(APIRoute):
    """Counts how often FastAPI tries this route."""

    tried = 0

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        CountingRoute.tried += 1
        return super().matches(scope)


def _app() -> tuple[FastAPI, PathFilteredRouter]:
    filtered = PathFilteredRouter(prefix="/api", route_class=CountingRoute)

    @filtered.post("/orders")
    async def create() -> dict[str, str]:
        return {"from": "filtered"}

    @filtered.put("/orders/{id}/cancel")
    async def cancel(id: str) -> dict[str, str]:
        return {"cancelled": id}

    later = PathFilteredRouter(prefix="/api")

    @later.get("/orders")
    async def read() -> dict[str, str]:
        return {"from": "later"}

    @later.post("/future/orders")
    async def create_v2() -> dict[str, str]:
        return {"from": "later v2"}

    app = FastAPI()
    app.include_router(filtered)
    app.include_router(later)
    return app, filtered


async def _call(app: FastAPI, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path)


def _scope(path: str, method: str = "POST") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }


def test_a_literal_route_ends_with_its_whole_path_and_a_parameter_route_with_what_follows_the_last() -> None:
    assert literal_tail("/api/orders") == "/api/orders"
    assert literal_tail("/api/orders/{id}/cancel") == "/cancel"
    assert literal_tail("/api/orders/{id}") == ""
    assert literal_tail("/files/{path:path}") == ""


async def test_a_path_none_of_its_routes_can_match_is_turned_away_without_trying_them() -> None:
    app, filtered = _app()
    CountingRoute.tried = 0
    assert filtered.matches(_scope("/api/future/orders")) == (Match.NONE, {})
    assert filtered.matches(_scope("/api/orders/1/refund", "PUT")) == (Match.NONE, {})
    assert CountingRoute.tried == 0
    answer = await _call(app, "POST", "/api/future/orders")
    assert answer.status_code == 200 and answer.json() == {"from": "later v2"}
    assert CountingRoute.tried == 0


async def test_its_own_paths_are_routed_as_fastapi_routes_them() -> None:
    app, _ = _app()
    CountingRoute.tried = 0
    created = await _call(app, "POST", "/api/orders")
    assert created.status_code == 200 and created.json() == {"from": "filtered"}
    assert CountingRoute.tried > 0
    cancelled = await _call(app, "PUT", "/api/orders/42/cancel")
    assert cancelled.status_code == 200 and cancelled.json() == {"cancelled": "42"}
    # The same path with another method: the later router's route when it has one, else 405.
    read = await _call(app, "GET", "/api/orders")
    assert read.status_code == 200 and read.json() == {"from": "later"}
    wrong = await _call(app, "DELETE", "/api/orders")
    assert wrong.status_code == 405
    # A trailing slash is redirected to the route, as FastAPI does.
    slashed = await _call(app, "POST", "/api/orders/")
    assert slashed.status_code == 307 and slashed.headers["location"].endswith("/api/orders")
    missing = await _call(app, "POST", "/api/nothing")
    assert missing.status_code == 404
