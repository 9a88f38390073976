"""v1 status and summary shapes (spec 3.8, 3.10, 3.11)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from altinn_notifications.orders.models import ApiModel, NotificationOrderBaseExt


class StatusExt(ApiModel):
    status: str
    description: str | None = None
    last_update: datetime


class SelfLinkExt(ApiModel):
    self: str


class ChannelStatusSummaryExt(ApiModel):
    links: SelfLinkExt
    generated: int
    succeeded: int


class NotificationsStatusSummaryExt(ApiModel):
    email: ChannelStatusSummaryExt | None = None
    sms: ChannelStatusSummaryExt | None = None


class NotificationOrderWithStatusExt(NotificationOrderBaseExt):
    processing_status: StatusExt
    notifications_status_summary: NotificationsStatusSummaryExt | None = None


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
