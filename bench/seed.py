"""Orders inserted straight into the database, as the v1 API stores them (an `orders` row whose
`notificationorder` is the project's own `NotificationOrder` model, plus its `emailtexts` row).

Used to put work in front of the workers without the API: a backlog seeded in the future and then
released at one instant (`release`), or a trickle due now (`insert_due`); both wake the workers with the
same `pg_notify('orders_due')` the API sends.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
)

FROM_ADDRESS = "noreply@altinn.no"
SUBJECT = "Benchmark notification"
BODY = "Hello from the benchmark harness. This is a notification of ordinary length, with no placeholders."
LARGE_ORG = "910000001"
LARGE_RESOURCE = "urn:altinn:resource:bench-large"

_INSERT = """
WITH o AS (
    INSERT INTO notifications.orders (alternateid, creatorname, created, requestedsendtime, processed,
                                      processedstatus, notificationorder, type)
    SELECT u.id, 'ttd', now(), COALESCE($3::timestamptz, now()), now(), 'Registered', u.doc, 'Notification'
    FROM unnest($1::uuid[], $2::jsonb[]) AS u(id, doc)
    RETURNING _id
)
INSERT INTO notifications.emailtexts (_orderid, fromaddress, subject, body, contenttype)
SELECT o._id, $4, $5, $6, 'Plain' FROM o
"""


@dataclass(frozen=True)
class OrderDoc:
    id: uuid.UUID
    doc: str


def email_order(
    recipients: Sequence[Recipient], send_time: datetime, resource_id: str | None = None
) -> OrderDoc:
    order = NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=datetime.now(UTC),
        requested_send_time=send_time,
        notification_channel=NotificationChannel.Email,
        resource_id=resource_id,
        email_template=EmailTemplate(from_address=FROM_ADDRESS, subject=SUBJECT, body=BODY),
        recipients=list(recipients),
    )
    doc = order.model_dump(mode="json", by_alias=True, exclude_none=True)
    return OrderDoc(order.id, json.dumps(doc))


def address_orders(count: int, recipients_each: int, send_time: datetime, tag: str) -> list[OrderDoc]:
    """`count` orders, each to `recipients_each` explicit email addresses."""
    return [
        email_order(
            [Recipient(email_address=f"{tag}-{i}-{r}@bench.example.no") for r in range(recipients_each)],
            send_time,
        )
        for i in range(count)
    ]


def large_org_order() -> OrderDoc:
    """One order to the organisation of `registry_document` (its users holding the resource)."""
    return email_order([Recipient(organization_number=LARGE_ORG)], datetime.now(UTC), LARGE_RESOURCE)


async def insert(conn: Any, orders: Sequence[OrderDoc], due: datetime | None, *, notify: bool) -> int:
    """Insert orders (due `due`, or now() of this transaction when None); returns the first `_id`."""
    first: int = await conn.fetchval("SELECT COALESCE(max(_id), 0) + 1 FROM notifications.orders")
    async with conn.transaction():
        for start in range(0, len(orders), 2000):
            chunk = orders[start : start + 2000]
            await conn.execute(
                _INSERT, [o.id for o in chunk], [o.doc for o in chunk], due, FROM_ADDRESS, SUBJECT, BODY
            )
        if notify:
            await conn.execute("SELECT pg_notify('orders_due', '')")
    return first


async def seed_future(conn: Any, orders: Sequence[OrderDoc]) -> int:
    """A backlog the workers do not touch yet (due in an hour, beyond their one-minute look-ahead)."""
    return await insert(conn, orders, datetime.now(UTC) + timedelta(hours=1), notify=False)


async def release(conn: Any, first_id: int) -> datetime:
    """Make the seeded backlog due now in one transaction and wake the workers; returns its due time.

    The JSON documents keep their original send time; it only feeds the expiry (48 h later)."""
    async with conn.transaction():
        due: datetime = await conn.fetchval(
            """WITH r AS (UPDATE notifications.orders SET requestedsendtime = now()
                          WHERE _id >= $1 AND processedstatus = 'Registered' RETURNING 1)
               SELECT now() FROM (SELECT count(*) FROM r) AS c""",
            first_id,
        )
        await conn.execute("SELECT pg_notify('orders_due', '')")
    return due


async def handed_off(conn: Any, first_order_id: int) -> int:
    """Notifications of orders from `first_order_id` on whose send result is written (not New/Sending)."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM notifications.emailnotifications
           WHERE _orderid >= $1 AND result NOT IN ('New', 'Sending')""",
        first_order_id,
    )
    return count


async def due_times(conn: Any, first_order_id: int) -> dict[str, datetime]:
    """notification id → due time of its order, for the orders from `first_order_id` on."""
    rows = await conn.fetch(
        """SELECT e.alternateid::text AS id, o.requestedsendtime AS due
           FROM notifications.emailnotifications e JOIN notifications.orders o ON o._id = e._orderid
           WHERE o._id >= $1""",
        first_order_id,
    )
    return {r["id"]: r["due"] for r in rows}


def registry_document(users: int) -> dict[str, Any]:
    """An organisation with `users` users, each holding `LARGE_RESOURCE`, for the large-order scenario."""
    return {
        "organizations": [
            {
                "organizationNumber": LARGE_ORG,
                "name": "Benchmark AS",
                "emails": [],
                "mobileNumbers": [],
                "users": [
                    {
                        "userId": 1_000_000 + i,
                        "email": f"user{i}@bench.example.no",
                        "resources": [LARGE_RESOURCE],
                    }
                    for i in range(users)
                ],
            }
        ]
    }


def write_registry(path: Path, users: int) -> Path:
    path.write_text(json.dumps(registry_document(users)))
    return path


async def connect(url: str) -> Any:
    return await asyncpg.connect(url)
