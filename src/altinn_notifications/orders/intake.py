"""The intake core shared by v1 (`orders`) and v2 (`chains`): what a flow needs, and order construction.

Both APIs map a validated request to the same stored `NotificationOrder`; the helpers here are the parts
they map identically (id and creation time, blank-to-null, one-line subjects, default senders).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from altinn_notifications.config import Settings
from altinn_notifications.db.batching import StatementBatcher
from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import RequestValidationFailed
from altinn_notifications.orders.models import (
    EmailAttachment,
    EmailContentType,
    EmailTemplate,
    NotificationOrder,
    OrderType,
    Recipient,
    SendingTimePolicy,
    SmsTemplate,
)
from altinn_notifications.orders.rules import ValidationErrors
from altinn_notifications.providers.base import EmailProvider, SmsProvider
from altinn_notifications.ratelimits import flows as ratelimits
from altinn_notifications.ratelimits.service import RateLimiter
from altinn_notifications.recipients.ports import ContactPointsPort
from altinn_notifications.vocabulary import NotificationChannel


class IntakeDeps(Protocol):
    """What the registration flows use (the application container satisfies it)."""

    # Read-only properties: a flow never replaces the container's adapters.
    @property
    def settings(self) -> Settings: ...
    @property
    def contact_points(self) -> ContactPointsPort: ...
    @property
    def email_provider(self) -> EmailProvider: ...
    @property
    def sms_provider(self) -> SmsProvider: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def rate_limiter(self) -> RateLimiter: ...
    @property
    def statements(self) -> StatementBatcher:
        """The one-statement writes of the intake, grouped across requests (`db.batching`)."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A unit of work: commits on success, rolls back on error."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Connection]:
        """A connection without a transaction, for work that is one (atomic) statement."""
        ...


def raise_if_invalid(errors: ValidationErrors) -> None:
    """400 with the validation problem when a rule failed."""
    if errors:
        raise RequestValidationFailed(errors)


async def take_allowance(deps: IntakeDeps, creator: str, notifications: int) -> None:
    """429 when the creator's rate limit or daily quota has no room for this order (off by default)."""
    await ratelimits.take(deps.connection, deps.rate_limiter, creator, notifications, deps.clock())


def blank_to_none(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def one_line_subject(value: str) -> str:
    """CR/LF sequences in an email subject become one space."""
    return " ".join(value.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def email_template(
    sender: str | None, subject: str, body: str, content_type: EmailContentType | None, *, default_sender: str
) -> EmailTemplate:
    """A blank sender means the configured default; the content type defaults to plain text."""
    return EmailTemplate(
        from_address=blank_to_none(sender) or default_sender,
        subject=one_line_subject(subject),
        body=body,
        content_type=content_type or EmailContentType.Plain,
    )


def sms_template(sender: str | None, body: str, *, default_sender: str) -> SmsTemplate:
    """A blank sender means the configured default."""
    return SmsTemplate(sender_number=blank_to_none(sender) or default_sender, body=body)


def new_order(
    *,
    creator: str,
    now: datetime,
    send_time: datetime,
    channel: NotificationChannel,
    order_type: OrderType = OrderType.Notification,
    senders_reference: str | None = None,
    ignore_reservation: bool | None = None,
    use_stale_contact_information: bool = False,
    resource_id: str | None = None,
    resource_action: str | None = None,
    condition_endpoint: str | None = None,
    sending_time_policy: SendingTimePolicy | None = None,
    email_template: EmailTemplate | None = None,
    sms_template: SmsTemplate | None = None,
    recipients: list[Recipient] | None = None,
    email_attachments: list[EmailAttachment] | None = None,
) -> NotificationOrder:
    """A new order with its own id, created `now`; the caller maps the request's fields."""
    return NotificationOrder(
        id=uuid.uuid4(),
        creator=creator,
        created=now,
        requested_send_time=send_time,
        notification_channel=channel,
        type=order_type,
        senders_reference=senders_reference,
        ignore_reservation=ignore_reservation,
        use_stale_contact_information=use_stale_contact_information,
        resource_id=resource_id,
        resource_action=resource_action,
        condition_endpoint=condition_endpoint,
        sending_time_policy=sending_time_policy,
        email_template=email_template,
        sms_template=sms_template,
        recipients=recipients or [],
        email_attachments=email_attachments,
    )
