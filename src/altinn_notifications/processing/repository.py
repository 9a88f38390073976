"""SQL of order processing: claiming due orders, rescheduling, and persisting what was generated."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice

from altinn_notifications.db.pool import Connection
from altinn_notifications.processing.models import ClaimedOrder, NewEmailNotification, NewSmsNotification

COPY_CHUNK = 5000


def batched(items: Iterable[tuple[object, ...]], size: int) -> Iterator[list[tuple[object, ...]]]:
    """itertools.batched, which needs Python 3.12."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# docs/compatibility.md C10 with leases, fair across creators: SKIP LOCKED so any number of workers can
# claim side by side, and each creator with due orders gets its share of the batch (its oldest orders,
# at most $5 of them and at most the batch divided by the creators with due orders, rounded up), taken in
# turns (every creator's oldest, then every creator's second, ...). One sender's backlog of thousands
# therefore never keeps another sender's order out of the next claim. The creators are found with a
# loose index scan over `ix_orders_due_creator` (one index probe per creator, however many orders each
# has); creators in $6 (their condition calls are backed up in this worker) are left out.
_CLAIM_DUE = """
WITH RECURSIVE creators AS (
    (SELECT creatorname FROM orders WHERE processedstatus = 'Registered' ORDER BY creatorname LIMIT 1)
    UNION ALL
    SELECT (SELECT o.creatorname FROM orders o
            WHERE o.processedstatus = 'Registered' AND o.creatorname > c.creatorname
            ORDER BY o.creatorname LIMIT 1)
    FROM creators c WHERE c.creatorname IS NOT NULL
), due_creators AS (
    SELECT c.creatorname FROM creators c
    WHERE c.creatorname IS NOT NULL AND c.creatorname <> ALL($6::text[]) AND EXISTS (
        SELECT 1 FROM orders o
        WHERE o.processedstatus = 'Registered' AND o.creatorname = c.creatorname
          AND o.requestedsendtime <= COALESCE($4::timestamptz, now()) + $2::interval
          AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= COALESCE($4::timestamptz, now()))
    )
), share AS (
    SELECT LEAST($5::int, GREATEST(1, ceil($1::numeric / GREATEST(count(*), 1))))::int AS per_creator
    FROM due_creators
), picked AS (
    SELECT p._id, p.turn, p.requestedsendtime FROM due_creators c CROSS JOIN LATERAL (
        SELECT q._id, q.requestedsendtime,
               row_number() OVER (ORDER BY q.requestedsendtime, q._id) AS turn
        FROM (
            SELECT o._id, o.requestedsendtime FROM orders o
            WHERE o.processedstatus = 'Registered' AND o.creatorname = c.creatorname
              AND o.requestedsendtime <= COALESCE($4::timestamptz, now()) + $2::interval
              AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= COALESCE($4::timestamptz, now()))
            ORDER BY o.requestedsendtime, o._id
            LIMIT (SELECT per_creator FROM share)
            FOR UPDATE SKIP LOCKED
        ) q
    ) p
), due AS (
    SELECT _id FROM picked ORDER BY turn, requestedsendtime, _id LIMIT $1
)
UPDATE orders o
SET processedstatus = 'Processing', processed = now(), claimed_until = COALESCE($4::timestamptz, now()) + $3::interval,
    attempts = o.attempts + 1
FROM due WHERE o._id = due._id
RETURNING o._id, o.attempts, o.notificationorder, o.creatorname
"""

_NEXT_DUE = """
SELECT min(GREATEST(requestedsendtime - $1::interval, COALESCE(next_attempt_at, requestedsendtime)))
FROM orders WHERE processedstatus = 'Registered'
"""

_EMAIL_COLUMNS = (
    "_orderid",
    "alternateid",
    "toaddress",
    "result",
    "resulttime",
    "expirytime",
    "recipientorgno",
    "recipientnin",
    "customizedsubject",
    "customizedbody",
)
_SMS_COLUMNS = (
    "_orderid",
    "alternateid",
    "mobilenumber",
    "result",
    "resulttime",
    "expirytime",
    "recipientorgno",
    "recipientnin",
    "customizedbody",
)


class ProcessingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def claim_due_orders(
        self,
        limit: int,
        lookahead: timedelta,
        lease: timedelta,
        now: datetime | None = None,
        *,
        per_creator: int | None = None,
        skip_creators: Sequence[str] = (),
    ) -> list[ClaimedOrder]:
        """Up to `limit` due orders, shared fairly among their creators (see `_CLAIM_DUE`): at most
        `per_creator` of one creator (default: `limit`); none of `skip_creators`. `now`: the database's
        clock unless a test moves it (a retry due later is claimable now)."""
        rows = await self.conn.fetch(
            _CLAIM_DUE, limit, lookahead, lease, now, per_creator or limit, list(skip_creators)
        )
        return [ClaimedOrder(r["_id"], r["attempts"], r["notificationorder"], r["creatorname"]) for r in rows]

    async def seconds_until_next_due(self, lookahead: timedelta) -> float | None:
        moment = await self.conn.fetchval(_NEXT_DUE, lookahead)
        if moment is None:
            return None
        delay: float = await self.conn.fetchval(
            "SELECT EXTRACT(EPOCH FROM ($1::timestamptz - now()))", moment
        )
        return max(0.0, float(delay))

    async def reschedule(self, order_id: int, delay: timedelta) -> bool:
        """Processing → Registered, due again after `delay` (dependency failure, inconclusive condition)."""
        result: str = await self.conn.execute(
            """UPDATE orders SET processedstatus = 'Registered', processed = now(), claimed_until = NULL,
                      next_attempt_at = now() + $2::interval
               WHERE _id = $1 AND processedstatus = 'Processing'""",
            order_id,
            delay,
        )
        return result.endswith(" 1")

    async def hand_back(self, order_id: int) -> bool:
        """Processing → Registered as if never claimed (the claim's attempt given back): a stopping worker's
        order whose work had not started."""
        result: str = await self.conn.execute(
            """UPDATE orders SET processedstatus = 'Registered', claimed_until = NULL,
                      attempts = GREATEST(attempts - 1, 0)
               WHERE _id = $1 AND processedstatus = 'Processing'""",
            order_id,
        )
        return result.endswith(" 1")

    async def finish(self, order_id: int, status: str) -> bool:
        """Guarded Processing → `status`; False when another worker got there first (docs/compatibility.md C9)."""
        return order_id in await self.finish_many({order_id: status})

    async def finish_many(self, outcomes: dict[int, str]) -> set[int]:
        """Guarded Processing → status for many orders in one statement; returns the ids that changed."""
        ids = list(outcomes)
        rows = await self.conn.fetch(
            """UPDATE orders o SET processedstatus = i.status::orderprocessingstate, processed = now(),
                      claimed_until = NULL
               FROM unnest($1::bigint[], $2::text[]) AS i(id, status)
               WHERE o._id = i.id AND o.processedstatus = 'Processing'
               RETURNING o._id""",
            ids,
            [_checked(outcomes[i]) for i in ids],
        )
        return {r["_id"] for r in rows}

    async def insert_emails(self, order_id: int, rows: Iterable[NewEmailNotification]) -> int:
        return await self.insert_emails_many([(order_id, rows)])

    async def insert_sms(self, order_id: int, rows: Iterable[NewSmsNotification]) -> int:
        return await self.insert_sms_many([(order_id, rows)])

    async def insert_emails_many(self, items: Iterable[tuple[int, Iterable[NewEmailNotification]]]) -> int:
        """Email notifications of many orders in one COPY stream."""
        records = (
            (
                order_id,
                n.id,
                n.to_address,
                n.result,
                n.expiry_time,
                n.recipient_org_no,
                n.recipient_nin,
                n.customized_subject,
                n.customized_body,
            )
            for order_id, rows in items
            for n in rows
        )
        return await self._copy("emailnotifications", _EMAIL_COLUMNS, records)

    async def insert_sms_many(self, items: Iterable[tuple[int, Iterable[NewSmsNotification]]]) -> int:
        """SMS notifications of many orders in one COPY stream."""
        records = (
            (
                order_id,
                n.id,
                n.mobile_number,
                n.result,
                n.expiry_time,
                n.recipient_org_no,
                n.recipient_nin,
                n.customized_body,
            )
            for order_id, rows in items
            for n in rows
        )
        return await self._copy("smsnotifications", _SMS_COLUMNS, records)

    async def _copy(self, table: str, columns: tuple[str, ...], records: Iterable[tuple[object, ...]]) -> int:
        """COPY in chunks so a 100,000-recipient order never builds one giant buffer."""
        now = None
        total = 0
        for chunk in batched(records, COPY_CHUNK):
            if now is None:
                now = await self.conn.fetchval("SELECT now()")
            stamped = [(*r[:4], now, *r[4:]) for r in chunk]  # resulttime = the transaction's now()
            await self.conn.copy_records_to_table(
                table, records=stamped, columns=list(columns), schema_name="notifications"
            )
            total += len(stamped)
        return total


_STATUSES = {"Processed", "Completed", "SendConditionNotMet"}


def _checked(status: str) -> str:
    if status not in _STATUSES:
        raise ValueError(f"not a processing outcome: {status}")
    return status
