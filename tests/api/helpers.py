"""Small helpers shared by API tests: test data written straight into the tables the pipeline would fill."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from altinn_notifications.bootstrap import Container

V1 = "/notifications/api/v1"


def messages(body: dict[str, Any]) -> list[str]:
    return [m for values in body.get("errors", {}).values() for m in values]


async def set_order_status(container: Container, order_id: str, status: str) -> None:
    async with container.pool.acquire() as conn:
        await conn.execute(
            "UPDATE orders SET processedstatus = $2::orderprocessingstate, processed = now() WHERE alternateid = $1",
            UUID(order_id),
            status,
        )


async def add_notification(
    container: Container,
    order_id: str,
    channel: str,
    result: str,
    address: str = "",
    *,
    nin: str | None = None,
    orgno: str | None = None,
) -> UUID:
    """A notification row as order processing would write it (the pipeline has its own issue)."""
    table, column = (
        ("emailnotifications", "toaddress") if channel == "email" else ("smsnotifications", "mobilenumber")
    )
    result_type = "emailnotificationresulttype" if channel == "email" else "smsnotificationresulttype"
    notification_id = uuid.uuid4()
    async with container.pool.acquire() as conn:
        await conn.execute(
            f"""
            INSERT INTO {table} (_orderid, alternateid, {column}, result, resulttime, expirytime,
                                 recipientnin, recipientorgno)
            SELECT _id, $2, $3, $4::{result_type}, now(), now() + interval '48 hours', $5, $6
            FROM orders WHERE alternateid = $1
            """,
            UUID(order_id),
            notification_id,
            address,
            result,
            nin,
            orgno,
        )
    return notification_id


def iso(moment: datetime) -> str:
    return moment.isoformat()


def future(minutes: int) -> datetime:
    from datetime import UTC

    return datetime.now(UTC) + timedelta(minutes=minutes)
