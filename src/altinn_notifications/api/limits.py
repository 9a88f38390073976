"""Limits on what one request may cost: body size (413), body read time (408), JSON bound off the loop.

`RequestLimitMiddleware` is pure ASGI and counts the body's bytes as they arrive, so a chunked body, or a
`Content-Length` that lies, is cut off at the limit: nothing past it is ever buffered. A declared length
over the limit is refused before a byte of the body is read. Both answers close the connection, so the
rest of an oversized upload is not read at all.

`OffLoopRoute` parses and binds large JSON bodies in a thread, so a request of several megabytes never
holds the event loop (and `/health`, and everybody else's requests) while it is parsed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from altinn_notifications.config import Settings

#: The answers close the connection: the client may still be sending the rest of its body.
CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body must not be larger than {limit} bytes.", CLOSE)


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"The request body was not received within {seconds:g} seconds.", CLOSE)


SettingsOf = Callable[[Scope], Settings]


def settings_of_app(scope: Scope) -> Settings:
    settings: Settings = scope["app"].state.container.settings
    return settings


class RequestLimitMiddleware:
    """Refuses bodies over `max_request_body_bytes` (413) and bodies slower than
    `request_body_timeout_seconds` (408), answering ProblemDetails (`api.problems`)."""

    def __init__(
        self,
        app: ASGIApp,
        settings_of: SettingsOf = settings_of_app,
        answer: Callable[[HTTPException], Response] | None = None,
    ) -> None:
        self.app = app
        self.settings_of = settings_of
        self.answer = answer or _plain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings_of(scope)
        limit = settings.max_request_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self.answer(BodyTooLarge(limit))(scope, receive, send)
            return
        counted = _CountingReceive(receive, limit, settings.request_body_timeout_seconds)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except (BodyTooLarge, BodyTimeout) as exc:  # read outside a route (its handler answers there)
            if started:
                raise
            await self.answer(exc)(scope, receive, send)


class _CountingReceive:
    """`receive` that stops at the byte limit and at the body deadline (until the body is complete)."""

    def __init__(self, receive: Receive, limit: int, timeout: float) -> None:
        self.receive = receive
        self.limit = limit
        self.timeout = timeout
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.received = 0
        self.complete = False

    async def __call__(self) -> Message:
        if self.complete:
            return await self.receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self.receive()
        except TimeoutError:
            raise BodyTimeout(self.timeout) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise BodyTooLarge(self.limit)
            self.complete = not message.get("more_body", False)
        return message


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


def _plain(exc: HTTPException) -> Response:
    return Response(str(exc.detail), exc.status_code, headers=exc.headers)


# --- JSON bodies ---


class _ParsedRequest(Request):
    """A request whose JSON body is already parsed (and bound, when it is valid)."""

    def __init__(self, request: Request, raw: bytes, value: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._raw = raw
        self._value = value

    async def body(self) -> bytes:
        return self._raw  # already received: `receive` has nothing more to give

    async def json(self) -> Any:
        return self._value


class OffLoopRoute(APIRoute):
    """A JSON body above `off_loop_body_bytes` is parsed and bound to the endpoint's model in a thread.

    FastAPI then finds a model instance, which it passes on as it is. A body that does not bind is handed
    over as parsed (or, when it does not parse, untouched), and FastAPI reports its errors as for any
    other body: the answers are the same whatever the size."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field = self.body_field

        async def handle(request: Request) -> Response:
            if field is None or not is_json(request):
                return await handler(request)
            body = await request.body()
            if len(body) <= settings_of_app(request.scope).off_loop_body_bytes:
                return await handler(request)
            value = await run_in_threadpool(_parse_and_bind, field, body)
            if value is _UNPARSED:
                return await handler(request)
            return await handler(_ParsedRequest(request, body, value))

        return handle


_UNPARSED = object()


def _parse_and_bind(field: Any, body: bytes) -> Any:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return _UNPARSED
    bound, errors = field.validate(value, {}, loc=("body",))
    return value if errors else bound


def is_json(request: Request) -> bool:
    """FastAPI's rule for parsing a body as JSON: `application/json` or `application/*+json` (a media type
    with more than one `/` is `text/plain` to FastAPI's parser, so not JSON)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    kind, slash, subtype = media.partition("/")
    if not slash or "/" in subtype or kind != "application":
        return False
    return subtype == "json" or subtype.endswith("+json")
