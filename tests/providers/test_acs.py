"""The ACS email provider against a fake ACS on loopback that verifies the HMAC signature (docs/compatibility.md C12).
No database."""

from __future__ import annotations

import asyncio
import base64
import email.utils
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from altinn_notifications.config import ConnectionStringError, parse_connection_string
from altinn_notifications.providers.base import Attachment, EmailMessage, SendOutcome
from altinn_notifications.providers.email.acs import (
    REPORT_STATUS,
    AcsEmailProvider,
    parse_event_grid,
    parse_retry_after,
    sign_request,
)
from tests.loopback import free_port, serve
from tests.providers.fake_acs import FakeAcs, acs_error, connection_string, delivery_event, validation_event


def _message(to: str = "ola@example.no", **kwargs: object) -> EmailMessage:
    fields: dict[str, object] = {
        "notification_id": uuid4(),
        "from_address": "noreply@altinn.no",
        "to_address": to,
        "subject": "Hello",
        "body": "Hi there",
    }
    fields.update(kwargs)
    return EmailMessage(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def acs() -> AsyncIterator[tuple[FakeAcs, AcsEmailProvider]]:
    fake = FakeAcs()
    async with serve(fake.app) as url:
        provider = AcsEmailProvider(connection_string(url), poll_interval=8.0, timeout=2.0)
        try:
            yield fake, provider
        finally:
            await provider.close()


async def test_send_is_signed_and_answers_the_operation_to_poll(
    acs: tuple[FakeAcs, AcsEmailProvider],
) -> None:
    fake, provider = acs
    message = _message()
    outcome = await provider.send(message)
    assert outcome == SendOutcome(result="Sending", reference=str(message.notification_id), poll_after=8.0)
    assert fake.signature_failures == 0
    assert fake.sends == [
        {
            "senderAddress": "noreply@altinn.no",
            "recipients": {"to": [{"address": "ola@example.no"}]},
            "content": {"subject": "Hello", "plainText": "Hi there"},
        }
    ]
    headers = fake.send_headers[0]
    assert headers["operation-id"] == str(message.notification_id)
    assert headers["authorization"].startswith(
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&"
    )
    assert email.utils.parsedate_to_datetime(headers["x-ms-date"]).tzinfo is not None


async def test_html_body_and_attachments(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    fake, provider = acs
    attachment = Attachment(filename="a.pdf", mime_type="application/pdf", content=b"%PDF-1.4 \x00\xff")
    await provider.send(_message(body="<p>Hi</p>", content_type="Html", attachments=(attachment,)))
    sent = fake.sends[0]
    assert sent["content"] == {"subject": "Hello", "html": "<p>Hi</p>"}
    assert sent["attachments"] == [
        {
            "name": "a.pdf",
            "contentType": "application/pdf",
            "contentInBase64": base64.b64encode(b"%PDF-1.4 \x00\xff").decode(),
        }
    ]
    assert fake.signature_failures == 0


async def test_a_wrong_key_is_refused_by_the_signature_check() -> None:
    fake = FakeAcs()
    async with serve(fake.app) as url:
        wrong = base64.b64encode(b"another key entirely").decode()
        provider = AcsEmailProvider(connection_string(url, key=wrong))
        try:
            outcome = await provider.send(_message())
        finally:
            await provider.close()
    assert fake.signature_failures == 1
    assert (
        outcome.result == "Failed" and not outcome.transient
    )  # docs/compatibility.md C12: other errors → Failed
    assert outcome.detail == "acs 401 Denied"


@pytest.mark.parametrize(
    ("to", "result"),
    [
        ("suppressed@example.no", "Failed_SupressedRecipient"),
        ("badformat@example.no", "Failed_InvalidEmailFormat"),
        ("toolarge@example.no", "Failed_PayloadTooLarge"),
        ("refused@example.no", "Failed"),
    ],
)
async def test_send_error_mapping(acs: tuple[FakeAcs, AcsEmailProvider], to: str, result: str) -> None:
    _, provider = acs
    outcome = await provider.send(_message(to))
    assert (outcome.result, outcome.transient, outcome.retry_after) == (result, False, None)
    assert outcome.detail is not None and "@" not in outcome.detail  # never an address in logs


async def test_server_errors_are_transient_without_a_pause(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    _, provider = acs
    outcome = await provider.send(_message("broken@example.no"))
    assert (outcome.transient, outcome.retry_after) == (True, None)


async def test_429_with_retry_after_seconds(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    fake, provider = acs
    fake.queue(acs_error(429, "TooManyRequests", "Rate limit", {"Retry-After": "17"}))
    outcome = await provider.send(_message())
    assert (outcome.transient, outcome.retry_after) == (True, 17.0)


async def test_429_with_retry_after_http_date(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    fake, provider = acs
    when = datetime.now(UTC) + timedelta(seconds=90)
    fake.queue(
        acs_error(
            429,
            "TooManyRequests",
            "Rate limit",
            {"Retry-After": email.utils.format_datetime(when, usegmt=True)},
        )
    )
    outcome = await provider.send(_message())
    assert outcome.transient and outcome.retry_after is not None
    assert 85 <= outcome.retry_after <= 91


async def test_429_without_retry_after_pauses_for_the_default(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    fake, provider = acs
    fake.queue(acs_error(429, "TooManyRequests", "Rate limit"))
    assert (await provider.send(_message())).retry_after == 60.0
    fake.queue(acs_error(429, "TooManyRequests", "Please retry after 12 seconds."))
    assert (await provider.send(_message())).retry_after == 12.0


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "5"}) == 5.0
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, now=now) == 30.0
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, now=now) == 1.0  # past: 1 s
    assert parse_retry_after({"retry-after-ms": "2500"}) == 2.5
    assert parse_retry_after({}, "retry after 42 seconds") == 42.0
    assert parse_retry_after({"retry-after": "soon"}) == 60.0


async def test_connection_refused_is_transient() -> None:
    provider = AcsEmailProvider(connection_string(f"http://127.0.0.1:{free_port()}"), timeout=2.0)
    try:
        outcome = await provider.send(_message())
    finally:
        await provider.close()
    assert outcome.transient and outcome.retry_after is None
    assert outcome.detail == "acs no response"


async def test_timeout_is_transient() -> None:
    fake = FakeAcs(delay=1.0)
    async with serve(fake.app) as url:
        provider = AcsEmailProvider(connection_string(url), timeout=0.2)
        try:
            outcome = await provider.send(_message())
        finally:
            await provider.close()
    assert outcome.transient and outcome.retry_after is None


async def test_poll_until_succeeded(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    fake, provider = acs
    fake.running_polls = 2
    sent = await provider.send(_message())
    assert sent.reference is not None
    answers = [await provider.poll(sent.reference) for _ in range(3)]
    assert [a.result if a else None for a in answers] == ["Sending", "Sending", "Succeeded"]
    assert answers[0] is not None and answers[0].poll_after == 8.0
    assert answers[2] == SendOutcome(result="Succeeded", reference=sent.reference)
    assert fake.signature_failures == 0 and fake.poll_count[sent.reference] == 3


async def test_poll_of_a_failed_operation(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    fake, provider = acs
    fake.running_polls = 0
    sent = await provider.send(_message("opfails@example.no"))
    assert sent.reference is not None
    outcome = await provider.poll(sent.reference)
    assert outcome is not None and (outcome.result, outcome.transient) == ("Failed", False)
    fake.queue_poll(
        httpx_json(
            {
                "id": "x",
                "status": "Failed",
                "error": {"code": "EmailDroppedAllRecipientsSuppressed", "message": "."},
            }
        )
    )
    suppressed = await provider.poll(sent.reference)
    assert suppressed is not None and suppressed.result == "Failed_SupressedRecipient"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (acs_error(404, "NotFound", "Operation not found."), ("Failed", False, None)),
        (acs_error(503, "ServiceUnavailable", "Try later."), ("Failed_TransientError", True, None)),
        (
            acs_error(429, "TooManyRequests", "slow down", {"Retry-After": "3"}),
            ("Failed_TransientError", True, 3.0),
        ),
    ],
)
async def test_poll_errors(
    acs: tuple[FakeAcs, AcsEmailProvider], answer: object, expected: tuple[str, bool, float | None]
) -> None:
    fake, provider = acs
    fake.queue_poll(answer)  # type: ignore[arg-type]
    outcome = await provider.poll("some-operation")
    assert outcome is not None
    assert (outcome.result, outcome.transient, outcome.retry_after) == expected


def httpx_json(body: object) -> object:
    from starlette.responses import JSONResponse

    return JSONResponse(body)


def test_connection_string_parsing() -> None:
    key = base64.b64encode(b"k" * 32).decode()
    parsed = parse_connection_string(f"Endpoint=https://acs.communication.azure.com/;AccessKey={key}")
    assert parsed.endpoint == "https://acs.communication.azure.com"
    assert parsed.access_key == b"k" * 32
    assert key not in repr(parsed)
    for bad, why in [
        (f"accesskey={key}", "no endpoint"),
        ("endpoint=https://acs.example", "no accesskey"),
        (f"endpoint=ftp://acs.example;accesskey={key}", "https"),
        ("endpoint=https://acs.example;accesskey=not base64!", "not base64"),
    ]:
        with pytest.raises(ConnectionStringError, match=why) as info:
            parse_connection_string(bad)
        assert key not in str(info.value)


def test_signature_follows_the_documented_string_to_sign() -> None:
    key = b"secret-key"
    request = httpx.Request(
        "POST", "https://acs.example:8443/emails:send?api-version=2023-03-31", content=b'{"a": 1}'
    )
    sign_request(request, key, date="Thu, 01 Jan 2026 12:00:00 GMT")
    import hashlib
    import hmac

    body_hash = base64.b64encode(hashlib.sha256(b'{"a": 1}').digest()).decode()
    to_sign = f"POST\n/emails:send?api-version=2023-03-31\nThu, 01 Jan 2026 12:00:00 GMT;acs.example:8443;{body_hash}"
    expected = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
    assert request.headers["x-ms-content-sha256"] == body_hash
    assert request.headers["authorization"] == (
        f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={expected}"
    )


# --- Event Grid parsing (docs/compatibility.md C12 report mapping) ---


@pytest.mark.parametrize(
    ("status", "result"),
    [
        ("Delivered", "Delivered"),
        ("Bounced", "Failed_Bounced"),
        ("Expanded", "Failed"),
        ("Failed", "Failed"),
        ("FilteredSpam", "Failed_FilteredSpam"),
        ("Quarantined", "Failed_Quarantined"),
        ("Suppressed", "Failed_SupressedRecipient"),
    ],
)
def test_delivery_report_status_mapping(status: str, result: str) -> None:
    parsed = parse_event_grid([delivery_event("op-1", status)])
    assert [(r.reference, r.result) for r in parsed.reports] == [("op-1", result)]
    assert parsed.rejected == [] and parsed.validation_code is None


def test_every_documented_status_is_mapped() -> None:
    assert len(REPORT_STATUS) == 7


def test_unknown_status_and_missing_message_id_are_rejected() -> None:
    parsed = parse_event_grid(
        [
            delivery_event("op-1", "Pending"),
            delivery_event(None, "Delivered"),
            {"eventType": "Something.Else"},
        ]
    )
    assert parsed.reports == []
    assert [r.reason for r in parsed.rejected] == [
        "UNRECOGNIZED_SEND_RESULT",
        "INVALID_NOTIFICATION_IDENTIFIER",
    ]
    assert parsed.ignored == 1


def test_validation_event() -> None:
    parsed = parse_event_grid(validation_event("abc-123"))
    assert parsed.validation_code == "abc-123"
    with pytest.raises(ValueError):
        parse_event_grid(["not an event"])


async def test_concurrent_sends_all_signed(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    fake, provider = acs
    outcomes = await asyncio.gather(*(provider.send(_message(f"r{i}@example.no")) for i in range(20)))
    assert {o.result for o in outcomes} == {"Sending"}
    assert fake.signature_failures == 0 and len(fake.sends) == 20


async def test_an_existing_operation_id_is_polled_not_failed(acs: tuple[FakeAcs, AcsEmailProvider]) -> None:
    """A resend after a lost answer names the same operation (Operation-Id = notification id)."""
    fake, provider = acs
    message = _message()
    fake.queue(acs_error(409, "Conflict", "An operation with this id already exists."))
    outcome = await provider.send(message)
    assert (outcome.result, outcome.reference, outcome.poll_after) == (
        "Sending",
        str(message.notification_id),
        8.0,
    )
