"""Real HTTP servers on loopback for tests (condition endpoints, vendor stand-ins)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    """A port nobody listens on just now (for "connection refused" cases; it may be taken later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: ASGIApp, **options: Any) -> AsyncIterator[str]:
    """Run `app` with uvicorn on a free loopback port inside the test's event loop; yields its base URL.
    `options` go to `uvicorn.Config` (our server's protocol: `http=`).

    The socket is bound here and handed to uvicorn, so that no other process (a parallel test worker)
    can take the port between choosing it and listening on it.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
