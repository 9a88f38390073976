"""Crash safety with real processes (docs/architecture.md, "The queue": "Crash a worker at any point: nothing is lost, nothing
stays stuck, duplicates are bounded by the work in flight at the crash").

`altinn-notifications worker` runs as a subprocess against the test database and is killed with SIGKILL;
a fresh worker process then finishes the job once the leases of the dead one have run out. The SMTP
server (aiosmtpd, in the test process) counts what it receives per `X-Notification-Id`.

Leases: the workers run with `NOTIFICATIONS_LEASE_SECONDS=30` (the tests check that claims carry it), long
enough that no live batch is ever rescued under a loaded machine. After the kill the test moves the dead
worker's `claimed_until` into the past, which is time passing, not a shortcut through the code: the new
worker's maintenance loop (which runs at start) then rescues exactly those rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.recipients.registry import import_registry_document
from tests.conftest import LOOPBACK_NETWORKS
from tests.loopback import serve
from tests.pipeline.conftest import eventually

pytestmark = pytest.mark.slow

LEASE_SECONDS = 30.0
DISPATCH_BATCH = 50
DISPATCH_CONCURRENCY = 5
SENDING_RECIPIENTS = 1000  # SMTP on loopback manages ~250 messages/s here: keep the run short
ORG_USERS = 2000
WORKER = Path(sys.executable).with_name("altinn-notifications")


# --- a real SMTP server that counts per notification id ---


@dataclass
class CountingMailbox:
    delay: float = 0.0
    received: Counter[str] = field(default_factory=Counter)
    _parser: BytesHeaderParser = field(default_factory=BytesHeaderParser)

    async def handle_DATA(self, server: SMTPServerProtocol, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow relay, so that a kill lands mid-batch
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        self.received[str(self._parser.parsebytes(content)["X-Notification-Id"])] += 1
        return "250 2.0.0 Ok: queued"


@pytest.fixture
async def mailbox() -> AsyncIterator[tuple[CountingMailbox, int]]:
    box = CountingMailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTPServerProtocol(box, hostname="smtp.test", loop=loop), "127.0.0.1", 0
    )
    try:
        yield box, server.sockets[0].getsockname()[1]
    finally:
        server.close()


# --- worker processes ---


@dataclass
class WorkerProcesses:
    database_url: str
    data_dir: Path
    started: list[asyncio.subprocess.Process] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    async def start(self, **env: str) -> asyncio.subprocess.Process:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFICATIONS_")}
        environment.update(
            NOTIFICATIONS_DATABASE_URL=self.database_url,
            NOTIFICATIONS_DATA_DIR=str(self.data_dir),
            NOTIFICATIONS_RUN_MIGRATIONS="false",
            NOTIFICATIONS_OUTBOX_ENABLED="false",
            NOTIFICATIONS_POLL_INTERVAL_SECONDS="0.2",
            NOTIFICATIONS_LEASE_SECONDS=str(LEASE_SECONDS),
            NOTIFICATIONS_MAINTENANCE_INTERVAL_SECONDS="0.5",
            NOTIFICATIONS_DISPATCH_BATCH_SIZE=str(DISPATCH_BATCH),
            NOTIFICATIONS_DISPATCH_CONCURRENCY=str(DISPATCH_CONCURRENCY),
            NOTIFICATIONS_LOG_FORMAT="json",
            # The condition endpoints of these tests listen on loopback (refused by default).
            NOTIFICATIONS_OUTBOUND_ALLOWED_HOSTS=json.dumps(LOOPBACK_NETWORKS),
        )
        environment.update(env)
        log = self.data_dir / f"worker-{len(self.started) + 1}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                str(WORKER), "worker", stdout=out, stderr=asyncio.subprocess.STDOUT, env=environment
            )
        self.started.append(process)
        self.logs.append(log)
        return process

    async def kill(self, process: asyncio.subprocess.Process) -> None:
        process.kill()  # SIGKILL: no clean-up of any kind
        await asyncio.wait_for(process.wait(), 10)

    async def stop(self, process: asyncio.subprocess.Process) -> int:
        process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(process.wait(), 15)

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in self.logs)


@pytest.fixture
async def workers(database_url: str, tmp_path: Path, container: Container) -> AsyncIterator[WorkerProcesses]:
    """Worker subprocesses over the (emptied) test database; every one is gone after the test."""
    processes = WorkerProcesses(database_url, tmp_path)
    try:
        yield processes
    finally:
        for process in processes.started:
            if process.returncode is None:
                process.kill()
                await process.wait()


# --- data and database helpers ---


def _order(recipients: list[Recipient], **extra: Any) -> NotificationOrder:
    now = datetime.now(UTC)
    return NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=now,
        requested_send_time=now,
        notification_channel=NotificationChannel.Email,
        email_template=EmailTemplate(from_address="noreply@altinn.no", subject="Crash test", body="b"),
        recipients=recipients,
        **extra,
    )


async def _insert(container: Container, order: NotificationOrder) -> int:
    async with container.transaction() as conn:
        return await OrderRepository(conn).insert(order)


async def _fetchval(container: Container, sql: str, *args: Any) -> Any:
    async with container.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def _results(container: Container, order_id: int) -> Counter[str]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT result::text, count(*) AS n FROM emailnotifications WHERE _orderid = $1 GROUP BY 1",
            order_id,
        )
    return Counter({r["result"]: r["n"] for r in rows})


async def _let_leases_expire(container: Container) -> tuple[int, int]:
    """Time passes: every lease held by the dead worker is over. Returns (orders, notifications) held."""
    async with container.transaction() as conn:
        orders: str = await conn.execute(
            """UPDATE orders SET claimed_until = now() - interval '1 second'
               WHERE processedstatus = 'Processing' AND claimed_until IS NOT NULL"""
        )
        emails: str = await conn.execute(
            """UPDATE emailnotifications SET claimed_until = now() - interval '1 second'
               WHERE result = 'Sending' AND claimed_until IS NOT NULL"""
        )
    return int(orders.split()[-1]), int(emails.split()[-1])


def _order_is(container: Container, order_id: int, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(
            await _fetchval(container, "SELECT processedstatus::text FROM orders WHERE _id = $1", order_id)
            == status
        )

    return check


# --- scenario A: killed while sending ---


async def test_worker_killed_while_sending_loses_nothing_and_duplicates_only_what_was_in_flight(
    container: Container, workers: WorkerProcesses, mailbox: tuple[CountingMailbox, int]
) -> None:
    box, smtp_port = mailbox
    smtp = {
        "NOTIFICATIONS_EMAIL_PROVIDER": "smtp",
        "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "NOTIFICATIONS_SMTP_PORT": str(smtp_port),
    }
    order_id = await _insert(
        container,
        _order([Recipient(email_address=f"r{i:04d}@example.no") for i in range(SENDING_RECIPIENTS)]),
    )
    box.delay = 0.05
    first = await workers.start(**smtp)

    async def sending_in_earnest() -> bool:
        assert first.returncode is None, workers.tail()
        return len(box.received) >= 220  # some, not all, and not at a batch boundary

    await eventually(sending_in_earnest, within=30, interval=0.02)
    await workers.kill(first)

    async with container.pool.acquire() as conn:
        at_kill = await conn.fetch(
            "SELECT alternateid::text AS id, result::text FROM emailnotifications WHERE _orderid = $1",
            order_id,
        )
        status_at_kill = await conn.fetchval(
            "SELECT processedstatus::text FROM orders WHERE _id = $1", order_id
        )
        leases = await conn.fetch(
            """SELECT DISTINCT round(EXTRACT(EPOCH FROM claimed_until - resulttime)) AS seconds
               FROM emailnotifications WHERE _orderid = $1 AND result = 'Sending'""",
            order_id,
        )
    assert [r["seconds"] for r in leases] == [LEASE_SECONDS], "claims carry NOTIFICATIONS_LEASE_SECONDS"
    in_flight = {r["id"] for r in at_kill if r["result"] == "Sending"}
    delivered_at_kill = {r["id"] for r in at_kill if r["result"] == "Delivered"}
    received_at_kill = Counter(box.received)
    assert len(at_kill) == SENDING_RECIPIENTS, "the order was fully processed before the kill"
    assert status_at_kill == "Processed"
    assert in_flight, "the kill landed mid-batch"
    assert len(in_flight) <= DISPATCH_BATCH
    assert 0 < len(received_at_kill) < SENDING_RECIPIENTS
    # What the database already calls Delivered was received; what was received and is not yet recorded
    # belongs to the batch in flight.
    assert delivered_at_kill <= set(received_at_kill)
    assert set(received_at_kill) - delivered_at_kill <= in_flight

    assert await _let_leases_expire(container) == (0, len(in_flight))
    box.delay = 0.0
    restarted = asyncio.get_running_loop().time()
    second = await workers.start(
        **smtp,
        NOTIFICATIONS_DISPATCH_BATCH_SIZE="200",
        NOTIFICATIONS_DISPATCH_CONCURRENCY="20",
        NOTIFICATIONS_SMTP_MAX_CONNECTIONS="20",
    )

    async def completed() -> bool:
        assert second.returncode is None, workers.tail()
        return await _order_is(container, order_id, "Completed")()

    await eventually(completed, within=60, interval=0.1)
    recovery = asyncio.get_running_loop().time() - restarted
    assert await workers.stop(second) == 0, workers.tail()  # a graceful stop on SIGTERM

    async with container.pool.acquire() as conn:
        final = await conn.fetch(
            "SELECT alternateid::text AS id, result::text, toaddress FROM emailnotifications WHERE _orderid = $1",
            order_id,
        )
        feed = await conn.fetchval("SELECT count(*) FROM statusfeed WHERE orderid = $1", order_id)
    assert len(final) == SENDING_RECIPIENTS
    assert len({r["toaddress"] for r in final}) == SENDING_RECIPIENTS
    assert {r["result"] for r in final} == {"Delivered"}
    assert feed == 1
    # Nothing lost: every notification reached the server; duplicates only among those in flight.
    assert set(box.received) == {r["id"] for r in final}
    duplicated = {nid for nid, n in box.received.items() if n > 1}
    assert duplicated <= in_flight
    assert max(box.received.values()) <= 2
    print(
        f"\n[crash A] recipients={SENDING_RECIPIENTS} received_at_kill={len(received_at_kill)} "
        f"delivered_in_db_at_kill={len(delivered_at_kill)} in_flight(Sending)={len(in_flight)} "
        f"duplicates={len(duplicated)} total_received={sum(box.received.values())} recovery={recovery:.1f}s"
    )


# --- scenario B: killed while processing the order ---


@dataclass
class HeldCondition:
    """A condition endpoint that holds its first caller (the worker to be killed), then answers true."""

    calls: int = 0
    first_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        async def answer(request: Request) -> JSONResponse:
            self.calls += 1
            if self.calls == 1:
                self.first_arrived.set()
                await self.release.wait()
            return JSONResponse({"sendNotification": True})

        return Starlette(routes=[Route("/condition", answer)])


RESOURCE = "urn:altinn:resource:ttd_crash"


async def _large_organisation(container: Container) -> None:
    users = [
        {"userId": 30000000 + i, "email": f"user{i:04d}@firma.no", "resources": [RESOURCE]}
        for i in range(ORG_USERS)
    ]
    document = {
        "organizations": [
            {
                "organizationNumber": "810419652",
                "name": "Stor Firma AS",
                "emails": ["post@firma.no"],
                "mobileNumbers": [],
                "users": users,
            }
        ]
    }
    await import_registry_document(container.pool, document)


@pytest.mark.parametrize("moment", ["awaiting-condition", "just-claimed"])
async def test_worker_killed_while_processing_an_order_reprocesses_it_once(
    container: Container, workers: WorkerProcesses, moment: str
) -> None:
    await _large_organisation(container)
    expected = ORG_USERS + 1  # the official address plus every user holding the resource
    simulated = {
        "NOTIFICATIONS_EMAIL_PROVIDER": "simulated",
        "NOTIFICATIONS_SIMULATED_REPORT_DELAY_SECONDS": "0.05",
    }
    condition = HeldCondition()
    async with serve(condition.app()) as base:
        extra: dict[str, Any] = {"resource_id": RESOURCE}
        if moment == "awaiting-condition":
            extra["condition_endpoint"] = f"{base}/condition"
        order_id = await _insert(container, _order([Recipient(organization_number="810419652")], **extra))
        first = await workers.start(**simulated)

        if moment == "awaiting-condition":
            await asyncio.wait_for(condition.first_arrived.wait(), 30)
        else:

            async def claimed() -> bool:
                assert first.returncode is None, workers.tail()
                return await _order_is(container, order_id, "Processing")()

            await eventually(claimed, within=30, interval=0.005)
        await workers.kill(first)
        condition.release.set()

        status_at_kill = await _fetchval(
            container, "SELECT processedstatus::text FROM orders WHERE _id = $1", order_id
        )
        if status_at_kill == "Processing":
            lease = await _fetchval(
                container,
                "SELECT EXTRACT(EPOCH FROM claimed_until - processed) FROM orders WHERE _id = $1",
                order_id,
            )
            assert round(lease) == LEASE_SECONDS, "claims carry NOTIFICATIONS_LEASE_SECONDS"
        await _let_leases_expire(container)
        rows_at_kill = sum((await _results(container, order_id)).values())
        if moment == "awaiting-condition":
            assert (status_at_kill, rows_at_kill) == ("Processing", 0)
        # Killed mid-processing, nothing is committed; if the worker got there first, everything is.
        assert (status_at_kill, rows_at_kill) in {
            ("Processing", 0),
            ("Processed", expected),
            ("Completed", expected),
        }

        second = await workers.start(**simulated)

        async def completed() -> bool:
            assert second.returncode is None, workers.tail()
            return await _order_is(container, order_id, "Completed")()

        await eventually(completed, within=60, interval=0.1)
        assert await workers.stop(second) == 0, workers.tail()

    async with container.pool.acquire() as conn:
        rows = await conn.fetchval("SELECT count(*) FROM emailnotifications WHERE _orderid = $1", order_id)
        distinct = await conn.fetchval(
            "SELECT count(DISTINCT toaddress) FROM emailnotifications WHERE _orderid = $1", order_id
        )
        attempts = await conn.fetchval("SELECT attempts FROM orders WHERE _id = $1", order_id)
        feed = await conn.fetchval("SELECT count(*) FROM statusfeed WHERE orderid = $1", order_id)
    assert rows == distinct == expected  # processed once: no duplicate notification rows
    assert await _results(container, order_id) == Counter({"Delivered": expected})
    assert feed == 1
    if status_at_kill == "Processing":
        assert attempts == 2  # claimed by the dead worker, rescued after its lease, claimed once more
    if moment == "awaiting-condition":
        assert condition.calls == 2
    print(
        f"\n[crash B {moment}] status_at_kill={status_at_kill} rows_at_kill={rows_at_kill} attempts={attempts}"
    )
