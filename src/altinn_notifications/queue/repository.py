"""SQL that moves work items by time: wake-ups, lease extension and rescue, expiry, retention.

The work items are the domain rows themselves (orders `Registered`, notifications `New`). Every statement
takes an optional `now` (default: the database's `now()`), so tests can move the clock instead of waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from altinn_notifications.db.pool import Connection
from altinn_notifications.vocabulary import ORDER_FINAL, Channel, pending_results, sql_list

#: The table of each channel's notifications, and the column holding the vendor's reference.
NOTIFICATION_TABLE: dict[Channel, str] = {"email": "emailnotifications", "sms": "smsnotifications"}
VENDOR_REFERENCE: dict[Channel, str] = {"email": "operationid", "sms": "gatewayreference"}
RESULT_TYPE: dict[Channel, str] = {"email": "emailnotificationresulttype", "sms": "smsnotificationresulttype"}


def now_sql(parameter: int) -> str:
    """`$n` when a test gives a time, else the transaction's `now()`."""
    return f"COALESCE(${parameter}::timestamptz, now())"


def _count(status: str) -> int:
    return int(status.split()[-1])


class QueueRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def notify(self, channel: str) -> None:
        """Wake the workers listening on `channel` when this transaction commits."""
        await self.conn.execute("SELECT pg_notify($1, '')", channel)

    # --- leases ---

    async def extend_order_leases(
        self, order_ids: Sequence[int], lease: timedelta, now: datetime | None = None
    ) -> int:
        """Keep the claims of orders still being processed alive; returns how many were extended."""
        status: str = await self.conn.execute(
            f"""UPDATE orders SET claimed_until = {now_sql(3)} + $2::interval
                WHERE _id = ANY($1::bigint[]) AND processedstatus = 'Processing'""",
            list(order_ids),
            lease,
            now,
        )
        return _count(status)

    async def extend_notification_leases(
        self,
        channel: Channel,
        claims: Sequence[tuple[UUID, int]],
        lease: timedelta,
        now: datetime | None = None,
    ) -> int:
        """Keep claims alive while their batch is still sending: (notification id, attempt of the claim)
        pairs still `Sending` are extended. The attempt number makes sure only our own claim is extended,
        never a later claim of a row rescued from us."""
        if not claims:
            return 0
        status: str = await self.conn.execute(
            f"""UPDATE {NOTIFICATION_TABLE[channel]} n SET claimed_until = {now_sql(4)} + $3::interval
                FROM unnest($1::uuid[], $2::int[]) AS i(id, attempts)
                WHERE n.alternateid = i.id AND n.attempts = i.attempts AND n.result = 'Sending'
                  AND n.claimed_until IS NOT NULL""",
            [c[0] for c in claims],
            [c[1] for c in claims],
            lease,
            now,
        )
        return _count(status)

    async def rescue_order_leases(self, now: datetime | None = None) -> int:
        """Orders whose worker died mid-processing become claimable again (nothing stays `Processing`)."""
        status: str = await self.conn.execute(
            f"""UPDATE orders SET processedstatus = 'Registered', claimed_until = NULL, processed = now()
                WHERE processedstatus = 'Processing' AND claimed_until < {now_sql(1)}""",
            now,
        )
        return _count(status)

    async def rescue_notification_leases(self, channel: Channel, now: datetime | None = None) -> int:
        """`Sending` rows whose worker died: without a vendor reference they go back to `New` (at most the
        in-flight work is sent twice); with one (an operation the vendor already accepted) they are polled
        now instead of sent again."""
        table, ref = NOTIFICATION_TABLE[channel], VENDOR_REFERENCE[channel]
        resend: str = await self.conn.execute(
            f"""UPDATE {table} SET result = 'New', claimed_until = NULL, resulttime = now()
                WHERE result = 'Sending' AND claimed_until < {now_sql(1)} AND {ref} IS NULL""",
            now,
        )
        repoll: str = await self.conn.execute(
            f"""UPDATE {table} SET claimed_until = NULL, next_attempt_at = now()
                WHERE result = 'Sending' AND claimed_until < {now_sql(1)} AND {ref} IS NOT NULL""",
            now,
        )
        return _count(resend) + _count(repoll)

    # --- expiry ---

    async def terminate_expired(
        self, channel: Channel, limit: int, grace: timedelta, now: datetime | None = None
    ) -> list[int]:
        """Pending rows past expiry + grace become `Failed_TTL`; returns their orders' ids (one per row)."""
        table = NOTIFICATION_TABLE[channel]
        rows = await self.conn.fetch(
            f"""
            WITH x AS (
                SELECT _id FROM {table}
                WHERE result IN {sql_list(pending_results(channel))}
                  AND expirytime < {now_sql(3)} - $2::interval
                ORDER BY expirytime
                FOR UPDATE SKIP LOCKED
                LIMIT $1
            )
            UPDATE {table} n SET result = 'Failed_TTL', resulttime = now(), claimed_until = NULL
            FROM x WHERE n._id = x._id
            RETURNING n._orderid
            """,
            limit,
            grace,
            now,
        )
        return [r["_orderid"] for r in rows]

    # --- retention ---

    async def delete_feed_entries(
        self, older_than: timedelta, limit: int, now: datetime | None = None
    ) -> int:
        """Delete at most `limit` status-feed entries older than `older_than`; skipped while another worker
        does the same (a transaction-scoped advisory lock)."""
        if not await self.conn.fetchval("SELECT pg_try_advisory_xact_lock(7482002)"):
            return 0
        status: str = await self.conn.execute(
            f"""DELETE FROM statusfeed WHERE _id IN (
                    SELECT _id FROM statusfeed WHERE created <= {now_sql(3)} - $1::interval
                    ORDER BY _id LIMIT $2)""",
            older_than,
            limit,
            now,
        )
        return _count(status)

    async def delete_expired_reservations(self, expired_for: timedelta, now: datetime | None = None) -> int:
        """Instant-order reservations whose holder crashed, `expired_for` after they expired."""
        status: str = await self.conn.execute(
            f"DELETE FROM instantreservations WHERE reserved_until < {now_sql(2)} - $1::interval",
            expired_for,
            now,
        )
        return _count(status)

    async def delete_old_orders(self, older_than: timedelta, limit: int, now: datetime | None = None) -> int:
        """Delete at most `limit` final orders whose every time (created, requested send time, last
        processed) is older than `older_than`, with their texts, notifications and feed entries (cascades);
        their v2 chains go when no order of theirs is left. The counts the monthly report reads of them
        (see statistics/repository.py) are added to `monthlystatistics` in the same statement."""
        chains = await self.conn.fetch(_DELETE_OLD_ORDERS.format(now=now_sql(3)), older_than, limit, now)
        chain_ids = sorted({r["_orderchainid"] for r in chains if r["_orderchainid"] is not None})
        if chain_ids:
            await self.conn.execute(
                """DELETE FROM orderschain c WHERE c._id = ANY($1::bigint[])
                   AND NOT EXISTS (SELECT 1 FROM orders o WHERE o._orderchainid = c._id)""",
                chain_ids,
            )
        return len(chains)

    # --- depths ---

    async def depths(self) -> dict[str, int]:
        """Work items waiting: `New` notifications per channel, `Registered` orders."""
        row = await self.conn.fetchrow(
            """SELECT (SELECT count(*) FROM emailnotifications WHERE result = 'New') AS email_new,
                      (SELECT count(*) FROM smsnotifications WHERE result = 'New') AS sms_new,
                      (SELECT count(*) FROM orders WHERE processedstatus = 'Registered') AS orders_registered"""
        )
        return dict(row) if row else {}

    # --- worker liveness ---

    async def record_heartbeats(
        self, worker: str, beats: Sequence[tuple[str, datetime, datetime | None]], forget_after: timedelta
    ) -> None:
        """Upsert (loop, last step, last step that found work) of one worker process; rows of workers
        silent for longer than `forget_after` are removed (processes that are gone)."""
        await self.conn.execute(
            """
            INSERT INTO workerheartbeats (worker, loop, last_step, last_found)
            SELECT $1, b.loop, b.last_step, b.last_found
            FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[]) AS b(loop, last_step, last_found)
            ON CONFLICT (worker, loop) DO UPDATE
            SET last_step = GREATEST(workerheartbeats.last_step, EXCLUDED.last_step),
                last_found = COALESCE(GREATEST(workerheartbeats.last_found, EXCLUDED.last_found),
                                      workerheartbeats.last_found, EXCLUDED.last_found)
            """,
            worker,
            [b[0] for b in beats],
            [b[1] for b in beats],
            [b[2] for b in beats],
        )
        await self.conn.execute(
            "DELETE FROM workerheartbeats WHERE last_step < now() - $1::interval", forget_after
        )

    async def heartbeats(self, since: timedelta) -> list[tuple[str, str, datetime, datetime | None]]:
        """(worker, loop, last step, last found) of the loops heard from within `since`."""
        rows = await self.conn.fetch(
            "SELECT worker, loop, last_step, last_found FROM workerheartbeats"
            " WHERE last_step >= now() - $1::interval ORDER BY worker, loop",
            since,
        )
        return [(r["worker"], r["loop"], r["last_step"], r["last_found"]) for r in rows]


# The monthly report's counts (statistics/repository.py `_MONTHLY`: orders by UTC month of requested send
# time; emails created and succeeded; SMS segments created and SMS succeeded) of the orders deleted, kept
# in `monthlystatistics` before the rows go. A data-modifying CTE runs once whether or not it is read.
_DELETE_OLD_ORDERS = f"""
WITH doomed AS (
    SELECT _id, creatorname, requestedsendtime FROM orders
    WHERE processedstatus IN {sql_list(ORDER_FINAL)}
      AND GREATEST(created, requestedsendtime, COALESCE(processed, created)) < {{now}} - $1::interval
    ORDER BY _id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), counted AS (
    SELECT date_trunc('month', d.requestedsendtime AT TIME ZONE 'UTC')::date AS month, d.creatorname,
           count(*) AS placed,
           COALESCE(sum(e.created), 0) AS emails_created, COALESCE(sum(e.succeeded), 0) AS emails_succeeded,
           COALESCE(sum(s.created), 0) AS sms_created, COALESCE(sum(s.succeeded), 0) AS sms_succeeded
    FROM doomed d
    LEFT JOIN LATERAL (
        SELECT count(*) AS created,
               count(*) FILTER (WHERE x.result IN ('Succeeded', 'Delivered')) AS succeeded
        FROM emailnotifications x WHERE x._orderid = d._id
    ) e ON true
    LEFT JOIN LATERAL (
        SELECT sum(x.smscount) AS created,
               count(*) FILTER (WHERE x.result IN ('Accepted', 'Delivered')) AS succeeded
        FROM smsnotifications x WHERE x._orderid = d._id
    ) s ON true
    GROUP BY 1, 2
), kept AS (
    INSERT INTO monthlystatistics AS m
        (month, creatorname, placedorders, emailscreated, emailssucceeded, smscreated, smssucceeded)
    SELECT month, creatorname, placed, emails_created, emails_succeeded, sms_created, sms_succeeded
    FROM counted
    ON CONFLICT (month, creatorname) DO UPDATE SET
        placedorders = m.placedorders + EXCLUDED.placedorders,
        emailscreated = m.emailscreated + EXCLUDED.emailscreated,
        emailssucceeded = m.emailssucceeded + EXCLUDED.emailssucceeded,
        smscreated = m.smscreated + EXCLUDED.smscreated,
        smssucceeded = m.smssucceeded + EXCLUDED.smssucceeded
)
DELETE FROM orders o USING doomed d WHERE o._id = d._id
RETURNING o._orderchainid
"""
