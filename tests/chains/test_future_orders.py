"""`POST /future/orders` and `GET /orders/chain/{id}` against real PostgreSQL (docs/compatibility.md C6, C18)."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx

from altinn_notifications.bootstrap import Container
from altinn_notifications.config import Settings
from altinn_notifications.recipients.registry import import_registry_document
from tests.api.helpers import V1
from tests.auth.helpers import PlatformIssuers
from tests.chains.conftest import count, fetch
from tests.conftest import ClientFactory, ContainerFactory

NIN = "16069412345"
RESERVED_NIN = "11876995923"
ORG = "810419652"
EXTERNAL = "urn:altinn:person:idporten-email:ola@example.no"
DIALOG_ID = "01927a6d-40d8-728b-b3f3-9a3b4d0c8f11"
TRANSMISSION_ID = "01927a6d-40d8-728b-b3f3-9a3b4d0c8f12"

REGISTRY: dict[str, Any] = {
    "persons": [
        {
            "nationalIdentityNumber": NIN,
            "name": "Ola",
            "email": "ola@example.no",
            "mobileNumber": "+4799999999",
        },
        {
            "nationalIdentityNumber": RESERVED_NIN,
            "name": "Kari",
            "email": "kari@example.no",
            "isReserved": True,
        },
    ],
    "organizations": [{"organizationNumber": ORG, "name": "Firma AS", "emails": ["post@firma.no"]}],
    "externalIdentities": [{"externalIdentity": EXTERNAL, "email": "ola@example.no"}],
}

EMAIL_SETTINGS = {"subject": "New task for $recipientName$", "body": "You have a new task in Altinn."}
SMS_SETTINGS = {"sender": "Digdir", "body": "You have a new task in Altinn.", "sendingTimePolicy": "Daytime"}


def email_order(idempotency_id: str = "idem-1", **extra: Any) -> dict[str, Any]:
    return {
        "idempotencyId": idempotency_id,
        "sendersReference": "ref-1",
        "recipient": {
            "recipientEmail": {"emailAddress": "someone@example.no", "emailSettings": dict(EMAIL_SETTINGS)}
        },
        **extra,
    }


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def post(client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return await client.post(f"{V1}/future/orders", json=body, headers=headers)


async def orders_of(container: Container, chain_id: str) -> list[dict[str, Any]]:
    return await fetch(
        container,
        """SELECT o.alternateid, o.type::text AS type, o.processedstatus::text AS status, o.requestedsendtime,
                  o.sendingtimepolicy, o.sendersreference, o.notificationorder, o.creatorname
           FROM orders o JOIN orderschain c ON c._id = o._orderchainid
           WHERE c.orderid = $1 ORDER BY o._id""",
        UUID(chain_id),
    )


async def texts_of(container: Container, order_id: UUID) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    emails = await fetch(
        container,
        "SELECT fromaddress, subject, body, contenttype FROM emailtexts t JOIN orders o ON o._id = t._orderid"
        " WHERE o.alternateid = $1",
        order_id,
    )
    sms = await fetch(
        container,
        "SELECT sendernumber, body FROM smstexts t JOIN orders o ON o._id = t._orderid WHERE o.alternateid = $1",
        order_id,
    )
    return emails, sms


async def chain_row(container: Container, chain_id: str) -> dict[str, Any]:
    rows = await fetch(
        container,
        "SELECT idempotencyid, creatorname, processedstatus::text AS status, orderchain FROM orderschain"
        " WHERE orderid = $1",
        UUID(chain_id),
    )
    assert len(rows) == 1
    return rows[0]


# --- happy paths ---


async def test_person_order_with_reminder_stores_chain_orders_and_texts(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    send_time = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    body: dict[str, Any] = {
        "idempotencyId": "a3c1f1d2-7a3e-4f5b-9d2a-1c7a2b3e4f50",
        "sendersReference": "application-qwerty",
        "requestedSendTime": at(send_time),
        "dialogportenAssociation": {"dialogId": DIALOG_ID, "transmissionId": TRANSMISSION_ID},
        "recipient": {
            "recipientPerson": {
                "nationalIdentityNumber": NIN,
                "channelSchema": "emailpreferred",
                "resourceId": "urn:altinn:resource:ttd_example",
                "emailSettings": {
                    **EMAIL_SETTINGS,
                    "subject": "Line one\r\nline two",
                    "sendingTimePolicy": 1,
                },
                "smsSettings": SMS_SETTINGS,
            }
        },
        "reminders": [
            {
                "sendersReference": "application-qwerty-reminder-1",
                "delayDays": 7,
                "conditionEndpoint": "https://serviceowner.example.no/api/tasks/qwerty/should-remind",
                "recipient": {
                    "recipientOrganization": {
                        "orgNumber": ORG,
                        "channelSchema": 4,
                        "resourceId": "urn:altinn:resource:ttd_example",
                        "resourceAction": "read",
                        "emailSettings": {
                            "subject": "Reminder",
                            "body": "Still open.",
                            "contentType": "html",
                        },
                        "smsSettings": {"body": "Reminder.", "sendingTimePolicy": "anytime"},
                    }
                },
            }
        ],
    }
    response = await post(client, body, auth)
    assert response.status_code == 201, response.text
    receipt = response.json()
    chain_id = receipt["notificationOrderId"]
    assert response.headers["location"] == f"http://localhost:5090{V1}/orders/chain/{chain_id}"
    main_id = receipt["notification"]["shipmentId"]
    reminder_id = receipt["notification"]["reminders"][0]["shipmentId"]
    assert receipt == {
        "notificationOrderId": chain_id,
        "notification": {
            "shipmentId": main_id,
            "sendersReference": "application-qwerty",
            "reminders": [{"shipmentId": reminder_id, "sendersReference": "application-qwerty-reminder-1"}],
        },
    }

    main, reminder = await orders_of(container, chain_id)
    assert str(main["alternateid"]) == main_id and str(reminder["alternateid"]) == reminder_id
    assert (main["type"], reminder["type"]) == ("Notification", "Reminder")
    assert main["status"] == reminder["status"] == "Registered"
    assert main["creatorname"] == "ttd"
    assert main["requestedsendtime"] == send_time
    assert reminder["requestedsendtime"] == send_time + timedelta(days=7)
    assert (main["sendingtimepolicy"], reminder["sendingtimepolicy"]) == (2, 1)
    assert main["sendersreference"] == "application-qwerty"

    stored = main["notificationorder"]
    assert stored["notificationChannel"] == "EmailPreferred"
    assert stored["type"] == "Notification"
    assert stored["recipients"] == [{"nationalIdentityNumber": NIN}]
    assert stored["resourceId"] == "urn:altinn:resource:ttd_example"
    assert stored["ignoreReservation"] is False
    assert stored["useStaleContactInformation"] is False
    assert "conditionEndpoint" not in stored
    stored_reminder = reminder["notificationorder"]
    assert stored_reminder["notificationChannel"] == "EmailAndSms"
    assert stored_reminder["recipients"] == [{"organizationNumber": ORG}]
    assert stored_reminder["resourceAction"] == "read"
    assert stored_reminder["conditionEndpoint"] == body["reminders"][0]["conditionEndpoint"]
    assert "ignoreReservation" not in stored_reminder

    emails, sms = await texts_of(container, UUID(main_id))
    assert emails == [
        {
            "fromaddress": "noreply@altinn.no",
            "subject": "Line one line two",
            "body": EMAIL_SETTINGS["body"],
            "contenttype": "Plain",
        }
    ]
    assert sms == [{"sendernumber": "Digdir", "body": SMS_SETTINGS["body"]}]
    emails, sms = await texts_of(container, UUID(reminder_id))
    assert emails[0]["contenttype"] == "Html" and emails[0]["subject"] == "Reminder"
    assert sms == [{"sendernumber": "Altinn", "body": "Reminder."}]

    chain = await chain_row(container, chain_id)
    assert chain["idempotencyid"] == body["idempotencyId"] and chain["creatorname"] == "ttd"
    assert chain["status"] == "Registered"
    document = chain["orderchain"]
    assert document["Type"] == 0
    assert document["OrderChainId"] == chain_id and document["OrderId"] == main_id
    assert document["Creator"] == {"ShortName": "ttd"}
    assert document["DialogportenAssociation"] == {"DialogId": DIALOG_ID, "TransmissionId": TRANSMISSION_ID}
    # The request parts are kept as sent, in PascalCase at every depth; nulls left out.
    assert document["Recipient"] == {
        "RecipientPerson": {
            "NationalIdentityNumber": NIN,
            "ChannelSchema": "EmailPreferred",
            "ResourceId": "urn:altinn:resource:ttd_example",
            "IgnoreReservation": False,
            "UseStaleContactInformation": False,
            "EmailSettings": {
                "Subject": "Line one\r\nline two",
                "Body": EMAIL_SETTINGS["body"],
                "ContentType": "Plain",
                "SendingTimePolicy": 1,
            },
            "SmsSettings": {"Sender": "Digdir", "Body": SMS_SETTINGS["body"], "SendingTimePolicy": 2},
        }
    }
    assert document["Reminders"][0]["OrderId"] == reminder_id
    assert document["Reminders"][0]["DelayDays"] == 7
    assert document["Reminders"][0]["Type"] == 1

    # The Location exists, and shipments are ordinary orders for the v1 endpoints.
    read = await client.get(response.headers["location"].removeprefix("http://localhost:5090"), headers=auth)
    assert read.status_code == 200 and read.json() == receipt
    v1 = await client.get(f"{V1}/orders/{reminder_id}", headers=auth)
    assert v1.status_code == 200 and v1.json()["notificationChannel"] == "EmailAndSms"


async def test_email_recipient_order_defaults(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    before = datetime.now(UTC)
    body = email_order()
    body["recipient"]["recipientEmail"]["emailSettings"]["senderEmailAddress"] = "  etat@example.no "
    response = await post(client, body, auth)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["notification"] == {
        "shipmentId": receipt["notification"]["shipmentId"],
        "sendersReference": "ref-1",
    }
    (order,) = await orders_of(container, receipt["notificationOrderId"])
    assert before - timedelta(seconds=1) <= order["requestedsendtime"] <= datetime.now(UTC)
    assert order["sendingtimepolicy"] is None  # the email policy is validated, not stored
    assert order["notificationorder"]["notificationChannel"] == "Email"
    assert order["notificationorder"]["recipients"] == [{"emailAddress": "someone@example.no"}]
    emails, sms = await texts_of(container, order["alternateid"])
    assert emails[0]["fromaddress"] == "etat@example.no" and sms == []
    assert "Reminders" not in (await chain_row(container, receipt["notificationOrderId"]))["orderchain"]


async def test_sms_recipient_order_keeps_policy(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    body = {
        "idempotencyId": "sms-1",
        "recipient": {
            "recipientSms": {"phoneNumber": "+4799999999", "smsSettings": {"body": "Hi", "sender": " "}}
        },
    }
    response = await post(client, body, auth)
    assert response.status_code == 201, response.text
    (order,) = await orders_of(container, response.json()["notificationOrderId"])
    assert order["sendingtimepolicy"] == 2  # Daytime by default
    assert order["notificationorder"]["notificationChannel"] == "Sms"
    assert order["notificationorder"]["recipients"] == [{"mobileNumber": "+4799999999"}]
    assert order["notificationorder"]["sendingTimePolicy"] == 2
    _, sms = await texts_of(container, order["alternateid"])
    assert sms == [{"sendernumber": "Altinn", "body": "Hi"}]


async def test_external_identity_order_and_reminder_at_explicit_time(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    reminder_time = (datetime.now(UTC) + timedelta(days=3, hours=1)).replace(microsecond=0)
    body = {
        "idempotencyId": "ext-1",
        "recipient": {
            "recipientExternalIdentity": {"externalIdentity": EXTERNAL, "emailSettings": EMAIL_SETTINGS}
        },
        "reminders": [
            {
                "requestedSendTime": reminder_time.astimezone(UTC).isoformat(),
                "recipient": {"recipientSms": {"phoneNumber": "004799999999", "smsSettings": {"body": "x"}}},
            }
        ],
    }
    response = await post(client, body, auth)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["notification"]["reminders"] == [
        {"shipmentId": receipt["notification"]["reminders"][0]["shipmentId"]}
    ]
    main, reminder = await orders_of(container, receipt["notificationOrderId"])
    assert main["notificationorder"]["notificationChannel"] == "Email"
    assert main["notificationorder"]["recipients"] == [{"externalIdentity": EXTERNAL}]
    assert reminder["requestedsendtime"] == reminder_time
    document = (await chain_row(container, receipt["notificationOrderId"]))["orderchain"]
    assert document["Reminders"][0]["DelayDays"] == 3  # whole days after the main send time


async def test_stale_contact_orgs_force_stale_data_for_persons(
    make_client: ClientFactory,
    make_container: ContainerFactory,
    make_token: Any,
    container: Container,
    settings: Settings,
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    client = make_client(make_container(settings=settings.model_copy(update={"stale_contact_orgs": ["SKD"]})))
    body = {
        "idempotencyId": "skd-1",
        "recipient": {
            "recipientPerson": {
                "nationalIdentityNumber": NIN,
                "channelSchema": "Email",
                "emailSettings": EMAIL_SETTINGS,
            }
        },
    }
    response = await post(client, body, {"Authorization": f"Bearer {make_token('skd')}"})
    assert response.status_code == 201, response.text
    (order,) = await orders_of(container, response.json()["notificationOrderId"])
    assert order["notificationorder"]["useStaleContactInformation"] is True


# --- registration-time lookup (docs/compatibility.md C6 (registration-time lookup)) ---


def person_order(nin: str, idempotency_id: str = "p-1", **extra: Any) -> dict[str, Any]:
    return {
        "idempotencyId": idempotency_id,
        "recipient": {
            "recipientPerson": {
                "nationalIdentityNumber": nin,
                "channelSchema": "Email",
                "emailSettings": EMAIL_SETTINGS,
            }
        },
        **extra,
    }


async def test_missing_contact_information_is_422_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    response = await post(client, person_order("01010199999"), auth)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert problem["code"] == "NOT-00001"
    assert problem["detail"] == "Missing contact information for recipient(s)"
    assert problem["traceId"].startswith("00-")
    assert await count(container, "orderschain") == 0 and await count(container, "orders") == 0


async def test_missing_contact_of_a_reminder_recipient_is_422(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    body = person_order(
        NIN,
        reminders=[
            {
                "delayDays": 1,
                "recipient": {
                    "recipientOrganization": {
                        "orgNumber": "999999999",
                        "channelSchema": "Sms",
                        "smsSettings": {"body": "x"},
                    }
                },
            }
        ],
    )
    response = await post(client, body, auth)
    assert response.status_code == 422
    assert response.json()["code"] == "NOT-00001"
    assert await count(container, "orders") == 0


async def test_reserved_person_is_not_missing(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    response = await post(client, person_order(RESERVED_NIN), auth)
    assert response.status_code == 201, response.text


# --- idempotency (docs/compatibility.md C6 (idempotency); docs/compatibility.md C6: never 500 under races) ---


async def test_repeated_idempotency_id_answers_the_original_receipt(
    client: httpx.AsyncClient, auth: dict[str, str], auth_for: Any, container: Container
) -> None:
    first = await post(client, email_order(), auth)
    assert first.status_code == 201
    again_body = email_order()
    again_body["sendersReference"] = "something else"  # no content comparison
    again = await post(client, again_body, auth)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert "location" not in again.headers
    assert await count(container, "orderschain") == 1 and await count(container, "orders") == 1

    other_org = await post(client, email_order(), auth_for("digdir"))
    assert other_org.status_code == 201
    assert other_org.json()["notificationOrderId"] != first.json()["notificationOrderId"]


async def test_concurrent_identical_requests_give_one_201_and_the_same_receipt(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    """An address recipient needs no up-front replay check: all five race on the insert itself."""
    body = email_order("race-1")
    responses = await asyncio.gather(*(post(client, copy.deepcopy(body), auth) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 200, 200, 201], [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert await count(container, "orderschain") == 1 and await count(container, "orders") == 1


async def test_repeat_of_a_looked_up_order_answers_before_the_registers_are_asked(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    """The person has since lost their contact details: a new order would be 422, the repeat is the
    original receipt."""
    await import_registry_document(container.pool, REGISTRY)
    first = await post(client, person_order(NIN, "p-repeat"), auth)
    assert first.status_code == 201, first.text
    async with container.pool.acquire() as conn:
        await conn.execute(
            "DELETE FROM notifications.registry_persons WHERE nationalidentitynumber = $1", NIN
        )
    assert (await post(client, person_order(NIN, "p-new"), auth)).status_code == 422
    again = await post(client, person_order(NIN, "p-repeat"), auth)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await count(container, "orderschain") == 1


async def test_two_concurrent_requests_with_reminders(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    body = email_order(
        "race-2",
        reminders=[{"delayDays": d, "recipient": email_order()["recipient"]} for d in (1, 2, 3)],
    )
    a, b = await asyncio.gather(post(client, body, auth), post(client, copy.deepcopy(body), auth))
    assert sorted((a.status_code, b.status_code)) == [200, 201]
    assert a.json() == b.json()
    assert await count(container, "orders") == 4


# --- GET /orders/chain/{id} ---


async def test_chain_of_another_org_or_unknown_is_404(
    client: httpx.AsyncClient, auth: dict[str, str], auth_for: Any
) -> None:
    created = await post(client, email_order(), auth)
    chain_id = created.json()["notificationOrderId"]
    foreign = await client.get(f"{V1}/orders/chain/{chain_id}", headers=auth_for("digdir"))
    assert foreign.status_code == 404
    assert foreign.json()["status"] == 404
    unknown = await client.get(f"{V1}/orders/chain/5e2a1c6f-0000-4b55-9a5b-3f2b4f4c5d6e", headers=auth)
    assert unknown.status_code == 404
    assert (await client.get(f"{V1}/orders/chain/{chain_id}")).status_code == 401


async def test_platform_access_token_creates_for_its_issuer(
    pat_container: Container,
    make_client: ClientFactory,
    platform_issuers: PlatformIssuers,
    auth: dict[str, str],
) -> None:
    client = make_client(pat_container)
    platform = platform_issuers.mint("ttd")
    response = await post(client, email_order(), {"PlatformAccessToken": platform})
    assert response.status_code == 201, response.text
    read = await client.get(f"{V1}/orders/chain/{response.json()['notificationOrderId']}", headers=auth)
    assert read.status_code == 200
