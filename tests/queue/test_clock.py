"""The queue's SQL takes its time from a `now` parameter when one is given: tests move the clock instead
of waiting for back-offs, leases and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from altinn_notifications.bootstrap import Container
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.processing.repository import ProcessingRepository
from altinn_notifications.processing.worker import OrderProcessor, ProcessingConfig
from altinn_notifications.queue.maintenance import LeaseRescue, MaintenanceSettings, TtlTermination
from altinn_notifications.status.completion import OrderCompletion
from tests.factories import email_order, insert_orders

LEASE = timedelta(minutes=5)


async def _due_in(container: Container, delay: timedelta) -> int:
    [order_id] = await insert_orders(container, [email_order(["a@example.no"])])
    async with container.transaction() as conn:
        await conn.execute(
            "UPDATE orders SET next_attempt_at = now() + $2::interval WHERE _id = $1", order_id, delay
        )
    return order_id


async def test_an_order_retried_later_is_claimed_only_once_the_clock_reaches_it(container: Container) -> None:
    order_id = await _due_in(container, timedelta(minutes=10))
    async with container.transaction() as conn:
        repo = ProcessingRepository(conn)
        assert await repo.claim_due_orders(10, timedelta(0), LEASE) == []
        early = datetime.now(UTC) + timedelta(minutes=9)
        assert await repo.claim_due_orders(10, timedelta(0), LEASE, now=early) == []
        later = datetime.now(UTC) + timedelta(minutes=11)
        [claimed] = await repo.claim_due_orders(10, timedelta(0), LEASE, now=later)
        assert claimed.internal_id == order_id
        until = await conn.fetchval("SELECT claimed_until FROM orders WHERE _id = $1", order_id)
    assert until > later + LEASE - timedelta(seconds=5)  # the lease counts from the moved clock


async def test_lease_rescue_takes_over_a_claim_once_the_clock_passes_its_lease(container: Container) -> None:
    await insert_orders(container, [email_order(["a@example.no"])])
    async with container.transaction() as conn:
        [claimed] = await ProcessingRepository(conn).claim_due_orders(10, timedelta(0), LEASE)
    rescue = LeaseRescue(container.transaction, MaintenanceSettings())
    assert await rescue.run() == 0  # the lease is still running
    assert await rescue.run(now=datetime.now(UTC) + LEASE + timedelta(seconds=1)) == 1
    async with container.transaction() as conn:
        status = await conn.fetchval(
            "SELECT processedstatus::text FROM orders WHERE _id = $1", claimed.internal_id
        )
    assert status == "Registered"


async def test_ttl_terminates_what_is_pending_past_expiry_and_grace_by_the_given_clock(
    container: Container,
) -> None:
    config = MaintenanceSettings(ttl_grace=timedelta(minutes=5))
    [order_id] = await insert_orders(container, [email_order(["a@example.no"])])
    processing = ProcessingConfig()
    async with container.transaction() as conn:
        [claimed] = await ProcessingRepository(conn).claim_due_orders(1, timedelta(0), processing.lease)
    processor = OrderProcessor(
        container.transaction,
        container.contact_points,
        container.party_names,
        container.condition,
        processing,
    )
    await processor.process(claimed)
    async with container.transaction() as conn:
        expiry = await conn.fetchval(
            "SELECT expirytime FROM emailnotifications WHERE _orderid = $1", order_id
        )
    ttl = TtlTermination(container.transaction, config, OrderCompletion())
    assert await ttl.run(now=expiry + timedelta(minutes=4)) == 0  # within the grace
    assert await ttl.run(now=expiry + timedelta(minutes=6)) == 1
    async with container.transaction() as conn:
        result = await conn.fetchval(
            "SELECT result::text FROM emailnotifications WHERE _orderid = $1", order_id
        )
        status = await conn.fetchval("SELECT processedstatus::text FROM orders WHERE _id = $1", order_id)
        # What TTL settled is not claimable by dispatch at any time.
        assert await DispatchRepository(conn).claim_emails(10, LEASE, now=expiry - timedelta(hours=1)) == []
    assert (result, status) == ("Failed_TTL", "Completed")
