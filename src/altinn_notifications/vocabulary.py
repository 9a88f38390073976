"""The service's shared vocabulary: order states and notification results, defined once.

The database enums (`db/schema.py`, the migrations), the completion SQL, dispatch and the status reads all
take their values from here, so "still pending" means the same thing in Python and in SQL.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Literal

#: A delivery channel as the pipeline names it (queues, providers, metrics labels).
Channel = Literal["email", "sms"]


class NotificationChannel(enum.StrEnum):
    """How an order reaches its recipients (the API's `notificationChannel`)."""

    Email = "Email"
    Sms = "Sms"
    EmailPreferred = "EmailPreferred"
    SmsPreferred = "SmsPreferred"
    EmailAndSms = "EmailAndSms"


class RecipientLookupStatus(enum.StrEnum):
    """The outcome of the registration-time contact lookup (the API's `recipientLookup.status`)."""

    Success = "Success"
    PartialSuccess = "PartialSuccess"
    Failed = "Failed"


class OrderStatus(enum.StrEnum):
    """`orderprocessingstate`: where an order is in its lifecycle."""

    Registered = "Registered"
    Processing = "Processing"
    Completed = "Completed"
    SendConditionNotMet = "SendConditionNotMet"
    Cancelled = "Cancelled"
    Processed = "Processed"


class EmailResult(enum.StrEnum):
    """`emailnotificationresulttype`, in the database enum's order (the reference's spellings kept)."""

    New = "New"
    Sending = "Sending"
    Succeeded = "Succeeded"
    Failed_RecipientNotIdentified = "Failed_RecipientNotIdentified"
    Failed_InvalidEmailFormat = "Failed_InvalidEmailFormat"
    Failed = "Failed"
    Failed_RecipientReserved = "Failed_RecipientReserved"
    Delivered = "Delivered"
    Failed_SupressedRecipient = "Failed_SupressedRecipient"
    Failed_TransientError = "Failed_TransientError"
    Failed_Bounced = "Failed_Bounced"
    Failed_FilteredSpam = "Failed_FilteredSpam"
    Failed_Quarantined = "Failed_Quarantined"
    Failed_TTL = "Failed_TTL"
    Failed_InvalidSasUrl = "Failed_InvalidSasUrl"
    Failed_PayloadTooLarge = "Failed_PayloadTooLarge"


class SmsResult(enum.StrEnum):
    """`smsnotificationresulttype`, in the database enum's order (the reference's spellings kept)."""

    New = "New"
    Sending = "Sending"
    Accepted = "Accepted"
    Failed_InvalidReceiver = "Failed_InvalidReceiver"
    Failed = "Failed"
    Failed_RecipientNotIdentified = "Failed_RecipientNotIdentified"
    Delivered = "Delivered"
    Failed_BarredReceiver = "Failed_BarredReceiver"
    Failed_Deleted = "Failed_Deleted"
    Failed_Expired = "Failed_Expired"
    Failed_Undelivered = "Failed_Undelivered"
    Failed_Rejected = "Failed_Rejected"
    Failed_Recipientreserved = "Failed_Recipientreserved"
    Failed_InvalidRecipient = "Failed_InvalidRecipient"
    Failed_RecipientReserved = "Failed_RecipientReserved"
    Failed_TTL = "Failed_TTL"


#: Results after which a notification still has something coming: a send, a vendor poll, a delivery
#: report. An order is complete when none of its notifications is in one of these.
EMAIL_PENDING: frozenset[EmailResult] = frozenset(
    {EmailResult.New, EmailResult.Sending, EmailResult.Succeeded}
)
SMS_PENDING: frozenset[SmsResult] = frozenset({SmsResult.New, SmsResult.Sending, SmsResult.Accepted})

#: Order states that no worker will change again (the status feed's "final").
ORDER_FINAL: frozenset[OrderStatus] = frozenset(
    {OrderStatus.Completed, OrderStatus.SendConditionNotMet, OrderStatus.Cancelled}
)


def pending_results(channel: Channel) -> frozenset[str]:
    return EMAIL_PENDING if channel == "email" else SMS_PENDING


def is_final(channel: Channel, result: str) -> bool:
    """True when `result` is the last word on a notification of `channel`."""
    return result not in pending_results(channel)


def sql_list(values: Iterable[str]) -> str:
    """A SQL list literal, e.g. `('New', 'Sending')`, sorted so the statement text is stable.

    Only for our own enum values (checked here), never for input."""
    items = sorted(str(v) for v in values)
    for item in items:
        if not item.replace("_", "").isalnum():
            raise ValueError(f"not an enum value: {item!r}")
    return "(" + ", ".join(f"'{item}'" for item in items) + ")"
