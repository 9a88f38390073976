"""Recipient builders that check their input the way the service does, before anything is sent.

The rules mirror the service's: an email address is `local@domain` (letters, digits, `æøåÆØÅ` and
``!#$%&'*+-=?^_`{|}~`` in dot-separated atoms; 1-9 domain labels and a TLD of 2-14 letters, or an IPv4
literal), trimmed, one address only; a mobile number starts with `+` or `00` and is E.164 (a country
code and at most 15 digits; when the `phonenumbers` package is installed, it must also be a valid number
for it, as the service checks); a national identity number has 11 digits, an organisation number 9;
an external identity is one of the URN forms the API accepts. A builder raises
`InvalidRecipientError` (a `ValueError`) naming the rule, never the value.
"""

from __future__ import annotations

import re

from altinn_notifications_client.errors import InvalidRecipientError
from altinn_notifications_client.models import (
    EmailContentType,
    EmailSendingOptions,
    NotificationChannel,
    NotificationRecipient,
    Recipient,
    RecipientEmail,
    RecipientExternalIdentity,
    RecipientOrganization,
    RecipientPerson,
    RecipientSms,
    SendingTimePolicy,
    SmsSendingOptions,
)

_ATOM = r"[A-Za-z0-9æøåÆØÅ!#$%&'*+\-=?^_`{|}~]+"
_LABEL = r"(?:[A-Za-z0-9æøåÆØÅ][A-Za-z0-9\-æøåÆØÅ]{0,61}[A-Za-z0-9æøåÆØÅ]|[A-Za-z0-9æøåÆØÅ])"
_EMAIL = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@(?:(?:{_LABEL}\.){{1,9}}[A-Za-z]{{2,14}}|\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}})"
)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_DIGITS = re.compile(r"[0-9]+")
_EXTERNAL_IDENTITY_PREFIXES = (
    "urn:altinn:person:idporten-email:",
    "urn:altinn:party:username:",
    "urn:altinn:username:",
    "urn:altinn:person:legacy-selfidentified:",
)


def is_valid_email(value: str | None) -> bool:
    if value is None:
        return False
    value = value.strip()
    return bool(value) and _EMAIL.fullmatch(value) is not None


def normalise_mobile_number(value: str) -> str:
    """`00` becomes `+`, surrounding space is dropped (the service reads the number the same way)."""
    value = value.strip()
    return "+" + value[2:] if value.startswith("00") else value


def is_valid_mobile_number(value: str | None) -> bool:
    if not value:
        return False
    number = normalise_mobile_number(value)
    if _E164.fullmatch(number) is None:
        return False
    try:
        import phonenumbers  # optional: the same library the service validates with
    except ImportError:
        return True
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(number, None)))
    except phonenumbers.NumberParseException:
        return False


def is_national_identity_number(value: str | None) -> bool:
    return value is not None and len(value) == 11 and _DIGITS.fullmatch(value) is not None


def is_organization_number(value: str | None) -> bool:
    return value is not None and len(value) == 9 and _DIGITS.fullmatch(value) is not None


def is_external_identity(value: str | None) -> bool:
    if not value:
        return False
    lowered = value.strip().lower()
    for prefix in _EXTERNAL_IDENTITY_PREFIXES:
        if lowered.startswith(prefix):
            rest = value.strip()[len(prefix) :]
            return is_valid_email(rest) if prefix == _EXTERNAL_IDENTITY_PREFIXES[0] else rest.strip() != ""
    return False


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidRecipientError(message)


def email_address(value: str) -> str:
    _require(is_valid_email(value), "not a valid email address")
    return value.strip()


def mobile_number(value: str) -> str:
    _require(is_valid_mobile_number(value), "not a valid mobile number (E.164, starting with + or 00)")
    return normalise_mobile_number(value)


def national_identity_number(value: str) -> str:
    _require(is_national_identity_number(value), "a national identity number has 11 digits")
    return value


def organization_number(value: str) -> str:
    _require(is_organization_number(value), "an organisation number has 9 digits")
    return value


def external_identity(value: str) -> str:
    _require(is_external_identity(value), "not an external identity URN the API accepts")
    return value.strip()


# --- settings ---


def email_settings(
    subject: str,
    body: str,
    *,
    sender: str | None = None,
    content_type: EmailContentType | None = None,
    sending_time_policy: SendingTimePolicy | None = None,
) -> EmailSendingOptions:
    _require(bool(subject.strip()), "the email subject must not be empty")
    _require(bool(body.strip()), "the email body must not be empty")
    if sender is not None:
        _require(is_valid_email(sender), "the sender email address is not valid")
    return EmailSendingOptions(
        subject=subject,
        body=body,
        sender_email_address=sender,
        content_type=content_type,
        sending_time_policy=sending_time_policy,
    )


def sms_settings(
    body: str, *, sender: str | None = None, sending_time_policy: SendingTimePolicy | None = None
) -> SmsSendingOptions:
    _require(bool(body.strip()), "the SMS body must not be empty")
    return SmsSendingOptions(body=body, sender=sender, sending_time_policy=sending_time_policy)


# --- v2 recipients (`NotificationRecipient`) ---


def to_email(address: str, settings: EmailSendingOptions) -> NotificationRecipient:
    return NotificationRecipient(
        recipient_email=RecipientEmail(email_address=email_address(address), email_settings=settings)
    )


def to_sms(phone_number: str, settings: SmsSendingOptions) -> NotificationRecipient:
    return NotificationRecipient(
        recipient_sms=RecipientSms(phone_number=mobile_number(phone_number), sms_settings=settings)
    )


def _check_channel(
    channel: NotificationChannel, email: EmailSendingOptions | None, sms: SmsSendingOptions | None
) -> None:
    """The service's rule: the settings of every channel the schema may use must be given."""
    needs_email = channel in (NotificationChannel.Email, NotificationChannel.EmailAndSms)
    needs_sms = channel in (NotificationChannel.Sms, NotificationChannel.EmailAndSms)
    needs_both = channel in (NotificationChannel.EmailPreferred, NotificationChannel.SmsPreferred)
    _require(
        not (needs_email or needs_both) or email is not None, f"email settings are needed for {channel.value}"
    )
    _require(not (needs_sms or needs_both) or sms is not None, f"SMS settings are needed for {channel.value}")


def to_person(
    nin: str,
    *,
    channel: NotificationChannel = NotificationChannel.EmailPreferred,
    email: EmailSendingOptions | None = None,
    sms: SmsSendingOptions | None = None,
    ignore_reservation: bool | None = None,
    resource_id: str | None = None,
) -> NotificationRecipient:
    """A person by national identity number; the service looks up their contact points."""
    _check_channel(channel, email, sms)
    return NotificationRecipient(
        recipient_person=RecipientPerson(
            national_identity_number=national_identity_number(nin),
            channel_schema=channel,
            email_settings=email,
            sms_settings=sms,
            ignore_reservation=ignore_reservation,
            resource_id=resource_id,
        )
    )


def to_organization(
    org_number: str,
    *,
    channel: NotificationChannel = NotificationChannel.EmailPreferred,
    email: EmailSendingOptions | None = None,
    sms: SmsSendingOptions | None = None,
    resource_id: str | None = None,
) -> NotificationRecipient:
    """An organisation by organisation number; the service looks up its notification addresses."""
    _check_channel(channel, email, sms)
    return NotificationRecipient(
        recipient_organization=RecipientOrganization(
            org_number=organization_number(org_number),
            channel_schema=channel,
            email_settings=email,
            sms_settings=sms,
            resource_id=resource_id,
        )
    )


def to_external_identity(
    urn: str,
    *,
    channel: NotificationChannel = NotificationChannel.Email,
    email: EmailSendingOptions | None = None,
    sms: SmsSendingOptions | None = None,
) -> NotificationRecipient:
    """A self-identified user (`urn:altinn:person:idporten-email:...`, `urn:altinn:party:username:...`)."""
    _check_channel(channel, email, sms)
    return NotificationRecipient(
        recipient_external_identity=RecipientExternalIdentity(
            external_identity=external_identity(urn),
            channel_schema=channel,
            email_settings=email,
            sms_settings=sms,
        )
    )


# --- v1 recipients (`Recipient`) ---


def v1_email(address: str) -> Recipient:
    return Recipient(email_address=email_address(address))


def v1_sms(number: str) -> Recipient:
    return Recipient(mobile_number=mobile_number(number))


def v1_person(nin: str) -> Recipient:
    return Recipient(national_identity_number=national_identity_number(nin))


def v1_organization(org_number: str) -> Recipient:
    return Recipient(organization_number=organization_number(org_number))
