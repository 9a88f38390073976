"""SQL of orders and their templates. Every query is scoped to the creator (docs/compatibility.md C2)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from altinn_notifications.db.batching import StatementBatcher
from altinn_notifications.db.pool import Connection
from altinn_notifications.orders.models import NotificationOrder
from altinn_notifications.queue.channels import ORDERS_DUE
from altinn_notifications.ratelimits.models import BucketState
from altinn_notifications.ratelimits.repository import Take, bucket_state, take_statement
from altinn_notifications.vocabulary import OrderStatus

# One round trip: the order row, its templates, and a wake-up for the workers when it is due now.
_INSERT_ORDER = f"""
WITH o AS (
    INSERT INTO orders (alternateid, creatorname, sendersreference, created, requestedsendtime, processed,
                        processedstatus, notificationorder, sendingtimepolicy, type, _orderchainid)
    VALUES ($1, $2, $3, $4, $5, $4, $6::orderprocessingstate, $7::text::jsonb, $8, $9::notificationordertype, $10)
    RETURNING _id
), e AS (
    INSERT INTO emailtexts (_orderid, fromaddress, subject, body, contenttype)
    SELECT o._id, $11, $12, $13, $14 FROM o WHERE $13::text IS NOT NULL
), s AS (
    INSERT INTO smstexts (_orderid, sendernumber, body)
    SELECT o._id, $15, $16 FROM o WHERE $16::text IS NOT NULL
)
SELECT _id, CASE WHEN $5::timestamptz <= now() + $17::interval THEN pg_notify('{ORDERS_DUE}', '') END FROM o
"""


def order_insert_ctes(source: str, condition: str, chain_id: str) -> str:
    """The order insert (parameters $1-$16 as `_INSERT_ORDER`'s) as CTEs `o`, `e`, `s` of a larger
    statement: one order row when `condition` holds in `source`, with `chain_id` as its chain."""
    return f"""o AS (
    INSERT INTO orders (alternateid, creatorname, sendersreference, created, requestedsendtime, processed,
                        processedstatus, notificationorder, sendingtimepolicy, type, _orderchainid)
    SELECT $1::uuid, $2::text, $3::text, $4::timestamptz, $5::timestamptz, $4::timestamptz,
           $6::orderprocessingstate, $7::text::jsonb, $8::int, $9::notificationordertype, {chain_id}
    FROM {source} WHERE {condition}
    RETURNING _id
), e AS (
    INSERT INTO emailtexts (_orderid, fromaddress, subject, body, contenttype)
    SELECT o._id, $11::text, $12::text, $13::text, $14::text FROM o WHERE $13::text IS NOT NULL
), s AS (
    INSERT INTO smstexts (_orderid, sendernumber, body)
    SELECT o._id, $15::text, $16::text FROM o WHERE $16::text IS NOT NULL
)"""


#: Wakes the workers when the order was written and is due within `$17` (`NOTIFY_HORIZON`).
WAKE_IF_DUE = f"CASE WHEN EXISTS (SELECT 1 FROM o) AND $5::timestamptz <= now() + $17::interval THEN pg_notify('{ORDERS_DUE}', '') END"

# The same insert behind a sender's rate limit (ratelimits/): the allowance is taken from in the same
# statement, and the order is written only when it was allowed. One round trip either way.
_INSERT_ORDER_IF_ALLOWED = f"""
WITH a AS ({take_statement(first=18)}
), {order_insert_ctes("a", "a.allowed", "$10::bigint")}
SELECT a.allowed, a.requesttokens, a.notificationtokens, a.quotaused, {WAKE_IF_DUE}
FROM a
"""

# Orders due within this horizon wake the workers at once; later ones are found by their timer.
NOTIFY_HORIZON = timedelta(minutes=1)

_ORDER_COLUMNS = "o.notificationorder, o.processedstatus::text AS status, o.processed"


@dataclass(frozen=True)
class StoredOrder:
    order: NotificationOrder
    status: OrderStatus
    last_update: datetime


@dataclass(frozen=True)
class ChannelCounts:
    generated: int
    succeeded: int


@dataclass(frozen=True)
class OrderWithCounts:
    stored: StoredOrder
    email: ChannelCounts
    sms: ChannelCounts


class CancelOutcome(enum.Enum):
    NOT_FOUND = "not_found"
    PROHIBITED = "prohibited"
    CANCELLED = "cancelled"


def order_json(order: NotificationOrder) -> str:
    """The stored order document, serialised by pydantic (`$7::text::jsonb`: no Python JSON encoding)."""
    return order.model_dump_json(by_alias=True, exclude_none=True)


def _stored(row: Any) -> StoredOrder:
    return StoredOrder(
        order=NotificationOrder.model_validate(row["notificationorder"]),
        status=OrderStatus(row["status"]),
        last_update=row["processed"],
    )


class OrderRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def insert(
        self,
        order: NotificationOrder,
        *,
        status: OrderStatus = OrderStatus.Registered,
        order_chain_id: int | None = None,
    ) -> int:
        """Insert the order and its texts; `order_chain_id` is the internal id of its `orderschain` row."""
        order_id: int = await self.conn.fetchval(
            _INSERT_ORDER, *self._insert_parameters(order, status, order_chain_id)
        )
        return order_id

    @staticmethod
    def _insert_parameters(
        order: NotificationOrder, status: OrderStatus, order_chain_id: int | None
    ) -> tuple[object, ...]:
        email, sms = order.email_template, order.sms_template
        return (
            order.id,
            order.creator,
            order.senders_reference,
            order.created,
            order.requested_send_time,
            status.value,
            order_json(order),
            int(order.sending_time_policy) if order.sending_time_policy else None,
            order.type.value,
            order_chain_id,
            email.from_address if email else None,
            email.subject if email else None,
            email.body if email else None,
            email.content_type.value if email else None,
            sms.sender_number if sms else None,
            sms.body if sms else None,
            NOTIFY_HORIZON,
        )

    @staticmethod
    def insert_parameters(order: NotificationOrder) -> tuple[object, ...]:
        """$1-$17 of the order insert (`order_insert_ctes`) for a `Registered` order without a chain id."""
        return OrderRepository._insert_parameters(order, OrderStatus.Registered, None)

    @staticmethod
    async def insert_grouped(
        statements: StatementBatcher, order: NotificationOrder, take: Take | None
    ) -> BucketState | None:
        """Insert a `Registered` order; with `take`, only when the creator's allowance has room (the take
        in the same statement). Sent together with other requests' (`db.batching`)."""
        parameters = OrderRepository._insert_parameters(order, OrderStatus.Registered, None)
        if take is None:
            await statements.fetchrow(_INSERT_ORDER, *parameters, order_key=order.creator)
            return None
        row = await statements.fetchrow(
            _INSERT_ORDER_IF_ALLOWED, *parameters, *take.parameters(), order_key=order.creator
        )
        assert row is not None
        return bucket_state(row)

    async def get(self, order_id: UUID, creator: str) -> StoredOrder | None:
        row = await self.conn.fetchrow(
            f"SELECT {_ORDER_COLUMNS} FROM orders o WHERE o.alternateid = $1 AND o.creatorname = $2",
            order_id,
            creator,
        )
        return _stored(row) if row else None

    async def list_by_senders_reference(self, reference: str, creator: str) -> list[StoredOrder]:
        rows = await self.conn.fetch(
            f"SELECT {_ORDER_COLUMNS} FROM orders o"
            " WHERE o.sendersreference = $1 AND o.creatorname = $2 ORDER BY o.created, o._id",
            reference,
            creator,
        )
        return [_stored(r) for r in rows]

    async def get_with_counts(self, order_id: UUID, creator: str) -> OrderWithCounts | None:
        """The order plus generated/succeeded counts per channel (docs/compatibility.md C9: SMS succeeded = Accepted only)."""
        row = await self.conn.fetchrow(
            f"""
            SELECT {_ORDER_COLUMNS},
                   (SELECT count(*) FROM emailnotifications e WHERE e._orderid = o._id) AS email_generated,
                   (SELECT count(*) FROM emailnotifications e WHERE e._orderid = o._id
                        AND e.result IN ('Succeeded', 'Delivered')) AS email_succeeded,
                   (SELECT count(*) FROM smsnotifications s WHERE s._orderid = o._id) AS sms_generated,
                   (SELECT count(*) FROM smsnotifications s WHERE s._orderid = o._id
                        AND s.result = 'Accepted') AS sms_succeeded
            FROM orders o WHERE o.alternateid = $1 AND o.creatorname = $2
            """,
            order_id,
            creator,
        )
        if row is None:
            return None
        return OrderWithCounts(
            stored=_stored(row),
            email=ChannelCounts(row["email_generated"], row["email_succeeded"]),
            sms=ChannelCounts(row["sms_generated"], row["sms_succeeded"]),
        )

    async def cancel(self, order_id: UUID, creator: str, now: datetime) -> CancelOutcome:
        """docs/compatibility.md C4: lock; already cancelled → ok; not Registered or due within 5 minutes → prohibited."""
        row = await self.conn.fetchrow(
            "SELECT _id, processedstatus::text AS status, requestedsendtime FROM orders"
            " WHERE alternateid = $1 AND creatorname = $2 FOR UPDATE",
            order_id,
            creator,
        )
        if row is None:
            return CancelOutcome.NOT_FOUND
        if row["status"] == OrderStatus.Cancelled:
            return CancelOutcome.CANCELLED
        updated = await self.conn.fetchval(
            """
            UPDATE orders SET processedstatus = 'Cancelled', processed = $2::timestamptz
            WHERE _id = $1 AND processedstatus = 'Registered' AND requestedsendtime > $2::timestamptz + interval '5 minutes'
            RETURNING _id
            """,
            row["_id"],
            now,
        )
        return CancelOutcome.CANCELLED if updated is not None else CancelOutcome.PROHIBITED
