"""SQL of the status package: order completion and the status feed, shipment tracking (the delivery
manifest) and the per-order notification summaries; every read is scoped to the creator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from altinn_notifications.db.pool import Connection
from altinn_notifications.vocabulary import EMAIL_PENDING, SMS_PENDING, sql_list

# --- completion and the status feed ---

_EMAIL_PENDING = sql_list(EMAIL_PENDING)
_SMS_PENDING = sql_list(SMS_PENDING)

# Lifecycle names of docs/compatibility.md C9, computed in SQL so a feed entry is one statement.
_EMAIL_LIFECYCLE = """CASE n.result::text
    WHEN 'Failed_InvalidEmailFormat' THEN 'Email_Failed_InvalidFormat'
    WHEN 'Failed_SupressedRecipient' THEN 'Email_Failed_SuppressedRecipient'
    ELSE 'Email_' || n.result::text END"""
_SMS_LIFECYCLE = """CASE n.result::text
    WHEN 'Failed_InvalidReceiver' THEN 'SMS_Failed_InvalidRecipient'
    WHEN 'Failed_Recipientreserved' THEN 'SMS_Failed_RecipientReserved'
    ELSE 'SMS_' || n.result::text END"""

#: The lifecycle name of a notification row aliased `n` (shipment tracking, the feed, the notification log,
#: support lookups).
EMAIL_LIFECYCLE_SQL = _EMAIL_LIFECYCLE
SMS_LIFECYCLE_SQL = _SMS_LIFECYCLE

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

# The notification log: one row per notification of each final order, in the transaction that writes its
# feed entry. The unique notification id makes a repeat (a second completion path, a re-run) a no-op.
_INSERT_LOG = f"""
INSERT INTO notificationlog (
    orderchainid, shipmentid, notificationid, creatorname, sendersreference, dialogid, transmissionid,
    vendorreference, recipient, ordertype, channel, destination, resourceid, status, requestedsendtime,
    lastupdate)
SELECT c.orderid, o.alternateid, x.alternateid, o.creatorname, o.sendersreference,
       c.orderchain -> 'DialogportenAssociation' ->> 'DialogId',
       c.orderchain -> 'DialogportenAssociation' ->> 'TransmissionId',
       x.reference, COALESCE(x.recipientorgno, x.recipientnin), o.type, x.channel, x.destination,
       o.notificationorder ->> 'resourceId', x.status, o.requestedsendtime, x.resulttime
FROM orders o
LEFT JOIN orderschain c ON c._id = o._orderchainid
CROSS JOIN LATERAL (
    SELECT 'Email' AS channel, n._id, n.alternateid, n.toaddress AS destination, {_EMAIL_LIFECYCLE} AS status,
           n.resulttime, n.operationid AS reference, n.recipientorgno, n.recipientnin
    FROM emailnotifications n WHERE n._orderid = o._id
    UNION ALL
    SELECT 'Sms', n._id, n.alternateid, n.mobilenumber, {_SMS_LIFECYCLE}, n.resulttime, n.gatewayreference,
           n.recipientorgno, n.recipientnin
    FROM smsnotifications n WHERE n._orderid = o._id
) x
WHERE o._id = ANY($1::bigint[]) AND o.processedstatus IN ('Completed', 'SendConditionNotMet')
ON CONFLICT (notificationid) DO NOTHING
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

    async def write_notification_log(self, order_ids: Sequence[int]) -> int:
        """One log row per notification of each final order; a repeat is a no-op (`ON CONFLICT DO NOTHING`)."""
        if not order_ids:
            return 0
        result: str = await self.conn.execute(_INSERT_LOG, list(order_ids))
        return int(result.split()[-1])


# --- the status feed (reads) ---

# Entries younger than this are not served: a lower `_id` may still be committing (docs/compatibility.md C9, C20).
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

    async def entries_for_order(self, order_alternate_id: Any) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            """SELECT f._id, f.orderstatus FROM statusfeed f JOIN orders o ON o._id = f.orderid
               WHERE o.alternateid = $1""",
            order_alternate_id,
        )
        return [{"sequenceNumber": r["_id"], **r["orderstatus"]} for r in rows]

    async def page(self, creator: str, seq: int, limit: int, *, descending: bool) -> list[dict[str, Any]]:
        """One page of the creator's feed after (asc) or before (desc) the cursor `seq` (docs/compatibility.md C9).

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


# --- shipment tracking ---


@dataclass(frozen=True)
class ShipmentRecipientRow:
    kind: str  # 'Email' | 'SMS'
    destination: str
    status: str  # lifecycle name of docs/compatibility.md C9, computed in SQL (shared with the status feed)
    last_update: datetime


@dataclass(frozen=True)
class ShipmentRow:
    shipment_id: UUID
    senders_reference: str | None
    order_type: str
    order_status: str
    last_update: datetime
    recipients: list[ShipmentRecipientRow]


# One statement: the order and, laterally, its email then SMS notifications (same lifecycle SQL as the feed).
# GREATEST ignores a NULL `processed`.
_SHIPMENT = f"""
SELECT o.alternateid, o.sendersreference, o.type::text AS type, o.processedstatus::text AS status,
       GREATEST(o.created, o.processed) AS last_update,
       r.kind, r.destination, r.status AS recipient_status, r.resulttime
FROM orders o
LEFT JOIN LATERAL ({SHIPMENT_RECIPIENTS_SQL}) r ON true
WHERE o.alternateid = $1 AND o.creatorname = $2
ORDER BY r.kind, r._id
"""


class ShipmentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, shipment_id: UUID, creator: str) -> ShipmentRow | None:
        """The order with its notifications; None when there is no such order for this creator."""
        rows = await self.conn.fetch(_SHIPMENT, shipment_id, creator)
        if not rows:
            return None
        first = rows[0]
        return ShipmentRow(
            shipment_id=first["alternateid"],
            senders_reference=first["sendersreference"],
            order_type=first["type"],
            order_status=first["status"],
            last_update=first["last_update"],
            recipients=[
                ShipmentRecipientRow(
                    kind=r["kind"],
                    destination=r["destination"],
                    status=r["recipient_status"],
                    last_update=r["resulttime"],
                )
                for r in rows
                # No notifications: one row of NULLs. Only SQL NULL destinations are skipped (docs/compatibility.md C9).
                if r["kind"] is not None and r["destination"] is not None
            ],
        )


# --- notification summaries ---


@dataclass(frozen=True)
class NotificationRow:
    id: UUID
    address: str
    result: str
    result_time: datetime
    organization_number: str | None
    national_identity_number: str | None


@dataclass(frozen=True)
class OrderNotifications:
    senders_reference: str | None
    rows: list[NotificationRow]


_SUMMARY = {
    "email": ("emailnotifications", "toaddress"),
    "sms": ("smsnotifications", "mobilenumber"),
}


class SummaryRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def notifications(
        self, channel: Literal["email", "sms"], order_id: UUID, creator: str
    ) -> OrderNotifications | None:
        """The order's notifications of one channel; None when the order is not the creator's."""
        table, address = _SUMMARY[channel]
        rows = await self.conn.fetch(
            f"""
            SELECT o.sendersreference, n.alternateid, n.{address} AS address, n.result::text AS result,
                   n.resulttime, n.recipientorgno, n.recipientnin
            FROM orders o
            LEFT JOIN {table} n ON n._orderid = o._id
            WHERE o.alternateid = $1 AND o.creatorname = $2
            ORDER BY n._id
            """,
            order_id,
            creator,
        )
        if not rows:
            return None
        return OrderNotifications(
            senders_reference=rows[0]["sendersreference"],
            rows=[
                NotificationRow(
                    id=r["alternateid"],
                    address=r["address"],
                    result=r["result"],
                    result_time=r["resulttime"],
                    organization_number=r["recipientorgno"],
                    national_identity_number=r["recipientnin"],
                )
                for r in rows
                if r["alternateid"] is not None
            ],
        )


# --- the notification log (reads) ---


@dataclass(frozen=True)
class LogRow:
    order_chain_id: UUID | None
    shipment_id: UUID
    notification_id: UUID
    senders_reference: str | None
    dialog_id: str | None
    transmission_id: str | None
    vendor_reference: str | None
    recipient: str | None
    order_type: str
    channel: str  # 'Email' | 'Sms'
    destination: str
    resource_id: str | None
    status: str
    requested_send_time: datetime
    last_update: datetime


# Every filter given must match; always scoped to the creator. One statement per set of filters (columns
# named here, values as parameters), so each uses its index: the partial Dialogporten ones need the
# equality on their column in the statement.
_LOG_COLUMNS = """orderchainid, shipmentid, notificationid, sendersreference, dialogid, transmissionid,
       vendorreference, recipient, ordertype::text AS ordertype, channel, destination, resourceid, status,
       requestedsendtime, lastupdate"""


def _log_rows_sql(columns: Sequence[str]) -> str:
    conditions = " AND ".join(f"{column} = ${n}" for n, column in enumerate(columns, start=2))
    limit = len(columns) + 2
    return f"""SELECT {_LOG_COLUMNS} FROM notificationlog
WHERE creatorname = $1 AND {conditions}
ORDER BY created, shipmentid, channel, notificationid
LIMIT ${limit}"""


class NotificationLogRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def rows(
        self,
        creator: str,
        *,
        dialog_id: str | None,
        shipment_id: UUID | None,
        transmission_id: str | None,
        limit: int,
    ) -> list[LogRow]:
        """The creator's log rows matching every filter given, in the order their orders became final."""
        filters = [
            (column, value)
            for column, value in (
                ("dialogid", dialog_id),
                ("shipmentid", shipment_id),
                ("transmissionid", transmission_id),
            )
            if value is not None
        ]
        if not filters:
            return []
        sql = _log_rows_sql([column for column, _ in filters])
        rows = await self.conn.fetch(sql, creator, *(value for _, value in filters), limit)
        return [
            LogRow(
                order_chain_id=r["orderchainid"],
                shipment_id=r["shipmentid"],
                notification_id=r["notificationid"],
                senders_reference=r["sendersreference"],
                dialog_id=r["dialogid"],
                transmission_id=r["transmissionid"],
                vendor_reference=r["vendorreference"],
                recipient=r["recipient"],
                order_type=r["ordertype"],
                channel=r["channel"],
                destination=r["destination"],
                resource_id=r["resourceid"],
                status=r["status"],
                requested_send_time=r["requestedsendtime"],
                last_update=r["lastupdate"],
            )
            for r in rows
        ]
