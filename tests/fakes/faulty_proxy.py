"""An HTTP proxy on loopback that misbehaves on cue, in front of a real service.

Each request takes the next fault from `faults` (when it is empty, requests pass):

- `"pass"`: forwarded; the answer is relayed.
- `"drop"`: the connection is closed before anything is forwarded (the service never sees the request).
- `"lose-answer"`: forwarded (the service does the work), then the connection is closed without an answer.
- `Status(code, retry_after)`: answered by the proxy with that status (and `Retry-After`), not forwarded.

Every answer carries `Connection: close`, so each request arrives on a connection of its own.
`seen` lists (method, path, fault, monotonic time) of every request, `forwarded` counts those passed on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus

import httpx


@dataclass(frozen=True)
class Status:
    code: int
    retry_after: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    fault: str
    at: float


@dataclass
class FaultyProxy:
    upstream: str
    faults: list[str | Status] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    forwarded: int = 0

    async def _read_request(
        self, reader: asyncio.StreamReader
    ) -> tuple[str, str, list[tuple[str, str]], bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
        length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
        body = await reader.readexactly(length) if length else b""
        return method, target, [(k, v) for k, v in headers], body

    async def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> httpx.Response:
        keep = [(k, v) for k, v in headers if k.lower() not in ("host", "connection", "content-length")]
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as http:
            self.forwarded += 1
            return await http.request(method, target, headers=keep, content=body)

    @staticmethod
    def _answer(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [
            f"{k}: {v}"
            for k, v in headers
            if k.lower() not in ("content-length", "connection", "transfer-encoding")
        ]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, headers, body = await self._read_request(reader)
            fault = self.faults.pop(0) if self.faults else "pass"
            name = fault if isinstance(fault, str) else f"status {fault.code}"
            self.seen.append(Seen(method, target.split("?")[0], name, time.monotonic()))
            if fault == "drop":
                return
            if isinstance(fault, Status):
                extra = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
                writer.write(
                    self._answer(fault.code, [("Content-Type", "text/plain"), *extra], b"proxy says no")
                )
                await writer.drain()
                return
            response = await self._forward(method, target, headers, body)
            if fault == "lose-answer":
                return
            writer.write(self._answer(response.status_code, list(response.headers.items()), response.content))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
            await server.wait_closed()
