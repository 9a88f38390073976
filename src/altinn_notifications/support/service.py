"""Support lookups: the reference's validation rules and messages, and the grouping of the rows read
into one answer per order (docs/compatibility.md C22). Pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from altinn_notifications.errors import RequestValidationFailed
from altinn_notifications.recipients.addresses import is_valid_email
from altinn_notifications.support.models import (
    IDENTIFIER_HEADERS,
    AttemptRow,
    DashboardDeliveryAttemptExt,
    DashboardNotificationExt,
    IdentifierKind,
    LookupQuery,
)

DEFAULT_WINDOW = timedelta(days=7)
MAX_YEARS_BACK = 10

NIN_LENGTH = "National identity number must be 11 digits long."
ORG_NUMBER_LENGTH = "Organization number must be 9 digits long."
EMAIL_INVALID = "Email must be a valid email address."
FROM_NOT_UTC = "The 'from' value must be UTC."
FROM_NOT_BEFORE_TO = "'from' must be earlier than 'to'."
FROM_IN_FUTURE = "'from' must not be in the future."
FROM_TOO_OLD = "'from' must not be earlier than 10 years ago."
TO_NOT_UTC = "The 'to' value must be UTC."
TO_IN_FUTURE = "'to' must not be in the future."
TO_BEFORE_DEFAULT_FROM = "'to' must be later than the default 'from' (7 days ago)."

#: Keys of the validation errors: the reference's property names.
FROM_KEY = "From"
TO_KEY = "To"

_DIGITS = {IdentifierKind.nin: (11, NIN_LENGTH), IdentifierKind.orgnumber: (9, ORG_NUMBER_LENGTH)}


def required_message(kind: IdentifierKind) -> str:
    return f"'{IDENTIFIER_HEADERS[kind]}' is required and cannot be empty"


def identifier_errors(kind: IdentifierKind, value: str | None) -> list[str]:
    """The messages for the identifier header (empty when it is acceptable)."""
    text = (value or "").strip()
    if not text:
        return [required_message(kind)]
    if kind is IdentifierKind.email:
        return [] if is_valid_email(text) else [EMAIL_INVALID]
    length, message = _DIGITS[kind]
    return [] if re.fullmatch(rf"[0-9]{{{length}}}", text) else [message]


def parse_instant(name: str, raw: str | None) -> datetime | None:
    """A query parameter's ISO-8601 value as given (None when absent or empty). A value with an offset is
    converted to UTC, as ASP.NET binds it; one without stays naive, and validation then says it is not UTC.

    Raises RequestValidationFailed (the binder's message) when it is not a date and time at all.
    """
    if raw is None or not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise RequestValidationFailed({name: [f"The value '{raw}' is not valid for {name}."]}) from None
    return value.astimezone(UTC) if value.tzinfo is not None else value


def _is_utc(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


def years_before(moment: datetime, years: int) -> datetime:
    """The same instant `years` calendar years earlier (29 February becomes the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def window_errors(start: datetime | None, end: datetime | None, now: datetime) -> dict[str, list[str]]:
    """The reference's rules for `from` and `to`; a value that is not UTC gets only that message."""
    errors: dict[str, list[str]] = {}
    end_utc = end is None or _is_utc(end)
    if start is not None:
        messages: list[str] = []
        if not _is_utc(start):
            messages.append(FROM_NOT_UTC)
        else:
            if end_utc and start >= (end if end is not None else now):
                messages.append(FROM_NOT_BEFORE_TO)
            if start > now:
                messages.append(FROM_IN_FUTURE)
            if start < years_before(now, MAX_YEARS_BACK):
                messages.append(FROM_TOO_OLD)
        if messages:
            errors[FROM_KEY] = messages
    if end is not None:
        messages = []
        if not end_utc:
            messages.append(TO_NOT_UTC)
        else:
            if end > now:
                messages.append(TO_IN_FUTURE)
            if start is None and end <= now - DEFAULT_WINDOW:
                messages.append(TO_BEFORE_DEFAULT_FROM)
        if messages:
            errors[TO_KEY] = messages
    return errors


def build_query(
    kind: IdentifierKind,
    identifier: str | None,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> LookupQuery:
    """Validate a lookup; 400 ValidationProblemDetails with every failed rule's message."""
    errors = window_errors(start, end, now)
    header_messages = identifier_errors(kind, identifier)
    if header_messages:
        errors[IDENTIFIER_HEADERS[kind]] = header_messages
    if errors:
        raise RequestValidationFailed(errors)
    assert identifier is not None
    return LookupQuery(
        kind=kind,
        identifier=identifier.strip(),
        start=start if start is not None else now - DEFAULT_WINDOW,
        end=end if end is not None else now,
    )


def group_by_order(kind: IdentifierKind, rows: Iterable[AttemptRow]) -> list[DashboardNotificationExt]:
    """One element per order, in the order of the rows (newest requested send time first, as read)."""
    grouped: dict[int, DashboardNotificationExt] = {}
    for row in rows:
        order = grouped.get(row.order_id)
        if order is None:
            order = grouped[row.order_id] = DashboardNotificationExt(
                shipment_id=row.shipment_id,
                creator_name=row.creator,
                resource_id=row.resource_id,
                senders_reference=row.senders_reference,
                requested_send_time=row.requested_send_time,
                notification_channel=row.notification_channel,
                notification_type=row.order_type,
                delivery_attempts=[],
            )
        order.delivery_attempts.append(_attempt(kind, row))
    return list(grouped.values())


def _attempt(kind: IdentifierKind, row: AttemptRow) -> DashboardDeliveryAttemptExt:
    return DashboardDeliveryAttemptExt(
        # Each identifier only in its own lookup.
        national_identity_number=row.national_identity_number if kind is IdentifierKind.nin else None,
        organization_number=row.organization_number if kind is IdentifierKind.orgnumber else None,
        channel=row.channel,
        email_address=row.address if row.channel == "email" else None,
        mobile_number=row.address if row.channel == "sms" else None,
        result=row.result,
        result_time=row.result_time,
    )
