"""SQL of the console: its audit log, used sign-in links, and the cross-sender reads of its pages.

Unlike the API's reads, these are not scoped to a creator: the console's users are operators and
support staff who see every sender's orders.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from altinn_notifications.console.models import (
    AuditEntry,
    NotificationRow,
    OrderRow,
    OrderSearch,
    OrderTexts,
)
from altinn_notifications.db.pool import Connection

_ORDER_COLUMNS = """o.alternateid, o.creatorname, o.sendersreference, o.type::text AS type,
    o.processedstatus::text AS status, o.created, o.requestedsendtime, o.processed"""


def _order(row: Any) -> OrderRow:
    return OrderRow(
        id=row["alternateid"],
        creator=row["creatorname"],
        senders_reference=row["sendersreference"],
        type=row["type"],
        status=row["status"],
        created=row["created"],
        requested_send_time=row["requestedsendtime"],
        last_update=row["processed"],
    )


class ConsoleRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- audit log and sign-in links ---

    async def audit(self, actor: str, action: str, target: str | None, outcome: str) -> None:
        await self.conn.execute(
            "INSERT INTO consoleaudit (actor, action, target, outcome) VALUES ($1, $2, $3, $4)",
            actor,
            action,
            target,
            outcome,
        )

    async def audit_log(self, limit: int) -> list[AuditEntry]:
        rows = await self.conn.fetch(
            "SELECT at, actor, action, target, outcome FROM consoleaudit ORDER BY id DESC LIMIT $1", limit
        )
        return [AuditEntry(r["at"], r["actor"], r["action"], r["target"], r["outcome"]) for r in rows]

    async def refused_password_sign_ins(self, within: timedelta) -> int:
        count: int = await self.conn.fetchval(
            """SELECT count(*) FROM consoleaudit WHERE action = 'sign-in' AND target = 'password'
               AND outcome = 'refused: wrong password' AND at > now() - $1::interval""",
            within,
        )
        return count

    async def use_signin_link(self, nonce: str) -> bool:
        """True the first time `nonce` is used, False ever after."""
        used = await self.conn.fetchval(
            "INSERT INTO consolesigninlinks (nonce) VALUES ($1) ON CONFLICT DO NOTHING RETURNING nonce", nonce
        )
        return used is not None

    # --- overview ---

    async def order_counts(self) -> dict[str, int]:
        rows = await self.conn.fetch(
            "SELECT processedstatus::text AS s, count(*) AS n FROM orders GROUP BY 1"
        )
        return {r["s"]: r["n"] for r in rows}

    async def notification_counts(self) -> dict[str, dict[str, int]]:
        rows = await self.conn.fetch(
            """SELECT 'email' AS channel, result::text AS result, count(*) AS n FROM emailnotifications GROUP BY 2
               UNION ALL
               SELECT 'sms', result::text, count(*) FROM smsnotifications GROUP BY 2"""
        )
        counts: dict[str, dict[str, int]] = {"email": {}, "sms": {}}
        for r in rows:
            counts[r["channel"]][r["result"]] = r["n"]
        return counts

    async def results_per_minute(self, minutes: int) -> list[tuple[datetime, int, int]]:
        """Notifications that reached a result (anything past `New`) per minute, the last `minutes`."""
        rows = await self.conn.fetch(
            """
            WITH m AS (
                SELECT generate_series(date_trunc('minute', now()) - ($1 - 1) * interval '1 minute',
                                       date_trunc('minute', now()), interval '1 minute') AS minute
            )
            SELECT m.minute,
                   (SELECT count(*) FROM emailnotifications e WHERE e.result <> 'New'
                      AND e.resulttime >= m.minute AND e.resulttime < m.minute + interval '1 minute') AS email,
                   (SELECT count(*) FROM smsnotifications s WHERE s.result <> 'New'
                      AND s.resulttime >= m.minute AND s.resulttime < m.minute + interval '1 minute') AS sms
            FROM m ORDER BY m.minute
            """,
            minutes,
        )
        return [(r["minute"], r["email"], r["sms"]) for r in rows]

    async def paused_channels(self) -> list[tuple[str, datetime]]:
        rows = await self.conn.fetch(
            "SELECT channel, emaillimittimeout FROM resourcelimitlog WHERE emaillimittimeout > now() ORDER BY 1"
        )
        return [(r["channel"], r["emaillimittimeout"]) for r in rows]

    async def dead_report_count(self) -> int:
        count: int = await self.conn.fetchval("SELECT count(*) FROM deaddeliveryreports WHERE NOT resolved")
        return count

    # --- orders ---

    async def search_orders(self, search: OrderSearch) -> list[OrderRow]:
        rows = await self.conn.fetch(
            f"""
            SELECT {_ORDER_COLUMNS} FROM orders o
            WHERE ($1::uuid IS NULL OR o.alternateid = $1)
              AND ($2::text IS NULL OR o.sendersreference = $2)
              AND ($3::text IS NULL OR o.creatorname = $3)
              AND ($4::text IS NULL OR o.processedstatus::text = $4)
              AND ($5::timestamptz IS NULL OR o.requestedsendtime >= $5)
              AND ($6::timestamptz IS NULL OR o.requestedsendtime < $6)
            ORDER BY o.requestedsendtime DESC, o._id DESC
            LIMIT $7
            """,
            search.order_id,
            search.senders_reference,
            search.creator,
            search.status,
            search.sent_from,
            search.sent_to,
            search.limit,
        )
        return [_order(r) for r in rows]

    async def order(self, order_id: UUID) -> tuple[int, OrderRow, dict[str, Any], int | None] | None:
        """(internal id, the order, its stored request, its chain's internal id)."""
        row = await self.conn.fetchrow(
            f"SELECT o._id, {_ORDER_COLUMNS}, o.notificationorder, o._orderchainid FROM orders o"
            " WHERE o.alternateid = $1",
            order_id,
        )
        if row is None:
            return None
        return row["_id"], _order(row), row["notificationorder"], row["_orderchainid"]

    async def texts(self, internal_id: int) -> OrderTexts:
        row = await self.conn.fetchrow(
            """SELECT e.fromaddress, e.subject, e.body AS email_body, e.contenttype, s.sendernumber,
                      s.body AS sms_body
               FROM (SELECT $1::bigint AS id) x
               LEFT JOIN emailtexts e ON e._orderid = x.id
               LEFT JOIN smstexts s ON s._orderid = x.id
               LIMIT 1""",
            internal_id,
        )
        if row is None:
            return OrderTexts()
        return OrderTexts(
            email_from=row["fromaddress"],
            email_subject=row["subject"],
            email_body=row["email_body"],
            email_content_type=row["contenttype"],
            sms_sender=row["sendernumber"],
            sms_body=row["sms_body"],
        )

    async def chain(self, chain_internal_id: int) -> tuple[UUID, str, list[OrderRow]] | None:
        """The chain's id, its idempotency id, and its orders (the main one and the reminders)."""
        head = await self.conn.fetchrow(
            "SELECT orderid, idempotencyid FROM orderschain WHERE _id = $1", chain_internal_id
        )
        if head is None:
            return None
        rows = await self.conn.fetch(
            f"SELECT {_ORDER_COLUMNS} FROM orders o WHERE o._orderchainid = $1"
            " ORDER BY o.requestedsendtime, o._id",
            chain_internal_id,
        )
        return head["orderid"], head["idempotencyid"], [_order(r) for r in rows]

    async def notifications(self, internal_id: int) -> list[NotificationRow]:
        rows = await self.conn.fetch(
            """SELECT alternateid, 'email' AS channel, toaddress AS address, result::text AS result, resulttime,
                      recipientnin, recipientorgno
               FROM emailnotifications WHERE _orderid = $1
               UNION ALL
               SELECT alternateid, 'sms', mobilenumber, result::text, resulttime, recipientnin, recipientorgno
               FROM smsnotifications WHERE _orderid = $1
               ORDER BY resulttime, alternateid""",
            internal_id,
        )
        return [
            NotificationRow(
                id=r["alternateid"],
                channel=r["channel"],
                address=r["address"],
                result=r["result"],
                result_time=r["resulttime"],
                nin=r["recipientnin"],
                org_number=r["recipientorgno"],
            )
            for r in rows
        ]

    async def completed_at(self, internal_id: int) -> datetime | None:
        at: datetime | None = await self.conn.fetchval(
            "SELECT created FROM statusfeed WHERE orderid = $1", internal_id
        )
        return at

    async def notification_address(self, notification_id: UUID) -> tuple[str, str] | None:
        """(channel, address) of one notification, for an audited reveal."""
        row = await self.conn.fetchrow(
            """SELECT 'email' AS channel, toaddress AS address FROM emailnotifications WHERE alternateid = $1
               UNION ALL
               SELECT 'sms', mobilenumber FROM smsnotifications WHERE alternateid = $1""",
            notification_id,
        )
        return (row["channel"], row["address"]) if row else None
