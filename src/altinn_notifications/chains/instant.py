"""Instant notifications: one SMS or email handed to the provider during the request.

The plan is built first; the idempotency id is then reserved (so two identical requests never both send),
the message is handed off outside any transaction, and only then is the outcome stored. An email's
outcome is a result whatever the vendor said (docs/compatibility.md C8): a transient failure is stored
`New` with dispatch's back-off, and the regular email dispatch sends it again.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from altinn_notifications.auth.models import Caller
from altinn_notifications.chains import validation
from altinn_notifications.chains.models import (
    ChainCreator,
    ChainRequestModel,
    ChainType,
    InstantEmailNotificationOrderRequestExt,
    InstantNotificationOrderRequestExt,
    InstantSmsNotificationOrderRequestExt,
    NotificationOrderChainResponseExt,
    OrderChain,
    ShortMessageDeliveryDetailsExt,
)
from altinn_notifications.chains.repository import ChainRepository
from altinn_notifications.chains.service import StoredChain, stored_json, stored_original, temporary_failure
from altinn_notifications.config import Settings
from altinn_notifications.db.pool import Connection
from altinn_notifications.db.schema import EMAIL_RESULTS, SMS_RESULTS
from altinn_notifications.dispatch.models import ClaimedEmail, SendResult
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.dispatch.service import DispatchConfig, Sent, send_result
from altinn_notifications.logging import mask_id
from altinn_notifications.orders import intake
from altinn_notifications.orders.models import (
    EmailContentType,
    NotificationOrder,
    OrderType,
    Recipient,
    SendingTimePolicy,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.providers.base import (
    EmailMessage,
    EmailProvider,
    RetrySchedule,
    SendOutcome,
    SmsMessage,
    SmsProvider,
)
from altinn_notifications.status.completion import complete_orders
from altinn_notifications.vocabulary import EmailResult, NotificationChannel, OrderStatus, SmsResult, is_final

log = structlog.get_logger(__name__)

InstantRequest = (
    InstantSmsNotificationOrderRequestExt
    | InstantEmailNotificationOrderRequestExt
    | InstantNotificationOrderRequestExt
)

INSTANT_EMAIL_EXPIRY = timedelta(hours=48)
#: How long an instant hand-off holds its idempotency id (and the longest a duplicate waits for it).
INSTANT_RESERVATION = timedelta(seconds=120)
#: The longest a hand-off may take: well inside the reservation, so no duplicate can take over meanwhile.
INSTANT_SEND_LIMIT = timedelta(seconds=90)
#: Dispatch's back-off rules (its retry settings are not configurable): an instant email's hand-off counts
#: as dispatch's first attempt.
_DISPATCH_RULES = DispatchConfig()


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


# --- plans ---


def build_instant_plan(
    request: InstantRequest, caller: Caller, settings: Settings, now: datetime
) -> InstantPlan:
    """Validate (400) and map any of the three instant requests."""
    if isinstance(request, InstantSmsNotificationOrderRequestExt):
        return build_instant_sms(request, caller, settings, now)
    if isinstance(request, InstantEmailNotificationOrderRequestExt):
        return build_instant_email(request, caller, settings, now)
    return build_instant(request, caller, settings, now)


def build_instant_sms(
    request: InstantSmsNotificationOrderRequestExt, caller: Caller, settings: Settings, now: datetime
) -> InstantPlan:
    intake.raise_if_invalid(validation.validate_instant_sms(request))
    return _instant_sms_plan(
        request.idempotency_id, request.senders_reference, request.recipient_sms, caller, settings, now
    )


def build_instant(
    request: InstantNotificationOrderRequestExt, caller: Caller, settings: Settings, now: datetime
) -> InstantPlan:
    """The deprecated `/future/orders/instant` (SMS only)."""
    intake.raise_if_invalid(validation.validate_instant(request))
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
    intake.raise_if_invalid(validation.validate_instant_email(request))
    details = request.recipient_email
    content = details.email_settings
    template = intake.email_template(
        content.sender_email_address,
        content.subject,
        content.body,
        content.content_type,
        default_sender=settings.default_email_from_address,
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


def _instant_sms_plan(
    idempotency_id: str,
    senders_reference: str | None,
    details: ShortMessageDeliveryDetailsExt,
    caller: Caller,
    settings: Settings,
    now: datetime,
) -> InstantPlan:
    content = details.sms_settings
    template = intake.sms_template(
        content.sender, content.body, default_sender=settings.default_sms_sender_number
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
    """docs/compatibility.md C8 (flow step 3): type `Instant`, sent now, `Anytime`; no resource, condition or reservation override."""
    return intake.new_order(
        creator=caller.org,
        now=now,
        send_time=now,
        channel=channel,
        order_type=OrderType.Instant,
        senders_reference=senders_reference,
        sending_time_policy=SendingTimePolicy.Anytime,
        recipients=[recipient],
    )


def _instant_chain(
    idempotency_id: str,
    senders_reference: str | None,
    recipient: ChainRequestModel,
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
        recipient=stored_json(recipient),
    )


# --- the reservation of the idempotency id ---


async def take_instant_turn(conn: Connection, plan: InstantPlan) -> InstantTurn:
    """docs/compatibility.md C8 (flow step 2, replay) without the race of two identical requests both sending: the idempotency id is
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


# --- the hand-off and its outcome ---


async def send_instant(
    plan: InstantPlan, email_provider: EmailProvider, sms_provider: SmsProvider
) -> SendOutcome:
    """The synchronous hand-off (docs/compatibility.md C8, flow step 4), before anything is stored. A call
    that fails outright, or an SMS the gateway could not take now → 503 `NOT-00004`, and the caller stores
    nothing. Every email outcome, a transient one too, is returned: it is stored as a result."""
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
    if outcome.transient and channel == "sms":
        log.critical(
            "instant notification hand-off failed",
            channel=channel,
            notification_id=mask_id(plan.message.notification_id),
            detail=outcome.detail,
        )
        raise temporary_failure()
    if outcome.transient:
        log.warning(
            "instant email failed transiently; dispatch sends it again",
            notification_id=mask_id(plan.message.notification_id),
            detail=outcome.detail,
            retry_after=outcome.retry_after,
        )
    return outcome


async def store_instant(
    conn: Connection, plan: InstantPlan, outcome: SendOutcome, schedule: RetrySchedule | None = None
) -> StoredChain:
    """Store the chain (`Type` 2), the `Instant` order (`Processed`), its text and one notification, and
    release the idempotency id's reservation (in the same transaction: a waiting duplicate then finds
    the receipt).

    Unlike the reference, which stores the notification as `Sending` and waits for the send result to
    arrive through its queues (docs/compatibility.md C8), the provider's immediate outcome is known here and is stored
    directly: its result (e.g. `Accepted`/`Succeeded`) with the vendor reference in `gatewayreference` /
    `operationid`, so later delivery reports match it through the normal result path. A final failure
    completes the order at once. An email's outcome goes through dispatch's own rules (`send_result`, with
    the email provider's retry `schedule`): a transient failure is stored `New` with the back-off, and a
    vendor's rate limit pauses the email channel as a dispatched email's would.
    """
    repo = ChainRepository(conn)
    await repo.release_instant(
        plan.chain.creator.short_name, plan.chain.idempotency_id, plan.chain.order_chain_id
    )
    chain_id = await repo.insert(plan.chain, plan.order.created)
    if chain_id is None:
        return await stored_original(repo, plan.chain)
    order_id = await OrderRepository(conn).insert(
        plan.order, status=OrderStatus.Processed, order_chain_id=chain_id
    )
    message = plan.message
    if isinstance(message, EmailMessage):
        sent = _as_first_dispatch(message, order_id, outcome, schedule)
        retry_in = sent.retry_in_seconds
        result = EmailResult.New.value if retry_in is not None else _stored_email_result(sent.result)
        await repo.insert_email_notification(
            order_id,
            message.notification_id,
            message.to_address,
            result,
            plan.expiry_time,
            sent.reference,
            next_attempt_in=retry_in if retry_in is not None else sent.poll_in_seconds,
        )
        if outcome.transient and outcome.retry_after:
            await DispatchRepository(conn).pause("email", outcome.retry_after)
        final = retry_in is None and is_final("email", result)
    else:
        result = _stored_sms_result(outcome.result)
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


def _as_first_dispatch(
    message: EmailMessage, order_id: int, outcome: SendOutcome, schedule: RetrySchedule | None
) -> SendResult:
    """What dispatch would make of this outcome on its first attempt at the email."""
    claimed = ClaimedEmail(
        id=message.notification_id,
        order_id=order_id,
        attempts=1,
        from_address=message.from_address,
        to_address=message.to_address,
        subject=message.subject,
        body=message.body,
        content_type=message.content_type,
    )
    return send_result(claimed, Sent(outcome), _DISPATCH_RULES, schedule)


# The provider's immediate result as stored: never `New` or `Failed_TransientError` unless dispatch is to
# send it again, and an unknown name is kept as `Sending` (a later report or the TTL run settles it).


def _stored_email_result(result: str) -> str:
    if result in EMAIL_RESULTS and result not in (EmailResult.New, EmailResult.Failed_TransientError):
        return result
    return EmailResult.Sending.value


def _stored_sms_result(result: str) -> str:
    if result in SMS_RESULTS and result != SmsResult.New:
        return result
    return SmsResult.Sending.value
