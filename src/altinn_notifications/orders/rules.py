"""Validation rules and messages shared by the v1 (`orders.validation`) and v2 (`chains.validation`) intake.

Only what both APIs word and apply identically lives here; each API keeps its own messages where the
reference words them differently (e.g. "The email template body ..." in v1, "The email body ..." in v2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

ValidationErrors = dict[str, list[str]]

# --- messages (exact strings of the reference, identical in v1 and v2) ---

MSG_SEND_TIME_ZONE: Final = "The requested send time value must have specified a time zone."
MSG_RESOURCE_ACTION_WITHOUT_ID: Final = "ResourceAction cannot be specified without a ResourceId."
MSG_RESOURCE_ACTION_BLANK: Final = "ResourceAction cannot be blank or whitespace."
MSG_SENDER_EMAIL_INVALID: Final = "The sender email address is not valid."
MSG_EMAIL_INVALID: Final = "Invalid email address format."
MSG_NIN_LENGTH: Final = "National identity number must be 11 digits long."
MSG_ORG_LENGTH: Final = "Organization number must be 9 digits long."

# Not in the reference, which fails with a server error instead: later steps add days to a send time, so
# one this close to the end of the calendar would overflow; longer references exceed PostgreSQL's index
# entry limit.
MSG_SEND_TIME_TOO_LATE: Final = "The send time must not be later than 9999-12-24T00:00:00Z."
MSG_SENDERS_REFERENCE_LENGTH: Final = "SendersReference must not be longer than 500 characters."

LATEST_SEND_TIME: Final = datetime(9999, 12, 24, tzinfo=UTC)
MAX_KEY_LENGTH: Final = 500


# --- rules ---


def is_blank(value: str | None) -> bool:
    """FluentValidation's NotEmpty for strings: null, empty or whitespace-only."""
    return not value or value.isspace()


def is_too_long(value: str | None) -> bool:
    """Longer than an index key may be (`idempotencyId`, `sendersReference`)."""
    return value is not None and len(value) > MAX_KEY_LENGTH


def resource_action_message(resource_action: str | None, resource_id: str | None) -> str | None:
    """The resource action rule: null and "" are always allowed; otherwise it needs a resource id and
    must not be whitespace-only."""
    if not resource_action:
        return None
    if is_blank(resource_id):
        return MSG_RESOURCE_ACTION_WITHOUT_ID
    if resource_action.isspace():
        return MSG_RESOURCE_ACTION_BLANK
    return None


def add(errors: ValidationErrors, key: str, message: str) -> None:
    """Add `message` under `key` once; keys keep the order of their first error, as ASP.NET builds it."""
    messages = errors.get(key)
    if messages is None:
        errors[key] = [message]
    elif message not in messages:
        messages.append(message)


_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)
_LATEST: Final = datetime.max.replace(tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """Aware times in UTC; a naive time is read as UTC (it has been reported as zone-less already)."""
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset pointing outside the calendar
        return _EARLIEST if moment.year == 1 else _LATEST
