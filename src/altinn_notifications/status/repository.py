"""SQL of the per-order notification summaries (spec 3.10, 3.11), scoped to the creator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from altinn_notifications.db.pool import Connection


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
