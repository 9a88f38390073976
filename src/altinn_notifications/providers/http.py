"""HTTP clients for vendors that take hundreds of requests in flight.

One httpx client (httpcore pool) with hundreds of connections costs CPU per request in proportion to its
connections: every request start and end walks the whole pool (`has_expired` on each connection). Spread
over several small clients, each request walks one small pool; a request goes to the client with the
fewest requests in flight. The total number of connections is what the vendor's setting allows
(one per request in flight, HTTP/1.1).
"""

from __future__ import annotations

import math
from typing import Any

import httpx

#: Connections per client: small enough that a pool walk is cheap, large enough that few clients exist.
CONNECTIONS_PER_CLIENT = 16


class SpreadClients:
    """`build_request`, `send`, `post` and `aclose` of `httpx.AsyncClient`, over several clients."""

    def __init__(self, connections: int, *, timeout: float, per_client: int = CONNECTIONS_PER_CLIENT) -> None:
        count = max(1, math.ceil(connections / per_client))
        size = max(1, math.ceil(connections / count))
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        self._clients = [
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, limits=limits) for _ in range(count)
        ]
        self._busy = [0] * count

    def build_request(self, method: str, url: str, **kwargs: Any) -> httpx.Request:
        return self._clients[0].build_request(method, url, **kwargs)

    async def send(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            return await self._clients[index].send(request)
        finally:
            self._busy[index] -= 1

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.send(self.build_request("POST", url, **kwargs))

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
