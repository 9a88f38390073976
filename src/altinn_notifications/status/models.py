"""v1 status and summary shapes (docs/compatibility.md C9)."""

from __future__ import annotations

from uuid import UUID

from altinn_notifications.orders.models import (
    ApiModel,
    ChannelStatusSummaryExt,
    NotificationOrderWithStatusExt,
    NotificationsStatusSummaryExt,
    SelfLinkExt,
    StatusExt,
)

# The order-with-status shapes belong to the order (PUT cancel answers with one too); re-exported here.
__all__ = [
    "ChannelStatusSummaryExt",
    "EmailNotificationSummaryExt",
    "EmailNotificationWithResultExt",
    "EmailRecipientExt",
    "NotificationOrderWithStatusExt",
    "NotificationsStatusSummaryExt",
    "SelfLinkExt",
    "SmsNotificationSummaryExt",
    "SmsNotificationWithResultExt",
    "SmsRecipientExt",
    "StatusExt",
]


class EmailRecipientExt(ApiModel):
    email_address: str | None = None
    organization_number: str | None = None
    national_identity_number: str | None = None


class SmsRecipientExt(ApiModel):
    mobile_number: str | None = None
    organization_number: str | None = None
    national_identity_number: str | None = None


class EmailNotificationWithResultExt(ApiModel):
    id: UUID
    succeeded: bool
    recipient: EmailRecipientExt
    send_status: StatusExt


class SmsNotificationWithResultExt(ApiModel):
    id: UUID
    succeeded: bool
    recipient: SmsRecipientExt
    send_status: StatusExt


class EmailNotificationSummaryExt(ApiModel):
    order_id: UUID
    senders_reference: str | None = None
    generated: int
    succeeded: int
    notifications: list[EmailNotificationWithResultExt]


class SmsNotificationSummaryExt(ApiModel):
    order_id: UUID
    senders_reference: str | None = None
    generated: int
    succeeded: int
    notifications: list[SmsNotificationWithResultExt]
