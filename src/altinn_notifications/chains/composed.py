"""`POST /future/orders/composed-email`: one email with SAS-referenced attachments."""

from __future__ import annotations

import uuid
from datetime import datetime

from altinn_notifications.auth.models import Caller
from altinn_notifications.chains import validation
from altinn_notifications.chains.models import ChainCreator, ChainType, ComposedEmailRequestExt, OrderChain
from altinn_notifications.chains.service import ChainPlan, dialogporten, stored_json
from altinn_notifications.config import Settings
from altinn_notifications.orders import intake
from altinn_notifications.orders.models import EmailAttachment, OrderType, Recipient
from altinn_notifications.orders.rules import as_utc
from altinn_notifications.vocabulary import NotificationChannel


def build_composed_email(
    request: ComposedEmailRequestExt, caller: Caller, settings: Settings, now: datetime
) -> ChainPlan:
    """Validate (400) and map to a chain row and one `Composed` email order; the attachments are kept in
    the order JSON (`emailAttachments`). No recipient lookup, no reminders."""
    intake.raise_if_invalid(validation.validate_composed_email(request, now))
    send_time = as_utc(request.requested_send_time) if request.requested_send_time else now
    recipient = request.recipient
    options = recipient.email_settings
    order = intake.new_order(
        creator=caller.org,
        now=now,
        send_time=send_time,
        channel=NotificationChannel.Email,
        order_type=OrderType.Composed,
        senders_reference=request.senders_reference,
        condition_endpoint=request.condition_endpoint,
        email_template=intake.email_template(
            options.sender_email_address,
            options.subject,
            options.body,
            options.content_type,
            default_sender=settings.default_email_from_address,
        ),
        recipients=[Recipient(email_address=recipient.email_address.strip())],
        email_attachments=[
            EmailAttachment(sas_url=a.sas_url.strip(), filename=a.filename, mime_type=a.mime_type)
            for a in options.attachments or ()
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
        dialogporten_association=dialogporten(request.dialogporten_association),
        recipient=stored_json(recipient),
    )
    return ChainPlan(chain=chain, orders=[order], created=now)
