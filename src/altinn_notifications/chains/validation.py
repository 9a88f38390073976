"""Business validation of the v2 requests: the reference's FluentValidation rules (docs/compatibility.md C5, C6, C7, C8).

Each ``validate_*`` function returns the ``errors`` map of a ValidationProblemDetails body (docs/compatibility.md C3); an
empty dict means valid. It runs after binding (docs/compatibility.md C3, order of checks): missing or empty ``[Required]`` values and
unknown enum names never reach it.

Keys are the FluentValidation property paths of the reference, built from its C# property names (which
is why an address object's settings are ``.Settings``, not ``.EmailSettings``/``.SmsSettings``):

================================================================  ==============================================
key                                                               rule
================================================================  ==============================================
``IdempotencyId``                                                 not blank; at most 500 characters (*)
``SendersReference``, ``Reminders[i].SendersReference``           at most 500 characters (*)
``RequestedSendTime``                                             time zone required; not before now; not
                                                                  after 9999-12-24 (*)
``ConditionEndpoint``                                             absolute, well-formed; http or https
``Recipient``                                                     exactly one recipient kind
``Recipient.RecipientEmail.EmailAddress``                         email rule (docs/compatibility.md C5)
``Recipient.RecipientEmail.Settings.*``                           email settings (below)
``Recipient.RecipientSms.PhoneNumber``                            not blank; mobile rule (docs/compatibility.md C5)
``Recipient.RecipientSms.Settings.*``                             SMS settings (below)
``Recipient.RecipientPerson.NationalIdentityNumber``              11 digits
``Recipient.RecipientOrganization.OrgNumber``                     9 digits
``Recipient.RecipientExternalIdentity.ExternalIdentity``          URN formats of docs/compatibility.md C6
``Recipient.Recipient{Person,Organization,ExternalIdentity}.*``   ``EmailSettings``/``SmsSettings`` required by
                                                                  the channel schema and validated when given;
                                                                  ``ResourceId`` syntax; ``ResourceAction``
``….Settings.Subject`` / ``.Body`` / ``.SenderEmailAddress``      email: not blank / not blank / email rule
``….SendingTimePolicy``                                           email: ``Anytime`` only; SMS: a known policy
``Reminders[i]``                                                  exactly one of ``delayDays`` / send time
``Reminders[i].DelayDays`` / ``.RequestedSendTime``               ≥ 1 / time zone, not before now; neither
                                                                  after 9999-12-24 (*)
``Reminders[i].ConditionEndpoint``, ``Reminders[i].Recipient.*``  as for the main order
================================================================  ==============================================

Composed email (docs/compatibility.md C7): ``Recipient.EmailAddress``, ``Recipient.Settings.*``,
``Recipient.Settings.Attachments[i].{Filename,SasUrl,MimeType}`` and, for the "valid 15 minutes after the
send time" rule, ``Recipient.Settings.Attachments[i]``. Instant (docs/compatibility.md C8): ``RecipientSms.*``
(``/instant/sms``), ``InstantNotificationRecipient.ShortMessageDeliveryDetails.*`` (deprecated
``/instant``), ``InstantEmailDetails.*`` (``/instant/email``).

(*) Additions to the reference, where it fails with a server error instead (a date past the end of its
calendar, an index key over PostgreSQL's size limit). Text with NUL characters or lone surrogates, which
PostgreSQL cannot store, is refused at binding (`chains.models.RequestModel`).

Choices where the reference is silent (documented, consistent):

* ``senderEmailAddress``: blank means "use the default" (docs/compatibility.md C6); any other value must pass the rule.
  The instant-email validator (docs/compatibility.md C8) checks every value but null, "" included.
* A ``requestedSendTime`` without a zone is reported and then compared as if it were UTC.
* Both reminder times given: the reference's three messages (the rule and one per property).
* The organisation validator of the reference repeats the resource rules of the base validator; a
  message is reported once per key.
* SAS URL messages name the attachment's filename, never the URL (docs/compatibility.md C7: SAS URLs are secrets).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from altinn_notifications.chains.attachments import validate_attachments
from altinn_notifications.chains.models import (
    ComposedEmailRequestExt,
    EmailSendingOptionsExt,
    InstantEmailNotificationOrderRequestExt,
    InstantNotificationOrderRequestExt,
    InstantSmsNotificationOrderRequestExt,
    NotificationOrderChainRequestExt,
    NotificationRecipientExt,
    NotificationReminderExt,
    RecipientBaseExt,
    ShortMessageDeliveryDetailsExt,
    SmsSendingOptionsExt,
)
from altinn_notifications.orders.models import SendingTimePolicy
from altinn_notifications.orders.rules import (
    DEFAULT_LIMITS,
    LATEST_SEND_TIME,
    MAX_EMAIL_BODY_LENGTH,
    MAX_SMS_BODY_LENGTH,
    MAX_SUBJECT_LENGTH,
    MAX_URL_LENGTH,
    MSG_EMAIL_INVALID,
    MSG_NIN_LENGTH,
    MSG_ORG_LENGTH,
    MSG_SEND_TIME_TOO_LATE,
    MSG_SEND_TIME_ZONE,
    MSG_SENDER_EMAIL_INVALID,
    MSG_SENDERS_REFERENCE_LENGTH,
    IntakeLimits,
    ValidationErrors,
    add,
    as_utc,
    check_length,
    is_blank,
    is_too_long,
    is_valid_address,
    resource_action_message,
    too_many_message,
)
from altinn_notifications.recipients.addresses import (
    is_external_identity,
    is_national_identity_number,
    is_organization_number,
    is_valid_mobile_number,
)
from altinn_notifications.vocabulary import NotificationChannel

# --- messages (exact strings of the reference; those shared with v1: orders.rules) ---

MSG_IDEMPOTENCY_ID: Final = "IdempotencyId cannot be null or empty."
MSG_SEND_TIME_PAST: Final = "RequestedSendTime must be greater than or equal to now."
MSG_CONDITION_ENDPOINT_URI: Final = "ConditionEndpoint must be a valid absolute URI or null."
MSG_CONDITION_ENDPOINT_SCHEME: Final = "ConditionEndpoint must use http or https scheme."

MSG_EXACTLY_ONE_RECIPIENT: Final = "Must have exactly one recipient."
MSG_PHONE_EMPTY: Final = "Recipient phone number cannot be null or empty."
MSG_PHONE_INVALID: Final = "Recipient phone number is not a valid mobile number."
MSG_NIN_EMPTY: Final = "'National Identity Number' must not be empty."
MSG_ORG_EMPTY: Final = "OrgNumber cannot be null or empty."
MSG_EXTERNAL_IDENTITY_EMPTY: Final = "ExternalIdentity cannot be null or empty."
MSG_EXTERNAL_IDENTITY_INVALID: Final = "Invalid external identity URN format."
MSG_RESOURCE_ID: Final = "ResourceId must have a valid syntax."

MSG_EMAIL_SETTINGS_FOR_EMAIL: Final = "EmailSettings must be set when ChannelSchema is Email"
MSG_SMS_SETTINGS_FOR_SMS: Final = "SmsSettings must be set when ChannelSchema is Sms"
MSG_EMAIL_SETTINGS_FOR_PREFERRED: Final = (
    "EmailSettings must be set when ChannelSchema is SmsPreferred or EmailPreferred"
)
MSG_SMS_SETTINGS_FOR_PREFERRED: Final = (
    "SmsSettings must be set when ChannelSchema is SmsPreferred or EmailPreferred"
)
MSG_EMAIL_SETTINGS_FOR_BOTH: Final = "EmailSettings must be set when ChannelSchema is EmailAndSms"
MSG_SMS_SETTINGS_FOR_BOTH: Final = "SmsSettings must be set when ChannelSchema is EmailAndSms"

MSG_EMAIL_SUBJECT_EMPTY: Final = "The email subject must not be empty."
MSG_EMAIL_BODY_EMPTY: Final = "The email body must not be empty."
MSG_EMAIL_SENDING_TIME: Final = "Email only supports send time anytime"
MSG_SMS_BODY_EMPTY: Final = "SMS body cannot be null or empty."
MSG_SMS_SENDING_TIME: Final = "SMS only supports send time daytime and anytime"

MSG_REMINDER_TIMING: Final = "Either DelayDays or RequestedSendTime must be defined, but not both."
MSG_DELAY_DAYS_MIN: Final = "DelayDays must be greater than or equal to 1 day."
MSG_REMINDER_TIME_WITH_DELAY: Final = "RequestedSendTime must be null when DelayDays is set."
MSG_REMINDER_DELAY_WITH_TIME: Final = "DelayDays must be null when RequestedSendTime is set."
MSG_REMINDER_TIME_ZONE: Final = "The RequestedSendTime must have specified a time zone."
MSG_REMINDER_TIME_PAST: Final = "RequestedSendTime must be greater than or equal to the current UTC time."

# Not in the reference: the value is an index key, and PostgreSQL refuses index entries over ~2.7 kB.
MSG_IDEMPOTENCY_ID_LENGTH: Final = "IdempotencyId must not be longer than 500 characters."

MSG_TIME_TO_LIVE: Final = "Time-to-live must be between 60 and 172800 seconds (48 hours)."
# The instant-email validator words its own messages (docs/compatibility.md C8).
MSG_INSTANT_EMAIL_SUBJECT_EMPTY: Final = "The email subject cannot be empty."
MSG_INSTANT_EMAIL_BODY_EMPTY: Final = "The email body cannot be empty."

# --- constants ---

TTL_MIN_SECONDS: Final = 60
TTL_MAX_SECONDS: Final = 172_800
RESOURCE_PREFIX: Final = "urn:altinn:resource:"

_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# RFC 3986 characters (unreserved, reserved, '%'); a well-formed URI string has nothing else.
_URI_CHARACTERS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")

_EMAIL_SETTINGS_REQUIRED: Final = {
    NotificationChannel.Email: MSG_EMAIL_SETTINGS_FOR_EMAIL,
    NotificationChannel.EmailPreferred: MSG_EMAIL_SETTINGS_FOR_PREFERRED,
    NotificationChannel.SmsPreferred: MSG_EMAIL_SETTINGS_FOR_PREFERRED,
    NotificationChannel.EmailAndSms: MSG_EMAIL_SETTINGS_FOR_BOTH,
}
_SMS_SETTINGS_REQUIRED: Final = {
    NotificationChannel.Sms: MSG_SMS_SETTINGS_FOR_SMS,
    NotificationChannel.EmailPreferred: MSG_SMS_SETTINGS_FOR_PREFERRED,
    NotificationChannel.SmsPreferred: MSG_SMS_SETTINGS_FOR_PREFERRED,
    NotificationChannel.EmailAndSms: MSG_SMS_SETTINGS_FOR_BOTH,
}
_SENDING_TIME_POLICIES: Final = frozenset(int(p) for p in SendingTimePolicy)


# --- public API ---


def validate_order_chain(
    request: NotificationOrderChainRequestExt, now: datetime, limits: IntakeLimits = DEFAULT_LIMITS
) -> ValidationErrors:
    """`POST /future/orders` (docs/compatibility.md C6). ``now`` is the request's time (UTC-aware)."""
    errors: ValidationErrors = {}
    _validate_send_time(request.requested_send_time, now, errors)
    _validate_condition_endpoint(request.condition_endpoint, "ConditionEndpoint", errors)
    _validate_keys(request.idempotency_id, request.senders_reference, "", errors)
    _validate_recipient(request.recipient, "Recipient", errors)
    main_time = as_utc(request.requested_send_time or now)
    reminders = request.reminders or ()
    if len(reminders) > limits.max_reminders:  # not each of them checked: the order is refused anyway
        add(errors, "Reminders", too_many_message("reminders", limits.max_reminders))
        return errors
    for index, reminder in enumerate(reminders):
        _validate_reminder(reminder, f"Reminders[{index}]", now, main_time, errors)
    return errors


def validate_composed_email(request: ComposedEmailRequestExt, now: datetime) -> ValidationErrors:
    """`POST /future/orders/composed-email` (docs/compatibility.md C7)."""
    errors: ValidationErrors = {}
    _validate_send_time(request.requested_send_time, now, errors)
    _validate_condition_endpoint(request.condition_endpoint, "ConditionEndpoint", errors)
    _validate_keys(request.idempotency_id, request.senders_reference, "", errors)
    recipient = request.recipient
    if not is_valid_address(recipient.email_address):
        add(errors, "Recipient.EmailAddress", MSG_EMAIL_INVALID)
    settings = recipient.email_settings
    _validate_email_settings(settings, "Recipient.Settings", errors)
    send_time = as_utc(request.requested_send_time) if request.requested_send_time else now
    validate_attachments(settings.attachments or (), "Recipient.Settings.Attachments", send_time, errors)
    return errors


def validate_instant_sms(request: InstantSmsNotificationOrderRequestExt) -> ValidationErrors:
    """`POST /future/orders/instant/sms` (docs/compatibility.md C8)."""
    errors: ValidationErrors = {}
    _validate_keys(request.idempotency_id, request.senders_reference, "", errors)
    _validate_instant_sms_recipient(request.recipient_sms, "RecipientSms", errors)
    return errors


def validate_instant(request: InstantNotificationOrderRequestExt) -> ValidationErrors:
    """Deprecated `POST /future/orders/instant` (SMS only, docs/compatibility.md C8)."""
    errors: ValidationErrors = {}
    _validate_keys(request.idempotency_id, request.senders_reference, "", errors)
    _validate_instant_sms_recipient(
        request.recipient.recipient_sms, "InstantNotificationRecipient.ShortMessageDeliveryDetails", errors
    )
    return errors


def validate_instant_email(request: InstantEmailNotificationOrderRequestExt) -> ValidationErrors:
    """`POST /future/orders/instant/email` (docs/compatibility.md C8): its own validator, not the order
    chain's; the sender is checked whenever it is not null, so "" is refused too."""
    errors: ValidationErrors = {}
    _validate_keys(request.idempotency_id, request.senders_reference, "", errors)
    details = request.recipient_email
    if not is_valid_address(details.email_address):
        add(errors, "InstantEmailDetails.EmailAddress", MSG_EMAIL_INVALID)
    settings = details.email_settings
    prefix = "InstantEmailDetails.EmailSettings"
    if settings.sender_email_address is not None and not is_valid_address(settings.sender_email_address):
        add(errors, f"{prefix}.SenderEmailAddress", MSG_EMAIL_INVALID)
    if is_blank(settings.subject):
        add(errors, f"{prefix}.Subject", MSG_INSTANT_EMAIL_SUBJECT_EMPTY)
    check_length(errors, f"{prefix}.Subject", settings.subject, MAX_SUBJECT_LENGTH, "Subject")
    if is_blank(settings.body):
        add(errors, f"{prefix}.Body", MSG_INSTANT_EMAIL_BODY_EMPTY)
    check_length(errors, f"{prefix}.Body", settings.body, MAX_EMAIL_BODY_LENGTH, "Body")
    return errors


def condition_endpoint_errors(value: str) -> list[str]:
    """v2 rule (docs/compatibility.md C5): an absolute, well-formed URI (.NET `IsWellFormedUriString`), scheme http/https."""
    match = _SCHEME.match(value)
    absolute = match is not None and _has_authority_if_hierarchical(value[match.end() :])
    well_formed = _URI_CHARACTERS.fullmatch(value) is not None and _BAD_PERCENT.search(value) is None
    messages: list[str] = []
    if not (absolute and well_formed):
        messages.append(MSG_CONDITION_ENDPOINT_URI)
    if absolute and match is not None and match.group(1).lower() not in ("http", "https"):
        messages.append(MSG_CONDITION_ENDPOINT_SCHEME)
    return messages


def is_valid_resource_id(value: str) -> bool:
    """`urn:altinn:resource:` followed by at least one character (case-sensitive, as the reference)."""
    return value.startswith(RESOURCE_PREFIX) and len(value) > len(RESOURCE_PREFIX)


# --- rules ---


def _validate_keys(
    idempotency_id: str | None, senders_reference: str | None, prefix: str, errors: ValidationErrors
) -> None:
    """`idempotencyId` not blank (requests only); both short enough to be index keys."""
    if idempotency_id is not None:
        if is_blank(idempotency_id):
            add(errors, "IdempotencyId", MSG_IDEMPOTENCY_ID)
        elif is_too_long(idempotency_id):
            add(errors, "IdempotencyId", MSG_IDEMPOTENCY_ID_LENGTH)
    if is_too_long(senders_reference):
        add(errors, f"{prefix}SendersReference", MSG_SENDERS_REFERENCE_LENGTH)


def _validate_send_time(send_time: datetime | None, now: datetime, errors: ValidationErrors) -> None:
    if send_time is None:
        return
    if send_time.utcoffset() is None:
        add(errors, "RequestedSendTime", MSG_SEND_TIME_ZONE)
    if as_utc(send_time) < as_utc(now):
        add(errors, "RequestedSendTime", MSG_SEND_TIME_PAST)
    elif as_utc(send_time) > LATEST_SEND_TIME:
        add(errors, "RequestedSendTime", MSG_SEND_TIME_TOO_LATE)


def _validate_condition_endpoint(value: str | None, key: str, errors: ValidationErrors) -> None:
    if value is None or not check_length(errors, key, value, MAX_URL_LENGTH, "ConditionEndpoint"):
        return
    for message in condition_endpoint_errors(value):
        add(errors, key, message)


def _validate_reminder(
    reminder: NotificationReminderExt,
    prefix: str,
    now: datetime,
    main_time: datetime,
    errors: ValidationErrors,
) -> None:
    delay, send_time = reminder.delay_days, reminder.requested_send_time
    if (delay is None) == (send_time is None):
        add(errors, prefix, MSG_REMINDER_TIMING)
    if delay is not None:
        if delay < 1:
            add(errors, f"{prefix}.DelayDays", MSG_DELAY_DAYS_MIN)
        elif delay > (LATEST_SEND_TIME - main_time).days:  # integer arithmetic: any size is safe
            add(errors, f"{prefix}.DelayDays", MSG_SEND_TIME_TOO_LATE)
        if send_time is not None:
            add(errors, f"{prefix}.RequestedSendTime", MSG_REMINDER_TIME_WITH_DELAY)
    if send_time is not None:
        if delay is not None:
            add(errors, f"{prefix}.DelayDays", MSG_REMINDER_DELAY_WITH_TIME)
        if send_time.utcoffset() is None:
            add(errors, f"{prefix}.RequestedSendTime", MSG_REMINDER_TIME_ZONE)
        if as_utc(send_time) < as_utc(now):
            add(errors, f"{prefix}.RequestedSendTime", MSG_REMINDER_TIME_PAST)
        elif as_utc(send_time) > LATEST_SEND_TIME:
            add(errors, f"{prefix}.RequestedSendTime", MSG_SEND_TIME_TOO_LATE)
    _validate_keys(None, reminder.senders_reference, f"{prefix}.", errors)
    _validate_condition_endpoint(reminder.condition_endpoint, f"{prefix}.ConditionEndpoint", errors)
    _validate_recipient(reminder.recipient, f"{prefix}.Recipient", errors)


def _validate_recipient(recipient: NotificationRecipientExt, prefix: str, errors: ValidationErrors) -> None:
    kinds = (
        recipient.recipient_email,
        recipient.recipient_sms,
        recipient.recipient_person,
        recipient.recipient_organization,
        recipient.recipient_external_identity,
    )
    if sum(kind is not None for kind in kinds) != 1:
        add(errors, prefix, MSG_EXACTLY_ONE_RECIPIENT)

    email = recipient.recipient_email
    if email is not None:
        key = f"{prefix}.RecipientEmail"
        if not is_valid_address(email.email_address):
            add(errors, f"{key}.EmailAddress", MSG_EMAIL_INVALID)
        _validate_email_settings(email.email_settings, f"{key}.Settings", errors)

    sms = recipient.recipient_sms
    if sms is not None:
        key = f"{prefix}.RecipientSms"
        if is_blank(sms.phone_number):
            add(errors, f"{key}.PhoneNumber", MSG_PHONE_EMPTY)
        if not is_valid_mobile_number(sms.phone_number):
            add(errors, f"{key}.PhoneNumber", MSG_PHONE_INVALID)
        _validate_sms_settings(sms.sms_settings, f"{key}.Settings", errors)

    person = recipient.recipient_person
    if person is not None:
        key = f"{prefix}.RecipientPerson"
        _validate_recipient_base(person, person.channel_schema, key, errors)
        nin = person.national_identity_number
        if is_blank(nin):
            add(errors, f"{key}.NationalIdentityNumber", MSG_NIN_EMPTY)
        if nin and not is_national_identity_number(nin):
            add(errors, f"{key}.NationalIdentityNumber", MSG_NIN_LENGTH)

    organization = recipient.recipient_organization
    if organization is not None:
        key = f"{prefix}.RecipientOrganization"
        _validate_recipient_base(organization, organization.channel_schema, key, errors)
        org_number = organization.org_number
        if is_blank(org_number):
            add(errors, f"{key}.OrgNumber", MSG_ORG_EMPTY)
        if org_number and not is_organization_number(org_number):
            add(errors, f"{key}.OrgNumber", MSG_ORG_LENGTH)

    external = recipient.recipient_external_identity
    if external is not None:
        key = f"{prefix}.RecipientExternalIdentity"
        _validate_recipient_base(external, external.channel_schema, key, errors)
        identity = external.external_identity
        if is_blank(identity):
            add(errors, f"{key}.ExternalIdentity", MSG_EXTERNAL_IDENTITY_EMPTY)
        if identity and (is_blank(identity) or not is_external_identity(identity)):
            add(errors, f"{key}.ExternalIdentity", MSG_EXTERNAL_IDENTITY_INVALID)


def _validate_recipient_base(
    recipient: RecipientBaseExt, channel: NotificationChannel, prefix: str, errors: ValidationErrors
) -> None:
    """The reference's `RecipientBaseValidator`: settings per channel schema, settings, resource fields."""
    if recipient.email_settings is None:
        message = _EMAIL_SETTINGS_REQUIRED.get(channel)
        if message is not None:
            add(errors, f"{prefix}.EmailSettings", message)
    if recipient.sms_settings is None:
        message = _SMS_SETTINGS_REQUIRED.get(channel)
        if message is not None:
            add(errors, f"{prefix}.SmsSettings", message)
    if recipient.email_settings is not None:
        _validate_email_settings(recipient.email_settings, f"{prefix}.EmailSettings", errors)
    if recipient.sms_settings is not None:
        _validate_sms_settings(recipient.sms_settings, f"{prefix}.SmsSettings", errors)

    resource_id = recipient.resource_id
    if resource_id is not None and not is_valid_resource_id(resource_id):
        add(errors, f"{prefix}.ResourceId", MSG_RESOURCE_ID)
    action_message = resource_action_message(recipient.resource_action, resource_id)
    if action_message is not None:
        add(errors, f"{prefix}.ResourceAction", action_message)


def _validate_email_settings(settings: EmailSendingOptionsExt, prefix: str, errors: ValidationErrors) -> None:
    sender = settings.sender_email_address
    if not is_blank(sender) and not is_valid_address(sender):
        add(errors, f"{prefix}.SenderEmailAddress", MSG_SENDER_EMAIL_INVALID)
    if is_blank(settings.subject):
        add(errors, f"{prefix}.Subject", MSG_EMAIL_SUBJECT_EMPTY)
    check_length(errors, f"{prefix}.Subject", settings.subject, MAX_SUBJECT_LENGTH, "Subject")
    if is_blank(settings.body):
        add(errors, f"{prefix}.Body", MSG_EMAIL_BODY_EMPTY)
    check_length(errors, f"{prefix}.Body", settings.body, MAX_EMAIL_BODY_LENGTH, "Body")
    if settings.sending_time_policy is not None and settings.sending_time_policy != SendingTimePolicy.Anytime:
        add(errors, f"{prefix}.SendingTimePolicy", MSG_EMAIL_SENDING_TIME)


def _validate_sms_settings(settings: SmsSendingOptionsExt, prefix: str, errors: ValidationErrors) -> None:
    if is_blank(settings.body):
        add(errors, f"{prefix}.Body", MSG_SMS_BODY_EMPTY)
    check_length(errors, f"{prefix}.Body", settings.body, MAX_SMS_BODY_LENGTH, "Body")
    if (
        settings.sending_time_policy is not None
        and settings.sending_time_policy not in _SENDING_TIME_POLICIES
    ):
        add(errors, f"{prefix}.SendingTimePolicy", MSG_SMS_SENDING_TIME)


def _validate_instant_sms_recipient(
    details: ShortMessageDeliveryDetailsExt, prefix: str, errors: ValidationErrors
) -> None:
    if not is_valid_mobile_number(details.phone_number):
        add(errors, f"{prefix}.PhoneNumber", MSG_PHONE_INVALID)
    if not TTL_MIN_SECONDS <= details.time_to_live_in_seconds <= TTL_MAX_SECONDS:
        add(errors, f"{prefix}.TimeToLiveInSeconds", MSG_TIME_TO_LIVE)
    body = details.sms_settings.body
    check_length(errors, f"{prefix}.SmsSettings.Body", body, MAX_SMS_BODY_LENGTH, "Body")


# --- helpers ---


def _has_authority_if_hierarchical(rest: str) -> bool:
    """`scheme://` needs a host (`http://` alone is not a URI); other absolute forms (`urn:...`) are fine."""
    if not rest.startswith("//"):
        return rest != ""
    authority = rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = authority.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host.find("]") > 1
    host, _, port = host.partition(":")
    return host != "" and (port == "" or (port.isdigit() and int(port) <= 65535))


__all__: Sequence[str] = [
    "ValidationErrors",
    "condition_endpoint_errors",
    "is_valid_resource_id",
    "validate_composed_email",
    "validate_instant",
    "validate_instant_email",
    "validate_instant_sms",
    "validate_order_chain",
]
