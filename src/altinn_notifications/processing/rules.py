"""Pure rules of notification generation: channel split, failure rows, placeholders, expiry (docs/compatibility.md C10)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from altinn_notifications.orders.models import NotificationOrder, SendingTimePolicy
from altinn_notifications.processing.models import NewEmailNotification, NewSmsNotification
from altinn_notifications.recipients.models import ResolvedRecipient
from altinn_notifications.vocabulary import NotificationChannel

OSLO = ZoneInfo("Europe/Oslo")
WINDOW_START_HOUR = 9
WINDOW_END_HOUR = 17
EXPIRY = timedelta(hours=48)

NAME = "$recipientName$"
NUMBER = "$recipientNumber$"


# --- expiry ---


def email_expiry(requested_send_time: datetime) -> datetime:
    return requested_send_time.astimezone(UTC) + EXPIRY


def sms_expiry(requested_send_time: datetime, policy: SendingTimePolicy | None) -> datetime:
    """Daytime (docs/compatibility.md C10): inside (09:00, 17:00) Oslo → +48 h; before 09:00 → that day
    09:00 + 48 h; else (exactly 09:00, or from 17:00 on) → that day 09:00 + 72 h.

    Inside the window the 48 h are elapsed hours. Outside it the hours are added to the Oslo wall-clock
    09:00 and only then converted to UTC, as the reference does, so across a DST change the expiry is
    still 09:00 local (47 or 49 elapsed hours).
    """
    requested = requested_send_time.astimezone(UTC)
    if policy is not SendingTimePolicy.Daytime:
        return requested + EXPIRY
    local = requested.astimezone(OSLO)
    start = datetime.combine(local.date(), time(WINDOW_START_HOUR), tzinfo=OSLO)
    end = datetime.combine(local.date(), time(WINDOW_END_HOUR), tzinfo=OSLO)
    if start < requested < end:  # aware comparisons are by instant
        return requested + EXPIRY
    hours = EXPIRY if requested < start else timedelta(hours=72)
    return _add_wall_clock(start, hours)


def _add_wall_clock(local: datetime, hours: timedelta) -> datetime:
    """`local` (Oslo time) plus `hours` on the wall clock, in UTC: Python adds a timedelta to a
    `ZoneInfo`-aware datetime in wall time; the offset is settled by the conversion."""
    return (local + hours).astimezone(UTC)


def is_daytime(moment: datetime) -> bool:
    """The SMS sending window: strictly between 09:00 and 17:00 Oslo time (docs/compatibility.md C12, C16)."""
    local = moment.astimezone(OSLO)
    return WINDOW_START_HOUR <= local.hour < WINDOW_END_HOUR and not (
        local.hour == WINDOW_START_HOUR and local.minute == 0 and local.second == 0 and local.microsecond == 0
    )


# --- placeholders ---


def has_placeholder(text: str | None) -> bool:
    return text is not None and (NAME in text or NUMBER in text)


def resolve_placeholders(text: str, recipient: ResolvedRecipient, names: dict[str, str]) -> str | None:
    """Customised text for a recipient identified by org number or NIN; None when it stays the template.

    `$recipientNumber$` is the org number for organisations and blank for persons (a NIN is never written
    into a message). Without a register match the placeholders stay verbatim (docs/compatibility.md C10, placeholders).
    """
    if not has_placeholder(text):
        return None
    if recipient.organization_number:
        name = names.get(recipient.organization_number)
        number = recipient.organization_number
    elif recipient.national_identity_number:
        name = names.get(recipient.national_identity_number)
        number = ""
    else:
        return None
    if name is None:
        return None
    return text.replace(NAME, name).replace(NUMBER, number)


# --- channel split (docs/compatibility.md C10 "Preferred channels", "EmailAndSms") ---


def split_by_channel(
    channel: NotificationChannel, recipients: list[ResolvedRecipient]
) -> tuple[list[ResolvedRecipient], list[ResolvedRecipient]]:
    """(email recipients, SMS recipients), each keeping only the addresses of its channel."""
    if channel is NotificationChannel.Email:
        return [_only(r, email=True) for r in recipients], []
    if channel is NotificationChannel.Sms:
        return [], [_only(r, email=False) for r in recipients]
    if channel is NotificationChannel.EmailAndSms:
        return [_only(r, email=True) for r in recipients], [_only(r, email=False) for r in recipients]
    prefer_email = channel is NotificationChannel.EmailPreferred
    preferred: list[ResolvedRecipient] = []
    fallback: list[ResolvedRecipient] = []
    for r in recipients:
        has_preferred = bool(r.emails if prefer_email else r.mobile_numbers)
        has_fallback = bool(r.mobile_numbers if prefer_email else r.emails)
        if has_preferred or not has_fallback:
            preferred.append(_only(r, email=prefer_email))
        if has_fallback:
            fallback.append(_only(r, email=not prefer_email))
    return (preferred, fallback) if prefer_email else (fallback, preferred)


def _only(r: ResolvedRecipient, *, email: bool) -> ResolvedRecipient:
    return ResolvedRecipient(
        national_identity_number=r.national_identity_number,
        organization_number=r.organization_number,
        external_identity=r.external_identity,
        emails=list(r.emails) if email else [],
        mobile_numbers=[] if email else list(r.mobile_numbers),
        is_reserved=r.is_reserved,
    )


# --- generation ---


def _failure(
    recipient: ResolvedRecipient, addresses: list[str], ignore_reservation: bool | None
) -> str | None:
    if recipient.is_reserved and not ignore_reservation:
        return "Failed_RecipientReserved"
    if not addresses:
        return "Failed_RecipientNotIdentified"
    return None


def email_notifications(
    order: NotificationOrder, recipients: list[ResolvedRecipient], names: dict[str, str]
) -> Iterator[NewEmailNotification]:
    template = order.email_template
    if template is None:
        raise ValueError("email notifications need an email template")
    expiry = email_expiry(order.requested_send_time)
    for r in recipients:
        identity = {"recipient_org_no": r.organization_number, "recipient_nin": r.national_identity_number}
        failure = _failure(r, r.emails, order.ignore_reservation)
        if failure:
            yield NewEmailNotification(
                id=uuid.uuid4(), to_address="", result=failure, expiry_time=expiry, **identity
            )
            continue
        subject = resolve_placeholders(template.subject, r, names)
        body = resolve_placeholders(template.body, r, names)
        for address in r.emails:
            yield NewEmailNotification(
                id=uuid.uuid4(),
                to_address=address,
                result="New",
                expiry_time=expiry,
                customized_subject=subject,
                customized_body=body,
                **identity,
            )


def sms_notifications(
    order: NotificationOrder, recipients: list[ResolvedRecipient], names: dict[str, str]
) -> Iterator[NewSmsNotification]:
    template = order.sms_template
    if template is None:
        raise ValueError("SMS notifications need an SMS template")
    expiry = sms_expiry(order.requested_send_time, order.sending_time_policy)
    for r in recipients:
        identity = {"recipient_org_no": r.organization_number, "recipient_nin": r.national_identity_number}
        failure = _failure(r, r.mobile_numbers, order.ignore_reservation)
        if failure:
            yield NewSmsNotification(
                id=uuid.uuid4(), mobile_number="", result=failure, expiry_time=expiry, **identity
            )
            continue
        body = resolve_placeholders(template.body, r, names)
        for number in r.mobile_numbers:
            yield NewSmsNotification(
                id=uuid.uuid4(),
                mobile_number=number,
                result="New",
                expiry_time=expiry,
                customized_body=body,
                **identity,
            )


def needs_names(order: NotificationOrder) -> bool:
    email, sms = order.email_template, order.sms_template
    return bool(
        (email and (has_placeholder(email.subject) or has_placeholder(email.body)))
        or (sms and has_placeholder(sms.body))
    )
