"""Order completion (the reference's `trymarkorderascompleted`), set-based: an order whose notifications
all have a final result becomes `Completed` and gets its one status-feed entry and its notification-log rows,
in the caller's transaction.

Only this module completes orders; dispatch, delivery reports, TTL, processing and instant orders call it.
"""

from __future__ import annotations

from collections.abc import Sequence

from altinn_notifications.db.pool import Connection
from altinn_notifications.status.repository import CompletionRepository


async def complete_orders(conn: Connection, order_ids: Sequence[int]) -> list[int]:
    """Complete what can be completed and write the feed entries, in the caller's transaction."""
    repo = CompletionRepository(conn)
    completed = await repo.complete_orders(order_ids)
    await record_final_orders(conn, completed)
    return completed


async def record_final_orders(conn: Connection, order_ids: Sequence[int]) -> None:
    """What every order that became final gets, in the transaction that made it final: its status-feed
    entry and one notification-log row per notification. Both are written at most once, so a repeat
    (a second path completing the same order, a sweep) changes nothing."""
    repo = CompletionRepository(conn)
    await repo.write_status_feed(order_ids)
    await repo.write_notification_log(order_ids)


class OrderCompletion:
    """The queue's `Completion` port: what maintenance jobs use to complete orders."""

    async def complete(self, conn: Connection, order_ids: Sequence[int]) -> list[int]:
        return await complete_orders(conn, order_ids)

    async def completable(self, conn: Connection, limit: int) -> list[int]:
        return await CompletionRepository(conn).completable_orders(limit)
