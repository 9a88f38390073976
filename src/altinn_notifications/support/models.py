"""Support lookups: the typed query, the rows read, and the answer's shapes (docs/compatibility.md C22)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import model_serializer

from altinn_notifications.orders.models import ApiModel


class IdentifierKind(enum.StrEnum):
    """What the looked-up recipient is identified by; the value is the last segment of the route."""

    nin = "nin"
    orgnumber = "orgnumber"
    email = "email"


#: The header that carries each kind of identifier (never a query parameter: it stays out of URLs and logs).
IDENTIFIER_HEADERS: dict[IdentifierKind, str] = {
    IdentifierKind.nin: "NationalIdentityNumber",
    IdentifierKind.orgnumber: "OrganizationNumber",
    IdentifierKind.email: "Email",
}


@dataclass(frozen=True)
class LookupQuery:
    """A validated lookup: the identifier (trimmed; an email address as typed) and the window over the
    orders' requested send time, `start` inclusive, `end` exclusive."""

    kind: IdentifierKind
    identifier: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class AttemptRow:
    """One notification of an order, generated for the looked-up recipient."""

    order_id: int
    shipment_id: UUID
    creator: str
    resource_id: str | None
    senders_reference: str | None
    requested_send_time: datetime
    notification_channel: str | None
    order_type: str
    channel: Literal["email", "sms"]
    national_identity_number: str | None
    organization_number: str | None
    address: str
    result: str
    result_time: datetime


class DashboardDeliveryAttemptExt(ApiModel):
    """One email or SMS of the order to the recipient; null members are left out."""

    national_identity_number: str | None = None
    organization_number: str | None = None
    channel: Literal["email", "sms"]
    email_address: str | None = None
    mobile_number: str | None = None
    result: str
    result_time: datetime

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {key: value for key, value in dumped.items() if value is not None}


class DashboardNotificationExt(ApiModel):
    """One order (shipment) with its delivery attempts to the recipient. Order-level members are always
    present, null when the order has none."""

    shipment_id: UUID
    creator_name: str
    resource_id: str | None
    senders_reference: str | None
    requested_send_time: datetime
    notification_channel: str | None
    notification_type: str
    delivery_attempts: list[DashboardDeliveryAttemptExt]
