"""The v2 ("future") order API: request and response shapes (docs/compatibility.md C6, C7, C8) and the stored chain (docs/compatibility.md C6).

Request types are lenient where the reference's binder is lenient: business rules live in
`chains.validation`. `[Required]` strings of the reference (`idempotencyId`, `emailAddress`, `phoneNumber`,
`nationalIdentityNumber`, `orgNumber`, `externalIdentity`, settings `subject`/`body`, attachment fields) reject
a missing or empty value at binding ("The X field is required.", docs/compatibility.md C1); whitespace-only values reach
validation and get the reference's FluentValidation messages.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AliasGenerator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel, to_pascal
from pydantic_core import PydanticCustomError

from altinn_notifications.orders.models import (
    ApiModel,
    ContentTypeIn,
    EmailContentType,
    RequestModel,
    RequiredStr,
    SendingTimePolicy,
    lenient_enum,
)
from altinn_notifications.vocabulary import NotificationChannel

# --- enums on input ---


def _sending_time_policy(value: Any) -> Any:
    """`SendingTimePolicyExt` as the reference's converter reads it: names case-insensitively, any integer.

    An integer that names no policy (e.g. 0) is kept, so validation can answer with the reference's
    message ("SMS only supports send time daytime and anytime") instead of a binding error.
    """
    if value is None or isinstance(value, SendingTimePolicy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        for member in SendingTimePolicy:
            if value.strip().lower() == member.name.lower():
                return int(member)
    raise PydanticCustomError(
        "enum_value", "The JSON value could not be converted to {name}.", {"name": "SendingTimePolicyExt"}
    )


SendingTimePolicyIn = Annotated[int | None, BeforeValidator(_sending_time_policy)]
ChannelSchemaIn = Annotated[NotificationChannel, lenient_enum(NotificationChannel)]


class ChainType(enum.IntEnum):
    """`orderchain->>'Type'` of an `orderschain` row: the order type of the request (docs/compatibility.md C6, C7, C8)."""

    Notification = 0
    Instant = 2
    Composed = 3


# --- shared request parts (docs/compatibility.md C6) ---


class ChainRequestModel(RequestModel):
    """Base of the v2 request shapes: camelCase on the wire, PascalCase when dumped by alias, which is how
    the stored chain keeps its request parts (`chains.service.stored_json`), like the reference's serializer.
    They are never answered with, so no response changes."""

    model_config = ConfigDict(alias_generator=AliasGenerator(alias=to_camel, serialization_alias=to_pascal))


class DialogportenIdentifiersExt(ChainRequestModel):
    dialog_id: str | None = None
    transmission_id: str | None = None


class EmailSendingOptionsExt(ChainRequestModel):
    sender_email_address: str | None = None
    subject: RequiredStr
    body: RequiredStr
    content_type: ContentTypeIn = EmailContentType.Plain
    sending_time_policy: SendingTimePolicyIn = int(SendingTimePolicy.Anytime)


class SmsSendingOptionsExt(ChainRequestModel):
    sender: str | None = None
    body: RequiredStr
    sending_time_policy: SendingTimePolicyIn = int(SendingTimePolicy.Daytime)


class RecipientEmailExt(ChainRequestModel):
    email_address: RequiredStr
    email_settings: EmailSendingOptionsExt


class RecipientSmsExt(ChainRequestModel):
    phone_number: RequiredStr
    sms_settings: SmsSendingOptionsExt


class RecipientBaseExt(ChainRequestModel):
    """Fields shared by the person, organisation and external-identity recipients."""

    email_settings: EmailSendingOptionsExt | None = None
    sms_settings: SmsSendingOptionsExt | None = None
    resource_id: str | None = None
    resource_action: str | None = None


class RecipientPersonExt(RecipientBaseExt):
    national_identity_number: RequiredStr
    channel_schema: ChannelSchemaIn = NotificationChannel.EmailPreferred
    ignore_reservation: bool = False
    use_stale_contact_information: bool = False


class RecipientOrganizationExt(RecipientBaseExt):
    org_number: RequiredStr
    channel_schema: ChannelSchemaIn  # required: no default (docs/compatibility.md C6)


class RecipientExternalIdentityExt(RecipientBaseExt):
    external_identity: RequiredStr
    channel_schema: ChannelSchemaIn = NotificationChannel.Email


class NotificationRecipientExt(ChainRequestModel):
    """Exactly one of the five recipient kinds (checked by validation)."""

    recipient_email: RecipientEmailExt | None = None
    recipient_sms: RecipientSmsExt | None = None
    recipient_person: RecipientPersonExt | None = None
    recipient_organization: RecipientOrganizationExt | None = None
    recipient_external_identity: RecipientExternalIdentityExt | None = None


class NotificationReminderExt(ChainRequestModel):
    senders_reference: str | None = None
    condition_endpoint: str | None = None
    delay_days: int | None = None
    requested_send_time: datetime | None = None
    recipient: NotificationRecipientExt


# --- requests ---


class NotificationOrderChainRequestExt(ChainRequestModel):
    """`POST /future/orders` (docs/compatibility.md C6)."""

    idempotency_id: RequiredStr
    senders_reference: str | None = None
    requested_send_time: datetime | None = None
    condition_endpoint: str | None = None
    dialogporten_association: DialogportenIdentifiersExt | None = None
    recipient: NotificationRecipientExt
    reminders: list[NotificationReminderExt] | None = None


class SasFileReferenceExt(ChainRequestModel):
    filename: RequiredStr
    mime_type: RequiredStr
    sas_url: RequiredStr


class ComposedEmailSendingOptionsExt(EmailSendingOptionsExt):
    attachments: list[SasFileReferenceExt] | None = None


class RecipientComposedEmailExt(ChainRequestModel):
    email_address: RequiredStr
    email_settings: ComposedEmailSendingOptionsExt


class ComposedEmailRequestExt(ChainRequestModel):
    """`POST /future/orders/composed-email` (docs/compatibility.md C7)."""

    idempotency_id: RequiredStr
    senders_reference: str | None = None
    requested_send_time: datetime | None = None
    condition_endpoint: str | None = None
    dialogporten_association: DialogportenIdentifiersExt | None = None
    recipient: RecipientComposedEmailExt


class ShortMessageContentExt(ChainRequestModel):
    sender: str | None = None
    body: RequiredStr


class ShortMessageDeliveryDetailsExt(ChainRequestModel):
    phone_number: RequiredStr
    time_to_live_in_seconds: int
    sms_settings: ShortMessageContentExt


class InstantSmsNotificationOrderRequestExt(ChainRequestModel):
    """`POST /future/orders/instant/sms` (docs/compatibility.md C8)."""

    idempotency_id: RequiredStr
    senders_reference: str | None = None
    recipient_sms: ShortMessageDeliveryDetailsExt


class InstantEmailContentExt(ChainRequestModel):
    sender_email_address: str | None = None
    subject: RequiredStr
    body: RequiredStr
    content_type: ContentTypeIn = EmailContentType.Plain


class InstantEmailDetailsExt(ChainRequestModel):
    email_address: RequiredStr
    email_settings: InstantEmailContentExt


class InstantEmailNotificationOrderRequestExt(ChainRequestModel):
    """`POST /future/orders/instant/email` (docs/compatibility.md C8)."""

    idempotency_id: RequiredStr
    senders_reference: str | None = None
    recipient_email: InstantEmailDetailsExt


class InstantNotificationRecipientExt(ChainRequestModel):
    recipient_sms: ShortMessageDeliveryDetailsExt


class InstantNotificationOrderRequestExt(ChainRequestModel):
    """Deprecated `POST /future/orders/instant` (SMS only, docs/compatibility.md C8)."""

    idempotency_id: RequiredStr
    senders_reference: str | None = None
    recipient: InstantNotificationRecipientExt


# --- responses (docs/compatibility.md C6) ---


class NotificationOrderChainShipmentExt(ApiModel):
    shipment_id: UUID
    senders_reference: str | None = None


class NotificationOrderChainReceiptExt(NotificationOrderChainShipmentExt):
    reminders: list[NotificationOrderChainShipmentExt] | None = None


class NotificationOrderChainResponseExt(ApiModel):
    """The receipt of every v2 create: `notificationOrderId` is the chain id, shipments are order ids."""

    notification_order_id: UUID
    notification: NotificationOrderChainReceiptExt


# --- the stored chain (`orderschain.orderchain`, docs/compatibility.md C6; PascalCase like the reference's JSON) ---


class StoredModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="ignore")


class ChainCreator(StoredModel):
    short_name: str


class ChainDialogportenAssociation(StoredModel):
    dialog_id: str | None = None
    transmission_id: str | None = None


class ChainReminder(StoredModel):
    order_id: UUID
    type: int = 1  # OrderType.Reminder
    delay_days: int | None = None
    requested_send_time: datetime
    senders_reference: str | None = None
    condition_endpoint: str | None = None
    recipient: dict[str, Any]


class OrderChain(StoredModel):
    """What the reference keeps of a v2 request; the receipt is rebuilt from it on replay and on read."""

    order_chain_id: UUID
    order_id: UUID
    idempotency_id: str
    creator: ChainCreator
    type: ChainType
    requested_send_time: datetime
    senders_reference: str | None = None
    condition_endpoint: str | None = None
    dialogporten_association: ChainDialogportenAssociation | None = None
    recipient: dict[str, Any]
    reminders: list[ChainReminder] | None = None

    def receipt(self) -> NotificationOrderChainResponseExt:
        reminders = (
            [
                NotificationOrderChainShipmentExt(
                    shipment_id=r.order_id, senders_reference=r.senders_reference
                )
                for r in self.reminders
            ]
            if self.reminders
            else None
        )
        return NotificationOrderChainResponseExt(
            notification_order_id=self.order_chain_id,
            notification=NotificationOrderChainReceiptExt(
                shipment_id=self.order_id, senders_reference=self.senders_reference, reminders=reminders
            ),
        )
