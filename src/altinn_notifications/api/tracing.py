"""Request ids: a W3C trace id per request, bound into every log line and every problem body."""

from __future__ import annotations

import random
import re
import time
from contextvars import ContextVar

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

_trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def current_trace_id() -> str:
    return _trace_id.get() or new_trace_id()


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
            # The path only: query strings may carry a sender's reference; bodies are never logged.
            log.debug(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("trace_id")
            _trace_id.reset(token)
