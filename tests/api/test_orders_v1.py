"""v1 order endpoints over HTTP against real PostgreSQL (docs/compatibility.md C4, C9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from tests.api.helpers import V1, future, messages, set_order_status

EMAIL_ORDER: dict[str, Any] = {
    "sendersReference": "case-2024-0042",
    "subject": "Reminder to complete task",
    "body": "Hi $recipientName$, please complete your application before 31.07.",
    "contentType": "Plain",
    "recipients": [{"emailAddress": "recipient@domain.com"}],
    "resourceId": "urn:altinn:resource:ttd_example",
    "conditionEndpoint": "https://serviceowner.example.no/application/qwerty/reminderRequired",
}


async def _post(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return await client.post(V1 + path, json=body, headers=headers)


async def test_email_order_is_accepted_and_reads_back_as_registered(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    send_time = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    body = {**EMAIL_ORDER, "requestedSendTime": send_time.astimezone().isoformat()}
    response = await _post(client, "/orders/email", body, auth)
    assert response.status_code == 202, response.text
    order_id = response.json()["orderId"]
    assert response.json() == {"orderId": order_id}  # no lookup needed: recipientLookup omitted
    assert response.headers["location"] == f"http://localhost:5090{V1}/orders/{order_id}"

    read = await client.get(f"{V1}/orders/{order_id}", headers=auth)
    assert read.status_code == 200
    order = read.json()
    assert order["id"] == order_id
    assert order["creator"] == "ttd"
    assert order["sendersReference"] == "case-2024-0042"
    assert order["notificationChannel"] == "Email"
    assert order["requestedSendTime"] == send_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert order["created"].endswith("Z")
    assert order["recipients"] == [{"emailAddress": "recipient@domain.com"}]
    assert order["emailTemplate"] == {
        "fromAddress": "noreply@altinn.no",
        "subject": "Reminder to complete task",
        "body": EMAIL_ORDER["body"],
        "contentType": "Plain",
    }
    assert "smsTemplate" not in order and "ignoreReservation" not in order
    assert order["resourceId"] == "urn:altinn:resource:ttd_example"
    assert order["conditionEndpoint"] == EMAIL_ORDER["conditionEndpoint"]
    assert order["links"] == {
        "self": f"http://localhost:5090{V1}/orders/{order_id}",
        "status": f"http://localhost:5090{V1}/orders/{order_id}/status",
    }


async def test_email_order_defaults_send_time_to_now_and_flattens_subject_line_breaks(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    before = datetime.now(UTC)
    body = {**EMAIL_ORDER, "subject": "Line one\r\nline two\nthree", "contentType": "html"}
    response = await _post(client, "/orders/email", body, auth)
    assert response.status_code == 202, response.text
    order = (await client.get(f"{V1}/orders/{response.json()['orderId']}", headers=auth)).json()
    assert order["emailTemplate"]["subject"] == "Line one line two three"
    assert order["emailTemplate"]["contentType"] == "Html"
    sent = datetime.fromisoformat(order["requestedSendTime"])
    assert before - timedelta(seconds=1) <= sent <= datetime.now(UTC) + timedelta(seconds=1)


async def test_email_order_ignores_mobile_numbers(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {**EMAIL_ORDER, "recipients": [{"emailAddress": "a@b.no", "mobileNumber": "+4799999999"}]}
    response = await _post(client, "/orders/email", body, auth)
    assert response.status_code == 202, response.text
    order = (await client.get(f"{V1}/orders/{response.json()['orderId']}", headers=auth)).json()
    assert order["recipients"] == [{"emailAddress": "a@b.no"}]


async def test_sms_order_uses_default_sender(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {"body": "Hello", "recipients": [{"mobileNumber": "+4799999999"}], "sendersReference": "sms-1"}
    response = await _post(client, "/orders/sms", body, auth)
    assert response.status_code == 202, response.text
    order = (await client.get(f"{V1}/orders/{response.json()['orderId']}", headers=auth)).json()
    assert order["notificationChannel"] == "Sms"
    assert order["smsTemplate"] == {"senderNumber": "Altinn", "body": "Hello"}
    assert order["recipients"] == [{"mobileNumber": "+4799999999"}]
    assert "emailTemplate" not in order


async def test_generic_order_with_preferred_channel(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {
        "notificationChannel": "emailpreferred",
        "emailTemplate": {"subject": "New message", "body": "Hi", "fromAddress": "etat@example.no"},
        "smsTemplate": {"body": "You have a new message in Altinn.", "senderNumber": "Etat"},
        "recipients": [{"emailAddress": "known@example.no", "mobileNumber": "+4741234567"}],
    }
    response = await _post(client, "/orders", body, auth)
    assert response.status_code == 202, response.text
    order = (await client.get(f"{V1}/orders/{response.json()['orderId']}", headers=auth)).json()
    assert order["notificationChannel"] == "EmailPreferred"
    assert order["emailTemplate"]["fromAddress"] == "etat@example.no"
    assert order["emailTemplate"]["contentType"] == "Plain"
    assert order["smsTemplate"] == {"senderNumber": "Etat", "body": "You have a new message in Altinn."}
    assert order["recipients"] == [{"emailAddress": "known@example.no", "mobileNumber": "+4741234567"}]


async def test_generic_order_accepts_numeric_channel(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {
        "notificationChannel": 1,
        "smsTemplate": {"body": "x"},
        "recipients": [{"mobileNumber": "+4799999999"}],
    }
    response = await _post(client, "/orders", body, auth)
    assert response.status_code == 202, response.text
    order = (await client.get(f"{V1}/orders/{response.json()['orderId']}", headers=auth)).json()
    assert order["notificationChannel"] == "Sms"


# --- registration-time lookup (docs/compatibility.md C4) ---


async def _registry(container: Container) -> None:
    async with container.pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO registry_persons (nationalidentitynumber, name, email, mobilenumber, isreserved, lastverified)
            VALUES ('16069412345', 'Ola', 'ola@example.no', '99999999', false, now()),
                   ('11876995923', 'Kari', 'kari@example.no', NULL, true, now()),
                   ('01010112345', 'Per', NULL, '98765432', false, now())
            """
        )
        await conn.execute(
            """
            INSERT INTO registry_organizations (organizationnumber, name, emails, mobilenumbers)
            VALUES ('810419652', 'Firma AS', '{}', '{"+4799999999"}'),
                   ('910000001', 'Post AS', '{"post@firma.no"}', '{}')
            """
        )


async def test_lookup_summary_lists_reserved_and_missing_contacts(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await _registry(container)
    body = {
        **EMAIL_ORDER,
        "recipients": [
            {"nationalIdentityNumber": "16069412345"},
            {"nationalIdentityNumber": "11876995923"},
            {"organizationNumber": "810419652"},
            {"organizationNumber": "910000001"},
            {"emailAddress": "direct@example.no"},
        ],
    }
    response = await _post(client, "/orders/email", body, auth)
    assert response.status_code == 202, response.text
    assert response.json()["recipientLookup"] == {
        "status": "PartialSuccess",
        "isReserved": ["11876995923"],
        "missingContact": ["810419652"],
    }
    # Looked-up contact details are never stored on the order.
    order = (await client.get(f"{V1}/orders/{response.json()['orderId']}", headers=auth)).json()
    assert order["recipients"][0] == {"nationalIdentityNumber": "16069412345"}


async def test_lookup_summary_success_and_failed(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await _registry(container)
    ok = await _post(
        client, "/orders/sms", {"body": "x", "recipients": [{"nationalIdentityNumber": "01010112345"}]}, auth
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["recipientLookup"]["status"] == "Success"
    failed = await _post(
        client, "/orders/sms", {"body": "x", "recipients": [{"nationalIdentityNumber": "16069412399"}]}, auth
    )
    assert failed.status_code == 202  # v1 never rejects on lookup results
    assert failed.json()["recipientLookup"]["status"] == "Failed"
    assert failed.json()["recipientLookup"]["missingContact"] == ["16069412399"]


async def test_lookup_summary_counts_a_reserved_person_reachable_with_ignore_reservation(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    """docs/compatibility.md C4: "unreachable" is reserved without the override; the flag is still listed."""
    await _registry(container)
    reserved = {"nationalIdentityNumber": "11876995923"}  # reserved, with an email address
    body = {**EMAIL_ORDER, "recipients": [reserved]}
    ignoring = await _post(client, "/orders/email", {**body, "ignoreReservation": True}, auth)
    assert ignoring.status_code == 202, ignoring.text
    lookup = ignoring.json()["recipientLookup"]
    assert (lookup["status"], lookup["isReserved"]) == ("Success", ["11876995923"])
    respecting = await _post(client, "/orders/email", body, auth)
    assert respecting.json()["recipientLookup"]["status"] == "Failed"


# --- validation (400 ValidationProblemDetails) ---


async def test_missing_required_property_is_a_binding_error(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {k: v for k, v in EMAIL_ORDER.items() if k != "subject"}
    response = await _post(client, "/orders/email", body, auth)
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.1"
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["status"] == 400
    assert problem["traceId"].startswith("00-")
    assert problem["errors"] == {"Subject": ["The Subject field is required."]}


async def test_empty_required_string_is_a_binding_error(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await _post(
        client, "/orders/sms", {"body": "", "recipients": [{"mobileNumber": "+4799999999"}]}, auth
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"Body": ["The Body field is required."]}


async def test_malformed_json_and_wrong_types_are_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    raw = await client.post(
        f"{V1}/orders/email", content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert raw.status_code == 400
    assert raw.json()["errors"]
    typed = await _post(client, "/orders/email", {**EMAIL_ORDER, "recipients": "nobody"}, auth)
    assert typed.status_code == 400
    unknown_enum = await _post(client, "/orders", {"notificationChannel": "Pigeon", "recipients": []}, auth)
    assert unknown_enum.status_code == 400
    assert any("NotificationChannel" in m for m in messages(unknown_enum.json()))


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/orders/email", {**EMAIL_ORDER, "recipients": []}, "One or more recipient is required."),
        (
            "/orders/email",
            {**EMAIL_ORDER, "recipients": [{"emailAddress": "a@b.no;c@d.no"}]},
            "Invalid email address format.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "recipients": [{"mobileNumber": "+4799999999"}]},
            "Either a valid email address, organization number, or national identity number must be provided for each recipient.",
        ),
        (
            "/orders/sms",
            {"body": "x", "recipients": [{"mobileNumber": "99999999"}]},
            "Mobile number can contain only '+' and numeric characters, and it must adhere to the E.164 standard.",
        ),
        (
            "/orders/sms",
            {"body": "x", "recipients": [{"emailAddress": "a@b.no"}]},
            "Either a valid mobile number starting with country code, organization number, or national identity number must be provided for each recipient.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "recipients": [{"nationalIdentityNumber": "1234"}]},
            "National identity number must be 11 digits long.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "recipients": [{"organizationNumber": "12345678"}]},
            "Organization number must be 9 digits long.",
        ),
        (
            "/orders/email",
            {
                **EMAIL_ORDER,
                "recipients": [{"nationalIdentityNumber": "16069412345", "emailAddress": "a@b.no"}],
            },
            "National identity number cannot be combined with email address, mobile number, or organization number.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "requestedSendTime": "2020-01-01T10:00:00Z"},
            "Send time must be in the future. Leave blank to send immediately.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "requestedSendTime": "2099-01-01T10:00:00"},
            "The requested send time value must have specified a time zone.",
        ),
        (
            "/orders/email",
            {**EMAIL_ORDER, "conditionEndpoint": "http://localhost/x"},
            "The condition endpoint must be a valid URL.",
        ),
        ("/orders", {"recipients": [{"emailAddress": "a@b.no"}]}, "A notification channel must be defined."),
        (
            "/orders",
            {"notificationChannel": "Email", "recipients": [{"emailAddress": "a@b.no"}]},
            "An email template is required for the selected notification channel.",
        ),
        (
            "/orders",
            {"notificationChannel": "Sms", "recipients": [{"mobileNumber": "+4799999999"}]},
            "An SMS template is required for the selected the notification channel.",
        ),
        (
            "/orders",
            {
                "notificationChannel": "EmailAndSms",
                "emailTemplate": {"subject": "s", "body": "b"},
                "recipients": [{"emailAddress": "a@b.no"}],
            },
            "An SMS template is required for the selected the notification channel.",
        ),
        (
            "/orders",
            {
                "notificationChannel": "Email",
                "emailTemplate": {"subject": "s", "body": "b", "fromAddress": "not-an-address"},
                "recipients": [{"emailAddress": "a@b.no"}],
            },
            "The sender email address is not valid.",
        ),
    ],
)
async def test_validation_messages(
    client: httpx.AsyncClient, auth: dict[str, str], path: str, body: dict[str, Any], message: str
) -> None:
    response = await _post(client, path, body, auth)
    assert response.status_code == 400, response.text
    assert message in messages(response.json())


async def test_rejected_order_is_not_stored(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await _post(client, "/orders/email", {**EMAIL_ORDER, "recipients": [{"emailAddress": "bad"}]}, auth)
    async with container.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0


# --- reads, ownership, listing ---


async def _place(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> str:
    response = await _post(client, "/orders/email", {**EMAIL_ORDER, **overrides}, headers)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def test_other_orgs_orders_are_not_found(client: httpx.AsyncClient, auth_for: Any) -> None:
    order_id = await _place(client, auth_for("ttd"))
    other = auth_for("digdir")
    for path in ("", "/status", "/notifications/email", "/notifications/sms"):
        response = await client.get(f"{V1}/orders/{order_id}{path}", headers=other)
        assert response.status_code == 404, path
        assert response.json()["title"] == "Not Found"
        assert response.json()["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.5"
    assert (await client.put(f"{V1}/orders/{order_id}/cancel", headers=other)).status_code == 404
    assert (await client.get(f"{V1}/orders/{order_id}", headers=auth_for("ttd"))).status_code == 200


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    unknown = await client.get(f"{V1}/orders/{UUID(int=7)}", headers=auth)
    assert unknown.status_code == 404
    malformed = await client.get(f"{V1}/orders/not-a-guid", headers=auth)
    assert malformed.status_code == 400


async def test_list_by_senders_reference_is_scoped_to_creator(
    client: httpx.AsyncClient, auth_for: Any
) -> None:
    first = await _place(client, auth_for("ttd"), sendersReference="ref-1")
    second = await _place(client, auth_for("ttd"), sendersReference="ref-1")
    await _place(client, auth_for("ttd"), sendersReference="ref-2")
    await _place(client, auth_for("digdir"), sendersReference="ref-1")
    response = await client.get(f"{V1}/orders", params={"sendersReference": "ref-1"}, headers=auth_for("ttd"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {o["id"] for o in body["orders"]} == {first, second}
    none = await client.get(f"{V1}/orders", params={"sendersReference": "nothing"}, headers=auth_for("ttd"))
    assert none.json() == {"count": 0, "orders": []}
    missing = await client.get(f"{V1}/orders", headers=auth_for("ttd"))
    assert missing.status_code == 400


async def test_blank_senders_reference_is_stored_as_null(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await _place(client, auth, sendersReference="   ")
    order = (await client.get(f"{V1}/orders/{order_id}", headers=auth)).json()
    assert "sendersReference" not in order


# --- cancel (docs/compatibility.md C4) ---


async def test_cancel_far_future_order_then_again(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    order_id = await _place(client, auth, requestedSendTime=future(60).isoformat())
    first = await client.put(f"{V1}/orders/{order_id}/cancel", headers=auth)
    assert first.status_code == 200, first.text
    status = first.json()["processingStatus"]
    assert status["status"] == "Cancelled"
    assert status["description"] == "Order processing was stopped due to order being cancelled."
    again = await client.put(f"{V1}/orders/{order_id}/cancel", headers=auth)
    assert again.status_code == 200
    assert again.json()["processingStatus"]["status"] == "Cancelled"


async def test_cancel_within_five_minutes_is_conflict(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await _place(client, auth, requestedSendTime=future(4).isoformat())
    response = await client.put(f"{V1}/orders/{order_id}/cancel", headers=auth)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem.pop("traceId").startswith("00-")
    assert problem == {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.10",
        "title": "Conflict",
        "status": 409,
    }
    status = await client.get(f"{V1}/orders/{order_id}/status", headers=auth)
    assert status.json()["processingStatus"]["status"] == "Registered"


async def test_cancel_after_processing_started_is_conflict(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    order_id = await _place(client, auth, requestedSendTime=future(60).isoformat())
    await set_order_status(container, order_id, "Processing")
    assert (await client.put(f"{V1}/orders/{order_id}/cancel", headers=auth)).status_code == 409


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {**EMAIL_ORDER, "sendersReference": "x" * 501},
            "SendersReference must not be longer than 500 characters.",
        ),
        (
            {**EMAIL_ORDER, "requestedSendTime": "9999-12-31T00:00:00Z"},
            "The send time must not be later than 9999-12-24T00:00:00Z.",
        ),
    ],
)
async def test_values_the_database_cannot_hold_are_400_not_500(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], message: str
) -> None:
    response = await _post(client, "/orders/email", body, auth)
    assert response.status_code == 400
    assert message in messages(response.json())


async def test_unstorable_text_is_a_binding_error(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await _post(client, "/orders/email", {**EMAIL_ORDER, "body": "nul \u0000 inside"}, auth)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["$.body"]
