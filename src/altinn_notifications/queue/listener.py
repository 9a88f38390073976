"""One connection LISTENing on the queue's channels, setting an event per channel on each NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

from altinn_notifications.queue.loop import wait_any

log = structlog.get_logger(__name__)


class Listener:
    """Holds one LISTEN connection; reconnects when it drops (polling covers the gap)."""

    def __init__(self, database_url: str, events: dict[str, list[asyncio.Event]]) -> None:
        self.database_url = database_url
        self.events = events

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            conn: Any = None
            try:
                conn = await asyncpg.connect(self.database_url)
                for channel in self.events:
                    await conn.add_listener(channel, self._on_notify)
                await wait_any([stop], float("inf"))
            except Exception as exc:
                log.warning("listen connection lost", error=type(exc).__name__)
                await wait_any([stop], 1.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)

    def _on_notify(self, _conn: object, _pid: int, channel: str, _payload: str) -> None:
        for event in self.events.get(channel, ()):
            event.set()
