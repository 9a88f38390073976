"""Which recipients of an order are looked up, and by what (docs/compatibility.md C11): pure rules over `Recipient`."""

from __future__ import annotations

import enum

from altinn_notifications.orders.models import Recipient
from altinn_notifications.recipients.identifiers import is_present
from altinn_notifications.vocabulary import NotificationChannel


class RecipientKind(enum.StrEnum):
    Person = "Person"
    Organization = "Organization"
    ExternalIdentity = "ExternalIdentity"


def has_email_address(recipient: Recipient) -> bool:
    return is_present(recipient.email_address)


def has_mobile_number(recipient: Recipient) -> bool:
    return is_present(recipient.mobile_number)


def needs_lookup(recipient: Recipient, channel: NotificationChannel) -> bool:
    """docs/compatibility.md C11: only recipients lacking an address of the needed type are looked up.

    `Email`: no email; `Sms`: no mobile; `EmailPreferred`/`SmsPreferred`/`EmailAndSms`: neither.
    """
    if channel is NotificationChannel.Email:
        return not has_email_address(recipient)
    if channel is NotificationChannel.Sms:
        return not has_mobile_number(recipient)
    return not has_email_address(recipient) and not has_mobile_number(recipient)


def recipient_kind(recipient: Recipient) -> tuple[RecipientKind, str] | None:
    """What to look the recipient up by: NIN, else organisation number, else external identity."""
    if is_present(recipient.national_identity_number):
        assert recipient.national_identity_number is not None
        return RecipientKind.Person, recipient.national_identity_number.strip()
    if is_present(recipient.organization_number):
        assert recipient.organization_number is not None
        return RecipientKind.Organization, recipient.organization_number.strip()
    if is_present(recipient.external_identity):
        assert recipient.external_identity is not None
        return RecipientKind.ExternalIdentity, recipient.external_identity.strip()
    return None
