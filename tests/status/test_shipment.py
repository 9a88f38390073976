"""GET future/shipment/{id}: the delivery manifest of an order of any type (docs/compatibility.md C9)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from tests.api.helpers import V1, add_notification, set_order_status

SHIPMENT = f"{V1}/future/shipment"


async def _place(client: httpx.AsyncClient, headers: dict[str, str], reference: str | None = "ref-1") -> str:
    body: dict[str, Any] = {"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@b.no"}]}
    if reference is not None:
        body["sendersReference"] = reference
    response = await client.post(f"{V1}/orders/email", json=body, headers=headers)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_manifest_lists_every_notification_with_its_lifecycle_name(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    order_id = await _place(client, auth)
    emails = [
        ("Delivered", "a@b.no", "Email_Delivered"),
        ("Failed_InvalidEmailFormat", "bad@", "Email_Failed_InvalidFormat"),
        ("Failed_SupressedRecipient", "s@b.no", "Email_Failed_SuppressedRecipient"),
        ("New", "n@b.no", "Email_New"),
        ("Failed_RecipientReserved", "", "Email_Failed_RecipientReserved"),
    ]
    sms = [
        ("Accepted", "+4799999999", "SMS_Accepted"),
        ("Failed_InvalidReceiver", "+4711111111", "SMS_Failed_InvalidRecipient"),  # legacy DB name
        ("Failed_Recipientreserved", "", "SMS_Failed_RecipientReserved"),  # legacy casing
        ("Failed_TTL", "+4722222222", "SMS_Failed_TTL"),
    ]
    for result, address, _ in emails:
        await add_notification(container, order_id, "email", result, address)
    for result, number, _ in sms:
        await add_notification(container, order_id, "sms", result, number)
    await set_order_status(container, order_id, "Processed")

    response = await client.get(f"{SHIPMENT}/{order_id}", headers=auth)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["shipmentId"] == order_id
    assert body["sendersReference"] == "ref-1"
    assert body["type"] == "Notification"
    assert body["status"] == "Order_Processed"
    assert body["lastUpdate"].endswith("Z")
    expected = [("Email", address, name) for _, address, name in emails] + [
        ("SMS", number, name) for _, number, name in sms
    ]
    assert [(r["type"], r["destination"], r["status"]) for r in body["recipients"]] == expected
    assert all(r["lastUpdate"].endswith("Z") for r in body["recipients"])


@pytest.mark.parametrize("order_type", ["Notification", "Reminder", "Instant", "Composed"])
async def test_every_order_type_is_a_shipment(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, order_type: str
) -> None:
    order_id = await _place(client, auth)
    async with container.pool.acquire() as conn:
        await conn.execute(
            "UPDATE orders SET type = $2::notificationordertype WHERE alternateid = $1",
            UUID(order_id),
            order_type,
        )

    response = await client.get(f"{SHIPMENT}/{order_id}", headers=auth)

    assert response.status_code == 200
    assert response.json()["type"] == order_type


@pytest.mark.parametrize(
    "status", ["Registered", "Processing", "Completed", "SendConditionNotMet", "Cancelled"]
)
async def test_order_status_is_prefixed(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, status: str
) -> None:
    order_id = await _place(client, auth)
    await set_order_status(container, order_id, status)
    response = await client.get(f"{SHIPMENT}/{order_id}", headers=auth)
    assert response.json()["status"] == f"Order_{status}"


async def test_last_update_is_the_later_of_created_and_processed(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    order_id = await _place(client, auth)
    async with container.pool.acquire() as conn:
        created = await conn.fetchval("SELECT created FROM orders WHERE alternateid = $1", UUID(order_id))
        await conn.execute(
            "UPDATE orders SET processed = created + interval '1 hour' WHERE alternateid = $1", UUID(order_id)
        )
    later = (await client.get(f"{SHIPMENT}/{order_id}", headers=auth)).json()["lastUpdate"]
    assert (_parse(later) - created).total_seconds() == 3600

    async with container.pool.acquire() as conn:
        await conn.execute(
            "UPDATE orders SET processed = created - interval '1 hour' WHERE alternateid = $1", UUID(order_id)
        )
    earlier = (await client.get(f"{SHIPMENT}/{order_id}", headers=auth)).json()["lastUpdate"]
    assert _parse(earlier) == created


async def test_order_without_notifications_has_no_recipients_and_omits_null_reference(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await _place(client, auth, reference=None)
    body = (await client.get(f"{SHIPMENT}/{order_id}", headers=auth)).json()
    assert body["recipients"] == []
    assert "sendersReference" not in body
    assert body["status"] == "Order_Registered"


async def test_another_orgs_shipment_is_not_found(
    client: httpx.AsyncClient, auth: dict[str, str], auth_for: Any, container: Container
) -> None:
    order_id = await _place(client, auth)
    await add_notification(container, order_id, "email", "Delivered", "a@b.no")

    response = await client.get(f"{SHIPMENT}/{order_id}", headers=auth_for("digdir"))

    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "NOT-00003"
    assert body["detail"] == "Shipment not found"
    assert body["status"] == 404
    assert body["traceId"]


async def test_unknown_shipment_is_not_found(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get(f"{SHIPMENT}/{uuid.uuid4()}", headers=auth)
    assert response.status_code == 404
    assert response.json()["code"] == "NOT-00003"


async def test_only_uuids_are_shipment_ids(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    # `{id:guid}` in the reference: anything else is no route at all, and `feed` is the feed.
    response = await client.get(f"{SHIPMENT}/not-a-guid", headers=auth)
    assert response.status_code == 404
    assert "code" not in response.json()
    feed = await client.get(f"{SHIPMENT}/feed", headers=auth)
    assert feed.status_code == 200
    assert feed.json() == []


async def test_shipment_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{SHIPMENT}/{uuid.uuid4()}")
    assert response.status_code == 401


async def test_shipment_routes_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/swagger/v1/swagger.json")).json()["paths"]
    assert f"{SHIPMENT}/{{id}}" in paths
    assert f"{SHIPMENT}/feed" in paths
    assert {p["name"] for p in paths[f"{SHIPMENT}/feed"]["get"]["parameters"]} == {
        "seq",
        "pageSize",
        "orderBy",
    }
