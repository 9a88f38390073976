"""Loop mechanics shared by every background worker: run a step while it finds work, else sleep until a
wake-up, a timer or the next poll; run a job every interval; both stop promptly when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

import structlog

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[int]]
Idle = Callable[[], Awaitable[float]]
#: Told after every step: the loop's name, and whether the step found work (`queue.heartbeat`).
Beat = Callable[[str, bool], None]


async def wait_any(events: Iterable[asyncio.Event], seconds: float) -> None:
    """Return when one of `events` is set or after `seconds`, whichever comes first."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def run_loop(
    name: str,
    step: Step,
    wake: asyncio.Event,
    stop: asyncio.Event,
    idle: Idle,
    beat: Beat | None = None,
) -> None:
    """Run `step` while it finds work; otherwise sleep until woken, stopped, or `idle()` seconds pass."""
    while not stop.is_set():
        wake.clear()
        try:
            found = await step()
        except Exception as exc:  # the loop must survive a bad moment of the database or a dependency
            log.error("worker step failed", loop=name, error=type(exc).__name__, exc_info=exc)
            found = 0
            await wait_any([stop], 1.0)
        else:
            if beat is not None:
                beat(name, bool(found))
        if found:
            continue
        try:
            timeout = await idle()
        except Exception:
            timeout = 1.0
        await wait_any([wake, stop], timeout)


async def run_periodic(
    name: str, step: Step, interval: float, stop: asyncio.Event, beat: Beat | None = None
) -> None:
    """Run `step` now and then every `interval` seconds until stopped; a failure waits for the next turn."""
    while not stop.is_set():
        try:
            found = await step()
        except Exception as exc:
            log.error("periodic job failed", job=name, error=type(exc).__name__, exc_info=exc)
        else:
            if beat is not None:
                beat(name, bool(found))
        await wait_any([stop], interval)


def poll_or_sooner(poll: float, due_in: float | None, floor: float = 0.01) -> float:
    """The idle sleep of a loop whose next item is due in `due_in` seconds (None: nothing scheduled)."""
    return poll if due_in is None else min(poll, max(due_in, floor))


class SingleFlight:
    """At most one run of a step at a time: a caller arriving while a run is in flight waits for that run
    and gets its result, instead of starting another (the trigger endpoints: many callers, one run)."""

    def __init__(self, step: Step) -> None:
        self._step = step
        self._running: asyncio.Task[int] | None = None

    async def run(self) -> int:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._step())
        # shield: a caller that goes away must not cancel the run the others wait for
        return await asyncio.shield(self._running)
