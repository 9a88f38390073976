"""Orders placed through the API are processed, sent, followed to a result and completed (docs/compatibility.md C10)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from altinn_notifications.bootstrap import Container, processing_config
from altinn_notifications.config import Settings
from altinn_notifications.recipients.registry import import_registry_document
from tests.api.helpers import V1
from tests.pipeline.conftest import FAST_PROCESSING, RunWorkers, eventually

NOON_OSLO = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
EVENING_OSLO = datetime(2026, 11, 27, 19, 30, tzinfo=UTC)


@pytest.fixture
def daytime_workers(run_workers: RunWorkers) -> RunWorkers:
    """Workers whose SMS window is open (12:00 Oslo), whatever the real time is."""

    def run(**overrides: Any) -> Any:
        return run_workers(clock=lambda: NOON_OSLO, **overrides)

    return run


async def _order(client: httpx.AsyncClient, auth: dict[str, str], path: str, body: dict[str, Any]) -> str:
    response = await client.post(f"{V1}{path}", json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def _status(client: httpx.AsyncClient, auth: dict[str, str], order_id: str) -> str:
    body = (await client.get(f"{V1}/orders/{order_id}/status", headers=auth)).json()
    status: str = body["processingStatus"]["status"]
    return status


async def _raw_status(container: Container, order_id: str) -> str:
    async with container.pool.acquire() as conn:
        status: str = await conn.fetchval(
            "SELECT processedstatus::text FROM orders WHERE alternateid = $1", UUID(order_id)
        )
        return status


async def _feed(container: Container, order_id: str) -> dict[str, Any] | None:
    async with container.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT f.orderstatus FROM statusfeed f JOIN orders o ON o._id = f.orderid WHERE o.alternateid = $1",
            UUID(order_id),
        )
    return row["orderstatus"] if row else None


async def _completed(container: Container, order_id: str) -> bool:
    return await _raw_status(container, order_id) == "Completed"


async def test_email_order_is_delivered_and_completed(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, run_workers: RunWorkers
) -> None:
    order_id = await _order(
        client,
        auth,
        "/orders/email",
        {
            "subject": "Hello",
            "body": "Hi",
            "recipients": [{"emailAddress": "a@example.no"}],
            "sendersReference": "r1",
        },
    )
    async with run_workers():
        await eventually(lambda: _completed(container, order_id))
    summary = (await client.get(f"{V1}/orders/{order_id}/notifications/email", headers=auth)).json()
    assert summary["generated"] == 1
    assert summary["notifications"][0]["sendStatus"]["status"] == "Delivered"
    assert summary["notifications"][0]["recipient"] == {"emailAddress": "a@example.no"}
    feed = await _feed(container, order_id)
    assert feed is not None
    assert feed["shipmentId"] == order_id
    assert feed["status"] == "Order_Completed"
    assert feed["shipmentType"] == "Notification"
    assert feed["sendersReference"] == "r1"
    assert [(r["destination"], r["status"]) for r in feed["recipients"]] == [
        ("a@example.no", "Email_Delivered")
    ]


async def test_sms_order_in_daytime_is_delivered(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, daytime_workers: RunWorkers
) -> None:
    order_id = await _order(
        client, auth, "/orders/sms", {"body": "Hi", "recipients": [{"mobileNumber": "+4799999999"}]}
    )
    async with daytime_workers():
        await eventually(lambda: _completed(container, order_id))
    summary = (await client.get(f"{V1}/orders/{order_id}/notifications/sms", headers=auth)).json()
    assert [n["sendStatus"]["status"] for n in summary["notifications"]] == ["Delivered"]


async def test_daytime_sms_waits_outside_the_window(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, run_workers: RunWorkers
) -> None:
    order_id = await _order(
        client, auth, "/orders/sms", {"body": "Hi", "recipients": [{"mobileNumber": "+4799999999"}]}
    )
    async with run_workers(clock=lambda: EVENING_OSLO) as workers:
        await eventually(lambda: _is(container, order_id, "Processed"))
        assert await workers.sms.run_once() == 0  # the window is closed: nothing is claimed
    assert await _sms_results(container, order_id, ["New"])


async def _is(container: Container, order_id: str, status: str) -> bool:
    return await _raw_status(container, order_id) == status


async def _sms_results(container: Container, order_id: str, expected: list[str]) -> bool:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT s.result::text FROM smsnotifications s JOIN orders o ON o._id = s._orderid
               WHERE o.alternateid = $1 ORDER BY s._id""",
            UUID(order_id),
        )
    return [r["result"] for r in rows] == expected


REGISTRY = {
    "persons": [
        {"nationalIdentityNumber": "16069412345", "name": "Ola Nordmann", "mobileNumber": "98765432"},
        {
            "nationalIdentityNumber": "11876995923",
            "name": "Kari",
            "email": "kari@example.no",
            "isReserved": True,
        },
    ],
    "organizations": [
        {
            "organizationNumber": "810419652",
            "name": "Firma AS",
            "emails": ["post@firma.no"],
            "mobileNumbers": [],
            "users": [
                {
                    "userId": 20012345,
                    "nationalIdentityNumber": "01010112345",
                    "mobileNumber": "+4741234567",
                    "resources": ["urn:altinn:resource:ttd_example"],
                },
                {
                    "userId": 20012346,
                    "email": "other@firma.no",
                    "resources": ["urn:altinn:resource:something_else"],
                },
            ],
        }
    ],
}


async def test_appendix_b_email_preferred_with_mixed_recipients(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, daytime_workers: RunWorkers
) -> None:
    """The reference's worked example of docs/compatibility.md C10 (a v1 EmailPreferred order to a person, an organisation and an address)."""
    await import_registry_document(container.pool, REGISTRY)
    order_id = await _order(
        client,
        auth,
        "/orders",
        {
            "notificationChannel": "EmailPreferred",
            "emailTemplate": {
                "subject": "New message",
                "body": "Hi $recipientName$, you have a new message.",
            },
            "smsTemplate": {"body": "You have a new message in Altinn."},
            "recipients": [
                {"nationalIdentityNumber": "16069412345"},
                {"organizationNumber": "810419652"},
                {"emailAddress": "known@example.no"},
            ],
            "resourceId": "urn:altinn:resource:ttd_example",
        },
    )
    async with daytime_workers():
        await eventually(lambda: _completed(container, order_id))
    async with container.pool.acquire() as conn:
        emails = await conn.fetch(
            """SELECT e.toaddress, e.customizedbody, e.result::text, e.recipientorgno, e.recipientnin
               FROM emailnotifications e JOIN orders o ON o._id = e._orderid WHERE o.alternateid = $1
               ORDER BY e.toaddress""",
            UUID(order_id),
        )
        sms = await conn.fetch(
            """SELECT s.mobilenumber, s.customizedbody, s.result::text, s.recipientorgno, s.recipientnin
               FROM smsnotifications s JOIN orders o ON o._id = s._orderid WHERE o.alternateid = $1
               ORDER BY s.mobilenumber""",
            UUID(order_id),
        )
    assert [(e["toaddress"], e["customizedbody"], e["result"]) for e in emails] == [
        ("known@example.no", None, "Delivered"),  # no identity: placeholder stays in the template
        ("post@firma.no", "Hi Firma AS, you have a new message.", "Delivered"),
    ]
    assert [
        (s["mobilenumber"], s["customizedbody"], s["result"], s["recipientorgno"], s["recipientnin"])
        for s in sms
    ] == [
        ("+4741234567", None, "Delivered", "810419652", None),  # the authorised user of the org
        ("+4798765432", None, "Delivered", None, "16069412345"),  # the person's fallback channel
    ]


async def test_reserved_and_unknown_recipients_complete_at_generation(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, run_workers: RunWorkers
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    order_id = await _order(
        client,
        auth,
        "/orders/email",
        {
            "subject": "s",
            "body": "b",
            "recipients": [
                {"nationalIdentityNumber": "11876995923"},
                {"nationalIdentityNumber": "22222222222"},
            ],
        },
    )
    async with run_workers():
        await eventually(lambda: _completed(container, order_id))
    summary = (await client.get(f"{V1}/orders/{order_id}/notifications/email", headers=auth)).json()
    assert sorted(n["sendStatus"]["status"] for n in summary["notifications"]) == [
        "Failed_RecipientNotIdentified",
        "Failed_RecipientReserved",
    ]
    feed = await _feed(container, order_id)
    assert feed is not None and feed["status"] == "Order_Completed"
    assert sorted(r["status"] for r in feed["recipients"]) == [
        "Email_Failed_RecipientNotIdentified",
        "Email_Failed_RecipientReserved",
    ]
    assert all(r["destination"] == "" for r in feed["recipients"])


async def test_ignore_reservation_sends_to_reserved_person(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, run_workers: RunWorkers
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    order_id = await _order(
        client,
        auth,
        "/orders/email",
        {
            "subject": "s",
            "body": "b",
            "ignoreReservation": True,
            "recipients": [{"nationalIdentityNumber": "11876995923"}],
        },
    )
    async with run_workers():
        await eventually(lambda: _completed(container, order_id))
    summary = (await client.get(f"{V1}/orders/{order_id}/notifications/email", headers=auth)).json()
    assert [n["sendStatus"]["status"] for n in summary["notifications"]] == ["Delivered"]


STALE_NIN = "05059012345"  # contact details last verified more than 18 months ago


async def _email_results(container: Container, order_id: str) -> list[tuple[str, str]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT e.toaddress, e.result::text FROM emailnotifications e JOIN orders o ON o._id = e._orderid
               WHERE o.alternateid = $1""",
            UUID(order_id),
        )
    return [(r["toaddress"], r["result"]) for r in rows]


async def test_stale_contact_orgs_apply_to_v2_persons_only(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    settings: Settings,
    run_workers: RunWorkers,
) -> None:
    """docs/compatibility.md C6, C11: the org list (here the caller, `ttd`) lets a v2 person recipient use
    stale KRR data; a v1 order of the same org never does, at registration or at send time."""
    await import_registry_document(
        container.pool,
        {
            "persons": [
                {
                    "nationalIdentityNumber": STALE_NIN,
                    "email": "stale@example.no",
                    "lastVerified": "2020-01-01T00:00:00Z",
                }
            ]
        },
    )
    stale = settings.model_copy(update={"stale_contact_orgs": ["ttd"]})
    saved, container.settings = container.settings, stale
    try:
        v1 = await client.post(
            f"{V1}/orders/email",
            json={"subject": "s", "body": "b", "recipients": [{"nationalIdentityNumber": STALE_NIN}]},
            headers=auth,
        )
        v2 = await client.post(
            f"{V1}/future/orders",
            json={
                "idempotencyId": "stale-1",
                "recipient": {
                    "recipientPerson": {
                        "nationalIdentityNumber": STALE_NIN,
                        "channelSchema": "Email",
                        "emailSettings": {"subject": "s", "body": "b"},
                    }
                },
            },
            headers=auth,
        )
        assert v1.status_code == 202 and v2.status_code == 201, (v1.text, v2.text)
        assert v1.json()["recipientLookup"]["status"] == "Failed"
        assert v1.json()["recipientLookup"]["missingContact"] == [STALE_NIN]
        v1_id, v2_id = v1.json()["orderId"], v2.json()["notification"]["shipmentId"]
        processing = replace(
            processing_config(stale),
            condition_retry_delay=FAST_PROCESSING.condition_retry_delay,
            retry_base_delay=FAST_PROCESSING.retry_base_delay,
        )
        async with run_workers(processing=processing):
            await eventually(lambda: _completed(container, v1_id))
            await eventually(lambda: _completed(container, v2_id))
    finally:
        container.settings = saved
    assert await _email_results(container, v1_id) == [("", "Failed_RecipientNotIdentified")]
    assert await _email_results(container, v2_id) == [("stale@example.no", "Delivered")]


@pytest.mark.parametrize(
    ("address", "final"),
    [
        ("transient-fail@test.com", "Delivered"),
        ("permanent-fail@test.com", "Failed"),
        ("bounce@test.com", "Failed_Bounced"),
        ("slow-delivery@test.com", "Delivered"),
    ],
)
async def test_simulated_provider_outcomes_reach_final_results(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    run_workers: RunWorkers,
    address: str,
    final: str,
) -> None:
    order_id = await _order(
        client,
        auth,
        "/orders/email",
        {"subject": "s", "body": "b", "recipients": [{"emailAddress": address}]},
    )
    async with run_workers():
        await eventually(lambda: _completed(container, order_id))
    summary = (await client.get(f"{V1}/orders/{order_id}/notifications/email", headers=auth)).json()
    assert [n["sendStatus"]["status"] for n in summary["notifications"]] == [final]


async def test_cancelled_and_future_orders_are_not_processed(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, run_workers: RunWorkers
) -> None:
    later = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    future = {"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@example.no"}]}
    far = await _order(client, auth, "/orders/email", {**future, "requestedSendTime": _in_hours(2)})
    cancelled = await _order(client, auth, "/orders/email", {**future, "requestedSendTime": _in_hours(1)})
    assert (await client.put(f"{V1}/orders/{cancelled}/cancel", headers=auth)).status_code == 200
    now = await _order(client, auth, "/orders/email", {**future, "requestedSendTime": later})
    async with run_workers():
        await eventually(lambda: _completed(container, now))
    assert await _raw_status(container, far) == "Registered"
    assert await _raw_status(container, cancelled) == "Cancelled"
    assert await _feed(container, cancelled) is None


def _in_hours(hours: int) -> str:
    from datetime import timedelta

    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def test_order_due_soon_is_processed_at_its_time_not_before(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, run_workers: RunWorkers
) -> None:
    from datetime import timedelta

    due = datetime.now(UTC) + timedelta(seconds=2)
    order_id = await _order(
        client,
        auth,
        "/orders/email",
        {
            "subject": "s",
            "body": "b",
            "requestedSendTime": due.isoformat(),
            "recipients": [{"emailAddress": "a@example.no"}],
        },
    )
    async with run_workers(poll_interval=30):  # only the timer and NOTIFY can wake the loops in time
        await eventually(lambda: _completed(container, order_id), within=8)
    async with container.pool.acquire() as conn:
        handed_off = await conn.fetchval(
            """SELECT min(e.resulttime) FROM emailnotifications e JOIN orders o ON o._id = e._orderid
               WHERE o.alternateid = $1""",
            UUID(order_id),
        )
    assert handed_off >= due - timedelta(milliseconds=50)  # the send time is honoured
    assert handed_off - due < timedelta(seconds=1.5)  # woken by its timer, not by the 5 s poll
