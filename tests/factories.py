"""Orders for tests that start below the API: built as the API would store them, inserted directly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
)
from altinn_notifications.orders.repository import OrderRepository


def email_order(addresses: list[str], **extra: Any) -> NotificationOrder:
    """An email order due now from `ttd` to `addresses`; `extra` sets or overrides any other field."""
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "creator": "ttd",
        "created": now,
        "requested_send_time": now,
        "notification_channel": NotificationChannel.Email,
        "email_template": EmailTemplate(from_address="noreply@altinn.no", subject="s", body="b"),
        "recipients": [Recipient(email_address=a) for a in addresses],
    }
    fields.update(extra)
    return NotificationOrder(**fields)


async def insert_orders(container: Container, orders: list[NotificationOrder]) -> list[int]:
    """Insert orders (`Registered`) in one transaction; returns their internal ids."""
    async with container.transaction() as conn:
        repo = OrderRepository(conn)
        return [await repo.insert(o) for o in orders]
