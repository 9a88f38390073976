"""Validation rules and messages shared by the v1 (`orders.validation`) and v2 (`chains.validation`) intake.

Only what both APIs word and apply identically lives here; each API keeps its own messages where the
reference words them differently (e.g. "The email template body ..." in v1, "The email body ..." in v2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from altinn_notifications.config import Settings
from altinn_notifications.recipients.addresses import is_valid_email

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

# --- input limits (not in the reference, which has none but its host's 30 MB request limit; README
# "Limits" compares them with the vendors' own). Longer values answer a validation error. ---

#: RFC 5321's longest forward path: no mail system delivers to a longer address.
MAX_EMAIL_ADDRESS_LENGTH: Final = 254
#: Condition endpoints and attachment SAS URLs: the longest URL that browsers, proxies and CDNs all take.
MAX_URL_LENGTH: Final = 2048
#: RFC 5322's longest header line (a subject is folded by the vendor beyond it).
MAX_SUBJECT_LENGTH: Final = 998
#: An email body: ACS takes at most 10 MB per message including attachments; this leaves room for them.
MAX_EMAIL_BODY_LENGTH: Final = 1_000_000
#: An SMS body: 16 concatenated parts of 153 GSM-7 characters; the gateway truncates beyond that anyway.
MAX_SMS_BODY_LENGTH: Final = 2448


def too_long_message(name: str, limit: int) -> str:
    return f"{name} must not be longer than {limit} characters."


def too_many_message(name: str, limit: int) -> str:
    return f"The number of {name} must not be more than {limit}."


@dataclass(frozen=True)
class IntakeLimits:
    """The per-request caps that are settings (README "Limits")."""

    max_recipients: int = 10_000
    max_reminders: int = 50

    @classmethod
    def of(cls, settings: Settings) -> IntakeLimits:
        return cls(settings.max_recipients_per_order, settings.max_reminders_per_order)


DEFAULT_LIMITS: Final = IntakeLimits()


# --- rules ---


def is_blank(value: str | None) -> bool:
    """FluentValidation's NotEmpty for strings: null, empty or whitespace-only."""
    return not value or value.isspace()


def is_too_long(value: str | None) -> bool:
    """Longer than an index key may be (`idempotencyId`, `sendersReference`)."""
    return value is not None and len(value) > MAX_KEY_LENGTH


def is_valid_address(value: str | None) -> bool:
    """The email rule (docs/compatibility.md C5) on an address no longer than any mail system takes."""
    return value is not None and len(value) <= MAX_EMAIL_ADDRESS_LENGTH and is_valid_email(value)


def check_length(errors: ValidationErrors, key: str, value: str | None, limit: int, name: str) -> bool:
    """Report `value` over `limit` characters under `key`; True when it is within."""
    if value is not None and len(value) > limit:
        add(errors, key, too_long_message(name, limit))
        return False
    return True


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
