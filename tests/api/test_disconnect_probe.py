"""Our HTTP server tells each request whether its client has gone (api/server.py, api/disconnect.py).

Over a real socket to uvicorn with our protocol: the scope carries the connection extension, which reads
false while the client waits and true once it has closed the connection, and `client_gone` answers from it.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from altinn_notifications.api.disconnect import CONNECTION_EXTENSION, client_gone
from altinn_notifications.api.server import uvicorn_options
from altinn_notifications.config import Settings
from tests.loopback import serve


class _Recorder:
    """An ASGI app that reads its body, asks `client_gone`, then waits (at most 5 s) for the client to go."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.done = asyncio.Event()
        self.answers: list[bool] = []
        self.extended: list[bool] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        await request.body()
        self.extended.append(CONNECTION_EXTENSION in scope.get("extensions", {}))
        self.answers.append(await client_gone(request))
        self.asked.set()
        if scope["path"] == "/answer":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        for _ in range(500):
            if await client_gone(request):
                break
            await asyncio.sleep(0.01)
        self.answers.append(await client_gone(request))
        self.done.set()


async def _post(writer: asyncio.StreamWriter, path: str) -> None:
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    await writer.drain()


async def test_a_request_learns_from_the_server_that_its_client_has_gone(settings: Settings) -> None:
    app = _Recorder()
    async with serve(app, http=uvicorn_options(settings)["http"]) as base:
        address = urlsplit(base)
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        # A first request answered on the connection, then a second whose client leaves while it waits.
        await _post(writer, "/answer")
        assert (await reader.readline()).startswith(b"HTTP/1.1 204")
        app.asked.clear()
        await _post(writer, "/wait")
        await asyncio.wait_for(app.asked.wait(), 5)
        writer.close()
        await writer.wait_closed()
        await asyncio.wait_for(app.done.wait(), 10)
    assert app.extended == [True, True]  # answered by the server's extension, not by stepping `receive`
    assert app.answers == [False, False, True]
