"""How much work is waiting, for the metrics endpoint and operators."""

from __future__ import annotations

from altinn_notifications.db.pool import Transaction
from altinn_notifications.queue.repository import QueueRepository


async def queue_depths(transaction: Transaction) -> dict[str, int]:
    """{queue name: items waiting}: `email_new`, `sms_new`, `orders_registered`."""
    async with transaction() as conn:
        return await QueueRepository(conn).depths()
