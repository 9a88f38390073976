"""The status feed: one entry per final order (spec 4.5, 10.10); retention 90 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from altinn_notifications.db.pool import Connection

# Entries younger than this are not served: a lower `_id` may still be committing (spec 4.5, 12).
FEED_VISIBILITY_DELAY = timedelta(seconds=2)
_MAX_BIGINT = 2**63 - 1

# Both directions must be a bounded range scan of the index (creatorname, _id), never a walk of the
# primary key filtered on the creator: that walk looks as cheap on average but reads everyone's entries
# for a creator with none in the range (the reference's production time-outs, #1545). With a plain
# `creatorname = $1` PostgreSQL treats the creator as a constant and `ORDER BY _id` as satisfiable by the
# primary key. Written as `= ANY(ARRAY[$1])` (the same selectivity, the same index condition) the creator
# is not folded into a constant, so `ORDER BY creatorname, _id` (the same order) can only be produced by
# the creator index. Desc without a cursor uses the largest bigint as its bound.
_PAGE_ASC = """
SELECT _id, orderstatus FROM statusfeed
WHERE creatorname = ANY(ARRAY[$1::text]) AND _id > $2 AND created < now() - $3::interval
ORDER BY creatorname ASC, _id ASC
LIMIT $4
"""
_PAGE_DESC = """
SELECT _id, orderstatus FROM statusfeed
WHERE creatorname = ANY(ARRAY[$1::text]) AND _id < $2 AND created < now() - $3::interval
ORDER BY creatorname DESC, _id DESC
LIMIT $4
"""


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

    async def page(self, creator: str, seq: int, limit: int, *, descending: bool) -> list[dict[str, Any]]:
        """One page of the creator's feed after (asc) or before (desc) the cursor `seq` (spec 4.5).

        `seq` is exclusive; descending with `seq = 0` starts from the newest entry. Each entry is the
        stored order status with its `sequenceNumber` first.
        """
        if descending:
            rows = await self.conn.fetch(
                _PAGE_DESC, creator, seq if seq > 0 else _MAX_BIGINT, FEED_VISIBILITY_DELAY, limit
            )
        else:
            rows = await self.conn.fetch(_PAGE_ASC, creator, seq, FEED_VISIBILITY_DELAY, limit)
        return [{"sequenceNumber": r["_id"], **r["orderstatus"]} for r in rows]
