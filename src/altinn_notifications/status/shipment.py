"""Shipment tracking (docs/compatibility.md C9) and the status feed (docs/compatibility.md C9): response shapes and the rules around them.

A shipment is an order of any type; its manifest lists every email and SMS notification with its lifecycle
name (docs/compatibility.md C9). The feed serves the entries written at order completion (`status.completion`), scoped to
the creator, in pages over the index (creatorname, _id).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import CodedProblem, RequestValidationFailed
from altinn_notifications.orders.models import ApiModel, OrderType
from altinn_notifications.status.repository import FeedRepository, ShipmentRepository

STATUS_FEED_MAX_PAGE_SIZE = 500  # `StatusFeedMaxPageSize` (docs/compatibility.md C20)
SEQ_NEGATIVE = "Sequence number cannot be less than 0."


def shipment_not_found() -> CodedProblem:
    return CodedProblem(404, "NOT-00003", "Shipment not found")


class ProcessingLifecycleExt(enum.StrEnum):
    """External lifecycle names of orders and notifications (docs/compatibility.md C9)."""

    Order_Registered = "Order_Registered"
    Order_Processing = "Order_Processing"
    Order_Completed = "Order_Completed"
    Order_SendConditionNotMet = "Order_SendConditionNotMet"
    Order_Cancelled = "Order_Cancelled"
    Order_Processed = "Order_Processed"
    SMS_New = "SMS_New"
    SMS_Sending = "SMS_Sending"
    SMS_Accepted = "SMS_Accepted"
    SMS_Delivered = "SMS_Delivered"
    SMS_Failed = "SMS_Failed"
    SMS_Failed_InvalidRecipient = "SMS_Failed_InvalidRecipient"
    SMS_Failed_RecipientReserved = "SMS_Failed_RecipientReserved"
    SMS_Failed_BarredReceiver = "SMS_Failed_BarredReceiver"
    SMS_Failed_Deleted = "SMS_Failed_Deleted"
    SMS_Failed_Expired = "SMS_Failed_Expired"
    SMS_Failed_Undelivered = "SMS_Failed_Undelivered"
    SMS_Failed_RecipientNotIdentified = "SMS_Failed_RecipientNotIdentified"
    SMS_Failed_Rejected = "SMS_Failed_Rejected"
    SMS_Failed_TTL = "SMS_Failed_TTL"
    Email_New = "Email_New"
    Email_Sending = "Email_Sending"
    Email_Succeeded = "Email_Succeeded"
    Email_Delivered = "Email_Delivered"
    Email_Failed = "Email_Failed"
    Email_Failed_RecipientReserved = "Email_Failed_RecipientReserved"
    Email_Failed_RecipientNotIdentified = "Email_Failed_RecipientNotIdentified"
    Email_Failed_InvalidFormat = "Email_Failed_InvalidFormat"
    Email_Failed_SuppressedRecipient = "Email_Failed_SuppressedRecipient"
    Email_Failed_TransientError = "Email_Failed_TransientError"
    Email_Failed_Bounced = "Email_Failed_Bounced"
    Email_Failed_FilteredSpam = "Email_Failed_FilteredSpam"
    Email_Failed_Quarantined = "Email_Failed_Quarantined"
    Email_Failed_TTL = "Email_Failed_TTL"
    Email_Failed_InvalidSasUrl = "Email_Failed_InvalidSasUrl"
    Email_Failed_PayloadTooLarge = "Email_Failed_PayloadTooLarge"


class OrderByDirection(enum.StrEnum):
    Asc = "Asc"
    Desc = "Desc"


# --- GET future/shipment/{id} (NotificationDeliveryManifestExt) ---


class DeliveryManifestExt(ApiModel):
    """One notification of the shipment; `type` is the polymorphic discriminator."""

    type: Literal["Email", "SMS"]
    destination: str
    status: ProcessingLifecycleExt
    last_update: datetime


class NotificationDeliveryManifestExt(ApiModel):
    shipment_id: UUID
    senders_reference: str | None = None
    type: OrderType
    status: ProcessingLifecycleExt
    last_update: datetime
    recipients: list[DeliveryManifestExt]


# --- GET future/shipment/feed (documentation of the stored entries served as they are) ---


class StatusFeedRecipientExt(ApiModel):
    destination: str
    status: ProcessingLifecycleExt
    last_update: datetime


class StatusFeedExt(ApiModel):
    sequence_number: int
    shipment_id: UUID
    senders_reference: str | None = None
    shipment_type: OrderType
    status: ProcessingLifecycleExt
    last_update: datetime
    recipients: list[StatusFeedRecipientExt]


async def get_shipment(conn: Connection, shipment_id: UUID, creator: str) -> NotificationDeliveryManifestExt:
    """The delivery manifest of one of the creator's orders; another org's or an unknown id is NOT-00003."""
    found = await ShipmentRepository(conn).get(shipment_id, creator)
    if found is None:
        raise shipment_not_found()
    return NotificationDeliveryManifestExt(
        shipment_id=found.shipment_id,
        senders_reference=found.senders_reference,
        type=OrderType(found.order_type),
        status=ProcessingLifecycleExt(f"Order_{found.order_status}"),
        last_update=found.last_update,
        recipients=[
            DeliveryManifestExt(
                type="Email" if r.kind == "Email" else "SMS",
                destination=r.destination,
                status=ProcessingLifecycleExt(r.status),
                last_update=r.last_update,
            )
            for r in found.recipients
        ],
    )


def feed_page_size(requested: int | None) -> int:
    """`pageSize` clamped into [1, StatusFeedMaxPageSize]; absent means the maximum (docs/compatibility.md C9)."""
    if requested is None:
        return STATUS_FEED_MAX_PAGE_SIZE
    return max(1, min(requested, STATUS_FEED_MAX_PAGE_SIZE))


def parse_order_by(value: str | None) -> OrderByDirection | None:
    """`Asc` | `Desc`, case-insensitive, or their numbers `0` | `1` (ASP.NET enum binding); None if invalid."""
    if value is None:
        return OrderByDirection.Asc
    text = value.strip()
    for number, direction in enumerate(OrderByDirection):
        if text.lower() == direction.value.lower() or text == str(number):
            return direction
    return None


@dataclass(frozen=True)
class FeedQuery:
    seq: int
    page_size: int
    order_by: OrderByDirection


def feed_query(seq: int, page_size: int | None, order_by: str | None) -> FeedQuery:
    """Validate and normalise the feed's query parameters (docs/compatibility.md C9); 400 ValidationProblemDetails if bad."""
    errors: dict[str, list[str]] = {}
    direction = parse_order_by(order_by)
    if direction is None:
        errors["OrderBy"] = [f"The value '{order_by}' is not valid for OrderBy."]
    if seq < 0:
        errors["Seq"] = [SEQ_NEGATIVE]
    if errors or direction is None:
        raise RequestValidationFailed(errors)
    return FeedQuery(seq=seq, page_size=feed_page_size(page_size), order_by=direction)


async def get_status_feed(conn: Connection, creator: str, query: FeedQuery) -> list[dict[str, Any]]:
    """A page of the creator's status feed, entries as stored plus their `sequenceNumber`."""
    return await FeedRepository(conn).page(
        creator, query.seq, query.page_size, descending=query.order_by is OrderByDirection.Desc
    )
