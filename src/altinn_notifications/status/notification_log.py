"""The notification log (docs/compatibility.md C22): one row per notification of every final order, written
at completion with the status-feed entry (`status.completion`), read here by the sender that owns it.

Entries have the shape of shipment tracking's (`type`, `destination`, `status`, `lastUpdate`) plus the ids
end-user facing services need: the shipment, the notification, the chain and its Dialogporten dialog and
transmission.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import RequestValidationFailed
from altinn_notifications.orders.models import ApiModel, OrderType
from altinn_notifications.status.repository import LogRow, NotificationLogRepository
from altinn_notifications.status.shipment import ProcessingLifecycleExt

#: At most this many entries per answer (a dialog's notifications, a shipment's: far fewer in practice).
MAX_ENTRIES = 10_000
FILTER_REQUIRED = "One of 'dialogId', 'shipmentId' or 'transmissionId' is required."


class NotificationLogEntryExt(ApiModel):
    shipment_id: UUID
    notification_id: UUID
    order_chain_id: UUID | None = None
    senders_reference: str | None = None
    shipment_type: OrderType
    dialog_id: str | None = None
    transmission_id: str | None = None
    resource_id: str | None = None
    type: Literal["Email", "SMS"]
    destination: str
    recipient: str | None = None
    delivery_reference: str | None = None
    status: ProcessingLifecycleExt
    requested_send_time: datetime
    last_update: datetime


def _entry(row: LogRow) -> NotificationLogEntryExt:
    return NotificationLogEntryExt(
        shipment_id=row.shipment_id,
        notification_id=row.notification_id,
        order_chain_id=row.order_chain_id,
        senders_reference=row.senders_reference,
        shipment_type=OrderType(row.order_type),
        dialog_id=row.dialog_id,
        transmission_id=row.transmission_id,
        resource_id=row.resource_id,
        type="Email" if row.channel == "Email" else "SMS",
        destination=row.destination,
        recipient=row.recipient,
        delivery_reference=row.vendor_reference,
        status=ProcessingLifecycleExt(row.status),
        requested_send_time=row.requested_send_time,
        last_update=row.last_update,
    )


def _present(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


async def read_log(
    conn: Connection,
    creator: str,
    *,
    dialog_id: str | None,
    shipment_id: UUID | None,
    transmission_id: str | None,
) -> list[NotificationLogEntryExt]:
    """The creator's entries matching every filter given; at least one is required (400 otherwise)."""
    dialog_id, transmission_id = _present(dialog_id), _present(transmission_id)
    if dialog_id is None and shipment_id is None and transmission_id is None:
        raise RequestValidationFailed({"": [FILTER_REQUIRED]})
    rows = await NotificationLogRepository(conn).rows(
        creator,
        dialog_id=dialog_id,
        shipment_id=shipment_id,
        transmission_id=transmission_id,
        limit=MAX_ENTRIES,
    )
    return [_entry(r) for r in rows]
