"""SQL of order chains (`orderschain`) and of the notification row an instant order is stored with.

Idempotency under races: the chain row is inserted with `ON CONFLICT DO NOTHING` on the unique index
`(idempotencyid, creatorname, (orderchain ->> 'Type'))`. When a concurrent request with the same key holds
the index entry, PostgreSQL makes the insert wait for that transaction: if it commits, the insert does
nothing and returns no row; if it rolls back, ours goes ahead. At READ COMMITTED (the PostgreSQL default,
which the pool does not change) the next statement takes a fresh snapshot and so sees the winner's row:
the loser reads the original receipt in the same transaction, never a unique-violation error.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from altinn_notifications.chains.models import ChainType, OrderChain
from altinn_notifications.db.batching import StatementBatcher
from altinn_notifications.db.pool import Connection
from altinn_notifications.orders.models import NotificationOrder
from altinn_notifications.orders.repository import WAKE_IF_DUE, OrderRepository, order_insert_ctes

_INSERT_CHAIN = """
INSERT INTO orderschain (orderid, idempotencyid, creatorname, created, processed, processedstatus, orderchain)
VALUES ($1, $2, $3, $4, $4, 'Registered', $5::text::jsonb)
ON CONFLICT (idempotencyid, creatorname, (orderchain ->> 'Type')) DO NOTHING
RETURNING _id
"""

# A chain with one order (no reminders) in one statement, atomic by itself: the chain row, then, when it
# was new, its order with texts and the wake-up. A repeated idempotency id inserts nothing. ($10, the
# order's chain id in the plain insert, is NULL here: the chain row's id is used.)
_INSERT_CHAIN_WITH_ORDER = f"""
WITH c AS (
    INSERT INTO orderschain (orderid, idempotencyid, creatorname, created, processed, processedstatus,
                             orderchain)
    VALUES ($18, $19, $20, $21, $21, 'Registered', $22::text::jsonb)
    ON CONFLICT (idempotencyid, creatorname, (orderchain ->> 'Type')) DO NOTHING
    RETURNING _id
), {order_insert_ctes("c", "TRUE", "COALESCE($10::bigint, c._id)")}
SELECT (SELECT _id FROM c) AS chain_id, {WAKE_IF_DUE}
"""

_FIND_BY_IDEMPOTENCY = """
SELECT orderchain FROM orderschain
WHERE idempotencyid = $1 AND creatorname = $2 AND (orderchain ->> 'Type') = $3
"""

# The hand-off was the notification's first attempt; `next_attempt_at` (NULL: at once) is when dispatch
# sends a `New` row again or polls a `Sending` one.
_INSERT_EMAIL_NOTIFICATION = """
INSERT INTO emailnotifications (_orderid, alternateid, toaddress, result, resulttime, expirytime, operationid,
                                attempts, next_attempt_at)
VALUES ($1, $2, $3, $4::emailnotificationresulttype, now(), $5, $6, 1, now() + make_interval(secs => $7::float8))
"""

_INSERT_SMS_NOTIFICATION = """
INSERT INTO smsnotifications (_orderid, alternateid, mobilenumber, result, resulttime, expirytime, gatewayreference,
                              attempts)
VALUES ($1, $2, $3, $4::smsnotificationresulttype, now(), $5, $6, 1)
"""


def chain_json(chain: OrderChain) -> str:
    """The stored chain document, serialised by pydantic (`::text::jsonb`: no Python JSON encoding)."""
    return chain.model_dump_json(by_alias=True, exclude_none=True)


class ChainRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def insert(self, chain: OrderChain, created: datetime) -> int | None:
        """The chain row's internal id, or None when the creator already has a chain with this
        idempotency id and type (the row of a concurrent request is waited for; see the module doc)."""
        chain_id: int | None = await self.conn.fetchval(
            _INSERT_CHAIN,
            chain.order_chain_id,
            chain.idempotency_id,
            chain.creator.short_name,
            created,
            chain_json(chain),
        )
        return chain_id

    @staticmethod
    async def insert_with_order(
        statements: StatementBatcher, chain: OrderChain, created: datetime, order: NotificationOrder
    ) -> bool:
        """A chain and its one order in one statement, sent with other requests' (`db.batching`); False
        when the idempotency id was taken (then nothing was written; see the module doc)."""
        row = await statements.fetchrow(
            _INSERT_CHAIN_WITH_ORDER,
            *OrderRepository.insert_parameters(order),
            chain.order_chain_id,
            chain.idempotency_id,
            chain.creator.short_name,
            created,
            chain_json(chain),
            # Creator, then idempotency id: every batch takes the index entries of one creator in the same
            # order too (db/batching.py).
            order_key=f"{chain.creator.short_name}\x00{chain.idempotency_id}",
        )
        return row is not None and row["chain_id"] is not None

    async def find_by_idempotency_id(
        self, creator: str, idempotency_id: str, chain_type: ChainType
    ) -> OrderChain | None:
        row = await self.conn.fetchrow(_FIND_BY_IDEMPOTENCY, idempotency_id, creator, str(int(chain_type)))
        return OrderChain.model_validate(row["orderchain"]) if row else None

    async def reserve_instant(self, creator: str, idempotency_id: str, holder: UUID, ttl: timedelta) -> bool:
        """Take the instant idempotency id, or an expired reservation of it; False while another holds it."""
        reserved: int | None = await self.conn.fetchval(
            """INSERT INTO instantreservations (creatorname, idempotencyid, holder, reserved_until)
               VALUES ($1, $2, $3, now() + $4::interval)
               ON CONFLICT (creatorname, idempotencyid) DO UPDATE
               SET holder = EXCLUDED.holder, reserved_until = EXCLUDED.reserved_until
               WHERE instantreservations.reserved_until < now()
               RETURNING 1""",
            creator,
            idempotency_id,
            holder,
            ttl,
        )
        return reserved is not None

    async def release_instant(self, creator: str, idempotency_id: str, holder: UUID) -> None:
        """Only the holder's own reservation: one that expired and was taken over stays its new holder's."""
        await self.conn.execute(
            "DELETE FROM instantreservations WHERE creatorname = $1 AND idempotencyid = $2 AND holder = $3",
            creator,
            idempotency_id,
            holder,
        )

    async def delete_expired_reservations(self, expired_for: timedelta) -> int:
        result: str = await self.conn.execute(
            "DELETE FROM instantreservations WHERE reserved_until < now() - $1::interval", expired_for
        )
        return int(result.split()[-1])

    async def get(self, chain_id: UUID, creator: str) -> OrderChain | None:
        row = await self.conn.fetchrow(
            "SELECT orderchain FROM orderschain WHERE orderid = $1 AND creatorname = $2", chain_id, creator
        )
        return OrderChain.model_validate(row["orderchain"]) if row else None

    async def insert_email_notification(
        self,
        order_id: int,
        notification_id: UUID,
        to_address: str,
        result: str,
        expiry_time: datetime,
        reference: str | None,
        *,
        next_attempt_in: float | None = None,
    ) -> None:
        await self.conn.execute(
            _INSERT_EMAIL_NOTIFICATION,
            order_id,
            notification_id,
            to_address,
            result,
            expiry_time,
            reference,
            next_attempt_in,
        )

    async def insert_sms_notification(
        self,
        order_id: int,
        notification_id: UUID,
        mobile_number: str,
        result: str,
        expiry_time: datetime,
        reference: str | None,
    ) -> None:
        await self.conn.execute(
            _INSERT_SMS_NOTIFICATION, order_id, notification_id, mobile_number, result, expiry_time, reference
        )
