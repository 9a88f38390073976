"""Instant notifications: synchronous hand-off, then storage of the known outcome (docs/compatibility.md C8)."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.chains.repository import ChainRepository
from altinn_notifications.providers.base import EmailMessage, SendOutcome, SmsMessage
from altinn_notifications.queue.maintenance import MaintenanceSettings, ReservationPruning
from altinn_notifications.reports.repository import ReportRepository
from altinn_notifications.status.completion import complete_orders
from tests.api.helpers import V1
from tests.chains.conftest import FakeProviders, count, fake_provider_container, fetch
from tests.conftest import ClientFactory, ContainerFactory
from tests.pipeline.conftest import RunWorkers, eventually

SMS_BODY: dict[str, Any] = {
    "idempotencyId": "otp-verification-user123-20240115103000",
    "sendersReference": "user-verification-123",
    "recipientSms": {
        "phoneNumber": "+4741234567",
        "timeToLiveInSeconds": 300,
        "smsSettings": {"body": "Your one-time code is: 123456."},
    },
}
EMAIL_BODY: dict[str, Any] = {
    "idempotencyId": "otp-email-user123-20240115103000",
    "sendersReference": "user-verification-email-123",
    "recipientEmail": {
        "emailAddress": "user@example.com",
        "emailSettings": {
            "subject": "Your one-time code from Altinn",
            "body": "<p>Your one-time code is: 123456</p>",
            "senderEmailAddress": "noreply@etat.no",
            "contentType": "Html",
        },
    },
}


@pytest.fixture
def container(make_container: ContainerFactory, providers: FakeProviders) -> Container:
    """Instant orders are handed to the fake providers."""
    return fake_provider_container(make_container, providers)


async def _order(container: Container, shipment_id: str) -> dict[str, Any]:
    (row,) = await fetch(
        container,
        """SELECT o._id, o.type::text AS type, o.processedstatus::text AS status, o.sendingtimepolicy,
                  o.requestedsendtime, o.created, o.notificationorder, c.orderchain
           FROM orders o JOIN orderschain c ON c._id = o._orderchainid WHERE o.alternateid = $1""",
        UUID(shipment_id),
    )
    return row


async def test_instant_sms_is_handed_off_then_stored_with_the_outcome(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    before = datetime.now(UTC)
    response = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert response.status_code == 201, response.text
    receipt = response.json()
    chain_id, shipment_id = receipt["notificationOrderId"], receipt["notification"]["shipmentId"]
    assert receipt == {
        "notificationOrderId": chain_id,
        "notification": {"shipmentId": shipment_id, "sendersReference": "user-verification-123"},
    }
    assert response.headers["location"] == f"http://localhost:5090{V1}/orders/chain/{chain_id}"

    (message,) = providers.sms.sent
    assert isinstance(message, SmsMessage)
    assert (message.mobile_number, message.sender, message.body) == (
        "+4741234567",
        "Altinn",
        "Your one-time code is: 123456.",
    )
    assert message.time_to_live_seconds == 300
    assert providers.email.sent == []

    order = await _order(container, shipment_id)
    assert (order["type"], order["status"], order["sendingtimepolicy"]) == ("Instant", "Processed", 1)
    assert order["requestedsendtime"] == order["created"]
    assert order["notificationorder"]["notificationChannel"] == "Sms"
    assert order["notificationorder"]["recipients"] == [{"mobileNumber": "+4741234567"}]
    assert order["orderchain"]["Type"] == 2
    assert order["orderchain"]["Recipient"]["TimeToLiveInSeconds"] == 300
    (text,) = await fetch(
        container, "SELECT sendernumber, body FROM smstexts WHERE _orderid = $1", order["_id"]
    )
    assert text == {"sendernumber": "Altinn", "body": "Your one-time code is: 123456."}
    (notification,) = await fetch(
        container,
        "SELECT alternateid, mobilenumber, result::text AS result, gatewayreference, expirytime"
        " FROM smsnotifications WHERE _orderid = $1",
        order["_id"],
    )
    assert notification["alternateid"] == message.notification_id
    assert (notification["mobilenumber"], notification["result"]) == ("+4741234567", "Accepted")
    assert notification["gatewayreference"] == "gw-1"
    expected = before + timedelta(seconds=300)
    assert expected - timedelta(seconds=1) <= notification["expirytime"] <= expected + timedelta(seconds=5)

    # A later delivery report is matched by the gateway reference and completes the order.
    async with container.transaction() as conn:
        touched, missing = await ReportRepository(conn).apply_reports("sms", [("gw-1", "Delivered", {})])
        await complete_orders(conn, touched)
    assert missing == {}
    assert (await _order(container, shipment_id))["status"] == "Completed"

    read = await client.get(f"{V1}/orders/chain/{chain_id}", headers=auth)
    assert read.status_code == 200 and read.json() == receipt


async def test_instant_email_is_handed_off_then_stored_with_the_outcome(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    before = datetime.now(UTC)
    response = await client.post(f"{V1}/future/orders/instant/email", json=EMAIL_BODY, headers=auth)
    assert response.status_code == 201, response.text
    shipment_id = response.json()["notification"]["shipmentId"]
    (message,) = providers.email.sent
    assert isinstance(message, EmailMessage)
    assert (message.to_address, message.from_address, message.content_type) == (
        "user@example.com",
        "noreply@etat.no",
        "Html",
    )
    assert message.subject == "Your one-time code from Altinn"

    order = await _order(container, shipment_id)
    assert (order["type"], order["status"], order["sendingtimepolicy"]) == ("Instant", "Processed", 1)
    assert order["notificationorder"]["notificationChannel"] == "Email"
    (text,) = await fetch(
        container, "SELECT fromaddress, contenttype FROM emailtexts WHERE _orderid = $1", order["_id"]
    )
    assert text == {"fromaddress": "noreply@etat.no", "contenttype": "Html"}
    (notification,) = await fetch(
        container,
        "SELECT alternateid, toaddress, result::text AS result, operationid, expirytime"
        " FROM emailnotifications WHERE _orderid = $1",
        order["_id"],
    )
    assert notification["alternateid"] == message.notification_id
    assert (notification["toaddress"], notification["result"], notification["operationid"]) == (
        "user@example.com",
        "Succeeded",
        "op-1",
    )
    expected = before + timedelta(hours=48)
    assert expected - timedelta(seconds=1) <= notification["expirytime"] <= expected + timedelta(seconds=5)


async def test_deprecated_instant_endpoint_sends_sms(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    body = {
        "idempotencyId": "legacy-1",
        "recipient": {
            "recipientSms": {**SMS_BODY["recipientSms"], "smsSettings": {"sender": "Etat", "body": "x"}}
        },
    }
    response = await client.post(f"{V1}/future/orders/instant", json=body, headers=auth)
    assert response.status_code == 201, response.text
    (message,) = providers.sms.sent
    assert isinstance(message, SmsMessage) and message.sender == "Etat"
    assert await count(container, "smsnotifications") == 1


async def test_repeated_instant_request_answers_the_original_without_sending_again(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    first = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert first.status_code == 201
    again = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert again.status_code == 200
    assert again.json() == first.json()
    # Instant SMS and email share the order type: the same key on the email endpoint is a replay too.
    email = await client.post(
        f"{V1}/future/orders/instant/email",
        json={**EMAIL_BODY, "idempotencyId": SMS_BODY["idempotencyId"]},
        headers=auth,
    )
    assert email.status_code == 200 and email.json() == first.json()
    assert len(providers.sms.sent) == 1 and providers.email.sent == []
    assert await count(container, "orderschain") == 1


async def test_concurrent_identical_instant_requests_send_once(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    """Five identical requests at once (a client retrying while the first is still in flight): one
    hand-off; the others wait for its outcome and answer the same receipt."""
    providers.sms.delay = 0.3
    responses = await asyncio.gather(
        *(client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201], [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert len(providers.sms.sent) == 1
    assert await count(container, "orderschain") == 1 and await count(container, "smsnotifications") == 1
    assert await count(container, "instantreservations") == 0


async def test_reservation_left_by_a_crashed_request_expires(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    async with container.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO notifications.instantreservations (creatorname, idempotencyid, holder, reserved_until)
               VALUES ('ttd', $1, $2, now() - interval '1 second')""",
            SMS_BODY["idempotencyId"],
            uuid4(),
        )
    response = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert response.status_code == 201, response.text
    assert len(providers.sms.sent) == 1
    assert await count(container, "instantreservations") == 0


async def test_provider_failure_is_503_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    providers.sms.error = ConnectionError("gateway down")
    response = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert response.status_code == 503
    problem = response.json()
    assert (problem["status"], problem["code"]) == (503, "NOT-00004")
    assert problem["detail"] == "A temporary network failure occurred"
    for table in ("orderschain", "orders", "smstexts", "smsnotifications"):
        assert await count(container, table) == 0

    # An email that could not be handed over at all is 503 too.
    providers.email.error = ConnectionError("vendor unreachable")
    response = await client.post(f"{V1}/future/orders/instant/email", json=EMAIL_BODY, headers=auth)
    assert response.status_code == 503 and response.json()["code"] == "NOT-00004"
    assert await count(container, "emailnotifications") == 0

    # Nothing was kept (the reservation neither), so the same id goes through once the gateway is back.
    assert await count(container, "instantreservations") == 0
    providers.sms.error = None
    retry = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert retry.status_code == 201


async def test_instant_sms_the_gateway_cannot_take_now_is_503(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    providers.sms.outcome = SendOutcome(result="New", transient=True, detail="gateway timeout")
    response = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert response.status_code == 503 and response.json()["code"] == "NOT-00004"
    assert await count(container, "smsnotifications") == 0
    assert await count(container, "instantreservations") == 0


@pytest.mark.parametrize(
    ("outcome", "stored", "order_status"),
    [
        (SendOutcome(result="Accepted", reference="gw-1"), "Accepted", "Processed"),
        (SendOutcome(result="Failed_InvalidRecipient"), "Failed_InvalidRecipient", "Completed"),
        (SendOutcome(result="Failed"), "Failed", "Completed"),
    ],
    ids=["accepted", "invalid-recipient", "failed"],
)
async def test_instant_sms_gateway_results_are_201(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    providers: FakeProviders,
    outcome: SendOutcome,
    stored: str,
    order_status: str,
) -> None:
    """docs/compatibility.md C8: whatever the gateway answers is a result of the hand-off, never a 503."""
    providers.sms.outcome = outcome
    response = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert response.status_code == 201, response.text
    order = await _order(container, response.json()["notification"]["shipmentId"])
    assert order["status"] == order_status
    (notification,) = await fetch(
        container, "SELECT result::text AS result FROM smsnotifications WHERE _orderid = $1", order["_id"]
    )
    assert notification["result"] == stored


def _instant_email_to(address: str, idempotency_id: str = "otp-email-1") -> dict[str, Any]:
    body = copy.deepcopy(EMAIL_BODY)
    body["idempotencyId"] = idempotency_id
    body["recipientEmail"]["emailAddress"] = address
    return body


async def _shipment_status(client: httpx.AsyncClient, auth: dict[str, str], shipment_id: str) -> str:
    response = await client.get(f"{V1}/future/shipment/{shipment_id}", headers=auth)
    assert response.status_code == 200, response.text
    (recipient,) = response.json()["recipients"]
    status: str = recipient["status"]
    return status


@pytest.mark.parametrize(
    ("address", "final"),
    [
        ("transient-fail@test.com", "Email_Delivered"),
        ("permanent-fail@test.com", "Email_Failed"),
        ("bounce@test.com", "Email_Failed_Bounced"),
    ],
)
async def test_instant_email_vendor_outcomes_are_results_not_failed_hand_offs(
    make_container: ContainerFactory,
    make_client: ClientFactory,
    auth: dict[str, str],
    run_workers: RunWorkers,
    address: str,
    final: str,
) -> None:
    """docs/compatibility.md C8: the simulated vendor's permanent and transient failures answer 201; a
    transient one is stored `New` with dispatch's back-off, and the regular email dispatch sends it again."""
    container = make_container()  # the simulated vendors (this module's `container` has fakes)
    client = make_client(container)
    body = _instant_email_to(address)

    async def settled() -> bool:
        return await _shipment_status(client, auth, shipment_id) == final

    # The workers run from the start: the simulated vendor's later reports go to their sink.
    async with run_workers(container=container):
        response = await client.post(f"{V1}/future/orders/instant/email", json=body, headers=auth)
        assert response.status_code == 201, response.text
        receipt = response.json()
        shipment_id = receipt["notification"]["shipmentId"]
        if address.startswith("transient"):
            (row,) = await fetch(
                container,
                "SELECT result::text AS result, attempts, next_attempt_at > now() AS backed_off"
                " FROM emailnotifications",
            )
            assert row == {"result": "New", "attempts": 1, "backed_off": True}
            assert (await _order(container, shipment_id))["status"] == "Processed"
            again = await client.post(f"{V1}/future/orders/instant/email", json=body, headers=auth)
            assert again.status_code == 200 and again.json() == receipt
            # Move the clock past the back-off instead of waiting for it.
            async with container.pool.acquire() as conn:
                await conn.execute("UPDATE notifications.emailnotifications SET next_attempt_at = now()")
        await eventually(settled)
    assert (await _order(container, shipment_id))["status"] == "Completed"
    assert await count(container, "orderschain") == 1
    # Handed to the vendor once by the request and, after a transient failure, once more by dispatch.
    (notification_id,) = [
        r["alternateid"] for r in await fetch(container, "SELECT alternateid FROM emailnotifications")
    ]
    assert container.outbox is not None
    sends = [
        e["result"]
        for e in container.outbox.read(10_000, "email")
        if e["notificationId"] == str(notification_id)
    ]
    handed_off = {
        "transient-fail@test.com": ["Failed_TransientError", "Succeeded"],
        "permanent-fail@test.com": ["Failed"],
        "bounce@test.com": ["Succeeded"],  # the bounce comes later, as a delivery report
    }
    assert sends == handed_off[address]


async def test_instant_email_rate_limit_pauses_the_email_channel(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    """A vendor's "retry after" pauses the email channel for every worker, and the email waits for it
    (dispatch's rules: docs/compatibility.md C12)."""
    providers.email.outcome = SendOutcome(
        result="Failed_TransientError", transient=True, retry_after=600, detail="429"
    )
    response = await client.post(f"{V1}/future/orders/instant/email", json=EMAIL_BODY, headers=auth)
    assert response.status_code == 201, response.text
    (pause,) = await fetch(
        container,
        "SELECT channel, emaillimittimeout > now() + interval '500 seconds' AS paused FROM resourcelimitlog",
    )
    assert pause == {"channel": "email", "paused": True}
    (row,) = await fetch(
        container,
        "SELECT result::text AS result, next_attempt_at > now() + interval '500 seconds' AS waits"
        " FROM emailnotifications",
    )
    assert row == {"result": "New", "waits": True}


async def test_final_failure_completes_the_order_at_once(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, providers: FakeProviders
) -> None:
    providers.sms.outcome = SendOutcome(result="Failed_InvalidRecipient")
    response = await client.post(f"{V1}/future/orders/instant/sms", json=SMS_BODY, headers=auth)
    assert response.status_code == 201, response.text
    order = await _order(container, response.json()["notification"]["shipmentId"])
    assert order["status"] == "Completed"
    (notification,) = await fetch(
        container,
        "SELECT result::text AS result, gatewayreference FROM smsnotifications WHERE _orderid = $1",
        order["_id"],
    )
    assert notification == {"result": "Failed_InvalidRecipient", "gatewayreference": None}
    (feed,) = await fetch(container, "SELECT orderstatus FROM statusfeed WHERE orderid = $1", order["_id"])
    assert feed["orderstatus"]["status"] == "Order_Completed"
    assert feed["orderstatus"]["shipmentType"] == "Instant"


async def test_a_reservation_taken_over_after_expiry_is_released_only_by_its_new_holder(
    container: Container,
) -> None:
    first, second = uuid4(), uuid4()
    async with container.pool.acquire() as conn:
        repo = ChainRepository(conn)
        assert await repo.reserve_instant("ttd", "otp-1", first, timedelta(minutes=2))
        assert not await repo.reserve_instant("ttd", "otp-1", second, timedelta(minutes=2))  # still held
        await conn.execute(
            "UPDATE notifications.instantreservations SET reserved_until = now() - interval '1 s'"
        )
        assert await repo.reserve_instant("ttd", "otp-1", second, timedelta(minutes=2))  # expired: taken over
        await repo.release_instant("ttd", "otp-1", first)  # the first holder, late: not its reservation now
        assert await conn.fetchval("SELECT holder FROM notifications.instantreservations") == second
        await repo.release_instant("ttd", "otp-1", second)
        assert await count(container, "instantreservations") == 0


async def test_abandoned_reservations_are_deleted_a_day_after_they_expire(container: Container) -> None:
    async with container.pool.acquire() as conn:
        await conn.executemany(
            """INSERT INTO notifications.instantreservations (creatorname, idempotencyid, holder, reserved_until)
               VALUES ('ttd', $1, $2, now() + $3::interval)""",
            [
                ("crashed-long-ago", uuid4(), timedelta(days=-2)),
                ("crashed-lately", uuid4(), timedelta(hours=-1)),
                ("in-flight", uuid4(), timedelta(minutes=2)),
            ],
        )
    maintenance = ReservationPruning(container.transaction, MaintenanceSettings())
    assert await maintenance.run() == 1
    kept = await fetch(container, "SELECT idempotencyid FROM instantreservations ORDER BY idempotencyid")
    assert [r["idempotencyid"] for r in kept] == ["crashed-lately", "in-flight"]
