"""The status feed: one entry per final order (spec 4.5, 10.10); retention 90 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from altinn_notifications.db.pool import Connection


class FeedRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def delete_older_than(self, age: timedelta, limit: int) -> int:
        """Delete at most `limit` entries older than `age`; skipped while another worker does the same."""
        if not await self.conn.fetchval("SELECT pg_try_advisory_xact_lock(7482002)"):
            return 0
        result: str = await self.conn.execute(
            """DELETE FROM statusfeed WHERE _id IN (
                   SELECT _id FROM statusfeed WHERE created <= now() - $1::interval ORDER BY _id LIMIT $2)""",
            age,
            limit,
        )
        return int(result.split()[-1])

    async def entries_for_order(self, order_alternate_id: Any) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            """SELECT f._id, f.orderstatus FROM statusfeed f JOIN orders o ON o._id = f.orderid
               WHERE o.alternateid = $1""",
            order_alternate_id,
        )
        return [{"sequenceNumber": r["_id"], **r["orderstatus"]} for r in rows]
