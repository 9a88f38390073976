"""The HTTP server's options against slow and greedy clients (README "Running behind a reverse proxy").

uvicorn times out idle keep-alive connections, but not a connection that never finishes its headers: a
client sending one byte every few seconds ("slow loris") would hold it for ever. `HeaderTimeoutProtocol`
closes a connection whose request line and headers are not complete within
`NOTIFICATIONS_REQUEST_HEADER_TIMEOUT_SECONDS` of its first byte (or of the connection, for the first
request), and one whose request line and headers grow past `NOTIFICATIONS_HTTP_MAX_HEADER_BYTES`. A body
too slow or too large is refused by `api.limits.RequestLimitMiddleware` (408, 413).

Each request's scope also gets the extension `api.disconnect.CONNECTION_EXTENSION`: whether its client
has gone, read from uvicorn's state for the request, so that a v2 order need not step `receive` to ask.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from altinn_notifications.api.disconnect import CONNECTION_EXTENSION, ClientPresence
from altinn_notifications.config import Settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, header_timeout: float, max_header_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.header_timer: asyncio.TimerHandle | None = None
        self.header_bytes = 0
        self.presence: ClientPresence | None = None  # the current request's (`api.disconnect`)

    def data_received(self, data: bytes) -> None:
        reading_headers = self.header_timer is not None
        super().data_received(data)
        if reading_headers and self.header_timer is not None:  # the headers are still not complete
            self.header_bytes += len(data)
            if self.header_bytes > self.max_header_bytes and not self.transport.is_closing():
                self._stop_header_timer()
                self.send_400_response("Request headers too large.")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_timer is None:
            self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.scope is self.scope:  # a new request (not a WebSocket)
            # Its own object, not the cycle: a scope that referred to the cycle holding it would be a
            # reference cycle per request, left to the garbage collector.
            self.presence = ClientPresence()
            self.scope["extensions"] = {CONNECTION_EXTENSION: {"client": self.presence}}

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)
        # uvicorn has marked the current request `disconnected` if its answer was not complete: what its
        # `receive` would answer with `http.disconnect`.
        if self.presence is not None and self.cycle is not None:
            self.presence.gone = self.cycle.disconnected

    def _start_header_timer(self) -> None:
        self.header_bytes = 0
        self.header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Everything `uvicorn.run` gets from the settings, besides the app."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,
        "http": functools.partial(
            HeaderTimeoutProtocol,
            header_timeout=settings.request_header_timeout_seconds,
            max_header_bytes=settings.http_max_header_bytes,
        ),
        "timeout_keep_alive": settings.http_timeout_keep_alive_seconds,
        "limit_concurrency": settings.http_limit_concurrency,
    }
    if settings.forwarded_allow_ips is not None:
        options["forwarded_allow_ips"] = settings.forwarded_allow_ips
    return options
