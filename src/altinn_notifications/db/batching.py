"""Group commit for the intake's one-statement writes.

An accepted order is one statement (the order row, its texts, the workers' wake-up; with a rate limit,
the take from the sender's allowance too). Sent one by one, each costs a pooled connection, a round trip
and a commit, and on a busy API that is a large part of the order's CPU. `StatementBatcher` sends the
statements of the requests that arrive while a write is under way together: each query's calls as one
pipelined `fetchmany` (one round trip), all of them in one transaction. At low load a statement goes out
at once, alone: nothing waits for a batch to fill.

Each call still gets its own answer: its statement's one row. When a batch fails (a deadlock with another
process, a value PostgreSQL refuses), its calls are run again one by one, each in its own implicit
transaction, so that one bad statement fails only its own request. Nothing is kept in memory past the
call: a process killed during a batch has committed all of it or none, and no caller was answered.

Calls of one query are sent in the order of their `order_key` (the creator): two processes' batches then
lock the senders' allowance rows in the same order and cannot deadlock over them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from altinn_notifications.db.pool import Pool

#: Most statements in one batch (a write takes what arrived meanwhile, up to this many).
MAX_BATCH = 64
#: Batches written at once: while one is on its way, the next one's requests need not wait for it.
WRITERS = 2


@dataclass
class _Call:
    query: str
    args: tuple[object, ...]
    order_key: str
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def answer(self, row: Any) -> None:
        if not self.future.done():
            self.future.set_result(row)

    def fail(self, error: BaseException) -> None:
        if self.future.done():
            return
        if isinstance(error, asyncio.CancelledError):  # the writer was cancelled (shutdown)
            self.future.cancel()
        else:
            self.future.set_exception(error)


class _CountMismatch(Exception):
    """A query answered other than one row per call: the batch is run again one by one."""


class StatementBatcher:
    """Runs one-row statements, grouping those that arrive while a write is under way (module docstring)."""

    def __init__(self, pool: Pool, *, max_batch: int = MAX_BATCH, writers: int = WRITERS) -> None:
        self._pool = pool
        self._max_batch = max(1, max_batch)
        self._most_writers = max(1, writers)
        self._pending: list[_Call] = []
        # Writers whose loop has not ended. A writer leaves in the same step as its last look at
        # `_pending` (so a call added after that starts a new one), or, cancelled before its first step,
        # when it is done.
        self._writers: set[asyncio.Task[None]] = set()
        self.largest_batch = 0  # for the logs and the tests

    async def fetchrow(self, query: str, *args: object, order_key: str = "") -> Any:
        """The statement's one row, once its batch has committed."""
        call = _Call(query, args, order_key)
        self._pending.append(call)
        if len(self._writers) < self._most_writers:
            writer = asyncio.create_task(self._write_loop(), name="statement-batcher")
            self._writers.add(writer)
            writer.add_done_callback(self._writer_done)
        # A caller that goes away cancels only its own future: the batch is the writer task's.
        return await call.future

    async def _write_loop(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                self.largest_batch = max(self.largest_batch, len(batch))
                try:
                    await self._write(batch)
                # Shutdown: this batch's callers learn it here, the queued ones in `_writer_done`.
                except BaseException as exc:
                    for call in batch:
                        call.fail(exc)
                    raise
        finally:
            current = asyncio.current_task()
            if current is not None:
                self._writers.discard(current)  # see `__init__`

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        self._writers.discard(writer)
        if writer.cancelled() or writer.exception() is not None:  # shutdown: no call waits in vain
            stranded, self._pending = self._pending, []
            for call in stranded:
                call.fail(asyncio.CancelledError())

    async def _write(self, batch: list[_Call]) -> None:
        if len(batch) == 1:
            await self._one(batch[0])
            return
        try:
            rows = await self._together(batch)
        except Exception:
            for call in batch:  # one connection at a time: a bad statement must not crowd the pool
                await self._one(call)
            return
        for call, row in rows:
            call.answer(row)

    async def _together(self, batch: list[_Call]) -> list[tuple[_Call, Any]]:
        groups: dict[str, list[_Call]] = defaultdict(list)
        for call in batch:
            groups[call.query].append(call)
        answered: list[tuple[_Call, Any]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for query in sorted(groups):
                calls = sorted(groups[query], key=lambda c: c.order_key)
                rows = await conn.fetchmany(query, [c.args for c in calls])
                if len(rows) != len(calls):
                    raise _CountMismatch(query)
                answered.extend(zip(calls, rows, strict=True))
        return answered

    async def _one(self, call: _Call) -> None:
        try:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(call.query, *call.args)
        except Exception as exc:
            call.fail(exc)
        else:
            call.answer(row)

    async def close(self) -> None:
        """Wait for the statements already handed over (shutdown)."""
        await asyncio.gather(*list(self._writers), return_exceptions=True)
