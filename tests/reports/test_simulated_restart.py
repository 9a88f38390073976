"""The simulated vendors' delivery reports survive a restart (reports/worker.py `DurableReportSchedule`).

A report the simulated vendor promised is in the database before its send result is written, and any
worker delivers it when due through the report path of real vendors. First in one process (two worker
sets, the second with new provider objects: nothing carried over in memory), then with real processes:
`altinn-notifications serve` places and sends an order, is killed with SIGKILL while the reports are
still due later, and a fresh `worker` process delivers them.

Report due times: the killed service runs with a report delay of an hour; after the kill the test moves
the due time of those reports to now, which is time passing (as the crash-safety tests do with leases).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.db.pool import transactions
from altinn_notifications.providers.email.simulated import SimulatedEmailProvider
from altinn_notifications.providers.sms.simulated import SimulatedSmsProvider
from altinn_notifications.reports.worker import DurableReportSchedule
from tests.conftest import ContainerFactory, TokenFactory
from tests.factories import email_order, insert_orders
from tests.loopback import free_port
from tests.pipeline.conftest import RunWorkers, eventually

ROOT = Path(__file__).resolve().parents[2]
#: The console script's entry point, run by this interpreter over this checkout's sources.
CLI = [sys.executable, "-c", "from altinn_notifications.cli import app; app()"]
V1 = "/notifications/api/v1"


async def _results(container: Container) -> list[str]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch("SELECT result::text AS r FROM emailnotifications ORDER BY _id")
    return [r["r"] for r in rows]


async def _scheduled(container: Container) -> list[tuple[int, bool]]:
    """(attempts, due already) of every report waiting in the database."""
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT attemptcount, next_attempt_at <= now() AS due FROM deliveryreportretries ORDER BY id"
        )
    return [(r["attemptcount"], r["due"]) for r in rows]


async def _time_passes(container: Container) -> None:
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE deliveryreportretries SET next_attempt_at = now() WHERE attemptcount = 0")


def _fresh_simulated(make_container: ContainerFactory, report_delay: float) -> Container:
    """The container as a newly started process has it: new simulated providers over the database."""
    base = make_container()
    scheduled = DurableReportSchedule(transactions(base.pool), base.clock)
    return make_container(
        email_provider=SimulatedEmailProvider(None, report_delay=report_delay, reports=scheduled),
        sms_provider=SimulatedSmsProvider(None, report_delay=report_delay, reports=scheduled),
    )


async def test_reports_promised_before_a_stop_are_delivered_by_the_next_workers(
    make_container: ContainerFactory, run_workers: RunWorkers
) -> None:
    first = _fresh_simulated(make_container, report_delay=3600)
    await insert_orders(first, [email_order(["a@example.no", "bounce@test.com"])])

    async def sent() -> bool:
        return await _results(first) == ["Succeeded", "Succeeded"]

    async with run_workers(container=first):
        await eventually(sent)
    assert await _scheduled(first) == [(0, False), (0, False)]

    await _time_passes(first)
    second = _fresh_simulated(make_container, report_delay=3600)

    async def reported() -> bool:
        return sorted(await _results(second)) == ["Delivered", "Failed_Bounced"]

    async with run_workers(container=second):
        await eventually(reported)
    assert await _scheduled(second) == []


# --- real processes ---


def _environment(container: Container, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFICATIONS_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]),
        NOTIFICATIONS_DATABASE_URL=container.database_url,
        NOTIFICATIONS_DATA_DIR=str(container.settings.data_dir),  # the test tokens' signing key
        NOTIFICATIONS_RUN_MIGRATIONS="false",
        NOTIFICATIONS_POLL_INTERVAL_SECONDS="0.2",
        NOTIFICATIONS_OUTBOX_ENABLED="false",
        NOTIFICATIONS_LOG_FORMAT="json",
        **extra,
    )
    return env


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[asyncio.subprocess.Process]]]:
    started: list[asyncio.subprocess.Process] = []

    async def start(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        log = tmp_path / f"process-{len(started) + 1}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *CLI, *args, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env
            )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.mark.slow
async def test_a_killed_serve_loses_no_simulated_report(
    container: Container,
    make_token: TokenFactory,
    processes: Callable[..., Awaitable[asyncio.subprocess.Process]],
) -> None:
    port = free_port()
    serve = await processes(
        "serve",
        "--port",
        str(port),
        env=_environment(container, NOTIFICATIONS_SIMULATED_REPORT_DELAY_SECONDS="3600"),
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=5) as http:

        async def healthy() -> bool:
            assert serve.returncode is None, "serve exited during start-up"
            try:
                return (await http.get("/health")).text == "Healthy"
            except httpx.TransportError:
                return False

        await eventually(healthy, within=60)
        response = await http.post(
            f"{V1}/orders/email",
            json={
                "subject": "s",
                "body": "b",
                "recipients": [{"emailAddress": f"r{i}@example.no"} for i in range(3)],
            },
            headers={"Authorization": f"Bearer {make_token('ttd')}"},
        )
        assert response.status_code == 202, response.text

    async def sent() -> bool:
        return await _results(container) == ["Succeeded"] * 3

    await eventually(sent, within=30)
    serve.kill()  # SIGKILL: the reports promised are only in the database now
    await serve.wait()
    assert await _scheduled(container) == [(0, False)] * 3

    await _time_passes(container)
    await processes("worker", env=_environment(container))

    async def delivered() -> bool:
        return await _results(container) == ["Delivered"] * 3

    await eventually(delivered, within=30)
    async with container.pool.acquire() as conn:
        assert await conn.fetchval("SELECT processedstatus::text FROM orders") == "Completed"
    assert await _scheduled(container) == []
