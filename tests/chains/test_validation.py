"""Every v2 validation message of docs/compatibility.md C6, C7, C8, with its FluentValidation key, over HTTP."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from altinn_notifications.chains.models import NotificationOrderChainRequestExt
from altinn_notifications.chains.validation import condition_endpoint_errors, validate_order_chain
from altinn_notifications.config import SCOPE_COMPOSED_EMAIL
from tests.api.helpers import V1

Body = dict[str, Any]
Mutation = Callable[[Body], None]

SETTINGS_EMAIL: Body = {"subject": "Hello", "body": "Hi"}
SETTINGS_SMS: Body = {"body": "Hi"}


def _future(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def _naive_future() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()


def _chain() -> Body:
    return {
        "idempotencyId": "v-1",
        "recipient": {
            "recipientEmail": {"emailAddress": "a@example.no", "emailSettings": dict(SETTINGS_EMAIL)}
        },
        "reminders": [
            {
                "delayDays": 1,
                "recipient": {
                    "recipientEmail": {"emailAddress": "b@example.no", "emailSettings": dict(SETTINGS_EMAIL)}
                },
            }
        ],
    }


def _recipient(kind: str, value: Body) -> Mutation:
    def apply(body: Body) -> None:
        body["recipient"] = {kind: value}

    return apply


def _set(path: str, value: Any) -> Mutation:
    """Set a dotted path (list indexes as numbers) in the body."""

    def apply(body: Body) -> None:
        target: Any = body
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        target[int(last) if last.isdigit() else last] = value

    return apply


def _person(**fields: Any) -> Body:
    return {
        "nationalIdentityNumber": "16069412345",
        "channelSchema": "Email",
        "emailSettings": SETTINGS_EMAIL,
        **fields,
    }


def _org(**fields: Any) -> Body:
    return {"orgNumber": "810419652", "channelSchema": "Email", "emailSettings": SETTINGS_EMAIL, **fields}


EMAIL = "recipient.recipientEmail"
SMS: Body = {"phoneNumber": "+4799999999", "smsSettings": SETTINGS_SMS}

CHAIN_CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "idempotency blank",
        _set("idempotencyId", "  "),
        "IdempotencyId",
        "IdempotencyId cannot be null or empty.",
    ),
    (
        "idempotency empty (binding)",
        _set("idempotencyId", ""),
        "IdempotencyId",
        "The IdempotencyId field is required.",
    ),
    (
        "send time in the past",
        _set("requestedSendTime", "2020-01-01T00:00:00Z"),
        "RequestedSendTime",
        "RequestedSendTime must be greater than or equal to now.",
    ),
    (
        "send time without zone",
        _set("requestedSendTime", _naive_future()),
        "RequestedSendTime",
        "The requested send time value must have specified a time zone.",
    ),
    (
        "condition endpoint relative",
        _set("conditionEndpoint", "not a uri"),
        "ConditionEndpoint",
        "ConditionEndpoint must be a valid absolute URI or null.",
    ),
    (
        "condition endpoint scheme",
        _set("conditionEndpoint", "ftp://example.com/x"),
        "ConditionEndpoint",
        "ConditionEndpoint must use http or https scheme.",
    ),
    ("no recipient kind", _set("recipient", {}), "Recipient", "Must have exactly one recipient."),
    (
        "two recipient kinds",
        _set("recipient.recipientSms", SMS),
        "Recipient",
        "Must have exactly one recipient.",
    ),
    (
        "recipient email address",
        _set(f"{EMAIL}.emailAddress", "a@b.no;c@d.no"),
        "Recipient.RecipientEmail.EmailAddress",
        "Invalid email address format.",
    ),
    (
        "email sending time policy",
        _set(f"{EMAIL}.emailSettings.sendingTimePolicy", "Daytime"),
        "Recipient.RecipientEmail.Settings.SendingTimePolicy",
        "Email only supports send time anytime",
    ),
    (
        "email subject blank",
        _set(f"{EMAIL}.emailSettings.subject", " \t"),
        "Recipient.RecipientEmail.Settings.Subject",
        "The email subject must not be empty.",
    ),
    (
        "email body blank",
        _set(f"{EMAIL}.emailSettings.body", "  "),
        "Recipient.RecipientEmail.Settings.Body",
        "The email body must not be empty.",
    ),
    (
        "sender email address",
        _set(f"{EMAIL}.emailSettings.senderEmailAddress", "not-an-address"),
        "Recipient.RecipientEmail.Settings.SenderEmailAddress",
        "The sender email address is not valid.",
    ),
    (
        "phone number invalid",
        _recipient("recipientSms", {**SMS, "phoneNumber": "12345678"}),
        "Recipient.RecipientSms.PhoneNumber",
        "Recipient phone number is not a valid mobile number.",
    ),
    (
        "phone number blank",
        _recipient("recipientSms", {**SMS, "phoneNumber": "  "}),
        "Recipient.RecipientSms.PhoneNumber",
        "Recipient phone number cannot be null or empty.",
    ),
    (
        "sms body blank",
        _recipient("recipientSms", {**SMS, "smsSettings": {"body": "   "}}),
        "Recipient.RecipientSms.Settings.Body",
        "SMS body cannot be null or empty.",
    ),
    (
        "sms sending time policy",
        _recipient("recipientSms", {**SMS, "smsSettings": {"body": "x", "sendingTimePolicy": 0}}),
        "Recipient.RecipientSms.Settings.SendingTimePolicy",
        "SMS only supports send time daytime and anytime",
    ),
    (
        "nin length",
        _recipient("recipientPerson", _person(nationalIdentityNumber="1606941234")),
        "Recipient.RecipientPerson.NationalIdentityNumber",
        "National identity number must be 11 digits long.",
    ),
    (
        "nin not digits",
        _recipient("recipientPerson", _person(nationalIdentityNumber="1606941234x")),
        "Recipient.RecipientPerson.NationalIdentityNumber",
        "National identity number must be 11 digits long.",
    ),
    (
        "email settings for Email",
        _recipient("recipientPerson", _person(emailSettings=None)),
        "Recipient.RecipientPerson.EmailSettings",
        "EmailSettings must be set when ChannelSchema is Email",
    ),
    (
        "sms settings for Sms",
        _recipient("recipientPerson", _person(channelSchema="Sms")),
        "Recipient.RecipientPerson.SmsSettings",
        "SmsSettings must be set when ChannelSchema is Sms",
    ),
    (
        "sms settings for EmailPreferred (the default)",
        _recipient(
            "recipientPerson", {"nationalIdentityNumber": "16069412345", "emailSettings": SETTINGS_EMAIL}
        ),
        "Recipient.RecipientPerson.SmsSettings",
        "SmsSettings must be set when ChannelSchema is SmsPreferred or EmailPreferred",
    ),
    (
        "email settings for SmsPreferred",
        _recipient(
            "recipientPerson",
            _person(channelSchema="SmsPreferred", emailSettings=None, smsSettings=SETTINGS_SMS),
        ),
        "Recipient.RecipientPerson.EmailSettings",
        "EmailSettings must be set when ChannelSchema is SmsPreferred or EmailPreferred",
    ),
    (
        "email settings for EmailAndSms",
        _recipient(
            "recipientOrganization",
            _org(channelSchema="EmailAndSms", emailSettings=None, smsSettings=SETTINGS_SMS),
        ),
        "Recipient.RecipientOrganization.EmailSettings",
        "EmailSettings must be set when ChannelSchema is EmailAndSms",
    ),
    (
        "sms settings for EmailAndSms",
        _recipient("recipientOrganization", _org(channelSchema="EmailAndSms")),
        "Recipient.RecipientOrganization.SmsSettings",
        "SmsSettings must be set when ChannelSchema is EmailAndSms",
    ),
    (
        "person settings validated",
        _recipient("recipientPerson", _person(emailSettings={"subject": " ", "body": "x"})),
        "Recipient.RecipientPerson.EmailSettings.Subject",
        "The email subject must not be empty.",
    ),
    (
        "resource id syntax",
        _recipient("recipientPerson", _person(resourceId="ttd_example")),
        "Recipient.RecipientPerson.ResourceId",
        "ResourceId must have a valid syntax.",
    ),
    (
        "resource id prefix only",
        _recipient("recipientOrganization", _org(resourceId="urn:altinn:resource:")),
        "Recipient.RecipientOrganization.ResourceId",
        "ResourceId must have a valid syntax.",
    ),
    (
        "resource action without id",
        _recipient("recipientPerson", _person(resourceAction="read")),
        "Recipient.RecipientPerson.ResourceAction",
        "ResourceAction cannot be specified without a ResourceId.",
    ),
    (
        "resource action blank",
        _recipient(
            "recipientExternalIdentity",
            {
                "externalIdentity": "urn:altinn:party:username:ola",
                "emailSettings": SETTINGS_EMAIL,
                "resourceId": "urn:altinn:resource:x",
                "resourceAction": "  ",
            },
        ),
        "Recipient.RecipientExternalIdentity.ResourceAction",
        "ResourceAction cannot be blank or whitespace.",
    ),
    (
        "org number length",
        _recipient("recipientOrganization", _org(orgNumber="81041965")),
        "Recipient.RecipientOrganization.OrgNumber",
        "Organization number must be 9 digits long.",
    ),
    (
        "org number blank",
        _recipient("recipientOrganization", _org(orgNumber="   ")),
        "Recipient.RecipientOrganization.OrgNumber",
        "OrgNumber cannot be null or empty.",
    ),
    (
        "org channel schema required (binding)",
        _recipient("recipientOrganization", {"orgNumber": "810419652", "emailSettings": SETTINGS_EMAIL}),
        "Recipient.RecipientOrganization.ChannelSchema",
        "The ChannelSchema field is required.",
    ),
    (
        "external identity: idporten email must be an email",
        _recipient(
            "recipientExternalIdentity",
            {
                "externalIdentity": "urn:altinn:person:idporten-email:not-an-email",
                "emailSettings": SETTINGS_EMAIL,
            },
        ),
        "Recipient.RecipientExternalIdentity.ExternalIdentity",
        "Invalid external identity URN format.",
    ),
    (
        "external identity: unknown urn",
        _recipient(
            "recipientExternalIdentity",
            {"externalIdentity": "urn:altinn:person:identifier-no:1", "emailSettings": SETTINGS_EMAIL},
        ),
        "Recipient.RecipientExternalIdentity.ExternalIdentity",
        "Invalid external identity URN format.",
    ),
    (
        "external identity: blank username",
        _recipient(
            "recipientExternalIdentity",
            {"externalIdentity": "urn:altinn:party:username: ", "emailSettings": SETTINGS_EMAIL},
        ),
        "Recipient.RecipientExternalIdentity.ExternalIdentity",
        "Invalid external identity URN format.",
    ),
    (
        "external identity blank",
        _recipient("recipientExternalIdentity", {"externalIdentity": "  ", "emailSettings": SETTINGS_EMAIL}),
        "Recipient.RecipientExternalIdentity.ExternalIdentity",
        "ExternalIdentity cannot be null or empty.",
    ),
    (
        "reminder with both times",
        _set("reminders.0.requestedSendTime", _future(days=2)),
        "Reminders[0]",
        "Either DelayDays or RequestedSendTime must be defined, but not both.",
    ),
    (
        "reminder with both times (per property)",
        _set("reminders.0.requestedSendTime", _future(days=2)),
        "Reminders[0].RequestedSendTime",
        "RequestedSendTime must be null when DelayDays is set.",
    ),
    (
        "reminder with neither time",
        _set("reminders.0.delayDays", None),
        "Reminders[0]",
        "Either DelayDays or RequestedSendTime must be defined, but not both.",
    ),
    (
        "delay days below 1",
        _set("reminders.0.delayDays", 0),
        "Reminders[0].DelayDays",
        "DelayDays must be greater than or equal to 1 day.",
    ),
    (
        "reminder send time in the past",
        lambda b: b["reminders"][0].update(delayDays=None, requestedSendTime="2020-01-01T00:00:00+01:00"),
        "Reminders[0].RequestedSendTime",
        "RequestedSendTime must be greater than or equal to the current UTC time.",
    ),
    (
        "reminder send time without zone",
        lambda b: b["reminders"][0].update(delayDays=None, requestedSendTime=_naive_future()),
        "Reminders[0].RequestedSendTime",
        "The RequestedSendTime must have specified a time zone.",
    ),
    (
        "reminder condition endpoint",
        _set("reminders.0.conditionEndpoint", "mailto:someone@example.no"),
        "Reminders[0].ConditionEndpoint",
        "ConditionEndpoint must use http or https scheme.",
    ),
    (
        "reminder recipient",
        _set("reminders.0.recipient", {"recipientSms": {**SMS, "phoneNumber": "+47"}}),
        "Reminders[0].Recipient.RecipientSms.PhoneNumber",
        "Recipient phone number is not a valid mobile number.",
    ),
    (
        "reminder recipient kinds",
        _set("reminders.0.recipient", {}),
        "Reminders[0].Recipient",
        "Must have exactly one recipient.",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key", "message"), [c[1:] for c in CHAIN_CASES], ids=[c[0] for c in CHAIN_CASES]
)
async def test_future_order_validation(
    validation_client: httpx.AsyncClient, auth: dict[str, str], mutate: Mutation, key: str, message: str
) -> None:
    body = copy.deepcopy(_chain())
    mutate(body)
    response = await validation_client.post(f"{V1}/future/orders", json=body, headers=auth)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["title"] == "One or more validation errors occurred."
    assert message in problem["errors"].get(key, []), problem["errors"]


async def test_errors_are_collected_together(
    validation_client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = _chain()
    body["requestedSendTime"] = "2020-01-01T00:00:00Z"
    body["recipient"]["recipientEmail"]["emailAddress"] = "nope"
    body["reminders"][0]["delayDays"] = 0
    response = await validation_client.post(f"{V1}/future/orders", json=body, headers=auth)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "RequestedSendTime": ["RequestedSendTime must be greater than or equal to now."],
        "Recipient.RecipientEmail.EmailAddress": ["Invalid email address format."],
        "Reminders[0].DelayDays": ["DelayDays must be greater than or equal to 1 day."],
    }


@pytest.mark.parametrize(
    "identity",
    [
        "urn:altinn:person:idporten-email:ola@example.no",
        "urn:altinn:party:username:ola",
        "urn:altinn:username:ola",
        "urn:altinn:person:legacy-selfidentified:ola",
    ],
)
def test_accepted_external_identity_formats(identity: str) -> None:
    request = NotificationOrderChainRequestExt.model_validate(
        {
            "idempotencyId": "x",
            "recipient": {
                "recipientExternalIdentity": {"externalIdentity": identity, "emailSettings": SETTINGS_EMAIL}
            },
        }
    )
    assert validate_order_chain(request, datetime.now(UTC)) == {}


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        ("https://example.no/cb?x=1", []),
        ("http://localhost:8080/cb", []),
        ("relative/path", ["ConditionEndpoint must be a valid absolute URI or null."]),
        ("http://", ["ConditionEndpoint must be a valid absolute URI or null."]),
        ("https://example.no/a b", ["ConditionEndpoint must be a valid absolute URI or null."]),
        ("urn:isbn:0-321-76572-0", ["ConditionEndpoint must use http or https scheme."]),
    ],
)
def test_condition_endpoint_rule(value: str, messages: list[str]) -> None:
    assert condition_endpoint_errors(value) == messages


# --- composed email (docs/compatibility.md C7) ---


def _sas(**params: str) -> str:
    query = {
        "se": _future(days=1).replace("+00:00", "Z"),
        "sp": "r",
        "sr": "b",
        "sig": "c2lnbmF0dXJl",
        **params,
    }
    joined = "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
    return f"https://account.blob.core.windows.net/container/decision.pdf?{joined}"


def _composed() -> Body:
    return {
        "idempotencyId": "c-1",
        "recipient": {
            "emailAddress": "recipient@example.com",
            "emailSettings": {
                "subject": "Decision",
                "body": "See attached.",
                "attachments": [
                    {"filename": "decision.pdf", "mimeType": "application/pdf", "sasUrl": _sas()}
                ],
            },
        },
    }


ATTACHMENT = "recipient.emailSettings.attachments.0"
KEY = "Recipient.Settings.Attachments[0]"

COMPOSED_CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "idempotency blank",
        _set("idempotencyId", " "),
        "IdempotencyId",
        "IdempotencyId cannot be null or empty.",
    ),
    (
        "email address",
        _set("recipient.emailAddress", "nope"),
        "Recipient.EmailAddress",
        "Invalid email address format.",
    ),
    (
        "subject",
        _set("recipient.emailSettings.subject", " "),
        "Recipient.Settings.Subject",
        "The email subject must not be empty.",
    ),
    (
        "sending time policy",
        _set("recipient.emailSettings.sendingTimePolicy", 2),
        "Recipient.Settings.SendingTimePolicy",
        "Email only supports send time anytime",
    ),
    (
        "send time in the past",
        _set("requestedSendTime", "2020-01-01T00:00:00Z"),
        "RequestedSendTime",
        "RequestedSendTime must be greater than or equal to now.",
    ),
    (
        "filename blank",
        _set(f"{ATTACHMENT}.filename", " "),
        f"{KEY}.Filename",
        "Attachment filename must not be empty.",
    ),
    (
        "filename with a path",
        _set(f"{ATTACHMENT}.filename", "../etc/decision.pdf"),
        f"{KEY}.Filename",
        "Attachment '../etc/decision.pdf': filename must not contain path separators, and must include a file extension.",
    ),
    (
        "filename without extension",
        _set(f"{ATTACHMENT}.filename", "decision."),
        f"{KEY}.Filename",
        "Attachment 'decision.': filename must not contain path separators, and must include a file extension.",
    ),
    (
        "sas url not https",
        _set(f"{ATTACHMENT}.sasUrl", _sas().replace("https://", "http://")),
        f"{KEY}.SasUrl",
        "Attachment 'decision.pdf': sasUrl must be an absolute HTTPS URI.",
    ),
    (
        "sas url relative",
        _set(f"{ATTACHMENT}.sasUrl", "container/decision.pdf"),
        f"{KEY}.SasUrl",
        "Attachment 'decision.pdf': sasUrl must be an absolute HTTPS URI.",
    ),
    (
        "sas url host",
        _set(f"{ATTACHMENT}.sasUrl", _sas().replace("account.blob.core.windows.net", "files.example.com")),
        f"{KEY}.SasUrl",
        "Attachment 'decision.pdf': sasUrl host must be within Azure Blob Storage (*.blob.core.windows.net).",
    ),
    (
        "sas url without sig",
        _set(f"{ATTACHMENT}.sasUrl", _sas(sig="")),
        f"{KEY}.SasUrl",
        "Attachment 'decision.pdf': sasUrl is missing required SAS parameters (se, sig, sp, sr).",
    ),
    (
        "sas url for a container",
        _set(f"{ATTACHMENT}.sasUrl", _sas(sr="c")),
        f"{KEY}.SasUrl",
        "Attachment 'decision.pdf': sasUrl is missing required SAS parameters (se, sig, sp, sr).",
    ),
    (
        "sas url expiry unreadable",
        _set(f"{ATTACHMENT}.sasUrl", _sas(se="tomorrow")),
        f"{KEY}.SasUrl",
        "Attachment 'decision.pdf': sasUrl has an invalid 'se' (signed expiry) value.",
    ),
    (
        "sas url without read permission",
        _set(f"{ATTACHMENT}.sasUrl", _sas(sp="wl")),
        f"{KEY}.SasUrl",
        "Attachment 'decision.pdf': sasUrl does not grant read permission ('r' must be present in 'sp').",
    ),
    (
        "sas url expires too soon",
        _set(f"{ATTACHMENT}.sasUrl", _sas(se=_future(minutes=10).replace("+00:00", "Z"))),
        KEY,
        "Attachment 'decision.pdf': sasUrl must be valid for at least 15 minutes after requestedSendTime.",
    ),
    (
        "sas url expires before the send time",
        _set("requestedSendTime", _future(days=2)),
        KEY,
        "Attachment 'decision.pdf': sasUrl must be valid for at least 15 minutes after requestedSendTime.",
    ),
    (
        "mime type blank",
        _set(f"{ATTACHMENT}.mimeType", "  "),
        f"{KEY}.MimeType",
        "Attachment 'decision.pdf': mimeType must not be empty.",
    ),
    (
        "mime type unsupported",
        _set(f"{ATTACHMENT}.mimeType", "application/x-msdownload"),
        f"{KEY}.MimeType",
        "Attachment 'decision.pdf': mimeType is not supported. Refer to ACS documentation for the list of accepted MIME types.",
    ),
    (
        "filename empty (binding)",
        _set(f"{ATTACHMENT}.filename", ""),
        "Recipient.EmailSettings.Attachments[0].Filename",
        "The Filename field is required.",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "key", "message"), [c[1:] for c in COMPOSED_CASES], ids=[c[0] for c in COMPOSED_CASES]
)
async def test_composed_email_validation(
    validation_client: httpx.AsyncClient, make_token: Any, mutate: Mutation, key: str, message: str
) -> None:
    body = copy.deepcopy(_composed())
    mutate(body)
    headers = {"Authorization": f"Bearer {make_token('ttd', scopes=[SCOPE_COMPOSED_EMAIL])}"}
    response = await validation_client.post(f"{V1}/future/orders/composed-email", json=body, headers=headers)
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert message in errors.get(key, []), errors
    assert "sig=" not in response.text and "c2lnbmF0dXJl" not in response.text  # SAS URLs never echoed


async def test_composed_mime_types_compare_case_insensitively(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    body = _composed()
    body["recipient"]["emailSettings"]["attachments"][0]["mimeType"] = (
        "Application/VND.ms-Word.Document.MacroEnabled.12"
    )
    headers = {"Authorization": f"Bearer {make_token('ttd', scopes=[SCOPE_COMPOSED_EMAIL])}"}
    response = await client.post(f"{V1}/future/orders/composed-email", json=body, headers=headers)
    assert response.status_code == 201, response.text


# --- instant (docs/compatibility.md C8) ---

INSTANT_SMS: Body = {
    "idempotencyId": "i-1",
    "recipientSms": {
        "phoneNumber": "+4799999999",
        "timeToLiveInSeconds": 300,
        "smsSettings": {"body": "Code 1234"},
    },
}
INSTANT_EMAIL: Body = {
    "idempotencyId": "i-2",
    "recipientEmail": {
        "emailAddress": "user@example.com",
        "emailSettings": {"subject": "Code", "body": "1234"},
    },
}
INSTANT_LEGACY: Body = {
    "idempotencyId": "i-3",
    "recipient": {"recipientSms": copy.deepcopy(INSTANT_SMS["recipientSms"])},
}
TTL = "Time-to-live must be between 60 and 172800 seconds (48 hours)."
LEGACY = "InstantNotificationRecipient.ShortMessageDeliveryDetails"

INSTANT_CASES: list[tuple[str, str, Body, Mutation, str, str]] = [
    (
        "sms idempotency",
        "instant/sms",
        INSTANT_SMS,
        _set("idempotencyId", " "),
        "IdempotencyId",
        "IdempotencyId cannot be null or empty.",
    ),
    (
        "sms ttl low",
        "instant/sms",
        INSTANT_SMS,
        _set("recipientSms.timeToLiveInSeconds", 59),
        "RecipientSms.TimeToLiveInSeconds",
        TTL,
    ),
    (
        "sms ttl high",
        "instant/sms",
        INSTANT_SMS,
        _set("recipientSms.timeToLiveInSeconds", 172801),
        "RecipientSms.TimeToLiveInSeconds",
        TTL,
    ),
    (
        "sms phone",
        "instant/sms",
        INSTANT_SMS,
        _set("recipientSms.phoneNumber", "4799999999"),
        "RecipientSms.PhoneNumber",
        "Recipient phone number is not a valid mobile number.",
    ),
    (
        "sms body empty (binding)",
        "instant/sms",
        INSTANT_SMS,
        _set("recipientSms.smsSettings.body", ""),
        "RecipientSms.SmsSettings.Body",
        "The Body field is required.",
    ),
    (
        "legacy ttl",
        "instant",
        INSTANT_LEGACY,
        _set("recipient.recipientSms.timeToLiveInSeconds", 0),
        f"{LEGACY}.TimeToLiveInSeconds",
        TTL,
    ),
    (
        "legacy phone",
        "instant",
        INSTANT_LEGACY,
        _set("recipient.recipientSms.phoneNumber", "+47123"),
        f"{LEGACY}.PhoneNumber",
        "Recipient phone number is not a valid mobile number.",
    ),
    (
        "email address",
        "instant/email",
        INSTANT_EMAIL,
        _set("recipientEmail.emailAddress", "user@"),
        "InstantEmailDetails.EmailAddress",
        "Invalid email address format.",
    ),
    (
        "email sender",
        "instant/email",
        INSTANT_EMAIL,
        _set("recipientEmail.emailSettings.senderEmailAddress", "noreply"),
        "InstantEmailDetails.EmailSettings.SenderEmailAddress",
        "Invalid email address format.",
    ),
    (
        "email sender empty",
        "instant/email",
        INSTANT_EMAIL,
        _set("recipientEmail.emailSettings.senderEmailAddress", ""),
        "InstantEmailDetails.EmailSettings.SenderEmailAddress",
        "Invalid email address format.",
    ),
    (
        "email subject",
        "instant/email",
        INSTANT_EMAIL,
        _set("recipientEmail.emailSettings.subject", "  "),
        "InstantEmailDetails.EmailSettings.Subject",
        "The email subject cannot be empty.",
    ),
    (
        "email body",
        "instant/email",
        INSTANT_EMAIL,
        _set("recipientEmail.emailSettings.body", "  "),
        "InstantEmailDetails.EmailSettings.Body",
        "The email body cannot be empty.",
    ),
    (
        "email content type (binding)",
        "instant/email",
        INSTANT_EMAIL,
        _set("recipientEmail.emailSettings.contentType", "Markdown"),
        "$.recipientEmail.emailSettings.contentType",
        "The JSON value could not be converted to EmailContentType. Path: $.recipientEmail.emailSettings.contentType.",
    ),
]


@pytest.mark.parametrize(
    ("path", "base", "mutate", "key", "message"),
    [c[1:] for c in INSTANT_CASES],
    ids=[c[0] for c in INSTANT_CASES],
)
async def test_instant_validation(
    validation_client: httpx.AsyncClient,
    auth: dict[str, str],
    path: str,
    base: Body,
    mutate: Mutation,
    key: str,
    message: str,
) -> None:
    body = copy.deepcopy(base)
    mutate(body)
    response = await validation_client.post(f"{V1}/future/orders/{path}", json=body, headers=auth)
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert message in errors.get(key, []), errors
