"""The v1 order validation rules (docs/compatibility.md C4, C5): every rule and message, valid and invalid.

Requests are built from JSON-shaped dicts through the request models, as the API binds them.
No database is needed.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from altinn_notifications.orders import validation as v
from altinn_notifications.orders.models import (
    EmailNotificationOrderRequestExt,
    NotificationOrderRequestExt,
    SmsNotificationOrderRequestExt,
)
from altinn_notifications.orders.validation import (
    is_valid_condition_endpoint,
    validate_email_order,
    validate_order,
    validate_sms_order,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


# --- builders ---


def email_order(**fields: Any) -> EmailNotificationOrderRequestExt:
    body: dict[str, Any] = {
        "subject": "A subject",
        "body": "A body",
        "recipients": [{"emailAddress": "recipient@domain.com"}],
    }
    body.update(fields)
    return EmailNotificationOrderRequestExt.model_validate(body)


def sms_order(**fields: Any) -> SmsNotificationOrderRequestExt:
    body: dict[str, Any] = {"body": "A body", "recipients": [{"mobileNumber": "+4799999999"}]}
    body.update(fields)
    return SmsNotificationOrderRequestExt.model_validate(body)


EMAIL_TEMPLATE = {"subject": "Test", "body": "Test Body"}
SMS_TEMPLATE = {"body": "Test Body"}


def order(channel: str | int | None = "Email", **fields: Any) -> NotificationOrderRequestExt:
    body: dict[str, Any] = {
        "notificationChannel": channel,
        "emailTemplate": EMAIL_TEMPLATE,
        "smsTemplate": SMS_TEMPLATE,
        "recipients": [{"nationalIdentityNumber": "16069412345"}],
    }
    body.update(fields)
    return NotificationOrderRequestExt.model_validate(body)


def errors_of_email_recipient(recipient: dict[str, Any]) -> dict[str, list[str]]:
    return validate_email_order(email_order(recipients=[recipient]), NOW)


def errors_of_sms_recipient(recipient: dict[str, Any]) -> dict[str, list[str]]:
    return validate_sms_order(sms_order(recipients=[recipient]), NOW)


def errors_of_order_recipient(channel: str, recipient: dict[str, Any]) -> dict[str, list[str]]:
    return validate_order(order(channel, recipients=[recipient]), NOW)


# --- messages are the reference's exact strings ---


def test_messages_are_exact() -> None:
    assert v.MSG_SEND_TIME_ZONE == "The requested send time value must have specified a time zone."
    assert v.MSG_SEND_TIME_PAST == "Send time must be in the future. Leave blank to send immediately."
    assert v.MSG_CONDITION_ENDPOINT == "The condition endpoint must be a valid URL."
    assert v.MSG_RESOURCE_ACTION_WITHOUT_ID == "ResourceAction cannot be specified without a ResourceId."
    assert v.MSG_RESOURCE_ACTION_BLANK == "ResourceAction cannot be blank or whitespace."
    assert v.MSG_CHANNEL_REQUIRED == "A notification channel must be defined."
    assert v.MSG_EMAIL_TEMPLATE_REQUIRED == (
        "An email template is required for the selected notification channel."
    )
    assert v.MSG_SMS_TEMPLATE_REQUIRED == (
        "An SMS template is required for the selected the notification channel."
    )
    assert v.MSG_SENDER_EMAIL_INVALID == "The sender email address is not valid."
    assert v.MSG_RECIPIENT_REQUIRED == "One or more recipient is required."
    assert v.MSG_RECIPIENT_EMAIL_REQUIRED == (
        "Either a valid email address, organization number, or national identity number must be provided "
        "for each recipient."
    )
    assert v.MSG_RECIPIENT_SMS_REQUIRED == (
        "Either a valid mobile number starting with country code, organization number, or national "
        "identity number must be provided for each recipient."
    )
    assert v.MSG_EMAIL_INVALID == "Invalid email address format."
    assert v.MSG_MOBILE_INVALID == (
        "Mobile number can contain only '+' and numeric characters, and it must adhere to the E.164 standard."
    )
    assert v.MSG_NIN_LENGTH == "National identity number must be 11 digits long."
    assert v.MSG_ORG_LENGTH == "Organization number must be 9 digits long."
    assert v.MSG_NIN_COMBINED == (
        "National identity number cannot be combined with email address, mobile number, or organization "
        "number."
    )
    assert v.MSG_ORG_COMBINED == (
        "Organization number cannot be combined with email address, mobile number, or national identity "
        "number."
    )


# --- the reference's documented examples are valid ---


def test_the_reference_documented_email_order_example_is_valid() -> None:
    request = EmailNotificationOrderRequestExt.model_validate(
        {
            "sendersReference": "case-2024-0042",
            "requestedSendTime": "2024-07-24T12:00:00Z",
            "subject": "Reminder to complete task",
            "body": "Hi $recipientName$, please complete your application before 31.07.",
            "contentType": "Plain",
            "recipients": [
                {"emailAddress": "recipient@domain.com"},
                {"nationalIdentityNumber": "16069412345"},
                {"organizationNumber": "810419652"},
            ],
            "ignoreReservation": False,
            "resourceId": "urn:altinn:resource:ttd_example",
            "conditionEndpoint": "https://serviceowner.example.no/application/qwerty/reminderRequired",
        }
    )
    assert validate_email_order(request, datetime(2024, 7, 24, 11, 55, tzinfo=UTC)) == {}


def test_appendix_b_generic_order_is_valid() -> None:
    request = NotificationOrderRequestExt.model_validate(
        {
            "notificationChannel": "EmailPreferred",
            "emailTemplate": {
                "subject": "New message",
                "body": "Hi $recipientName$, you have a new message.",
                "contentType": "Plain",
            },
            "smsTemplate": {"body": "You have a new message in Altinn."},
            "recipients": [
                {"nationalIdentityNumber": "16069412345"},
                {"organizationNumber": "810419652"},
                {"emailAddress": "known@example.no"},
            ],
            "resourceId": "urn:altinn:resource:ttd_example",
        }
    )
    assert validate_order(request, NOW) == {}


def test_minimal_orders_are_valid() -> None:
    assert validate_email_order(email_order(), NOW) == {}
    assert validate_sms_order(sms_order(), NOW) == {}
    assert validate_order(order("Email"), NOW) == {}


# --- requestedSendTime (docs/compatibility.md C4, C5) ---


@pytest.mark.parametrize(
    "send_time",
    [
        NOW,
        NOW + timedelta(days=30),
        NOW - timedelta(minutes=5),  # the boundary is inclusive
        NOW - timedelta(minutes=4, seconds=59),
        (NOW - timedelta(minutes=4)).astimezone(timezone(timedelta(hours=2))),
    ],
)
def test_send_time_with_zone_not_too_old_is_valid(send_time: datetime) -> None:
    for request in (email_order(), sms_order(), order()):
        request.requested_send_time = send_time
        assert "RequestedSendTime" not in _validate(request)


def test_missing_send_time_means_now_and_is_valid() -> None:
    assert email_order().requested_send_time is None
    assert validate_email_order(email_order(), NOW) == {}


@pytest.mark.parametrize(
    "send_time",
    [
        NOW - timedelta(minutes=5, microseconds=1),
        NOW - timedelta(days=1),
        (NOW - timedelta(minutes=6)).astimezone(timezone(timedelta(hours=-5))),
    ],
)
def test_send_time_more_than_five_minutes_ago_is_rejected(send_time: datetime) -> None:
    for request in (email_order(), sms_order(), order()):
        request.requested_send_time = send_time
        assert _validate(request) == {"RequestedSendTime": [v.MSG_SEND_TIME_PAST]}


def test_send_time_from_json_with_offset() -> None:
    request = email_order(requestedSendTime="2026-03-02T13:00:00+02:00")  # 11:00Z: an hour ago
    assert validate_email_order(request, NOW) == {"RequestedSendTime": [v.MSG_SEND_TIME_PAST]}
    request = email_order(requestedSendTime="2026-03-02T14:30:00+02:00")  # 12:30Z
    assert validate_email_order(request, NOW) == {}


def test_send_time_without_zone_is_rejected() -> None:
    request = email_order(requestedSendTime="2026-03-03T12:00:00")
    assert request.requested_send_time is not None and request.requested_send_time.tzinfo is None
    assert validate_email_order(request, NOW) == {"RequestedSendTime": [v.MSG_SEND_TIME_ZONE]}


def test_send_time_without_zone_in_the_past_gets_both_messages_in_rule_order() -> None:
    request = sms_order(requestedSendTime="2020-01-01T00:00:00")
    assert validate_sms_order(request, NOW) == {
        "RequestedSendTime": [v.MSG_SEND_TIME_ZONE, v.MSG_SEND_TIME_PAST]
    }


def test_naive_now_is_taken_as_utc() -> None:
    request = email_order(requestedSendTime="2026-03-02T11:00:00Z")
    assert validate_email_order(request, NOW.replace(tzinfo=None)) == {
        "RequestedSendTime": [v.MSG_SEND_TIME_PAST]
    }
    assert validate_email_order(email_order(), NOW.replace(tzinfo=None)) == {}


# --- conditionEndpoint (docs/compatibility.md C4, C5) ---


@pytest.mark.parametrize(
    "url",
    [
        "https://serviceowner.example.no/application/qwerty/reminderRequired",
        "http://example.com",
        "https://example.com/",
        "HTTPS://Example.COM/Path?x=1&y=2#frag",
        "https://api.sub.example.co.uk:8443/condition?orderId=42",
        "https://user:secret@example.no/check",
        "https://my-service.example.no/a b",
        "https://example.no:65535",
        "  https://example.no/padded  ",
        "https://123.example.no",
    ],
)
def test_condition_endpoint_valid(url: str) -> None:
    assert is_valid_condition_endpoint(url)
    assert validate_order(order(conditionEndpoint=url), NOW) == {}


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "example.no/condition",  # relative
        "/condition",
        "ftp://example.no/file",
        "file:///etc/passwd",
        "mailto:someone@example.no",
        "https://",
        "https:///path",
        "https://localhost/condition",  # no dot
        "http://localhost:5090/condition",
        "https://127.0.0.1/condition",  # IP address: the TLD must be letters
        "https://10.0.0.1:8080",
        "https://[::1]/condition",
        "https://example.n",  # one-letter TLD
        "https://example.no1",
        "https://example.no./",  # trailing dot
        "https://exa mple.no",
        "https://exa_mple.no",
        "https://blåbær.no",  # the host pattern is ASCII
        "https://example.no:99999",
        "https://example.no:abc",
        "https//example.no",
        "javascript:alert(1)",
    ],
)
def test_condition_endpoint_invalid(url: str) -> None:
    assert not is_valid_condition_endpoint(url)
    expected = {"ConditionEndpoint": [v.MSG_CONDITION_ENDPOINT]}
    assert validate_email_order(email_order(conditionEndpoint=url), NOW) == expected
    assert validate_sms_order(sms_order(conditionEndpoint=url), NOW) == expected
    assert validate_order(order(conditionEndpoint=url), NOW) == expected


def test_condition_endpoint_absent_is_valid() -> None:
    assert validate_order(order(conditionEndpoint=None), NOW) == {}


# --- resourceAction (docs/compatibility.md C4, C6) ---


@pytest.mark.parametrize(
    ("resource_id", "action"),
    [
        (None, None),
        (None, ""),
        ("urn:altinn:resource:ttd_example", None),
        ("urn:altinn:resource:ttd_example", ""),
        ("urn:altinn:resource:ttd_example", "read"),
        ("app_ttd_example", "write"),
        ("ttd_example", " sign "),
    ],
)
def test_resource_action_valid(resource_id: str | None, action: str | None) -> None:
    for request in (
        email_order(resourceId=resource_id, resourceAction=action),
        sms_order(resourceId=resource_id, resourceAction=action),
        order(resourceId=resource_id, resourceAction=action),
    ):
        assert _validate(request) == {}


@pytest.mark.parametrize(
    ("resource_id", "action", "message"),
    [
        (None, "read", v.MSG_RESOURCE_ACTION_WITHOUT_ID),
        ("", "read", v.MSG_RESOURCE_ACTION_WITHOUT_ID),
        ("   ", "read", v.MSG_RESOURCE_ACTION_WITHOUT_ID),
        (None, "   ", v.MSG_RESOURCE_ACTION_WITHOUT_ID),
        ("urn:altinn:resource:ttd_example", " ", v.MSG_RESOURCE_ACTION_BLANK),
        ("urn:altinn:resource:ttd_example", "\t\n ", v.MSG_RESOURCE_ACTION_BLANK),
    ],
)
def test_resource_action_invalid(resource_id: str | None, action: str, message: str) -> None:
    for request in (
        email_order(resourceId=resource_id, resourceAction=action),
        sms_order(resourceId=resource_id, resourceAction=action),
        order(resourceId=resource_id, resourceAction=action),
    ):
        assert _validate(request) == {"ResourceAction": [message]}


# --- email order (docs/compatibility.md C4) ---


@pytest.mark.parametrize("blank", [" ", "   ", "\t", "\r\n", "\u00a0"])
def test_email_order_blank_texts_are_rejected(blank: str) -> None:
    assert validate_email_order(email_order(body=blank), NOW) == {"Body": [v.MSG_EMAIL_BODY_EMPTY]}
    assert validate_email_order(email_order(subject=blank), NOW) == {"Subject": [v.MSG_EMAIL_SUBJECT_EMPTY]}
    assert validate_email_order(email_order(subject=blank, body=blank), NOW) == {
        "Body": [v.MSG_EMAIL_BODY_EMPTY],
        "Subject": [v.MSG_EMAIL_SUBJECT_EMPTY],
    }


def test_email_order_texts_with_surrounding_whitespace_are_valid() -> None:
    assert validate_email_order(email_order(subject=" Hi ", body="\n text \n"), NOW) == {}


def test_email_order_requires_recipients() -> None:
    assert validate_email_order(email_order(recipients=[]), NOW) == {"Recipients": [v.MSG_RECIPIENT_REQUIRED]}


@pytest.mark.parametrize(
    "recipient",
    [
        {"emailAddress": "recipient@domain.com"},
        {"emailAddress": "  padded@domain.com  "},
        {"emailAddress": "first.last+tag@sub.domain.no"},
        {"emailAddress": "ola@blåbær.no"},
        {"emailAddress": "user@192.168.0.1"},
        {"nationalIdentityNumber": "16069412345"},
        {"organizationNumber": "810419652"},
        # A mobile number is ignored on email orders: neither required nor format-checked.
        {"emailAddress": "recipient@domain.com", "mobileNumber": "+4799999999"},
        {"emailAddress": "recipient@domain.com", "mobileNumber": "not a number"},
        {"emailAddress": "recipient@domain.com", "mobileNumber": ""},
        {"emailAddress": "recipient@domain.com", "nationalIdentityNumber": "", "organizationNumber": ""},
    ],
)
def test_email_order_valid_recipients(recipient: dict[str, Any]) -> None:
    assert errors_of_email_recipient(recipient) == {}


@pytest.mark.parametrize(
    "recipient",
    [
        {},
        {"mobileNumber": "+4799999999"},
        {"emailAddress": "", "organizationNumber": "", "nationalIdentityNumber": ""},
        {"emailAddress": None},
    ],
)
def test_email_order_recipient_needs_email_org_or_nin(recipient: dict[str, Any]) -> None:
    assert errors_of_email_recipient(recipient) == {"Recipients[0]": [v.MSG_RECIPIENT_EMAIL_REQUIRED]}


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "recipient@",
        "@domain.com",
        "recipient@domain",
        "recipient@domain.c",
        "a@b.no;c@d.no",  # fix #1548: one address only
        "a;b@domain.no",
        "two@@domain.no",
        "two@at@domain.no",
        "with space@domain.no",
        ".leading@domain.no",
        "trailing.@domain.no",
        "recipient@domain.no.",
        "recipient@-domain.no",
        "recipient@domain-.no",
        "   ",
        "<recipient@domain.no>",
        "Name <recipient@domain.no>",
    ],
)
def test_invalid_email_address_is_rejected(email: str) -> None:
    expected = {"Recipients[0].EmailAddress": [v.MSG_EMAIL_INVALID]}
    assert errors_of_email_recipient({"emailAddress": email}) == expected
    for channel in ("Email", "EmailPreferred", "SmsPreferred", "EmailAndSms"):
        assert errors_of_order_recipient(channel, {"emailAddress": email}) == expected


@pytest.mark.parametrize(
    "nin", ["1606941234", "160694123456", "1606941234a", "16069 12345", "١٦٠٦٩٤١٢٣٤٥", " "]
)
def test_national_identity_number_must_be_11_digits(nin: str) -> None:
    expected = {"Recipients[0].NationalIdentityNumber": [v.MSG_NIN_LENGTH]}
    assert errors_of_email_recipient({"nationalIdentityNumber": nin}) == expected
    assert errors_of_sms_recipient({"nationalIdentityNumber": nin}) == expected
    for channel in ("Email", "Sms", "EmailPreferred", "SmsPreferred", "EmailAndSms"):
        assert errors_of_order_recipient(channel, {"nationalIdentityNumber": nin}) == expected


def test_national_identity_number_has_no_checksum() -> None:
    assert errors_of_email_recipient({"nationalIdentityNumber": "00000000000"}) == {}


@pytest.mark.parametrize("org", ["81041965", "8104196521", "81041965a", "810 419 652", " "])
def test_organization_number_must_be_9_digits(org: str) -> None:
    expected = {"Recipients[0].OrganizationNumber": [v.MSG_ORG_LENGTH]}
    assert errors_of_email_recipient({"organizationNumber": org}) == expected
    assert errors_of_sms_recipient({"organizationNumber": org}) == expected
    for channel in ("Email", "Sms", "EmailPreferred", "SmsPreferred", "EmailAndSms"):
        assert errors_of_order_recipient(channel, {"organizationNumber": org}) == expected


def test_organization_number_has_no_checksum() -> None:
    assert errors_of_sms_recipient({"organizationNumber": "123456789"}) == {}


@pytest.mark.parametrize(
    "other",
    [
        {"emailAddress": "recipient@domain.com"},
        {"mobileNumber": "+4799999999"},  # ignored on email orders, but still not combinable
    ],
)
def test_email_order_nin_cannot_be_combined(other: dict[str, Any]) -> None:
    recipient = {"nationalIdentityNumber": "16069412345", **other}
    assert errors_of_email_recipient(recipient) == {"Recipients[0]": [v.MSG_NIN_COMBINED]}


@pytest.mark.parametrize(
    "other",
    [
        {"emailAddress": "recipient@domain.com"},
        {"mobileNumber": "+4799999999"},
    ],
)
def test_email_order_org_cannot_be_combined(other: dict[str, Any]) -> None:
    recipient = {"organizationNumber": "810419652", **other}
    assert errors_of_email_recipient(recipient) == {"Recipients[0]": [v.MSG_ORG_COMBINED]}


def test_nin_and_org_together_get_both_messages() -> None:
    recipient = {"nationalIdentityNumber": "16069412345", "organizationNumber": "810419652"}
    expected = {"Recipients[0]": [v.MSG_NIN_COMBINED, v.MSG_ORG_COMBINED]}
    assert errors_of_email_recipient(recipient) == expected
    assert errors_of_sms_recipient(recipient) == expected
    for channel in ("Email", "Sms", "EmailPreferred", "SmsPreferred", "EmailAndSms"):
        assert errors_of_order_recipient(channel, recipient) == expected


def test_invalid_fields_and_combination_are_all_reported_in_rule_order() -> None:
    recipient = {
        "emailAddress": "bad",
        "mobileNumber": "123",
        "nationalIdentityNumber": "123",
        "organizationNumber": "456",
    }
    errors = errors_of_order_recipient("EmailPreferred", recipient)
    assert errors == {
        "Recipients[0].EmailAddress": [v.MSG_EMAIL_INVALID],
        "Recipients[0].MobileNumber": [v.MSG_MOBILE_INVALID],
        "Recipients[0].NationalIdentityNumber": [v.MSG_NIN_LENGTH],
        "Recipients[0].OrganizationNumber": [v.MSG_ORG_LENGTH],
        "Recipients[0]": [v.MSG_NIN_COMBINED, v.MSG_ORG_COMBINED],
    }
    assert list(errors) == [
        "Recipients[0].EmailAddress",
        "Recipients[0].MobileNumber",
        "Recipients[0].NationalIdentityNumber",
        "Recipients[0].OrganizationNumber",
        "Recipients[0]",
    ]


def test_errors_are_keyed_by_recipient_index() -> None:
    request = email_order(
        recipients=[
            {"emailAddress": "ok@domain.no"},
            {"emailAddress": "bad"},
            {"nationalIdentityNumber": "16069412345"},
            {},
            {"organizationNumber": "1"},
        ]
    )
    assert validate_email_order(request, NOW) == {
        "Recipients[1].EmailAddress": [v.MSG_EMAIL_INVALID],
        "Recipients[3]": [v.MSG_RECIPIENT_EMAIL_REQUIRED],
        "Recipients[4].OrganizationNumber": [v.MSG_ORG_LENGTH],
    }


# --- SMS order (docs/compatibility.md C4) ---


@pytest.mark.parametrize("blank", [" ", "\t\n"])
def test_sms_order_blank_body_is_rejected(blank: str) -> None:
    assert validate_sms_order(sms_order(body=blank), NOW) == {"Body": [v.MSG_SMS_BODY_EMPTY]}


def test_sms_order_requires_recipients() -> None:
    assert validate_sms_order(sms_order(recipients=[]), NOW) == {"Recipients": [v.MSG_RECIPIENT_REQUIRED]}


@pytest.mark.parametrize(
    "recipient",
    [
        {"mobileNumber": "+4799999999"},
        {"mobileNumber": "004799999999"},
        {"mobileNumber": "+4741234567"},
        {
            "mobileNumber": "+4721234567"
        },  # a landline: libphonenumber validity, not "mobile" (docs/compatibility.md C5)
        {"mobileNumber": "+46701234567"},
        {"mobileNumber": "+14155552671"},
        {"nationalIdentityNumber": "16069412345"},
        {"organizationNumber": "810419652"},
        # An email address is ignored on SMS orders: neither required nor format-checked.
        {"mobileNumber": "+4799999999", "emailAddress": "not an email"},
    ],
)
def test_sms_order_valid_recipients(recipient: dict[str, Any]) -> None:
    assert errors_of_sms_recipient(recipient) == {}


@pytest.mark.parametrize("recipient", [{}, {"emailAddress": "recipient@domain.com"}, {"mobileNumber": ""}])
def test_sms_order_recipient_needs_mobile_org_or_nin(recipient: dict[str, Any]) -> None:
    assert errors_of_sms_recipient(recipient) == {"Recipients[0]": [v.MSG_RECIPIENT_SMS_REQUIRED]}


@pytest.mark.parametrize(
    "mobile",
    [
        "99999999",  # no country code
        "4799999999",
        "++4799999999",
        "+47invalidChar",  # the reference's own test case
        "+47999",
        "+479999999999",
        "+",
        "00",
        "+4742000000",  # not an allocated Norwegian range in libphonenumber's metadata
        "phone",
        "   ",
    ],
)
def test_invalid_mobile_number_is_rejected(mobile: str) -> None:
    expected = {"Recipients[0].MobileNumber": [v.MSG_MOBILE_INVALID]}
    assert errors_of_sms_recipient({"mobileNumber": mobile}) == expected
    for channel in ("Sms", "EmailPreferred", "SmsPreferred", "EmailAndSms"):
        assert errors_of_order_recipient(channel, {"mobileNumber": mobile}) == expected


@pytest.mark.parametrize(
    "other",
    [
        {"mobileNumber": "+4799999999"},
        {"emailAddress": "recipient@domain.com"},  # ignored on SMS orders, but still not combinable
    ],
)
def test_sms_order_identity_numbers_cannot_be_combined(other: dict[str, Any]) -> None:
    assert errors_of_sms_recipient({"nationalIdentityNumber": "16069412345", **other}) == {
        "Recipients[0]": [v.MSG_NIN_COMBINED]
    }
    assert errors_of_sms_recipient({"organizationNumber": "810419652", **other}) == {
        "Recipients[0]": [v.MSG_ORG_COMBINED]
    }


# --- generic order (docs/compatibility.md C4; EmailAndSms per docs/compatibility.md C4) ---


def test_channel_is_required() -> None:
    assert validate_order(order(None), NOW) == {"NotificationChannel": [v.MSG_CHANNEL_REQUIRED]}


def test_missing_channel_still_validates_templates_and_recipients() -> None:
    request = order(
        None,
        emailTemplate={"subject": " ", "body": "b"},
        smsTemplate=None,
        recipients=[{"mobileNumber": "bad"}],
    )
    assert validate_order(request, NOW) == {
        "NotificationChannel": [v.MSG_CHANNEL_REQUIRED],
        "EmailTemplate.Subject": [v.MSG_EMAIL_SUBJECT_EMPTY],
        "Recipients[0].MobileNumber": [v.MSG_MOBILE_INVALID],
    }


@pytest.mark.parametrize(
    ("channel", "needs_email", "needs_sms"),
    [
        ("Email", True, False),
        ("Sms", False, True),
        ("EmailPreferred", True, True),
        ("SmsPreferred", True, True),
        ("EmailAndSms", True, True),
    ],
)
def test_templates_required_per_channel(channel: str, needs_email: bool, needs_sms: bool) -> None:
    recipient = {"organizationNumber": "810419652"}
    both_missing = validate_order(
        order(channel, emailTemplate=None, smsTemplate=None, recipients=[recipient]), NOW
    )
    expected: dict[str, list[str]] = {}
    if needs_email:
        expected["EmailTemplate"] = [v.MSG_EMAIL_TEMPLATE_REQUIRED]
    if needs_sms:
        expected["SmsTemplate"] = [v.MSG_SMS_TEMPLATE_REQUIRED]
    assert both_missing == expected

    only_needed = order(
        channel,
        emailTemplate=EMAIL_TEMPLATE if needs_email else None,
        smsTemplate=SMS_TEMPLATE if needs_sms else None,
        recipients=[recipient],
    )
    assert validate_order(only_needed, NOW) == {}


def test_channel_is_parsed_leniently_and_validated() -> None:
    request = order("emailandsms", smsTemplate=None, recipients=[{"emailAddress": "a@b.no"}])
    assert validate_order(request, NOW) == {"SmsTemplate": [v.MSG_SMS_TEMPLATE_REQUIRED]}
    request = order(1, smsTemplate=None, recipients=[{"mobileNumber": "+4799999999"}])  # 1 = Sms
    assert validate_order(request, NOW) == {"SmsTemplate": [v.MSG_SMS_TEMPLATE_REQUIRED]}


@pytest.mark.parametrize("channel", ["Email", "Sms", "EmailPreferred", "SmsPreferred", "EmailAndSms"])
@pytest.mark.parametrize("blank", [None, "", " ", "\n\t"])
def test_present_templates_are_validated_on_every_channel(channel: str, blank: str | None) -> None:
    request = order(
        channel,
        emailTemplate={"subject": blank, "body": blank},
        smsTemplate={"body": blank},
        recipients=[{"organizationNumber": "810419652"}],
    )
    assert validate_order(request, NOW) == {
        "EmailTemplate.Body": [v.MSG_EMAIL_BODY_EMPTY],
        "EmailTemplate.Subject": [v.MSG_EMAIL_SUBJECT_EMPTY],
        "SmsTemplate.Body": [v.MSG_SMS_BODY_EMPTY],
    }


def test_email_template_subject_and_body_separately() -> None:
    assert validate_order(order(emailTemplate={"subject": "s", "body": " "}), NOW) == {
        "EmailTemplate.Body": [v.MSG_EMAIL_BODY_EMPTY]
    }
    assert validate_order(order(emailTemplate={"subject": " ", "body": "b"}), NOW) == {
        "EmailTemplate.Subject": [v.MSG_EMAIL_SUBJECT_EMPTY]
    }


@pytest.mark.parametrize(
    "from_address", [None, "", "noreply@altinn.no", "noreply@altinn.cloud", " noreply@ttd.no "]
)
def test_from_address_valid_or_default(from_address: str | None) -> None:
    template = {**EMAIL_TEMPLATE, "fromAddress": from_address}
    assert validate_order(order(emailTemplate=template), NOW) == {}


@pytest.mark.parametrize(
    "from_address", ["noreply", "noreply@", "a@b.no;c@d.no", "   ", "no reply@altinn.no"]
)
def test_from_address_invalid(from_address: str) -> None:
    template = {**EMAIL_TEMPLATE, "fromAddress": from_address}
    assert validate_order(order(emailTemplate=template), NOW) == {
        "EmailTemplate.FromAddress": [v.MSG_SENDER_EMAIL_INVALID]
    }


def test_sender_number_is_not_validated() -> None:
    request = order("Sms", smsTemplate={"senderNumber": "Any Sender Name At All", "body": "b"})
    assert validate_order(request, NOW) == {}


@pytest.mark.parametrize(
    ("channel", "recipient", "expected"),
    [
        # Email: the email rule set (mobile ignored and not format-checked)
        ("Email", {"emailAddress": "a@b.no"}, {}),
        ("Email", {"mobileNumber": "+4799999999"}, {"Recipients[0]": [v.MSG_RECIPIENT_EMAIL_REQUIRED]}),
        ("Email", {"emailAddress": "a@b.no", "mobileNumber": "bad"}, {}),
        # Sms: the SMS rule set (email ignored and not format-checked)
        ("Sms", {"mobileNumber": "+4799999999"}, {}),
        ("Sms", {"emailAddress": "a@b.no"}, {"Recipients[0]": [v.MSG_RECIPIENT_SMS_REQUIRED]}),
        ("Sms", {"mobileNumber": "+4799999999", "emailAddress": "bad"}, {}),
        # Preferred channels and EmailAndSms: any identifier, every present field validated
        ("EmailPreferred", {"emailAddress": "a@b.no"}, {}),
        ("EmailPreferred", {"mobileNumber": "+4799999999"}, {}),
        ("SmsPreferred", {"emailAddress": "a@b.no", "mobileNumber": "+4799999999"}, {}),
        ("EmailAndSms", {"emailAddress": "a@b.no", "mobileNumber": "+4799999999"}, {}),
        ("EmailAndSms", {"nationalIdentityNumber": "16069412345"}, {}),
        ("EmailAndSms", {"organizationNumber": "810419652"}, {}),
        ("EmailPreferred", {}, {"Recipients[0]": [v.MSG_RECIPIENT_ANY_REQUIRED]}),
        ("SmsPreferred", {}, {"Recipients[0]": [v.MSG_RECIPIENT_ANY_REQUIRED]}),
        ("EmailAndSms", {}, {"Recipients[0]": [v.MSG_RECIPIENT_ANY_REQUIRED]}),
        (
            "EmailAndSms",
            {"emailAddress": "a@b.no", "mobileNumber": "bad"},
            {"Recipients[0].MobileNumber": [v.MSG_MOBILE_INVALID]},
        ),
        (
            "SmsPreferred",
            {"emailAddress": "bad", "mobileNumber": "+4799999999"},
            {"Recipients[0].EmailAddress": [v.MSG_EMAIL_INVALID]},
        ),
        (
            "EmailPreferred",
            {"nationalIdentityNumber": "16069412345", "mobileNumber": "+4799999999"},
            {"Recipients[0]": [v.MSG_NIN_COMBINED]},
        ),
        (
            "SmsPreferred",
            {"organizationNumber": "123456789", "emailAddress": "test@test.com"},
            {"Recipients[0]": [v.MSG_ORG_COMBINED]},
        ),
    ],
)
def test_recipient_rules_per_channel(
    channel: str, recipient: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    assert errors_of_order_recipient(channel, recipient) == expected


@pytest.mark.parametrize("channel", [None, "Email", "Sms", "EmailPreferred", "SmsPreferred", "EmailAndSms"])
def test_generic_order_requires_recipients(channel: str | None) -> None:
    errors = validate_order(order(channel, recipients=[]), NOW)
    assert errors["Recipients"] == [v.MSG_RECIPIENT_REQUIRED]


def test_everything_wrong_at_once_keeps_rule_order() -> None:
    request = NotificationOrderRequestExt.model_validate(
        {
            "requestedSendTime": "2020-01-01T00:00:00",
            "conditionEndpoint": "http://localhost/x",
            "resourceAction": "read",
            "emailTemplate": None,
            "smsTemplate": {"body": " "},
            "recipients": [
                {"emailAddress": "x"},
                {"nationalIdentityNumber": "16069412345", "emailAddress": "a@b.no"},
            ],
        }
    )
    errors = validate_order(request, NOW)
    assert errors == {
        "RequestedSendTime": [v.MSG_SEND_TIME_ZONE, v.MSG_SEND_TIME_PAST],
        "ConditionEndpoint": [v.MSG_CONDITION_ENDPOINT],
        "ResourceAction": [v.MSG_RESOURCE_ACTION_WITHOUT_ID],
        "NotificationChannel": [v.MSG_CHANNEL_REQUIRED],
        "SmsTemplate.Body": [v.MSG_SMS_BODY_EMPTY],
        "Recipients[0].EmailAddress": [v.MSG_EMAIL_INVALID],
        "Recipients[1]": [v.MSG_NIN_COMBINED],
    }
    assert list(errors) == [
        "RequestedSendTime",
        "ConditionEndpoint",
        "ResourceAction",
        "NotificationChannel",
        "SmsTemplate.Body",
        "Recipients[0].EmailAddress",
        "Recipients[1]",
    ]


def test_email_order_everything_wrong_at_once_keeps_rule_order() -> None:
    request = email_order(
        requestedSendTime="2020-01-01T00:00:00Z",
        resourceId="r",
        resourceAction=" ",
        subject=" ",
        body=" ",
        recipients=[{"mobileNumber": "+4799999999"}],
    )
    assert list(validate_email_order(request, NOW).items()) == [
        ("RequestedSendTime", [v.MSG_SEND_TIME_PAST]),
        ("ResourceAction", [v.MSG_RESOURCE_ACTION_BLANK]),
        ("Body", [v.MSG_EMAIL_BODY_EMPTY]),
        ("Subject", [v.MSG_EMAIL_SUBJECT_EMPTY]),
        ("Recipients[0]", [v.MSG_RECIPIENT_EMAIL_REQUIRED]),
    ]


def test_validation_does_not_mutate_the_request() -> None:
    request = order(
        "EmailAndSms", recipients=[{"emailAddress": "  a@b.no  ", "mobileNumber": "004799999999"}]
    )
    before = request.model_dump()
    assert validate_order(request, NOW) == {}
    assert request.model_dump() == before


def test_no_regex_is_compiled_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hot-path hygiene: our patterns are compiled once, at import.

    (phonenumbers calls ``re.compile`` per call and relies on the ``re`` module's cache; only callers
    in this package are checked.)
    """
    request = order(
        "EmailPreferred",
        conditionEndpoint="https://example.no/c",
        emailTemplate={**EMAIL_TEMPLATE, "fromAddress": "noreply@altinn.no"},
        recipients=[{"emailAddress": "a@b.no"}, {"mobileNumber": "+4799999999"}],
    )
    validate_order(request, NOW)  # warm any lazy caches of libraries

    real_compile = re.compile

    def checked(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.startswith("altinn_notifications"):
            raise AssertionError(f"re.compile called during validation by {caller}")
        return real_compile(*args, **kwargs)

    monkeypatch.setattr(re, "compile", checked)
    assert validate_order(request, NOW) == {}
    assert validate_email_order(email_order(conditionEndpoint="https://example.no/c"), NOW) == {}
    assert validate_sms_order(sms_order(), NOW) == {}


# --- helpers ---


def _validate(request: Any) -> dict[str, list[str]]:
    if isinstance(request, EmailNotificationOrderRequestExt):
        return validate_email_order(request, NOW)
    if isinstance(request, SmsNotificationOrderRequestExt):
        return validate_sms_order(request, NOW)
    return validate_order(request, NOW)
