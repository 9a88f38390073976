"""v1 status and notification summaries: texts and counting rules (docs/compatibility.md C9)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from altinn_notifications.bootstrap import Container
from tests.api.helpers import V1, add_notification, set_order_status

ORDER: dict[str, Any] = {
    "notificationChannel": "EmailAndSms",
    "sendersReference": "ref-2023-12-01",
    "emailTemplate": {"subject": "s", "body": "b"},
    "smsTemplate": {"body": "b"},
    "recipients": [{"organizationNumber": "810419652"}],
}


async def _place(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    response = await client.post(f"{V1}/orders", json=ORDER, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


@pytest.mark.parametrize(
    ("stored", "shown", "description"),
    [
        (
            "Registered",
            "Registered",
            "Order has been registered and is awaiting requested send time before processing.",
        ),
        ("Processing", "Processing", "Order processing is ongoing. Notifications are being generated."),
        (
            "Processed",
            "Completed",
            "Order processing is done. Notifications have been successfully generated.",
        ),
        ("Completed", "Completed", "Order processing is completed. All notifications have a final status."),
        (
            "SendConditionNotMet",
            "SendConditionNotMet",
            "Order processing was stopped due to send condition not being met.",
        ),
        ("Cancelled", "Cancelled", "Order processing was stopped due to order being cancelled."),
    ],
)
async def test_status_names_and_descriptions(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    container: Container,
    stored: str,
    shown: str,
    description: str,
) -> None:
    order_id = await _place(client, auth)
    await set_order_status(container, order_id, stored)
    response = await client.get(f"{V1}/orders/{order_id}/status", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["processingStatus"]["status"] == shown
    assert body["processingStatus"]["description"] == description
    assert body["processingStatus"]["lastUpdate"].endswith("Z")
    assert body["id"] == order_id
    assert body["creator"] == "ttd"
    assert body["sendersReference"] == "ref-2023-12-01"
    assert body["notificationChannel"] == "EmailAndSms"
    assert "notificationsStatusSummary" not in body  # no notifications yet


async def test_status_summary_counts(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    order_id = await _place(client, auth)
    for result in ("Succeeded", "Delivered", "Failed", "New"):
        await add_notification(container, order_id, "email", result, "a@b.no", orgno="810419652")
    for result in ("Accepted", "Delivered", "Failed_TTL"):
        await add_notification(container, order_id, "sms", result, "+4799999999", orgno="810419652")
    body = (await client.get(f"{V1}/orders/{order_id}/status", headers=auth)).json()
    summary = body["notificationsStatusSummary"]
    assert summary["email"] == {
        "links": {"self": f"http://localhost:5090{V1}/orders/{order_id}/notifications/email"},
        "generated": 4,
        "succeeded": 2,
    }
    # Quirk kept for compatibility: the status summary counts only Accepted SMS as succeeded.
    assert summary["sms"]["generated"] == 3
    assert summary["sms"]["succeeded"] == 1


async def test_email_summary(client: httpx.AsyncClient, auth: dict[str, str], container: Container) -> None:
    order_id = await _place(client, auth)
    delivered = await add_notification(container, order_id, "email", "Delivered", "a@b.no", nin="16069412345")
    await add_notification(container, order_id, "email", "Failed_TTL", "c@d.no", orgno="810419652")
    await add_notification(container, order_id, "email", "Failed_RecipientReserved", "", nin="11876995923")
    response = await client.get(f"{V1}/orders/{order_id}/notifications/email", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["orderId"] == order_id
    assert body["sendersReference"] == "ref-2023-12-01"
    assert body["generated"] == 3
    assert body["succeeded"] == 1
    first, second, third = body["notifications"]
    assert first["id"] == str(delivered)
    assert first["succeeded"] is True
    assert first["recipient"] == {"emailAddress": "a@b.no", "nationalIdentityNumber": "16069412345"}
    assert first["sendStatus"]["status"] == "Delivered"
    assert first["sendStatus"]["description"] == (
        "The email was delivered to the recipient. No errors reported, making it likely it was received by the recipient."
    )
    assert second["sendStatus"]["status"] == "Failed"  # v1 shows Failed_TTL as Failed
    assert second["succeeded"] is False
    assert third["recipient"] == {"nationalIdentityNumber": "11876995923"}
    assert third["sendStatus"]["description"] == (
        "The email was not sent because the recipient has reserved themselves from electronic communication."
    )


async def test_sms_summary_counts_accepted_and_delivered(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    order_id = await _place(client, auth)
    await add_notification(container, order_id, "sms", "Accepted", "+4799999999")
    await add_notification(container, order_id, "sms", "Delivered", "+4799999998")
    await add_notification(container, order_id, "sms", "Failed_InvalidRecipient", "+4799999997")
    body = (await client.get(f"{V1}/orders/{order_id}/notifications/sms", headers=auth)).json()
    assert body["generated"] == 3
    assert body["succeeded"] == 2
    statuses = [n["sendStatus"]["status"] for n in body["notifications"]]
    assert statuses == ["Accepted", "Delivered", "Failed_InvalidRecipient"]
    assert body["notifications"][2]["sendStatus"]["description"] == (
        "The SMS was not delivered because the recipient's mobile number was invalid."
    )
    assert body["notifications"][0]["recipient"] == {"mobileNumber": "+4799999999"}


async def test_summary_of_order_without_notifications(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    order_id = await _place(client, auth)
    for channel in ("email", "sms"):
        body = (await client.get(f"{V1}/orders/{order_id}/notifications/{channel}", headers=auth)).json()
        assert body == {
            "orderId": order_id,
            "sendersReference": "ref-2023-12-01",
            "generated": 0,
            "succeeded": 0,
            "notifications": [],
        }
