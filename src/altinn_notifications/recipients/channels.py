"""The addresses a looked-up recipient is notified at on a channel (the docs/compatibility.md C11 table)."""

from __future__ import annotations

from dataclasses import dataclass

from altinn_notifications.recipients.identifiers import is_present
from altinn_notifications.recipients.models import OrganizationContactPoints
from altinn_notifications.vocabulary import NotificationChannel


@dataclass(frozen=True)
class ChannelAddresses:
    """The addresses a recipient is notified at on a channel (emails and SMS numbers)."""

    emails: tuple[str, ...] = ()
    mobile_numbers: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.emails and not self.mobile_numbers


def _one(value: str | None) -> tuple[str, ...]:
    return (value,) if value is not None and is_present(value) else ()


def person_addresses(
    channel: NotificationChannel, email: str | None, mobile_number: str | None
) -> ChannelAddresses:
    """Addresses of a person or an external identity on `channel` (pass cleaned contact points)."""
    if channel is NotificationChannel.Email:
        return ChannelAddresses(emails=_one(email))
    if channel is NotificationChannel.Sms:
        return ChannelAddresses(mobile_numbers=_one(mobile_number))
    if channel is NotificationChannel.EmailAndSms:
        return ChannelAddresses(emails=_one(email), mobile_numbers=_one(mobile_number))
    if channel is NotificationChannel.EmailPreferred:
        if is_present(email):
            return ChannelAddresses(emails=_one(email))
        return ChannelAddresses(mobile_numbers=_one(mobile_number))
    # SmsPreferred
    if is_present(mobile_number):
        return ChannelAddresses(mobile_numbers=_one(mobile_number))
    return ChannelAddresses(emails=_one(email))


def organization_addresses(
    channel: NotificationChannel, contact_points: OrganizationContactPoints
) -> ChannelAddresses:
    """Addresses of an organisation on `channel` (pass cleaned contact points): official addresses
    plus those of the (authorised) users, per the the docs/compatibility.md C11 table."""
    official_emails = [e for e in contact_points.emails if is_present(e)]
    official_mobiles = [m for m in contact_points.mobile_numbers if is_present(m)]
    users = contact_points.user_contact_points
    emails: list[str] = []
    mobiles: list[str] = []
    if channel in (NotificationChannel.Email, NotificationChannel.EmailAndSms):
        emails += official_emails
        emails += [u.email for u in users if u.email is not None and is_present(u.email)]
    if channel in (NotificationChannel.Sms, NotificationChannel.EmailAndSms):
        mobiles += official_mobiles
        mobiles += [
            u.mobile_number for u in users if u.mobile_number is not None and is_present(u.mobile_number)
        ]
    if channel in (NotificationChannel.EmailPreferred, NotificationChannel.SmsPreferred):
        prefer_email = channel is NotificationChannel.EmailPreferred
        if prefer_email:
            if official_emails:
                emails += official_emails
            else:
                mobiles += official_mobiles
        elif official_mobiles:
            mobiles += official_mobiles
        else:
            emails += official_emails
        for user in users:
            chosen = person_addresses(channel, user.email, user.mobile_number)
            emails += chosen.emails
            mobiles += chosen.mobile_numbers
    return ChannelAddresses(emails=tuple(emails), mobile_numbers=tuple(mobiles))
