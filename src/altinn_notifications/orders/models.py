"""Orders: enums, the stored order (domain), and the v1 request/response shapes (docs/compatibility.md C4, C18)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from altinn_notifications.vocabulary import NotificationChannel, RecipientLookupStatus


class ApiModel(BaseModel):
    """camelCase on the wire; nulls omitted on output (docs/compatibility.md C1)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# --- enums (docs/compatibility.md C18) ---


class OrderType(enum.StrEnum):
    Notification = "Notification"
    Reminder = "Reminder"
    Instant = "Instant"
    Composed = "Composed"


class EmailContentType(enum.StrEnum):
    Plain = "Plain"
    Html = "Html"


class SendingTimePolicy(enum.IntEnum):
    Anytime = 1
    Daytime = 2


_ENUM_NUMBERS: dict[type[enum.Enum], list[str]] = {
    NotificationChannel: [m.value for m in NotificationChannel],
    EmailContentType: [m.value for m in EmailContentType],
}


def lenient_enum(enum_type: type[enum.StrEnum]) -> BeforeValidator:
    """Accept enum names case-insensitively and by number, as the reference's converter does."""
    names = {m.value.lower(): m for m in enum_type}
    numbered = _ENUM_NUMBERS.get(enum_type, [m.value for m in enum_type])

    def parse(value: Any) -> Any:
        if value is None or isinstance(value, enum_type):
            return value
        if isinstance(value, bool):
            raise PydanticCustomError(
                "enum_value", "The JSON value could not be converted to {name}.", {"name": enum_type.__name__}
            )
        if isinstance(value, int) and 0 <= value < len(numbered):
            return enum_type(numbered[value])
        if isinstance(value, str) and value.strip().lower() in names:
            return names[value.strip().lower()]
        raise PydanticCustomError(
            "enum_value", "The JSON value could not be converted to {name}.", {"name": enum_type.__name__}
        )

    return BeforeValidator(parse)


ChannelIn = Annotated[NotificationChannel | None, lenient_enum(NotificationChannel)]
ContentTypeIn = Annotated[EmailContentType | None, lenient_enum(EmailContentType)]


# --- the stored order (domain; JSON in orders.notificationorder) ---


class Recipient(ApiModel):
    email_address: str | None = None
    mobile_number: str | None = None
    organization_number: str | None = None
    national_identity_number: str | None = None
    external_identity: str | None = None
    is_reserved: bool | None = None


class EmailTemplate(ApiModel):
    from_address: str
    subject: str
    body: str
    content_type: EmailContentType = EmailContentType.Plain


class SmsTemplate(ApiModel):
    sender_number: str
    body: str


class EmailAttachment(ApiModel):
    """A file of a composed email, referenced by a SAS URL (docs/compatibility.md C7, C18 `EmailAttachments`).

    The SAS URL is a credential: never log it."""

    sas_url: str
    filename: str
    mime_type: str


class NotificationOrder(ApiModel):
    """An order (= shipment) as registered; also the unit the processing pipeline works on."""

    id: UUID
    creator: str
    created: datetime
    requested_send_time: datetime
    notification_channel: NotificationChannel
    type: OrderType = OrderType.Notification
    senders_reference: str | None = None
    ignore_reservation: bool | None = None
    use_stale_contact_information: bool = False
    resource_id: str | None = None
    resource_action: str | None = None
    condition_endpoint: str | None = None
    sending_time_policy: SendingTimePolicy | None = None
    email_template: EmailTemplate | None = None
    sms_template: SmsTemplate | None = None
    recipients: list[Recipient] = Field(default_factory=list)
    email_attachments: list[EmailAttachment] | None = None


# --- v1 requests (docs/compatibility.md C4). Types are lenient: business rules live in orders.validation ---


def storable_text(value: str) -> bool:
    """PostgreSQL text holds any Unicode except NUL; lone surrogates (legal in JSON escapes) are not UTF-8."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class RequestModel(ApiModel):
    """Base of request shapes: text the database cannot store is a binding error (400), not a 500."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        if isinstance(value, str) and not storable_text(value):
            raise PydanticCustomError("string_unstorable", "The JSON value could not be converted.")
        return value


class RecipientExt(RequestModel):
    email_address: str | None = None
    mobile_number: str | None = None
    organization_number: str | None = None
    national_identity_number: str | None = None
    is_reserved: bool | None = None


class OrderRequestBaseExt(RequestModel):
    senders_reference: str | None = None
    requested_send_time: datetime | None = None
    condition_endpoint: str | None = None
    ignore_reservation: bool | None = None
    resource_id: str | None = None
    resource_action: str | None = None


# [Required] strings: missing or empty fail at binding with "The X field is required." (docs/compatibility.md C1).
RequiredStr = Annotated[str, StringConstraints(min_length=1)]


class EmailNotificationOrderRequestExt(OrderRequestBaseExt):
    subject: RequiredStr
    body: RequiredStr
    content_type: ContentTypeIn = EmailContentType.Plain
    recipients: list[RecipientExt]


class SmsNotificationOrderRequestExt(OrderRequestBaseExt):
    body: RequiredStr
    sender_number: str | None = None
    recipients: list[RecipientExt]


class EmailTemplateExt(RequestModel):
    from_address: str | None = None
    subject: str | None = None
    body: str | None = None
    content_type: ContentTypeIn = EmailContentType.Plain


class SmsTemplateExt(RequestModel):
    sender_number: str | None = None
    body: str | None = None


class NotificationOrderRequestExt(OrderRequestBaseExt):
    notification_channel: ChannelIn = None
    email_template: EmailTemplateExt | None = None
    sms_template: SmsTemplateExt | None = None
    recipients: list[RecipientExt]


V1OrderRequest = (
    EmailNotificationOrderRequestExt | SmsNotificationOrderRequestExt | NotificationOrderRequestExt
)


# --- v1 responses (docs/compatibility.md C4) ---


class RecipientLookupResultExt(ApiModel):
    status: RecipientLookupStatus
    is_reserved: list[str] | None = None
    missing_contact: list[str] | None = None


class NotificationOrderRequestResponseExt(ApiModel):
    order_id: UUID
    recipient_lookup: RecipientLookupResultExt | None = None


class OrderLinksExt(ApiModel):
    self: str
    status: str


class EmailTemplateOut(ApiModel):
    from_address: str
    subject: str
    body: str
    content_type: EmailContentType


class SmsTemplateOut(ApiModel):
    sender_number: str
    body: str


class NotificationOrderBaseExt(ApiModel):
    """The order fields shared by the v1 read shapes (the reference's `NotificationOrderBaseExt`)."""

    id: UUID
    senders_reference: str | None = None
    requested_send_time: datetime
    creator: str
    created: datetime
    notification_channel: NotificationChannel
    ignore_reservation: bool | None = None
    resource_id: str | None = None
    resource_action: str | None = None
    condition_endpoint: str | None = None

    @classmethod
    def base_fields(cls, order: NotificationOrder) -> dict[str, Any]:
        return {
            "id": order.id,
            "senders_reference": order.senders_reference,
            "requested_send_time": order.requested_send_time,
            "creator": order.creator,
            "created": order.created,
            "notification_channel": order.notification_channel,
            "ignore_reservation": order.ignore_reservation,
            "resource_id": order.resource_id,
            "resource_action": order.resource_action,
            "condition_endpoint": order.condition_endpoint,
        }


class NotificationOrderExt(NotificationOrderBaseExt):
    recipients: list[RecipientExt]
    email_template: EmailTemplateOut | None = None
    sms_template: SmsTemplateOut | None = None
    links: OrderLinksExt


class NotificationOrderListExt(ApiModel):
    count: int
    orders: list[NotificationOrderExt]


# --- v1 order with its processing status (GET .../status, and the answer of PUT .../cancel) ---


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
