"""What the API does to the queue directly: wake the workers, count the work waiting."""

from __future__ import annotations

from altinn_notifications.db.pool import Transaction
from altinn_notifications.queue.repository import QueueRepository


async def wake_workers(transaction: Transaction, channel: str) -> None:
    """NOTIFY `channel` (one of `queue.channels`): every worker listening runs that loop now."""
    async with transaction() as conn:
        await QueueRepository(conn).notify(channel)


async def queue_depths(transaction: Transaction) -> dict[str, int]:
    """{queue name: items waiting}: `email_new`, `sms_new`, `orders_registered`."""
    async with transaction() as conn:
        return await QueueRepository(conn).depths()
