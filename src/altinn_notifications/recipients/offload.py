"""CPU-heavy steps of one large order, run off the event loop on a thread of their own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
#: Above this many items, CPU-heavy steps of one order run in a thread rather than on the event loop.
OFF_LOOP_AT = 2_000


class _LargeWorkThread:
    """The thread large-order work runs on, started on first use (importing starts nothing).

    Not the loop's default executor, which also resolves host names for new connections; one thread is
    enough, the GIL lets only one such step run at a time anyway.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # event loops in several threads may ask at once
        self._executor: ThreadPoolExecutor | None = None

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="large-order")
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            # Without waiting: a step still running belongs to a caller that is being stopped.
            executor.shutdown(wait=False, cancel_futures=True)


_LARGE_WORK = _LargeWorkThread()


async def off_loop_if_large(items: int, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)`, on `items` items: inline when few, else in the large-order thread, so that
    seconds of CPU (validating 100,000 mobile numbers, say) never stall the worker's other loops."""
    if items < OFF_LOOP_AT:
        return function(*args)
    return await asyncio.get_running_loop().run_in_executor(_LARGE_WORK.executor(), function, *args)


def close_large_work_thread() -> None:
    """Stop the large-order thread, if started (at shutdown; a later large step starts a new one)."""
    _LARGE_WORK.close()
