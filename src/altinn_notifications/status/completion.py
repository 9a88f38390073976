"""Order completion and the status feed (spec 8.3 `trymarkorderascompleted`, 10.8, 10.10), set-based.

Only the status package writes order completion; dispatch, results, TTL and processing call it.
"""

from __future__ import annotations

from collections.abc import Sequence

from altinn_notifications.db.pool import Connection
from altinn_notifications.vocabulary import EMAIL_PENDING, SMS_PENDING, sql_list

_EMAIL_PENDING = sql_list(EMAIL_PENDING)
_SMS_PENDING = sql_list(SMS_PENDING)

# Lifecycle names of spec 9.4, computed in SQL so a feed entry is one statement.
_EMAIL_LIFECYCLE = """CASE n.result::text
    WHEN 'Failed_InvalidEmailFormat' THEN 'Email_Failed_InvalidFormat'
    WHEN 'Failed_SupressedRecipient' THEN 'Email_Failed_SuppressedRecipient'
    ELSE 'Email_' || n.result::text END"""
_SMS_LIFECYCLE = """CASE n.result::text
    WHEN 'Failed_InvalidReceiver' THEN 'SMS_Failed_InvalidRecipient'
    WHEN 'Failed_Recipientreserved' THEN 'SMS_Failed_RecipientReserved'
    ELSE 'SMS_' || n.result::text END"""

SHIPMENT_RECIPIENTS_SQL = f"""
    SELECT 'Email' AS kind, n.toaddress AS destination, {_EMAIL_LIFECYCLE} AS status, n.resulttime, n._id
    FROM emailnotifications n WHERE n._orderid = o._id
    UNION ALL
    SELECT 'SMS', n.mobilenumber, {_SMS_LIFECYCLE}, n.resulttime, n._id
    FROM smsnotifications n WHERE n._orderid = o._id
"""

_INSERT_FEED = f"""
INSERT INTO statusfeed (orderid, creatorname, created, orderstatus)
SELECT o._id, o.creatorname, now(), jsonb_strip_nulls(jsonb_build_object(
    'shipmentId', o.alternateid,
    'sendersReference', o.sendersreference,
    'shipmentType', o.type::text,
    'status', 'Order_' || o.processedstatus::text,
    'lastUpdate', to_char(o.processed AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'recipients', COALESCE((
        SELECT jsonb_agg(jsonb_build_object(
            'destination', r.destination,
            'status', r.status,
            'lastUpdate', to_char(r.resulttime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
            ORDER BY r.kind, r._id)
        FROM ({SHIPMENT_RECIPIENTS_SQL}) r), '[]'::jsonb)))
FROM orders o
WHERE o._id = ANY($1::bigint[]) AND o.processedstatus IN ('Completed', 'SendConditionNotMet')
ON CONFLICT (orderid) DO NOTHING
"""

_LOCK = """
SELECT _id FROM orders WHERE _id = ANY($1::bigint[]) AND processedstatus = 'Processed' ORDER BY _id FOR UPDATE
"""

# A separate statement after the lock: under READ COMMITTED it takes a fresh snapshot, so it sees the
# results committed by whoever held the lock before us. (Checking in the locking statement would use
# the snapshot from before the wait, and two last results racing would each miss the other's.)
_COMPLETE = f"""
UPDATE orders o SET processedstatus = 'Completed', processed = now(), claimed_until = NULL
WHERE o._id = ANY($1::bigint[]) AND o.processedstatus = 'Processed'
  AND NOT EXISTS (SELECT 1 FROM emailnotifications e WHERE e._orderid = o._id AND e.result IN {_EMAIL_PENDING})
  AND NOT EXISTS (SELECT 1 FROM smsnotifications s WHERE s._orderid = o._id AND s.result IN {_SMS_PENDING})
RETURNING o._id
"""

_COMPLETABLE = f"""
SELECT o._id FROM orders o
WHERE o.processedstatus = 'Processed'
  AND NOT EXISTS (SELECT 1 FROM emailnotifications e WHERE e._orderid = o._id AND e.result IN {_EMAIL_PENDING})
  AND NOT EXISTS (SELECT 1 FROM smsnotifications s WHERE s._orderid = o._id AND s.result IN {_SMS_PENDING})
LIMIT $1
"""


class CompletionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def complete_orders(self, order_ids: Sequence[int]) -> list[int]:
        """Mark `Processed` orders with no pending notification `Completed`; returns those completed.

        Locks the orders in id order (no deadlocks between workers completing overlapping sets).
        """
        if not order_ids:
            return []
        locked = [r["_id"] for r in await self.conn.fetch(_LOCK, sorted(set(order_ids)))]
        if not locked:
            return []
        rows = await self.conn.fetch(_COMPLETE, locked)
        return [r["_id"] for r in rows]

    async def completable_orders(self, limit: int) -> list[int]:
        """`Processed` orders with nothing pending: the safety net of the maintenance loop."""
        return [r["_id"] for r in await self.conn.fetch(_COMPLETABLE, limit)]

    async def write_status_feed(self, order_ids: Sequence[int]) -> int:
        """One feed entry per final order; a repeat is a no-op (`ON CONFLICT DO NOTHING`)."""
        if not order_ids:
            return 0
        result: str = await self.conn.execute(_INSERT_FEED, list(order_ids))
        return int(result.split()[-1])


async def complete_orders(conn: Connection, order_ids: Sequence[int]) -> list[int]:
    """Complete what can be completed and write the feed entries, in the caller's transaction."""
    repo = CompletionRepository(conn)
    completed = await repo.complete_orders(order_ids)
    await repo.write_status_feed(completed)
    return completed
