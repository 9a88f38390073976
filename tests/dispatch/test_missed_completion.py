"""The maintenance safety net: a `Processed` order whose notifications are all final is completed (with its
status-feed entry) even when the completion that should have followed its last result was missed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
    SmsTemplate,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.processing.models import NewEmailNotification, NewSmsNotification
from altinn_notifications.processing.repository import ProcessingRepository
from altinn_notifications.queue.maintenance import CompletionSweep, MaintenanceSettings
from altinn_notifications.status.completion import OrderCompletion
from altinn_notifications.vocabulary import OrderStatus
from altinn_notifications.workers import WorkerConfig, Workers
from tests.pipeline.conftest import FAST_DISPATCH, FAST_PROCESSING, eventually


async def _order(
    container: Container,
    emails: list[str],
    sms: tuple[str, ...] = (),
    status: OrderStatus = OrderStatus.Processed,
) -> int:
    """An order in `status` whose notifications already have the given results (written as a result
    writer would, but without the completion that should follow)."""
    now = datetime.now(UTC)
    order = NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=now,
        requested_send_time=now + timedelta(days=1),
        notification_channel=NotificationChannel.EmailAndSms,
        email_template=EmailTemplate(from_address="noreply@altinn.no", subject="s", body="b"),
        sms_template=SmsTemplate(sender_number="Altinn", body="b"),
        recipients=[Recipient(email_address=f"r{i}@example.no") for i in range(len(emails))],
    )
    expiry = now + timedelta(hours=48)
    async with container.transaction() as conn:
        order_id = await OrderRepository(conn).insert(order, status=status)
        repo = ProcessingRepository(conn)
        await repo.insert_emails(
            order_id,
            [
                NewEmailNotification(
                    id=uuid.uuid4(), to_address=f"r{i}@example.no", result=r, expiry_time=expiry
                )
                for i, r in enumerate(emails)
            ],
        )
        await repo.insert_sms(
            order_id,
            [
                NewSmsNotification(
                    id=uuid.uuid4(), mobile_number=f"+474100{i:04d}", result=r, expiry_time=expiry
                )
                for i, r in enumerate(sms)
            ],
        )
    return order_id


async def _states(container: Container) -> dict[int, tuple[str, int]]:
    """{order id: (status, status-feed entries)}"""
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT o._id, o.processedstatus::text AS status,
                      (SELECT count(*) FROM statusfeed f WHERE f.orderid = o._id) AS feed
               FROM orders o"""
        )
    return {r["_id"]: (r["status"], r["feed"]) for r in rows}


async def test_orders_with_nothing_pending_are_completed_and_others_left_alone(container: Container) -> None:
    missed = [
        await _order(container, ["Delivered", "Failed_Bounced"]),
        await _order(container, ["Failed_InvalidSasUrl"]),
        await _order(container, ["Delivered"], ("Delivered", "Failed_InvalidReceiver")),
        await _order(container, ["Failed_TTL"]),
        await _order(container, [], ("Delivered",)),
    ]
    pending = [
        await _order(container, ["Delivered", "Succeeded"]),
        await _order(container, ["New"]),
        await _order(container, ["Delivered"], ("Accepted",)),
        await _order(container, ["Delivered"], ("Sending",)),
    ]
    not_processed = await _order(container, ["Delivered"], status=OrderStatus.Registered)
    # A small batch: the sweep goes on until nothing is left.
    maintenance = CompletionSweep(
        container.transaction, MaintenanceSettings(completion_batch=2), OrderCompletion()
    )

    assert await maintenance.run() == len(missed)

    states = await _states(container)
    assert {states[o] for o in missed} == {("Completed", 1)}
    assert {states[o] for o in pending} == {("Processed", 0)}
    assert states[not_processed] == ("Registered", 0)
    assert await maintenance.run() == 0  # nothing twice
    async with container.pool.acquire() as conn:
        feed = await conn.fetchval("SELECT orderstatus FROM statusfeed WHERE orderid = $1", missed[1])
    assert feed["status"] == "Order_Completed"
    assert [r["status"] for r in feed["recipients"]] == ["Email_Failed_InvalidSasUrl"]


async def test_the_workers_maintenance_loop_completes_a_missed_order(container: Container) -> None:
    order_id = await _order(container, ["Delivered", "Failed"])
    workers = Workers(
        container,
        WorkerConfig(poll_interval=0.2),
        processing=FAST_PROCESSING,
        dispatch=FAST_DISPATCH,
        maintenance=MaintenanceSettings(lease_rescue_interval=0.5, ttl_interval=0.5, completion_interval=0.2),
    )
    task = asyncio.create_task(workers.run())
    try:

        async def completed() -> bool:
            return (await _states(container))[order_id] == ("Completed", 1)

        await eventually(completed, within=5)
    finally:
        workers.request_stop()
        await asyncio.wait_for(task, 10)
