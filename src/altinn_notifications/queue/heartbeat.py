"""Worker liveness: each loop notes in memory when it last ran its step (and when that found work); a
periodic job writes the notes of the process to `workerheartbeats` in one statement, so a busy loop
costs no extra database write per step. The console's overview reads them."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from altinn_notifications.db.pool import Transaction
from altinn_notifications.queue.repository import QueueRepository

#: How long a silent worker's rows are kept (a process that stopped, or a host that went away).
FORGET_AFTER = timedelta(days=1)
#: How often a worker writes its heartbeats.
FLUSH_INTERVAL_SECONDS = 5.0


def worker_name() -> str:
    """This process: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeats:
    def __init__(self, worker: str | None = None) -> None:
        self.worker = worker or worker_name()
        self._steps: dict[str, datetime] = {}
        self._found: dict[str, datetime] = {}
        self._dirty: set[str] = set()

    def beat(self, loop: str, found: bool) -> None:
        """`loop` just ran its step; `found`: the step found work (claimed something)."""
        now = datetime.now(UTC)
        self._steps[loop] = now
        if found:
            self._found[loop] = now
        self._dirty.add(loop)

    async def flush(self, transaction: Transaction) -> int:
        """Write the loops that beat since the last flush; returns how many."""
        loops, self._dirty = sorted(self._dirty), set()
        if not loops:
            return 0
        beats = [(loop, self._steps[loop], self._found.get(loop)) for loop in loops]
        try:
            async with transaction() as conn:
                await QueueRepository(conn).record_heartbeats(self.worker, beats, FORGET_AFTER)
        except BaseException:
            self._dirty.update(loops)  # try again next time
            raise
        return len(loops)


async def recent_heartbeats(
    transaction: Transaction, since: timedelta
) -> list[tuple[str, str, datetime, datetime | None]]:
    async with transaction() as conn:
        return await QueueRepository(conn).heartbeats(since)
