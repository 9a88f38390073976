"""Business validation of the v1 order requests: the reference's FluentValidation rules (docs/compatibility.md C4, C5).

Each ``validate_*`` function returns the ``errors`` map of a ValidationProblemDetails body (docs/compatibility.md C3):
an empty dict means the request is valid. It runs after binding (docs/compatibility.md C3, order of checks): missing properties,
empty ``subject``/``body`` strings and unknown enum names never reach it.

Error keys are the property paths the reference's FluentValidation rules produce (PascalCase C# names).
The reference nests its rules with ``ChildRules`` on ``RuleFor(order => order)`` / ``RuleFor(r => r)``
(self-references add nothing to the path), which gives these keys:

=================================  ============================================================
key                                rule
=================================  ============================================================
``RequestedSendTime``              time zone required; not more than 5 minutes in the past
``ConditionEndpoint``              absolute http/https URL with a dotted DNS host name
``ResourceAction``                 only with a ``resourceId``; not whitespace-only
``NotificationChannel``            (generic order) channel required
``EmailTemplate``                  (generic order) required for the channel
``EmailTemplate.Body``             (generic order) body not blank
``EmailTemplate.Subject``          (generic order) subject not blank
``EmailTemplate.FromAddress``      (generic order) sender address valid when given
``SmsTemplate``                    (generic order) required for the channel
``SmsTemplate.Body``               (generic order) body not blank
``Body``, ``Subject``              (email / SMS order) the top-level template fields not blank
``Recipients``                     list not empty
``Recipients[i]``                  per recipient: an identifier is present; NIN / org number alone
``Recipients[i].EmailAddress``     email rule (docs/compatibility.md C5)
``Recipients[i].MobileNumber``     mobile rule (docs/compatibility.md C5)
``Recipients[i].NationalIdentityNumber``  11 digits
``Recipients[i].OrganizationNumber``      9 digits
=================================  ============================================================

Field-level recipient errors are keyed by the field (``Recipients[0].EmailAddress``), as the reference
emits them (its ``MustBeValidEmail`` is a child rule of ``RuleFor(r => r.EmailAddress)``); the reference's
documented example, which shows the email message under ``Recipients[0]``, is illustrative only.
Recipient-level rules (missing identifier, forbidden combinations) are keyed ``Recipients[i]``.

Within a key, messages are listed in the reference's rule order; keys appear in the order their first
error was found, as ASP.NET builds the map.

Choices where the reference is silent (documented, consistent):

* Blank template texts use the reference's messages ("The email template body must not be empty.",
  "The email template subject must not be empty.", "The SMS template body must not be empty."), for the
  generic order's templates and for the top-level ``body``/``subject`` of the email and SMS orders alike.
* ``resourceAction`` uses the v2 messages of docs/compatibility.md C6 (the v1 backport shares them).
* A generic order without a channel still gets its present templates and its recipients validated
  (recipients with the any-channel rule set), so the caller sees every problem at once; the reference
  crashes on that input instead.
* ``EmailAndSms`` is validated like the other channels (docs/compatibility.md C4): both templates required; recipients
  with the any-channel rule set. The reference skips these checks (docs/compatibility.md C4).
* An ignored address (a ``mobileNumber`` on an email order, an ``emailAddress`` on an SMS order) is not
  format-checked and does not count as an identifier, but it still counts for the NIN / org number
  combination rules, exactly as the reference (the messages name every field).
* ``fromAddress``: null or empty means "use the default"; any other value, whitespace-only included,
  must pass the email rule.
* A ``requestedSendTime`` without a zone (naive ``datetime``) is reported as such and, like the .NET
  ticks comparison, is compared as if it were UTC for the "in the future" rule.
* ``conditionEndpoint``: an empty string is not null and is rejected.

Everything here is allocation-light and exception-free: regexes are compiled once at import, and the
common valid request makes no error-path allocations at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from altinn_notifications.orders.models import (
    EmailNotificationOrderRequestExt,
    NotificationOrderRequestExt,
    OrderRequestBaseExt,
    RecipientExt,
    SmsNotificationOrderRequestExt,
)
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
    MSG_RESOURCE_ACTION_BLANK,
    MSG_RESOURCE_ACTION_WITHOUT_ID,
    MSG_SEND_TIME_TOO_LATE,
    MSG_SEND_TIME_ZONE,
    MSG_SENDER_EMAIL_INVALID,
    MSG_SENDERS_REFERENCE_LENGTH,
    IntakeLimits,
    ValidationErrors,
    add,
    check_length,
    is_blank,
    is_too_long,
    is_valid_address,
    resource_action_message,
    too_many_message,
)
from altinn_notifications.recipients.addresses import (
    is_national_identity_number,
    is_organization_number,
    is_valid_mobile_number,
)
from altinn_notifications.vocabulary import NotificationChannel

__all__ = [
    "MSG_CHANNEL_REQUIRED",
    "MSG_CONDITION_ENDPOINT",
    "MSG_EMAIL_BODY_EMPTY",
    "MSG_EMAIL_INVALID",
    "MSG_EMAIL_SUBJECT_EMPTY",
    "MSG_EMAIL_TEMPLATE_REQUIRED",
    "MSG_MOBILE_INVALID",
    "MSG_NIN_COMBINED",
    "MSG_NIN_LENGTH",
    "MSG_ORG_COMBINED",
    "MSG_ORG_LENGTH",
    "MSG_RECIPIENT_ANY_REQUIRED",
    "MSG_RECIPIENT_EMAIL_REQUIRED",
    "MSG_RECIPIENT_REQUIRED",
    "MSG_RECIPIENT_SMS_REQUIRED",
    "MSG_RESOURCE_ACTION_BLANK",
    "MSG_RESOURCE_ACTION_WITHOUT_ID",
    "MSG_SENDERS_REFERENCE_LENGTH",
    "MSG_SENDER_EMAIL_INVALID",
    "MSG_SEND_TIME_PAST",
    "MSG_SEND_TIME_TOO_LATE",
    "MSG_SEND_TIME_ZONE",
    "MSG_SMS_BODY_EMPTY",
    "MSG_SMS_TEMPLATE_REQUIRED",
    "SEND_TIME_TOLERANCE",
    "ValidationErrors",
    "is_valid_condition_endpoint",
    "validate_email_order",
    "validate_order",
    "validate_sms_order",
]

# --- messages (exact strings of the reference; docs/compatibility.md C4, C5); those shared with v2: orders.rules ---

MSG_SEND_TIME_PAST: Final = "Send time must be in the future. Leave blank to send immediately."
MSG_CONDITION_ENDPOINT: Final = "The condition endpoint must be a valid URL."

MSG_CHANNEL_REQUIRED: Final = "A notification channel must be defined."
MSG_EMAIL_TEMPLATE_REQUIRED: Final = "An email template is required for the selected notification channel."
# sic: "the selected the notification channel" (docs/compatibility.md C4).
MSG_SMS_TEMPLATE_REQUIRED: Final = "An SMS template is required for the selected the notification channel."
MSG_EMAIL_BODY_EMPTY: Final = "The email template body must not be empty."
MSG_EMAIL_SUBJECT_EMPTY: Final = "The email template subject must not be empty."
MSG_SMS_BODY_EMPTY: Final = "The SMS template body must not be empty."

MSG_RECIPIENT_REQUIRED: Final = "One or more recipient is required."
MSG_RECIPIENT_EMAIL_REQUIRED: Final = (
    "Either a valid email address, organization number, or national identity number must be provided "
    "for each recipient."
)
MSG_RECIPIENT_SMS_REQUIRED: Final = (
    "Either a valid mobile number starting with country code, organization number, or national identity "
    "number must be provided for each recipient."
)
MSG_RECIPIENT_ANY_REQUIRED: Final = (
    "Either a valid email address, mobile number starting with country code, organization number, or "
    "national identity number must be provided for each recipient."
)
MSG_MOBILE_INVALID: Final = (
    "Mobile number can contain only '+' and numeric characters, and it must adhere to the E.164 standard."
)
MSG_NIN_COMBINED: Final = (
    "National identity number cannot be combined with email address, mobile number, or organization number."
)
MSG_ORG_COMBINED: Final = (
    "Organization number cannot be combined with email address, mobile number, or national identity number."
)

# v1 accepts a requested send time up to five minutes in the past (docs/compatibility.md C5).
SEND_TIME_TOLERANCE: Final = timedelta(minutes=5)

# --- condition endpoint (docs/compatibility.md C5; the reference's UriExtensions.IsValidUrl) ---

# An absolute http(s) URL: scheme (any case, as .NET lower-cases it), optional user info, a host that is
# not an IP-literal, an optional decimal port, then anything from the first '/', '?' or '#'.
_ABSOLUTE_HTTP_URL: Final = re.compile(
    r"(?i:https?)://(?:[^/?#@\s]*@)?(?P<host>[^:/?#@\s\[\]]+)(?::(?P<port>[0-9]{0,5}))?(?:[/?#].*)?",
    re.DOTALL,
)
_HOST: Final = re.compile(r"[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}")
_MAX_PORT: Final = 65535

# --- channels (docs/compatibility.md C4; EmailAndSms per docs/compatibility.md C4) ---

_EMAIL_TEMPLATE_CHANNELS: Final = frozenset(
    {
        NotificationChannel.Email,
        NotificationChannel.EmailPreferred,
        NotificationChannel.SmsPreferred,
        NotificationChannel.EmailAndSms,
    }
)
_SMS_TEMPLATE_CHANNELS: Final = frozenset(
    {
        NotificationChannel.Sms,
        NotificationChannel.EmailPreferred,
        NotificationChannel.SmsPreferred,
        NotificationChannel.EmailAndSms,
    }
)

# Recipient rule sets.
_EMAIL: Final = 0
_SMS: Final = 1
_ANY: Final = 2


# --- public API ---


def validate_email_order(
    request: EmailNotificationOrderRequestExt, now: datetime, limits: IntakeLimits = DEFAULT_LIMITS
) -> ValidationErrors:
    """`POST /orders/email` (docs/compatibility.md C4). ``now`` is the request's time, preferably UTC-aware."""
    errors: ValidationErrors = {}
    _validate_base(request, now, errors)
    if is_blank(request.body):
        add(errors, "Body", MSG_EMAIL_BODY_EMPTY)
    check_length(errors, "Body", request.body, MAX_EMAIL_BODY_LENGTH, "Body")
    if is_blank(request.subject):
        add(errors, "Subject", MSG_EMAIL_SUBJECT_EMPTY)
    check_length(errors, "Subject", request.subject, MAX_SUBJECT_LENGTH, "Subject")
    _validate_recipients(request.recipients, _EMAIL, errors, limits)
    return errors


def validate_sms_order(
    request: SmsNotificationOrderRequestExt, now: datetime, limits: IntakeLimits = DEFAULT_LIMITS
) -> ValidationErrors:
    """`POST /orders/sms` (docs/compatibility.md C4)."""
    errors: ValidationErrors = {}
    _validate_base(request, now, errors)
    if is_blank(request.body):
        add(errors, "Body", MSG_SMS_BODY_EMPTY)
    check_length(errors, "Body", request.body, MAX_SMS_BODY_LENGTH, "Body")
    _validate_recipients(request.recipients, _SMS, errors, limits)
    return errors


def validate_order(
    request: NotificationOrderRequestExt, now: datetime, limits: IntakeLimits = DEFAULT_LIMITS
) -> ValidationErrors:
    """Generic `POST /orders` (docs/compatibility.md C4), with `EmailAndSms` validated like the other channels."""
    errors: ValidationErrors = {}
    _validate_base(request, now, errors)

    channel = request.notification_channel
    if channel is None:
        add(errors, "NotificationChannel", MSG_CHANNEL_REQUIRED)

    email_template = request.email_template
    if email_template is None:
        if channel in _EMAIL_TEMPLATE_CHANNELS:
            add(errors, "EmailTemplate", MSG_EMAIL_TEMPLATE_REQUIRED)
    else:
        if is_blank(email_template.body):
            add(errors, "EmailTemplate.Body", MSG_EMAIL_BODY_EMPTY)
        check_length(errors, "EmailTemplate.Body", email_template.body, MAX_EMAIL_BODY_LENGTH, "Body")
        if is_blank(email_template.subject):
            add(errors, "EmailTemplate.Subject", MSG_EMAIL_SUBJECT_EMPTY)
        check_length(errors, "EmailTemplate.Subject", email_template.subject, MAX_SUBJECT_LENGTH, "Subject")
        from_address = email_template.from_address
        if from_address and not is_valid_address(from_address):
            add(errors, "EmailTemplate.FromAddress", MSG_SENDER_EMAIL_INVALID)

    sms_template = request.sms_template
    if sms_template is None:
        if channel in _SMS_TEMPLATE_CHANNELS:
            add(errors, "SmsTemplate", MSG_SMS_TEMPLATE_REQUIRED)
    else:
        if is_blank(sms_template.body):
            add(errors, "SmsTemplate.Body", MSG_SMS_BODY_EMPTY)
        check_length(errors, "SmsTemplate.Body", sms_template.body, MAX_SMS_BODY_LENGTH, "Body")

    if channel is NotificationChannel.Email:
        rule_set = _EMAIL
    elif channel is NotificationChannel.Sms:
        rule_set = _SMS
    else:
        rule_set = _ANY
    _validate_recipients(request.recipients, rule_set, errors, limits)
    return errors


# --- rules ---


def _validate_base(request: OrderRequestBaseExt, now: datetime, errors: ValidationErrors) -> None:
    """docs/compatibility.md C4: requestedSendTime, conditionEndpoint, resourceAction."""
    send_time = request.requested_send_time
    if send_time is not None:
        if send_time.utcoffset() is None:
            add(errors, "RequestedSendTime", MSG_SEND_TIME_ZONE)
            send_time = send_time.replace(tzinfo=UTC)
        if now.utcoffset() is None:
            now = now.replace(tzinfo=UTC)
        if send_time < now - SEND_TIME_TOLERANCE:
            add(errors, "RequestedSendTime", MSG_SEND_TIME_PAST)
        if send_time > LATEST_SEND_TIME:  # later steps add days; beyond this the calendar overflows
            add(errors, "RequestedSendTime", MSG_SEND_TIME_TOO_LATE)

    if is_too_long(request.senders_reference):
        add(errors, "SendersReference", MSG_SENDERS_REFERENCE_LENGTH)

    endpoint = request.condition_endpoint
    if check_length(errors, "ConditionEndpoint", endpoint, MAX_URL_LENGTH, "ConditionEndpoint") and (
        endpoint is not None and not is_valid_condition_endpoint(endpoint)
    ):
        add(errors, "ConditionEndpoint", MSG_CONDITION_ENDPOINT)

    action_message = resource_action_message(request.resource_action, request.resource_id)
    if action_message is not None:
        add(errors, "ResourceAction", action_message)


def is_valid_condition_endpoint(value: str) -> bool:
    """v1 rule: an absolute http/https URL whose host matches ``^[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$``.

    So no IP addresses and no single-label hosts such as ``localhost`` (docs/compatibility.md C5).
    """
    match = _ABSOLUTE_HTTP_URL.fullmatch(value.strip())
    if match is None:
        return False
    port = match.group("port")
    if port and int(port) > _MAX_PORT:
        return False
    return _HOST.fullmatch(match.group("host")) is not None


def _validate_recipients(
    recipients: Sequence[RecipientExt], rule_set: int, errors: ValidationErrors, limits: IntakeLimits
) -> None:
    """docs/compatibility.md C4, C5. Presence checks use "not null or empty", as the reference."""
    if not recipients:
        add(errors, "Recipients", MSG_RECIPIENT_REQUIRED)
        return
    if len(recipients) > limits.max_recipients:  # not each of them checked: the order is refused anyway
        add(errors, "Recipients", too_many_message("recipients", limits.max_recipients))
        return

    if rule_set == _EMAIL:
        missing_message = MSG_RECIPIENT_EMAIL_REQUIRED
    elif rule_set == _SMS:
        missing_message = MSG_RECIPIENT_SMS_REQUIRED
    else:
        missing_message = MSG_RECIPIENT_ANY_REQUIRED
    check_email = rule_set != _SMS
    check_mobile = rule_set != _EMAIL

    for index, recipient in enumerate(recipients):
        email = recipient.email_address
        mobile = recipient.mobile_number
        org = recipient.organization_number
        nin = recipient.national_identity_number

        if not (org or nin or (check_email and email) or (check_mobile and mobile)):
            add(errors, f"Recipients[{index}]", missing_message)
        if check_email and email and not is_valid_address(email):
            add(errors, f"Recipients[{index}].EmailAddress", MSG_EMAIL_INVALID)
        if check_mobile and mobile and not is_valid_mobile_number(mobile):
            add(errors, f"Recipients[{index}].MobileNumber", MSG_MOBILE_INVALID)
        if nin and not is_national_identity_number(nin):
            add(errors, f"Recipients[{index}].NationalIdentityNumber", MSG_NIN_LENGTH)
        if org and not is_organization_number(org):
            add(errors, f"Recipients[{index}].OrganizationNumber", MSG_ORG_LENGTH)
        if nin and (email or mobile or org):
            add(errors, f"Recipients[{index}]", MSG_NIN_COMBINED)
        if org and (email or mobile or nin):
            add(errors, f"Recipients[{index}]", MSG_ORG_COMBINED)
