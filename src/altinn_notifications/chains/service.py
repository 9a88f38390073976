"""v2 ("future") order registration: chains with reminders, composed emails, instant notifications.

Spec 4.1-4.3, 7.4, 7.5, 10.1, 10.11. Services never commit: the request owns the transaction. Network calls
(registration-time contact lookup, the instant provider hand-off) are made outside any transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from pydantic import BaseModel

from altinn_notifications.auth.models import Caller
from altinn_notifications.chains import validation
from altinn_notifications.chains.models import (
    ChainCreator,
    ChainDialogportenAssociation,
    ChainReminder,
    ChainType,
    ComposedEmailRequestExt,
    DialogportenIdentifiersExt,
    EmailSendingOptionsExt,
    InstantEmailNotificationOrderRequestExt,
    InstantNotificationOrderRequestExt,
    InstantSmsNotificationOrderRequestExt,
    NotificationOrderChainRequestExt,
    NotificationOrderChainResponseExt,
    NotificationRecipientExt,
    OrderChain,
    RecipientBaseExt,
    ShortMessageDeliveryDetailsExt,
    SmsSendingOptionsExt,
)
from altinn_notifications.chains.repository import ChainRepository
from altinn_notifications.config import Settings
from altinn_notifications.db.pool import Connection
from altinn_notifications.db.schema import EMAIL_RESULTS, SMS_RESULTS
from altinn_notifications.errors import CodedProblem, NotFoundError, RequestValidationFailed
from altinn_notifications.logging import mask_id
from altinn_notifications.orders.models import (
    EmailAttachment,
    EmailContentType,
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    OrderType,
    Recipient,
    SendingTimePolicy,
    SmsTemplate,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.providers.base import (
    EmailMessage,
    EmailProvider,
    SendOutcome,
    SmsMessage,
    SmsProvider,
)
from altinn_notifications.recipients.ports import ContactPointsPort
from altinn_notifications.recipients.service import lookup_at_registration, needs_lookup
from altinn_notifications.status.completion import complete_orders
from altinn_notifications.vocabulary import OrderStatus, is_final

log = structlog.get_logger(__name__)

# Spec 2.4 coded problems of the v2 endpoints.
MISSING_CONTACT = (422, "NOT-00001", "Missing contact information for recipient(s)")
CLIENT_DISCONNECTED = (
    499,
    "NOT-00002",
    "The client disconnected or cancelled the request before the server could complete processing",
)
TEMPORARY_FAILURE = (503, "NOT-00004", "A temporary network failure occurred")

INSTANT_EMAIL_EXPIRY = timedelta(hours=48)
# Orders due within this window wake the order workers at commit (their claim looks this far ahead).
_WAKE_WINDOW = timedelta(minutes=1)


def missing_contact() -> CodedProblem:
    return CodedProblem(*MISSING_CONTACT)


def client_disconnected() -> CodedProblem:
    return CodedProblem(*CLIENT_DISCONNECTED)


def temporary_failure() -> CodedProblem:
    return CodedProblem(*TEMPORARY_FAILURE)


@dataclass(frozen=True)
class ChainPlan:
    """A validated v2 request, ready to store: the chain row and its orders (main first, then reminders)."""

    chain: OrderChain
    orders: list[NotificationOrder]
    created: datetime


@dataclass(frozen=True)
class InstantPlan:
    """A validated instant request: what to hand to the provider, and what to store after the hand-off."""

    chain: OrderChain
    order: NotificationOrder
    message: EmailMessage | SmsMessage
    expiry_time: datetime


@dataclass(frozen=True)
class InstantTurn:
    """Whether an instant request may hand off: `receipt` set → a repeat, answer it; `reserved` → this
    request holds the idempotency id and hands off; neither → another request is handing off now."""

    receipt: NotificationOrderChainResponseExt | None = None
    reserved: bool = False


@dataclass(frozen=True)
class StoredChain:
    """The receipt to answer with; `created` is False when a concurrent duplicate was stored first."""

    receipt: NotificationOrderChainResponseExt
    created: bool


# --- reads ---


async def find_receipt(
    conn: Connection, creator: str, idempotency_id: str, chain_type: ChainType
) -> NotificationOrderChainResponseExt | None:
    """The original receipt of a repeated `idempotencyId` (same creator, same order type), if any."""
    chain = await ChainRepository(conn).find_by_idempotency_id(creator, idempotency_id, chain_type)
    return chain.receipt() if chain else None


async def get_chain_receipt(
    conn: Connection, chain_id: UUID, caller: Caller
) -> NotificationOrderChainResponseExt:
    """`GET /orders/chain/{id}`: the receipt of one of the caller's chains; another org's id is 404."""
    chain = await ChainRepository(conn).get(chain_id, caller.org)
    if chain is None:
        raise NotFoundError()
    return chain.receipt()


# --- POST /future/orders (spec 4.1) ---


def build_order_chain(
    request: NotificationOrderChainRequestExt, caller: Caller, settings: Settings, now: datetime
) -> ChainPlan:
    """Validate (400) and map the request to a chain row, a `Notification` order and one `Reminder`
    order per reminder (spec 4.1.2 steps 4-5, 7.4)."""
    _raise_if_invalid(validation.validate_order_chain(request, now))
    stale_override = caller.org.lower() in {org.lower() for org in settings.stale_contact_orgs}
    main_time = _utc(request.requested_send_time) if request.requested_send_time else now
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
            send_time = _utc(reminder.requested_send_time)
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
                recipient=_stored_json(reminder.recipient),
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
        dialogporten_association=_dialogporten(request.dialogporten_association),
        recipient=_stored_json(request.recipient),
        reminders=reminders or None,
    )
    return ChainPlan(chain=chain, orders=orders, created=now)


def needs_contact_lookup(plan: ChainPlan) -> bool:
    """Whether registration must ask the contact registers (a recipient given without its address)."""
    return any(needs_lookup(r, order.notification_channel) for order in plan.orders for r in order.recipients)


async def ensure_contact_points(plan: ChainPlan, port: ContactPointsPort) -> None:
    """Registration-time lookup (spec 4.1.2 step 6), blocking in v2: any recipient of any order (main or
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


async def store_chain(conn: Connection, plan: ChainPlan) -> StoredChain:
    """Insert the chain row, its orders (`Registered`) and their texts, in the caller's transaction.

    A concurrent request with the same idempotency id that got there first makes this a no-op answering
    with the original receipt (see `chains.repository`).
    """
    repo = ChainRepository(conn)
    chain_id = await repo.insert(plan.chain, plan.created)
    if chain_id is None:
        return await _original(repo, plan.chain)
    orders = OrderRepository(conn)
    for order in plan.orders:
        await orders.insert(order, order_chain_id=chain_id)
    if any(order.requested_send_time <= plan.created + _WAKE_WINDOW for order in plan.orders):
        await repo.notify_orders_due()
    return StoredChain(plan.chain.receipt(), created=True)


# --- POST /future/orders/composed-email (spec 4.2) ---


def build_composed_email(
    request: ComposedEmailRequestExt, caller: Caller, settings: Settings, now: datetime
) -> ChainPlan:
    """Validate (400) and map to a chain row and one `Composed` email order; the attachments are kept in
    the order JSON (`emailAttachments`). No recipient lookup, no reminders."""
    _raise_if_invalid(validation.validate_composed_email(request, now))
    send_time = _utc(request.requested_send_time) if request.requested_send_time else now
    recipient = request.recipient
    settings_ext = recipient.email_settings
    order = NotificationOrder(
        id=uuid.uuid4(),
        creator=caller.org,
        created=now,
        requested_send_time=send_time,
        notification_channel=NotificationChannel.Email,
        type=OrderType.Composed,
        senders_reference=request.senders_reference,
        condition_endpoint=request.condition_endpoint,
        email_template=_email_template(settings_ext, settings),
        recipients=[Recipient(email_address=recipient.email_address.strip())],
        email_attachments=[
            EmailAttachment(sas_url=a.sas_url.strip(), filename=a.filename, mime_type=a.mime_type)
            for a in settings_ext.attachments or ()
        ]
        or None,
    )
    chain = OrderChain(
        order_chain_id=uuid.uuid4(),
        order_id=order.id,
        idempotency_id=request.idempotency_id,
        creator=ChainCreator(short_name=caller.org),
        type=ChainType.Composed,
        requested_send_time=send_time,
        senders_reference=request.senders_reference,
        condition_endpoint=request.condition_endpoint,
        dialogporten_association=_dialogporten(request.dialogporten_association),
        recipient=_stored_json(recipient),
    )
    return ChainPlan(chain=chain, orders=[order], created=now)


# --- instant notifications (spec 4.3, 10.11) ---


def build_instant_sms(
    request: InstantSmsNotificationOrderRequestExt, caller: Caller, settings: Settings, now: datetime
) -> InstantPlan:
    _raise_if_invalid(validation.validate_instant_sms(request))
    return _instant_sms_plan(
        request.idempotency_id, request.senders_reference, request.recipient_sms, caller, settings, now
    )


def build_instant(
    request: InstantNotificationOrderRequestExt, caller: Caller, settings: Settings, now: datetime
) -> InstantPlan:
    """The deprecated `/future/orders/instant` (SMS only)."""
    _raise_if_invalid(validation.validate_instant(request))
    return _instant_sms_plan(
        request.idempotency_id,
        request.senders_reference,
        request.recipient.recipient_sms,
        caller,
        settings,
        now,
    )


def build_instant_email(
    request: InstantEmailNotificationOrderRequestExt, caller: Caller, settings: Settings, now: datetime
) -> InstantPlan:
    _raise_if_invalid(validation.validate_instant_email(request))
    details = request.recipient_email
    content = details.email_settings
    template = EmailTemplate(
        from_address=_blank_to_none(content.sender_email_address) or settings.default_email_from_address,
        subject=_subject(content.subject),
        body=content.body,
        content_type=content.content_type or EmailContentType.Plain,
    )
    to_address = details.email_address.strip()
    order = _instant_order(
        caller, now, request.senders_reference, NotificationChannel.Email, Recipient(email_address=to_address)
    )
    order.email_template = template
    message = EmailMessage(
        notification_id=uuid.uuid4(),
        from_address=template.from_address,
        to_address=to_address,
        subject=template.subject,
        body=template.body,
        content_type="Html" if template.content_type is EmailContentType.Html else "Plain",
    )
    return InstantPlan(
        chain=_instant_chain(request.idempotency_id, request.senders_reference, details, order, caller, now),
        order=order,
        message=message,
        expiry_time=now + INSTANT_EMAIL_EXPIRY,
    )


#: How long an instant hand-off holds its idempotency id (and the longest a duplicate waits for it).
INSTANT_RESERVATION = timedelta(seconds=120)
#: The longest a hand-off may take: well inside the reservation, so no duplicate can take over meanwhile.
INSTANT_SEND_LIMIT = timedelta(seconds=90)


async def take_instant_turn(conn: Connection, plan: InstantPlan) -> InstantTurn:
    """Spec 4.3 step 2 without the race of two identical requests both sending: the idempotency id is
    reserved before the hand-off. Statements run one by one (autocommit), so the reservation is visible
    to others at once; the receipt is looked for after reserving, so a holder that stored its outcome
    and released the id in between is never missed."""
    repo = ChainRepository(conn)
    creator, idempotency_id = plan.chain.creator.short_name, plan.chain.idempotency_id
    holder = plan.chain.order_chain_id
    reserved = await repo.reserve_instant(creator, idempotency_id, holder, INSTANT_RESERVATION)
    try:
        original = await repo.find_by_idempotency_id(creator, idempotency_id, ChainType.Instant)
    except Exception:
        if reserved:
            await repo.release_instant(creator, idempotency_id, holder)
        raise
    if original is None:
        return InstantTurn(reserved=reserved)  # not reserved: another request is handing off now
    if reserved:  # a repeat: nothing to send
        await repo.release_instant(creator, idempotency_id, holder)
    return InstantTurn(receipt=original.receipt())


async def release_instant(conn: Connection, plan: InstantPlan) -> None:
    """The hand-off surely failed (nothing is stored): the same idempotency id may be tried again at once."""
    chain = plan.chain
    await ChainRepository(conn).release_instant(
        chain.creator.short_name, chain.idempotency_id, chain.order_chain_id
    )


async def send_instant(
    plan: InstantPlan, email_provider: EmailProvider, sms_provider: SmsProvider
) -> SendOutcome:
    """The synchronous hand-off (spec 4.3 step 4), before anything is stored: a failed call or a transient
    outcome → 503 `NOT-00004`, and the caller stores nothing."""
    channel = "email" if isinstance(plan.message, EmailMessage) else "sms"
    try:
        async with asyncio.timeout(INSTANT_SEND_LIMIT.total_seconds()):
            if isinstance(plan.message, EmailMessage):
                outcome = await email_provider.send(plan.message)
            else:
                outcome = await sms_provider.send(plan.message)
    except Exception as exc:
        log.critical(
            "instant notification hand-off failed",
            channel=channel,
            notification_id=mask_id(plan.message.notification_id),
            error=type(exc).__name__,
        )
        raise temporary_failure() from exc
    if outcome.transient:
        log.critical(
            "instant notification hand-off failed",
            channel=channel,
            notification_id=mask_id(plan.message.notification_id),
            detail=outcome.detail,
        )
        raise temporary_failure()
    return outcome


async def store_instant(conn: Connection, plan: InstantPlan, outcome: SendOutcome) -> StoredChain:
    """Store the chain (`Type` 2), the `Instant` order (`Processed`), its text and one notification, and
    release the idempotency id's reservation (in the same transaction: a waiting duplicate then finds
    the receipt).

    Unlike the reference, which stores the notification as `Sending` and waits for the send result to
    arrive through its queues (spec 10.11), the provider's immediate outcome is known here and is stored
    directly: its result (e.g. `Accepted`/`Succeeded`) with the vendor reference in `gatewayreference` /
    `operationid`, so later delivery reports match it through the normal result path. A final failure
    completes the order at once.
    """
    repo = ChainRepository(conn)
    await repo.release_instant(
        plan.chain.creator.short_name, plan.chain.idempotency_id, plan.chain.order_chain_id
    )
    chain_id = await repo.insert(plan.chain, plan.order.created)
    if chain_id is None:
        return await _original(repo, plan.chain)
    order_id = await OrderRepository(conn).insert(
        plan.order, status=OrderStatus.Processed, order_chain_id=chain_id
    )
    message = plan.message
    if isinstance(message, EmailMessage):
        result = _stored_result(outcome.result, EMAIL_RESULTS)
        await repo.insert_email_notification(
            order_id, message.notification_id, message.to_address, result, plan.expiry_time, outcome.reference
        )
        final = is_final("email", result)
    else:
        result = _stored_result(outcome.result, SMS_RESULTS)
        await repo.insert_sms_notification(
            order_id,
            message.notification_id,
            message.mobile_number,
            result,
            plan.expiry_time,
            outcome.reference,
        )
        final = is_final("sms", result)
    if final:
        await complete_orders(conn, [order_id])
    return StoredChain(plan.chain.receipt(), created=True)


# --- mapping helpers ---


@dataclass(frozen=True)
class _Target:
    """What a v2 recipient object contributes to its order (spec 7.4)."""

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
        # The email sendingTimePolicy is validated (`Anytime`) and not stored (spec 7.3).
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
        resource_id=_blank_to_none(base.resource_id),
        resource_action=_blank_to_none(base.resource_action),
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
    return NotificationOrder(
        id=uuid.uuid4(),
        creator=creator,
        created=now,
        requested_send_time=send_time,
        notification_channel=target.channel,
        type=order_type,
        senders_reference=senders_reference,
        ignore_reservation=target.ignore_reservation,
        use_stale_contact_information=target.use_stale_contact_information,
        resource_id=target.resource_id,
        resource_action=target.resource_action,
        condition_endpoint=_blank_to_none(condition_endpoint),
        sending_time_policy=target.sending_time_policy,
        email_template=target.email_template,
        sms_template=target.sms_template,
        recipients=[target.recipient],
    )


def _instant_sms_plan(
    idempotency_id: str,
    senders_reference: str | None,
    details: ShortMessageDeliveryDetailsExt,
    caller: Caller,
    settings: Settings,
    now: datetime,
) -> InstantPlan:
    content = details.sms_settings
    template = SmsTemplate(
        sender_number=_blank_to_none(content.sender) or settings.default_sms_sender_number, body=content.body
    )
    number = details.phone_number.strip()
    order = _instant_order(
        caller, now, senders_reference, NotificationChannel.Sms, Recipient(mobile_number=number)
    )
    order.sms_template = template
    message = SmsMessage(
        notification_id=uuid.uuid4(),
        sender=template.sender_number,
        mobile_number=number,
        body=template.body,
        time_to_live_seconds=details.time_to_live_in_seconds,
    )
    return InstantPlan(
        chain=_instant_chain(idempotency_id, senders_reference, details, order, caller, now),
        order=order,
        message=message,
        expiry_time=now + timedelta(seconds=details.time_to_live_in_seconds),
    )


def _instant_order(
    caller: Caller,
    now: datetime,
    senders_reference: str | None,
    channel: NotificationChannel,
    recipient: Recipient,
) -> NotificationOrder:
    """Spec 4.3 step 3: type `Instant`, sent now, `Anytime`; no resource, condition or reservation override."""
    return NotificationOrder(
        id=uuid.uuid4(),
        creator=caller.org,
        created=now,
        requested_send_time=now,
        notification_channel=channel,
        type=OrderType.Instant,
        senders_reference=senders_reference,
        sending_time_policy=SendingTimePolicy.Anytime,
        recipients=[recipient],
    )


def _instant_chain(
    idempotency_id: str,
    senders_reference: str | None,
    recipient: BaseModel,
    order: NotificationOrder,
    caller: Caller,
    now: datetime,
) -> OrderChain:
    return OrderChain(
        order_chain_id=uuid.uuid4(),
        order_id=order.id,
        idempotency_id=idempotency_id,
        creator=ChainCreator(short_name=caller.org),
        type=ChainType.Instant,
        requested_send_time=now,
        senders_reference=senders_reference,
        recipient=_stored_json(recipient),
    )


async def _original(repo: ChainRepository, chain: OrderChain) -> StoredChain:
    original = await repo.find_by_idempotency_id(chain.creator.short_name, chain.idempotency_id, chain.type)
    if original is None:  # the index said the key exists; READ COMMITTED makes it visible (see repository)
        raise RuntimeError("idempotency conflict without a visible original chain")
    return StoredChain(original.receipt(), created=False)


def _email_template(options: EmailSendingOptionsExt, settings: Settings) -> EmailTemplate:
    return EmailTemplate(
        from_address=_blank_to_none(options.sender_email_address) or settings.default_email_from_address,
        subject=_subject(options.subject),
        body=options.body,
        content_type=options.content_type or EmailContentType.Plain,
    )


def _sms_template(options: SmsSendingOptionsExt, settings: Settings) -> SmsTemplate:
    return SmsTemplate(
        sender_number=_blank_to_none(options.sender) or settings.default_sms_sender_number, body=options.body
    )


def _policy(options: SmsSendingOptionsExt) -> SendingTimePolicy:
    value = options.sending_time_policy
    return SendingTimePolicy.Daytime if value is None else SendingTimePolicy(value)


def _dialogporten(value: DialogportenIdentifiersExt | None) -> ChainDialogportenAssociation | None:
    if value is None:
        return None
    return ChainDialogportenAssociation(dialog_id=value.dialog_id, transmission_id=value.transmission_id)


def _stored_result(result: str, known: tuple[str, ...]) -> str:
    """The provider's immediate result as stored; never `New` (dispatch would send it again), and an
    unknown name is kept as `Sending` (a later report or the TTL run settles it)."""
    if result in known and result not in ("New", "Failed_TransientError"):
        return result
    return "Sending"


def _stored_json(model: BaseModel) -> dict[str, Any]:
    """A request object as kept in the chain JSON: PascalCase keys, like the reference's serializer."""
    stored: dict[str, Any] = _pascal_keys(model.model_dump(mode="json", by_alias=True, exclude_none=True))
    return stored


def _pascal_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _pascal_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pascal_keys(item) for item in value]
    return value


def _raise_if_invalid(errors: dict[str, list[str]]) -> None:
    if errors:
        raise RequestValidationFailed(errors)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


def _blank_to_none(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _subject(value: str) -> str:
    """CR/LF sequences in an email subject become one space (spec 4.1.1)."""
    return " ".join(value.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
