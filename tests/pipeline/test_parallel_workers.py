"""Two worker sets on one database, side by side: every order processed once, every notification handed
to the provider once (docs/architecture.md, "The queue": SKIP LOCKED claims, guarded transitions; docs/compatibility.md C10, C12)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID

from altinn_notifications.bootstrap import Container
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.orders.models import (
    NotificationOrder,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.processing.models import NewEmailNotification
from altinn_notifications.processing.repository import ProcessingRepository
from altinn_notifications.processing.worker import ProcessingConfig
from altinn_notifications.providers.base import EmailMessage, ReportSink, SendOutcome
from altinn_notifications.status.completion import complete_orders
from altinn_notifications.vocabulary import OrderStatus
from tests.conftest import ContainerFactory
from tests.factories import email_order
from tests.pipeline.conftest import RunWorkers, eventually

SINGLE_ORDERS = 300
LARGE_ORDERS = 3
LARGE_SIZE = 100
TOTAL = SINGLE_ORDERS + LARGE_ORDERS * LARGE_SIZE


class CountingEmailProvider:
    """A fake vendor: accepts every message (final at once, as SMTP) and counts what it was handed."""

    name = "counting"

    def __init__(self, shared: Counter[UUID], latency: float = 0.005) -> None:
        self.shared = shared
        self.mine: Counter[UUID] = Counter()
        self.latency = latency

    async def start(self, sink: ReportSink) -> None:
        return None

    async def send(self, message: EmailMessage) -> SendOutcome:
        await asyncio.sleep(self.latency)
        self.shared[message.notification_id] += 1
        self.mine[message.notification_id] += 1
        return SendOutcome(result="Delivered", reference=str(uuid.uuid4()))

    async def close(self) -> None:
        return None


def _order(addresses: list[str]) -> NotificationOrder:
    return email_order(addresses)


async def _insert_orders(container: Container) -> dict[int, int]:
    """Returns {order id: expected notification count}."""
    expected: dict[int, int] = {}
    async with container.transaction() as conn:
        repo = OrderRepository(conn)
        for i in range(SINGLE_ORDERS):
            expected[await repo.insert(_order([f"single{i}@example.no"]))] = 1
        for j in range(LARGE_ORDERS):
            addresses = [f"large{j}-{k}@example.no" for k in range(LARGE_SIZE)]
            expected[await repo.insert(_order(addresses))] = LARGE_SIZE
    return expected


async def _why_not_completed(container: Container) -> str:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT o.processedstatus::text AS status,
                      (SELECT count(*) FROM emailnotifications e
                       WHERE e._orderid = o._id AND e.result IN ('New', 'Sending', 'Succeeded')) AS pending
               FROM orders o WHERE o.processedstatus <> 'Completed'"""
        )
    stuck = [r for r in rows if r["status"] == "Processed" and r["pending"] == 0]
    return (
        f"{len(rows)} orders not completed; {len(stuck)} of them are `Processed` with no pending "
        "notification left (a completion lost between concurrent result writers)"
    )


async def test_two_worker_sets_process_and_send_everything_exactly_once(
    container: Container, make_container: ContainerFactory, run_workers: RunWorkers
) -> None:
    expected = await _insert_orders(container)
    shared: Counter[UUID] = Counter()
    first, second = CountingEmailProvider(shared), CountingEmailProvider(shared)
    # Small batches so that the two sets interleave their claims many times.
    processing = ProcessingConfig(batch_size=10, concurrency=5)
    dispatch = DispatchConfig(batch_size=20, concurrency=10, retry_base_seconds=0.2)

    async def all_completed() -> bool:
        async with container.pool.acquire() as conn:
            open_orders: int = await conn.fetchval(
                "SELECT count(*) FROM orders WHERE processedstatus <> 'Completed'"
            )
        return open_orders == 0

    # Each worker set gets its own provider instance (as a process would).
    first_set, second_set = make_container(email_provider=first), make_container(email_provider=second)
    async with (
        run_workers(container=first_set, processing=processing, dispatch=dispatch),
        run_workers(container=second_set, processing=processing, dispatch=dispatch),
    ):
        try:
            await eventually(all_completed, within=15)
        except AssertionError:
            raise AssertionError(await _why_not_completed(container)) from None

    # Every notification was handed to a provider exactly once, and both sets did part of the work.
    assert len(shared) == TOTAL
    assert set(shared.values()) == {1}
    assert sum(first.mine.values()) + sum(second.mine.values()) == TOTAL
    assert first.mine and second.mine, (len(first.mine), len(second.mine))

    async with container.pool.acquire() as conn:
        per_order = await conn.fetch(
            """SELECT o._id, o.attempts, count(e._id) AS rows, count(DISTINCT e.toaddress) AS addresses
               FROM orders o LEFT JOIN emailnotifications e ON e._orderid = o._id GROUP BY o._id"""
        )
        rows = await conn.fetch("SELECT alternateid, result::text, attempts FROM emailnotifications")
        feed_entries: int = await conn.fetchval("SELECT count(*) FROM statusfeed")

    # Each order was processed once: exactly its notifications, no duplicate rows, claimed once.
    assert {r["_id"]: r["rows"] for r in per_order} == expected
    assert all(r["addresses"] == r["rows"] for r in per_order)
    assert {r["attempts"] for r in per_order} == {1}
    # ... and the rows the provider saw are exactly the rows in the database, all delivered on attempt 1.
    assert {r["alternateid"] for r in rows} == set(shared)
    assert {(r["result"], r["attempts"]) for r in rows} == {("Delivered", 1)}
    assert feed_entries == len(expected)


async def test_concurrent_final_results_for_one_order_complete_it(container: Container) -> None:
    """Two transactions each write the final result of one of the last two pending notifications of an
    order and ask for completion (two dispatch batches, or a batch and a delivery report, or the email and
    SMS loops of an `EmailAndSms` order). Whatever the interleaving, the order must end `Completed`: no
    later event would ever complete it."""
    order = _order(["a@example.no", "b@example.no"])
    first, second = uuid.uuid4(), uuid.uuid4()
    expiry = datetime.now(UTC) + timedelta(hours=48)
    async with container.transaction() as conn:
        order_id = await OrderRepository(conn).insert(order, status=OrderStatus.Processed)
        await ProcessingRepository(conn).insert_emails(
            order_id,
            [
                NewEmailNotification(
                    id=first, to_address="a@example.no", result="Sending", expiry_time=expiry
                ),
                NewEmailNotification(
                    id=second, to_address="b@example.no", result="Sending", expiry_time=expiry
                ),
            ],
        )
    deliver = "UPDATE emailnotifications SET result = 'Delivered', resulttime = now() WHERE alternateid = $1"

    async with container.pool.acquire() as a, container.pool.acquire() as b:
        tx_a, tx_b = a.transaction(), b.transaction()
        await tx_a.start()
        await tx_b.start()
        try:
            await a.execute(deliver, first)
            assert await complete_orders(a, [order_id]) == []  # the other one is still pending
            await b.execute(deliver, second)
            b_pid = b.get_server_pid()
            b_completes = asyncio.create_task(complete_orders(b, [order_id]))

            async def b_waits_for_a() -> bool:
                async with container.pool.acquire() as conn:
                    waiting: str | None = await conn.fetchval(
                        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", b_pid
                    )
                return waiting == "Lock"

            await eventually(b_waits_for_a, within=5)
            await tx_a.commit()
            await asyncio.wait_for(b_completes, 5)
            await tx_b.commit()
        except BaseException:
            for tx in (tx_a, tx_b):
                with contextlib.suppress(Exception):
                    await tx.rollback()
            raise

    async with container.pool.acquire() as conn:
        results = await conn.fetch(
            "SELECT result::text FROM emailnotifications WHERE _orderid = $1", order_id
        )
        status = await conn.fetchval("SELECT processedstatus::text FROM orders WHERE _id = $1", order_id)
        feed = await conn.fetchval("SELECT count(*) FROM statusfeed WHERE orderid = $1", order_id)
    assert [r["result"] for r in results] == ["Delivered", "Delivered"]
    assert (status, feed) == ("Completed", 1), "every notification is final, yet the order stays open"
