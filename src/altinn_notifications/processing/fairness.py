"""Condition calls in a pool of their own, shared fairly among senders (docs/architecture.md, "Fairness").

A send condition is a call to an endpoint the sender chose; it may take up to the condition timeout. Such
calls therefore never hold one of the worker's processing slots (those are for the lookup and generation
every order needs): they wait here instead, at most `concurrency` at a time in this process and at most
`per_creator` of one creator. A creator's calls queue on the creator's own limit before they take one of
the pool's, so one sender's slow endpoint occupies at most `per_creator` calls and never the others'.

The worker asks `backed_up()` before each claim: a creator with `per_creator` calls waiting beyond those
in flight (or every creator with calls waiting, when the pool as a whole has a queue as long as itself)
is left out of the claim, so a slow endpoint's orders are not claimed faster than they are answered.

On stop, calls still queued (not started) end at once with `ConditionPoolStopped`: the worker hands
their orders back instead of waiting for a slow endpoint's queue before it can exit.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from altinn_notifications.processing.condition import ConditionPort


class ConditionPoolStopped(Exception):
    """The pool was stopped before this call could start."""


class ConditionPool:
    def __init__(self, concurrency: int, per_creator: int) -> None:
        self.concurrency = concurrency
        self.per_creator = per_creator
        self._all = asyncio.Semaphore(concurrency)
        self._creators: dict[str, asyncio.Semaphore] = {}
        #: Calls asked for and not finished (in flight or queued), per creator.
        self._waiting: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self._queued: set[asyncio.Task[object]] = set()
        self._stopped = False

    def stop(self) -> None:
        """Calls queued from now on, or already queued, end with `ConditionPoolStopped`."""
        self._stopped = True
        for task in list(self._queued):
            task.cancel()

    def waiting(self, creator: str | None = None) -> int:
        """Calls in flight or queued: of `creator`, or of everybody."""
        return self._waiting[creator] if creator is not None else sum(self._waiting.values())

    def backed_up(self) -> list[str]:
        """Creators whose orders the next claim should leave out (see the module docstring)."""
        if self.waiting() >= 2 * self.concurrency:
            return sorted(self._waiting)
        return sorted(c for c, n in self._waiting.items() if n >= 2 * self.per_creator)

    async def check(self, condition: ConditionPort, creator: str, endpoint: str) -> bool | None:
        """`condition.check(endpoint)` within the limits: the creator's first, then the pool's."""
        if self._stopped:
            raise ConditionPoolStopped()
        self._waiting[creator] += 1
        own = self._creators.setdefault(creator, asyncio.Semaphore(self.per_creator))
        try:
            await self._queue_for(own)
            try:
                await self._queue_for(self._all)
                try:
                    self.in_flight[creator] += 1
                    return await condition.check(endpoint)
                finally:
                    self.in_flight[creator] -= 1
                    if not self.in_flight[creator]:
                        del self.in_flight[creator]
                    self._all.release()
            finally:
                own.release()
        finally:
            self._waiting[creator] -= 1
            if not self._waiting[creator]:
                del self._waiting[creator]
                self._creators.pop(creator, None)

    async def _queue_for(self, limit: asyncio.Semaphore) -> None:
        """Acquire `limit`, waiting in the queue that `stop` empties."""
        task = asyncio.current_task()
        assert task is not None
        self._queued.add(task)
        try:
            if self._stopped:
                raise ConditionPoolStopped()
            await limit.acquire()
        except asyncio.CancelledError:
            if not self._stopped:
                raise
            task.uncancel()
            raise ConditionPoolStopped() from None
        finally:
            self._queued.discard(task)
