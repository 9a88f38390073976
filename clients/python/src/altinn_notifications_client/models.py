"""Request and response models of the sender API, with the API's field names (camelCase on the wire).

Names follow the API's models without their `Ext` suffix (`EmailNotificationOrderRequestExt` is
`EmailNotificationOrderRequest`). Python attributes are snake_case; `model_dump(by_alias=True)` and the
clients send camelCase, and responses are read by either spelling. Optional fields are None and left out
of requests; unknown response fields are ignored, and status names the client does not know yet are kept
as plain strings, so a newer server does not break an older client.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

_E = TypeVar("_E")
#: A known name as its enum member, an unknown one (a newer server's) kept as the string.
Open = Annotated[_E | str, Field(union_mode="left_to_right")]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """The JSON body: camelCase names, None left out, enums by name, times in ISO 8601."""
        body: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return body


# --- enums ---


class NotificationChannel(enum.StrEnum):
    Email = "Email"
    Sms = "Sms"
    EmailPreferred = "EmailPreferred"
    SmsPreferred = "SmsPreferred"
    EmailAndSms = "EmailAndSms"


class EmailContentType(enum.StrEnum):
    Plain = "Plain"
    Html = "Html"


class SendingTimePolicy(enum.StrEnum):
    Anytime = "Anytime"
    Daytime = "Daytime"


class OrderType(enum.StrEnum):
    Notification = "Notification"
    Reminder = "Reminder"
    Instant = "Instant"
    Composed = "Composed"


class RecipientLookupStatus(enum.StrEnum):
    Success = "Success"
    PartialSuccess = "PartialSuccess"
    Failed = "Failed"


class OrderProcessingStatus(enum.StrEnum):
    """`processingStatus.status` of a v1 order."""

    Registered = "Registered"
    Processing = "Processing"
    Processed = "Processed"
    Completed = "Completed"
    SendConditionNotMet = "SendConditionNotMet"
    Cancelled = "Cancelled"


#: v1 order states after which nothing more happens to the order.
FINAL_ORDER_STATUSES = frozenset(
    {
        OrderProcessingStatus.Completed,
        OrderProcessingStatus.SendConditionNotMet,
        OrderProcessingStatus.Cancelled,
    }
)


class ProcessingLifecycle(enum.StrEnum):
    """Lifecycle names of v2 shipments and their notifications (`ProcessingLifecycleExt`)."""

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


#: Shipment states after which nothing more happens to the shipment.
FINAL_SHIPMENT_STATUSES = frozenset(
    {
        ProcessingLifecycle.Order_Completed,
        ProcessingLifecycle.Order_SendConditionNotMet,
        ProcessingLifecycle.Order_Cancelled,
    }
)


class OrderBy(enum.StrEnum):
    Asc = "Asc"
    Desc = "Desc"


# --- errors ---


class ProblemDetails(ApiModel):
    """RFC 9457 problem details; `errors` (field → messages) for validation problems, `code` (e.g.
    `NOT-00001`) for the API's coded problems."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    code: str | None = None
    trace_id: str | None = None
    errors: dict[str, list[str]] | None = None


# --- v1 requests ---


class Recipient(ApiModel):
    """A v1 recipient: an address, or a person (national identity number) or organisation to look up."""

    email_address: str | None = None
    mobile_number: str | None = None
    organization_number: str | None = None
    national_identity_number: str | None = None
    is_reserved: bool | None = None


class _OrderRequestBase(ApiModel):
    senders_reference: str | None = None
    requested_send_time: datetime | None = None
    condition_endpoint: str | None = None
    ignore_reservation: bool | None = None
    resource_id: str | None = None
    resource_action: str | None = None


class EmailNotificationOrderRequest(_OrderRequestBase):
    """`POST /orders/email`."""

    subject: str
    body: str
    content_type: EmailContentType | None = None
    recipients: list[Recipient]


class SmsNotificationOrderRequest(_OrderRequestBase):
    """`POST /orders/sms`."""

    body: str
    sender_number: str | None = None
    recipients: list[Recipient]


class EmailTemplate(ApiModel):
    from_address: str | None = None
    subject: str | None = None
    body: str | None = None
    content_type: EmailContentType | None = None


class SmsTemplate(ApiModel):
    sender_number: str | None = None
    body: str | None = None


class NotificationOrderRequest(_OrderRequestBase):
    """`POST /orders`: the caller picks the channel."""

    notification_channel: NotificationChannel | None = None
    email_template: EmailTemplate | None = None
    sms_template: SmsTemplate | None = None
    recipients: list[Recipient]


# --- v1 responses ---


class RecipientLookupResult(ApiModel):
    status: Open[RecipientLookupStatus]
    is_reserved: list[str] | None = None
    missing_contact: list[str] | None = None


class NotificationOrderRequestResponse(ApiModel):
    order_id: UUID
    recipient_lookup: RecipientLookupResult | None = None


class OrderLinks(ApiModel):
    self: str
    status: str


class SelfLink(ApiModel):
    self: str


class _OrderBase(ApiModel):
    id: UUID
    senders_reference: str | None = None
    requested_send_time: datetime
    creator: str
    created: datetime
    notification_channel: Open[NotificationChannel]
    ignore_reservation: bool | None = None
    resource_id: str | None = None
    resource_action: str | None = None
    condition_endpoint: str | None = None


class NotificationOrder(_OrderBase):
    """`GET /orders/{id}`."""

    recipients: list[Recipient]
    email_template: EmailTemplate | None = None
    sms_template: SmsTemplate | None = None
    links: OrderLinks


class NotificationOrderList(ApiModel):
    count: int
    orders: list[NotificationOrder]


class Status(ApiModel):
    status: Open[OrderProcessingStatus]
    description: str | None = None
    last_update: datetime


class ChannelStatusSummary(ApiModel):
    links: SelfLink
    generated: int
    succeeded: int


class NotificationsStatusSummary(ApiModel):
    email: ChannelStatusSummary | None = None
    sms: ChannelStatusSummary | None = None


class NotificationOrderWithStatus(_OrderBase):
    """`GET /orders/{id}/status` and the answer of `PUT /orders/{id}/cancel`."""

    processing_status: Status
    notifications_status_summary: NotificationsStatusSummary | None = None

    @property
    def is_final(self) -> bool:
        return self.processing_status.status in FINAL_ORDER_STATUSES


class SendStatus(ApiModel):
    status: str
    description: str | None = None
    last_update: datetime


class EmailNotificationRecipient(ApiModel):
    email_address: str | None = None
    organization_number: str | None = None
    national_identity_number: str | None = None


class SmsNotificationRecipient(ApiModel):
    mobile_number: str | None = None
    organization_number: str | None = None
    national_identity_number: str | None = None


class EmailNotificationWithResult(ApiModel):
    id: UUID
    succeeded: bool
    recipient: EmailNotificationRecipient
    send_status: SendStatus


class SmsNotificationWithResult(ApiModel):
    id: UUID
    succeeded: bool
    recipient: SmsNotificationRecipient
    send_status: SendStatus


class EmailNotificationSummary(ApiModel):
    """`GET /orders/{id}/notifications/email`."""

    order_id: UUID
    senders_reference: str | None = None
    generated: int
    succeeded: int
    notifications: list[EmailNotificationWithResult]


class SmsNotificationSummary(ApiModel):
    """`GET /orders/{id}/notifications/sms`."""

    order_id: UUID
    senders_reference: str | None = None
    generated: int
    succeeded: int
    notifications: list[SmsNotificationWithResult]


# --- v2 requests ---


class DialogportenIdentifiers(ApiModel):
    dialog_id: str | None = None
    transmission_id: str | None = None


class EmailSendingOptions(ApiModel):
    sender_email_address: str | None = None
    subject: str
    body: str
    content_type: EmailContentType | None = None
    sending_time_policy: SendingTimePolicy | None = None


class SmsSendingOptions(ApiModel):
    sender: str | None = None
    body: str
    sending_time_policy: SendingTimePolicy | None = None


class RecipientEmail(ApiModel):
    email_address: str
    email_settings: EmailSendingOptions


class RecipientSms(ApiModel):
    phone_number: str
    sms_settings: SmsSendingOptions


class _RecipientBase(ApiModel):
    email_settings: EmailSendingOptions | None = None
    sms_settings: SmsSendingOptions | None = None
    resource_id: str | None = None
    resource_action: str | None = None


class RecipientPerson(_RecipientBase):
    national_identity_number: str
    channel_schema: NotificationChannel | None = None
    ignore_reservation: bool | None = None
    use_stale_contact_information: bool | None = None


class RecipientOrganization(_RecipientBase):
    org_number: str
    channel_schema: NotificationChannel


class RecipientExternalIdentity(_RecipientBase):
    external_identity: str
    channel_schema: NotificationChannel | None = None


class NotificationRecipient(ApiModel):
    """Exactly one of the five kinds (the builders in `altinn_notifications_client.recipients` make one)."""

    recipient_email: RecipientEmail | None = None
    recipient_sms: RecipientSms | None = None
    recipient_person: RecipientPerson | None = None
    recipient_organization: RecipientOrganization | None = None
    recipient_external_identity: RecipientExternalIdentity | None = None


class NotificationReminder(ApiModel):
    senders_reference: str | None = None
    condition_endpoint: str | None = None
    delay_days: int | None = None
    requested_send_time: datetime | None = None
    recipient: NotificationRecipient


class NotificationOrderChainRequest(ApiModel):
    """`POST /future/orders`. `idempotency_id` is filled in by the client when None."""

    idempotency_id: str | None = None
    senders_reference: str | None = None
    requested_send_time: datetime | None = None
    condition_endpoint: str | None = None
    dialogporten_association: DialogportenIdentifiers | None = None
    recipient: NotificationRecipient
    reminders: list[NotificationReminder] | None = None


class SasFileReference(ApiModel):
    filename: str
    mime_type: str
    sas_url: str


class ComposedEmailSendingOptions(EmailSendingOptions):
    attachments: list[SasFileReference] | None = None


class RecipientComposedEmail(ApiModel):
    email_address: str
    email_settings: ComposedEmailSendingOptions


class ComposedEmailRequest(ApiModel):
    """`POST /future/orders/composed-email` (needs the composed-email scope)."""

    idempotency_id: str | None = None
    senders_reference: str | None = None
    requested_send_time: datetime | None = None
    condition_endpoint: str | None = None
    dialogporten_association: DialogportenIdentifiers | None = None
    recipient: RecipientComposedEmail


class ShortMessageContent(ApiModel):
    sender: str | None = None
    body: str


class ShortMessageDeliveryDetails(ApiModel):
    phone_number: str
    time_to_live_in_seconds: int
    sms_settings: ShortMessageContent


class InstantSmsNotificationOrderRequest(ApiModel):
    """`POST /future/orders/instant/sms`."""

    idempotency_id: str | None = None
    senders_reference: str | None = None
    recipient_sms: ShortMessageDeliveryDetails


class InstantEmailContent(ApiModel):
    sender_email_address: str | None = None
    subject: str
    body: str
    content_type: EmailContentType | None = None


class InstantEmailDetails(ApiModel):
    email_address: str
    email_settings: InstantEmailContent


class InstantEmailNotificationOrderRequest(ApiModel):
    """`POST /future/orders/instant/email`."""

    idempotency_id: str | None = None
    senders_reference: str | None = None
    recipient_email: InstantEmailDetails


# --- v2 responses ---


class NotificationOrderChainShipment(ApiModel):
    shipment_id: UUID
    senders_reference: str | None = None


class NotificationOrderChainReceipt(NotificationOrderChainShipment):
    reminders: list[NotificationOrderChainShipment] | None = None


class NotificationOrderChainResponse(ApiModel):
    """The receipt of every v2 create and of `GET /orders/chain/{id}`: `notification_order_id` is the
    chain's id, `notification.shipment_id` (and each reminder's) the shipments to track."""

    notification_order_id: UUID
    notification: NotificationOrderChainReceipt


class DeliveryManifest(ApiModel):
    type: Open[Literal["Email", "SMS"]]
    destination: str
    status: Open[ProcessingLifecycle]
    last_update: datetime


class NotificationDeliveryManifest(ApiModel):
    """`GET /future/shipment/{id}`."""

    shipment_id: UUID
    senders_reference: str | None = None
    type: Open[OrderType]
    status: Open[ProcessingLifecycle]
    last_update: datetime
    recipients: list[DeliveryManifest]

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_SHIPMENT_STATUSES


class StatusFeedRecipient(ApiModel):
    destination: str
    status: Open[ProcessingLifecycle]
    last_update: datetime


class StatusFeedEntry(ApiModel):
    """One entry of `GET /future/shipment/feed`: a shipment that reached its final state."""

    sequence_number: int
    shipment_id: UUID
    senders_reference: str | None = None
    shipment_type: Open[OrderType]
    status: Open[ProcessingLifecycle]
    last_update: datetime
    recipients: list[StatusFeedRecipient]
