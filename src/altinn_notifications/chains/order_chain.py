"""`POST /future/orders`: one recipient, a main order and its reminders.

Maps a validated request to a `ChainPlan`, and checks at registration that every recipient given without
an address has contact information (blocking in v2, unlike v1).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from altinn_notifications.auth.models import Caller
from altinn_notifications.chains import validation
from altinn_notifications.chains.models import (
    ChainCreator,
    ChainReminder,
    ChainType,
    EmailSendingOptionsExt,
    NotificationOrderChainRequestExt,
    NotificationRecipientExt,
    OrderChain,
    RecipientBaseExt,
    SmsSendingOptionsExt,
)
from altinn_notifications.chains.service import ChainPlan, dialogporten, missing_contact, stored_json
from altinn_notifications.config import Settings
from altinn_notifications.orders import intake
from altinn_notifications.orders.intake import blank_to_none
from altinn_notifications.orders.lookup import lookup_at_registration, needs_lookup
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationOrder,
    OrderType,
    Recipient,
    SendingTimePolicy,
    SmsTemplate,
)
from altinn_notifications.orders.rules import IntakeLimits, as_utc
from altinn_notifications.recipients.ports import ContactPointsPort
from altinn_notifications.vocabulary import NotificationChannel


def build_order_chain(
    request: NotificationOrderChainRequestExt, caller: Caller, settings: Settings, now: datetime
) -> ChainPlan:
    """Validate (400) and map the request to a chain row, a `Notification` order and one `Reminder`
    order per reminder (docs/compatibility.md C6 (building the orders), C18)."""
    intake.raise_if_invalid(validation.validate_order_chain(request, now, IntakeLimits.of(settings)))
    # The stale-contact org list applies to v2 person recipients only (docs/compatibility.md C6): decided
    # here, case-insensitively, and stored on the order, so processing needs no org list.
    stale_override = caller.org.lower() in {org.lower() for org in settings.stale_contact_orgs}
    main_time = as_utc(request.requested_send_time) if request.requested_send_time else now
    main = _order(
        request.recipient,
        settings,
        creator=caller.org,
        now=now,
        send_time=main_time,
        order_type=OrderType.Notification,
        senders_reference=request.senders_reference,
        condition_endpoint=request.condition_endpoint,
        stale_override=stale_override,
    )
    orders = [main]
    reminders: list[ChainReminder] = []
    for reminder in request.reminders or ():
        if reminder.delay_days is not None:
            send_time = main_time + timedelta(days=reminder.delay_days)
            delay_days = reminder.delay_days
        else:
            assert reminder.requested_send_time is not None  # guaranteed by validation
            send_time = as_utc(reminder.requested_send_time)
            delay_days = int((send_time - main_time) / timedelta(days=1))
        order = _order(
            reminder.recipient,
            settings,
            creator=caller.org,
            now=now,
            send_time=send_time,
            order_type=OrderType.Reminder,
            senders_reference=reminder.senders_reference,
            condition_endpoint=reminder.condition_endpoint,
            stale_override=stale_override,
        )
        orders.append(order)
        reminders.append(
            ChainReminder(
                order_id=order.id,
                delay_days=delay_days,
                requested_send_time=send_time,
                senders_reference=reminder.senders_reference,
                condition_endpoint=reminder.condition_endpoint,
                recipient=stored_json(reminder.recipient),
            )
        )
    chain = OrderChain(
        order_chain_id=uuid.uuid4(),
        order_id=main.id,
        idempotency_id=request.idempotency_id,
        creator=ChainCreator(short_name=caller.org),
        type=ChainType.Notification,
        requested_send_time=main_time,
        senders_reference=request.senders_reference,
        condition_endpoint=request.condition_endpoint,
        dialogporten_association=dialogporten(request.dialogporten_association),
        recipient=stored_json(request.recipient),
        reminders=reminders or None,
    )
    return ChainPlan(chain=chain, orders=orders, created=now)


def needs_contact_lookup(plan: ChainPlan) -> bool:
    """Whether registration must ask the contact registers (a recipient given without its address)."""
    return any(needs_lookup(r, order.notification_channel) for order in plan.orders for r in order.recipients)


async def ensure_contact_points(plan: ChainPlan, port: ContactPointsPort) -> None:
    """Registration-time lookup (docs/compatibility.md C6, registration-time lookup), blocking in v2: any recipient of any order (main or
    reminder) without contact information → 422 `NOT-00001`. Reserved persons are not "missing"."""
    results = await asyncio.gather(
        *(
            lookup_at_registration(
                port,
                order.notification_channel,
                order.recipients,
                use_stale_contact_info=order.use_stale_contact_information,
                ignore_reservation=bool(order.ignore_reservation),
            )
            for order in plan.orders
        )
    )
    if any(result is not None and result.missing_contact for result in results):
        raise missing_contact()


# --- mapping one recipient object to its order ---


@dataclass(slots=True)  # not frozen: a frozen dataclass's `__init__` costs four times as much
class _Target:
    """What a v2 recipient object contributes to its order (docs/compatibility.md C18)."""

    channel: NotificationChannel
    recipient: Recipient
    email_template: EmailTemplate | None = None
    sms_template: SmsTemplate | None = None
    sending_time_policy: SendingTimePolicy | None = None
    ignore_reservation: bool | None = None
    use_stale_contact_information: bool = False
    resource_id: str | None = None
    resource_action: str | None = None


def _target(recipient: NotificationRecipientExt, settings: Settings, *, stale_override: bool) -> _Target:
    if recipient.recipient_email is not None:
        email = recipient.recipient_email
        # The email sendingTimePolicy is validated (`Anytime`) and not stored (docs/compatibility.md C6).
        return _Target(
            channel=NotificationChannel.Email,
            recipient=Recipient(email_address=email.email_address.strip()),
            email_template=_email_template(email.email_settings, settings),
        )
    if recipient.recipient_sms is not None:
        sms = recipient.recipient_sms
        return _Target(
            channel=NotificationChannel.Sms,
            recipient=Recipient(mobile_number=sms.phone_number.strip()),
            sms_template=_sms_template(sms.sms_settings, settings),
            sending_time_policy=_policy(sms.sms_settings),
        )
    base: RecipientBaseExt
    if recipient.recipient_person is not None:
        person = recipient.recipient_person
        base, channel = person, person.channel_schema
        target = Recipient(national_identity_number=person.national_identity_number.strip())
        ignore_reservation: bool | None = person.ignore_reservation
        use_stale = person.use_stale_contact_information or stale_override
    elif recipient.recipient_organization is not None:
        organization = recipient.recipient_organization
        base, channel = organization, organization.channel_schema
        target = Recipient(organization_number=organization.org_number.strip())
        ignore_reservation, use_stale = None, False
    else:
        external = recipient.recipient_external_identity
        assert external is not None  # exactly one recipient kind: guaranteed by validation
        base, channel = external, external.channel_schema
        target = Recipient(external_identity=external.external_identity.strip())
        ignore_reservation, use_stale = None, False
    return _Target(
        channel=channel,
        recipient=target,
        email_template=_email_template(base.email_settings, settings) if base.email_settings else None,
        sms_template=_sms_template(base.sms_settings, settings) if base.sms_settings else None,
        sending_time_policy=_policy(base.sms_settings) if base.sms_settings else None,
        ignore_reservation=ignore_reservation,
        use_stale_contact_information=use_stale,
        resource_id=blank_to_none(base.resource_id),
        resource_action=blank_to_none(base.resource_action),
    )


def _order(
    recipient: NotificationRecipientExt,
    settings: Settings,
    *,
    creator: str,
    now: datetime,
    send_time: datetime,
    order_type: OrderType,
    senders_reference: str | None,
    condition_endpoint: str | None,
    stale_override: bool,
) -> NotificationOrder:
    target = _target(recipient, settings, stale_override=stale_override)
    return intake.new_order(
        creator=creator,
        now=now,
        send_time=send_time,
        channel=target.channel,
        order_type=order_type,
        senders_reference=senders_reference,
        ignore_reservation=target.ignore_reservation,
        use_stale_contact_information=target.use_stale_contact_information,
        resource_id=target.resource_id,
        resource_action=target.resource_action,
        condition_endpoint=blank_to_none(condition_endpoint),
        sending_time_policy=target.sending_time_policy,
        email_template=target.email_template,
        sms_template=target.sms_template,
        recipients=[target.recipient],
    )


def _email_template(options: EmailSendingOptionsExt, settings: Settings) -> EmailTemplate:
    return intake.email_template(
        options.sender_email_address,
        options.subject,
        options.body,
        options.content_type,
        default_sender=settings.default_email_from_address,
    )


def _sms_template(options: SmsSendingOptionsExt, settings: Settings) -> SmsTemplate:
    return intake.sms_template(
        options.sender, options.body, default_sender=settings.default_sms_sender_number
    )


def _policy(options: SmsSendingOptionsExt) -> SendingTimePolicy:
    value = options.sending_time_policy
    return SendingTimePolicy.Daytime if value is None else SendingTimePolicy(value)
