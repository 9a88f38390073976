"""Fixtures to run the real background loops in the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.processing.worker import ProcessingConfig
from altinn_notifications.queue.maintenance import MaintenanceSettings
from altinn_notifications.workers import WorkerConfig, Workers

FAST_PROCESSING = ProcessingConfig(
    condition_retry_delay=timedelta(seconds=0.5), retry_base_delay=timedelta(seconds=0.5)
)
FAST_DISPATCH = DispatchConfig(retry_base_seconds=0.2)
FAST_MAINTENANCE = MaintenanceSettings(lease_rescue_interval=0.5, ttl_interval=0.5)

RunWorkers = Callable[..., Any]


@pytest.fixture
def run_workers(container: Container) -> RunWorkers:
    """`async with run_workers(...)`: the workers run meanwhile, over the test's `container` unless one is
    given (`container=make_container(email_provider=...)`); the other options: poll_interval, processing,
    dispatch, clock."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Workers]:
        workers = Workers(
            overrides.get("container", container),
            WorkerConfig(poll_interval=overrides.get("poll_interval", 0.2)),
            processing=overrides.get("processing", FAST_PROCESSING),
            dispatch=overrides.get("dispatch", FAST_DISPATCH),
            maintenance=FAST_MAINTENANCE,
            clock=overrides.get("clock"),
        )
        task = asyncio.create_task(workers.run())
        try:
            yield workers
        finally:
            workers.request_stop()
            await asyncio.wait_for(task, 10)

    return run


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 10.0, interval: float = 0.05
) -> None:
    """Poll until `check()` is true; fail with a clear message at the deadline."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)
