"""v1 order registration and reads (docs/compatibility.md C4, C10). Services never commit: `orders.flows` owns the
transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from altinn_notifications.auth.models import Caller
from altinn_notifications.config import Settings
from altinn_notifications.db.batching import StatementBatcher
from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import ConflictError, NotFoundError
from altinn_notifications.orders import intake, validation
from altinn_notifications.orders.intake import blank_to_none
from altinn_notifications.orders.links import Links
from altinn_notifications.orders.lookup import lookup_at_registration
from altinn_notifications.orders.models import (
    EmailNotificationOrderRequestExt,
    EmailTemplateOut,
    NotificationOrder,
    NotificationOrderExt,
    NotificationOrderRequestExt,
    NotificationOrderRequestResponseExt,
    OrderLinksExt,
    OrderRequestBaseExt,
    Recipient,
    RecipientExt,
    RecipientLookupResultExt,
    SmsNotificationOrderRequestExt,
    SmsTemplateOut,
    V1OrderRequest,
)
from altinn_notifications.orders.repository import CancelOutcome, OrderRepository, StoredOrder
from altinn_notifications.orders.rules import IntakeLimits
from altinn_notifications.ratelimits.models import BucketState
from altinn_notifications.ratelimits.repository import Take
from altinn_notifications.recipients.models import RecipientLookupResult
from altinn_notifications.recipients.ports import ContactPointsPort
from altinn_notifications.vocabulary import NotificationChannel


def _recipients(items: list[RecipientExt], *, email: bool, sms: bool) -> list[Recipient]:
    """Map v1 recipients, keeping only the address kinds the channel uses (docs/compatibility.md C18)."""
    return [
        Recipient(
            email_address=blank_to_none(r.email_address) if email else None,
            mobile_number=blank_to_none(r.mobile_number) if sms else None,
            organization_number=blank_to_none(r.organization_number),
            national_identity_number=blank_to_none(r.national_identity_number),
        )
        for r in items
    ]


def _base_order(
    request: OrderRequestBaseExt, caller: Caller, now: datetime, channel: NotificationChannel
) -> NotificationOrder:
    send_time = request.requested_send_time.astimezone(UTC) if request.requested_send_time else now
    return intake.new_order(
        creator=caller.org,
        now=now,
        send_time=send_time,
        channel=channel,
        senders_reference=blank_to_none(request.senders_reference),
        ignore_reservation=request.ignore_reservation,
        resource_id=blank_to_none(request.resource_id),
        resource_action=blank_to_none(request.resource_action),
        condition_endpoint=blank_to_none(request.condition_endpoint),
    )


def build_email_order(
    request: EmailNotificationOrderRequestExt, caller: Caller, settings: Settings, now: datetime
) -> NotificationOrder:
    intake.raise_if_invalid(validation.validate_email_order(request, now, IntakeLimits.of(settings)))
    order = _base_order(request, caller, now, NotificationChannel.Email)
    # This order has no sender field: always the default.
    order.email_template = intake.email_template(
        None,
        request.subject,
        request.body,
        request.content_type,
        default_sender=settings.default_email_from_address,
    )
    order.recipients = _recipients(request.recipients, email=True, sms=False)
    return order


def build_sms_order(
    request: SmsNotificationOrderRequestExt, caller: Caller, settings: Settings, now: datetime
) -> NotificationOrder:
    intake.raise_if_invalid(validation.validate_sms_order(request, now, IntakeLimits.of(settings)))
    order = _base_order(request, caller, now, NotificationChannel.Sms)
    order.sms_template = intake.sms_template(
        request.sender_number, request.body, default_sender=settings.default_sms_sender_number
    )
    order.recipients = _recipients(request.recipients, email=False, sms=True)
    return order


def build_generic_order(
    request: NotificationOrderRequestExt, caller: Caller, settings: Settings, now: datetime
) -> NotificationOrder:
    intake.raise_if_invalid(validation.validate_order(request, now, IntakeLimits.of(settings)))
    assert request.notification_channel is not None  # guaranteed by validation
    order = _base_order(request, caller, now, request.notification_channel)
    if request.email_template is not None:
        t = request.email_template
        order.email_template = intake.email_template(
            t.from_address,
            t.subject or "",
            t.body or "",
            t.content_type,
            # Only here is the configured default trimmed too (a given sender always is).
            default_sender=settings.default_email_from_address.strip(),
        )
    if request.sms_template is not None:
        s = request.sms_template
        order.sms_template = intake.sms_template(
            s.sender_number, s.body or "", default_sender=settings.default_sms_sender_number
        )
    order.recipients = _recipients(request.recipients, email=True, sms=True)
    return order


def build_order(
    request: V1OrderRequest, caller: Caller, settings: Settings, now: datetime
) -> NotificationOrder:
    """Validate (400) and map any of the three v1 order requests."""
    if isinstance(request, EmailNotificationOrderRequestExt):
        return build_email_order(request, caller, settings, now)
    if isinstance(request, SmsNotificationOrderRequestExt):
        return build_sms_order(request, caller, settings, now)
    return build_generic_order(request, caller, settings, now)


async def store_order(
    statements: StatementBatcher, order: NotificationOrder, take: Take | None = None
) -> BucketState | None:
    """One statement (order, texts, wake-up; with a rate limit, the take from the sender's allowance, and
    the order only when allowed), atomic by itself, sent together with other requests' (`db.batching`)."""
    return await OrderRepository.insert_grouped(statements, order, take)


def order_ext(stored: StoredOrder, links: Links) -> NotificationOrderExt:
    """The order as registered (docs/compatibility.md C4); looked-up contact details are never part of it."""
    order = stored.order
    email, sms = order.email_template, order.sms_template
    return NotificationOrderExt(
        **NotificationOrderExt.base_fields(order),
        recipients=[
            RecipientExt(
                email_address=r.email_address,
                mobile_number=r.mobile_number,
                organization_number=r.organization_number,
                national_identity_number=r.national_identity_number,
                is_reserved=r.is_reserved,
            )
            for r in order.recipients
        ],
        email_template=EmailTemplateOut.model_validate(email.model_dump()) if email else None,
        sms_template=SmsTemplateOut.model_validate(sms.model_dump()) if sms else None,
        links=OrderLinksExt(self=links.order(order.id), status=links.status(order.id)),
    )


async def get_order(conn: Connection, order_id: UUID, caller: Caller, links: Links) -> NotificationOrderExt:
    stored = await OrderRepository(conn).get(order_id, caller.org)
    if stored is None:
        raise NotFoundError()
    return order_ext(stored, links)


async def list_orders(
    conn: Connection, senders_reference: str, caller: Caller, links: Links
) -> list[NotificationOrderExt]:
    return [
        order_ext(s, links)
        for s in await OrderRepository(conn).list_by_senders_reference(senders_reference, caller.org)
    ]


async def cancel_order(conn: Connection, order_id: UUID, caller: Caller, now: datetime) -> None:
    """404 when the caller has no such order, 409 when it is too late to cancel."""
    outcome = await OrderRepository(conn).cancel(order_id, caller.org, now)
    if outcome is CancelOutcome.NOT_FOUND:
        raise NotFoundError()
    if outcome is CancelOutcome.PROHIBITED:
        raise ConflictError()


def lookup_response(
    order: NotificationOrder, lookup: RecipientLookupResult | None
) -> NotificationOrderRequestResponseExt:
    """The 202 body (docs/compatibility.md C4): `recipientLookup` only when some recipient needed a lookup."""
    if lookup is None:
        return NotificationOrderRequestResponseExt(order_id=order.id)
    return NotificationOrderRequestResponseExt(
        order_id=order.id,
        recipient_lookup=RecipientLookupResultExt(
            status=lookup.status, is_reserved=lookup.is_reserved, missing_contact=lookup.missing_contact
        ),
    )


async def lookup_for_registration(
    order: NotificationOrder, port: ContactPointsPort
) -> RecipientLookupResult | None:
    """Informational lookup at registration (v1 never rejects on it; docs/compatibility.md C4, C10). A v1
    order never uses stale contact data (docs/compatibility.md C11); its `ignoreReservation` makes a
    reserved person with a contact point reachable."""
    return await lookup_at_registration(
        port,
        order.notification_channel,
        order.recipients,
        use_stale_contact_info=order.use_stale_contact_information,
        ignore_reservation=bool(order.ignore_reservation),
    )
