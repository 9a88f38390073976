"""Orders and notifications for the support tests, written directly at chosen send times and results."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.models import NotificationChannel, SmsTemplate
from tests.factories import email_order, insert_orders


@dataclass(frozen=True)
class Sent:
    """One notification to write: its channel, address, recipient identifiers and result."""

    channel: str  # "email" | "sms"
    address: str
    nin: str | None = None
    orgno: str | None = None
    result: str = "Delivered"


async def seed_order(
    container: Container,
    sent: list[Sent],
    *,
    send_time: datetime,
    creator: str = "ttd",
    senders_reference: str | None = None,
    resource_id: str | None = None,
) -> uuid.UUID:
    """A `Completed` order requested at `send_time` with the given notifications; returns its id."""
    order = email_order(
        [],
        creator=creator,
        created=send_time,
        requested_send_time=send_time,
        senders_reference=senders_reference,
        resource_id=resource_id,
        notification_channel=NotificationChannel.EmailAndSms,
        sms_template=SmsTemplate(sender_number="Altinn", body="b"),
    )
    [internal] = await insert_orders(container, [order])
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE orders SET processedstatus = 'Completed' WHERE _id = $1", internal)
        for item in sent:
            await _insert_notification(conn, internal, item, send_time)
    return order.id


async def _insert_notification(conn: Any, order_id: int, item: Sent, at: datetime) -> None:
    table, column, enum = (
        ("emailnotifications", "toaddress", "emailnotificationresulttype")
        if item.channel == "email"
        else ("smsnotifications", "mobilenumber", "smsnotificationresulttype")
    )
    await conn.execute(
        f"""INSERT INTO {table} (_orderid, alternateid, {column}, result, resulttime, expirytime,
                                 recipientnin, recipientorgno)
            VALUES ($1, $2, $3, $4::{enum}, $5::timestamptz, $5::timestamptz + interval '2 days', $6, $7)""",
        order_id,
        uuid.uuid4(),
        item.address,
        item.result,
        at + timedelta(seconds=3),
        item.nin,
        item.orgno,
    )


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)
