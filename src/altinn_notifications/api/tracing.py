"""Request ids and the access log: a W3C trace id per request, bound into every log line and every problem
body, and one access-log line per request.

The access line names the route's template (`/notifications/api/v1/orders/{id}`), never the path as sent,
and never the query, headers or body: paths, queries and headers may carry identifiers, addresses or a
sender's reference. The caller's org is added once a route has authenticated it (`note_caller_org`).
"""

from __future__ import annotations

import random
import re
import time
from contextvars import ContextVar
from typing import Any

import structlog
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altinn_notifications.logging import access_line

_trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)
# What the request's handlers learn for the access line (the caller's org). A mutable holder, so a value
# set in a copied context (a handler run in another task) still reaches the middleware.
_access: ContextVar[dict[str, str] | None] = ContextVar("access", default=None)
UNMATCHED_ROUTE = "(no route)"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def current_trace_id() -> str:
    return _trace_id.get() or new_trace_id()


def note_caller_org(org: str | None) -> None:
    """Name the authenticated caller's org in this request's access line."""
    holder = _access.get()
    if holder is not None and org:
        holder["org"] = org


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request, with the prefix of the router it was included
    with (`/notifications/api/v1/orders/{id}`); a fixed name when no route matched."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    template = _templates(scope.get("app")).get(id(route))
    if template is None:  # a route outside the app's table (a mount's own routes): its own template
        template = getattr(route, "path_format", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


def _templates(app: Any) -> dict[int, str]:
    """Full templates by route object. FastAPI hands the handler the route as declared (without the
    include prefix), so the app's table is read once and kept on the app (routes added later: rebuilt)."""
    routes = getattr(app, "routes", None)
    if routes is None:
        return {}
    cached: tuple[int, dict[int, str]] | None = getattr(app.state, "route_templates", None)
    if cached is not None and cached[0] == len(routes):
        return cached[1]
    table: dict[int, str] = {}
    for context in iter_route_contexts(routes):
        if context.path_format:
            table.setdefault(id(context.original_route), context.path_format)
    app.state.route_templates = (len(routes), table)
    return table


def new_trace_id(trace: str | None = None) -> str:
    # Trace ids need not be unguessable: the cheap generator spares two getrandom calls per request.
    return f"00-{trace or f'{random.getrandbits(128):032x}'}-{random.getrandbits(64):016x}-00"


class TraceMiddleware:
    """Pure ASGI middleware (cheap on the hot path): sets the trace id and binds it for logging."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"traceparent", b"").decode("latin-1")
        match = _TRACEPARENT.match(incoming)
        trace_id = new_trace_id(match.group(1) if match else None)
        token = _trace_id.set(trace_id)
        access: dict[str, str] = {}
        access_token = _access.set(access)
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        started = time.perf_counter()
        status = 500

        async def send_and_remember(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_remember)
        finally:
            access_line(
                {
                    "method": scope["method"],
                    "route": route_template(scope),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    **access,
                    "trace_id": trace_id,
                }
            )
            structlog.contextvars.unbind_contextvars("trace_id")
            _access.reset(access_token)
            _trace_id.reset(token)
