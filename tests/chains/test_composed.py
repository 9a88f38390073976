"""`POST /future/orders/composed-email` (docs/compatibility.md C7): stored as a `Composed` order with its attachments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx

from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_COMPOSED_EMAIL
from tests.api.helpers import V1
from tests.auth.helpers import PlatformIssuers
from tests.chains.conftest import count, fetch
from tests.conftest import ClientFactory

EXPIRY = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ")
SAS_URL = f"https://account.blob.core.windows.net/container/decision.pdf?se={EXPIRY}&sp=r&sr=b&sig=c2ln"


def composed(idempotency_id: str = "3fa85f64-5717-4562-b3fc-2c963f66afa6") -> dict[str, Any]:
    return {
        "idempotencyId": idempotency_id,
        "sendersReference": "ref-2026-001",
        "requestedSendTime": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "dialogportenAssociation": {"dialogId": "d-1"},
        "recipient": {
            "emailAddress": "recipient@example.com",
            "emailSettings": {
                "senderEmailAddress": "noreply@etat.no",
                "subject": "Decision regarding your application",
                "body": "Please review the attached decision document.",
                "contentType": "Plain",
                "attachments": [
                    {"filename": "decision.pdf", "mimeType": "application/pdf", "sasUrl": SAS_URL}
                ],
            },
        },
    }


def composed_auth(make_token: Any, org: str = "ttd") -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(org, scopes=[SCOPE_COMPOSED_EMAIL])}"}


async def test_composed_email_is_stored_with_its_attachments(
    client: httpx.AsyncClient, make_token: Any, auth: dict[str, str], container: Container
) -> None:
    headers = composed_auth(make_token)
    response = await client.post(f"{V1}/future/orders/composed-email", json=composed(), headers=headers)
    assert response.status_code == 201, response.text
    receipt = response.json()
    chain_id, shipment_id = receipt["notificationOrderId"], receipt["notification"]["shipmentId"]
    assert receipt["notification"] == {"shipmentId": shipment_id, "sendersReference": "ref-2026-001"}
    assert response.headers["location"].endswith(f"{V1}/orders/chain/{chain_id}")

    (order,) = await fetch(
        container,
        """SELECT o._id, o.type::text AS type, o.processedstatus::text AS status, o.notificationorder,
                  o.sendingtimepolicy, c.orderchain
           FROM orders o JOIN orderschain c ON c._id = o._orderchainid WHERE o.alternateid = $1""",
        UUID(shipment_id),
    )
    assert (order["type"], order["status"], order["sendingtimepolicy"]) == ("Composed", "Registered", None)
    stored = order["notificationorder"]
    assert stored["notificationChannel"] == "Email"
    assert stored["recipients"] == [{"emailAddress": "recipient@example.com"}]
    assert stored["emailAttachments"] == [
        {"sasUrl": SAS_URL, "filename": "decision.pdf", "mimeType": "application/pdf"}
    ]
    assert order["orderchain"]["Type"] == 3
    assert order["orderchain"]["DialogportenAssociation"] == {"DialogId": "d-1"}
    (text,) = await fetch(
        container, "SELECT fromaddress, subject FROM emailtexts WHERE _orderid = $1", order["_id"]
    )
    assert text == {"fromaddress": "noreply@etat.no", "subject": "Decision regarding your application"}

    # The Location route answers under the ordinary create scope too.
    read = await client.get(f"{V1}/orders/chain/{chain_id}", headers=auth)
    assert read.status_code == 200 and read.json() == receipt


async def test_composed_email_needs_its_own_scope(
    pat_container: Container,
    make_client: ClientFactory,
    auth: dict[str, str],
    platform_issuers: PlatformIssuers,
) -> None:
    container = pat_container
    client = make_client(container)
    denied = await client.post(f"{V1}/future/orders/composed-email", json=composed(), headers=auth)
    assert denied.status_code == 403
    # A valid platform access token (trusted issuer, own key) does not meet this policy.
    platform_only = {"PlatformAccessToken": platform_issuers.mint("ttd")}
    anonymous = await client.post(
        f"{V1}/future/orders/composed-email", json=composed(), headers=platform_only
    )
    assert anonymous.status_code == 401
    assert await count(container, "orders") == 0


async def test_composed_email_idempotency_is_per_order_type(
    client: httpx.AsyncClient, make_token: Any, auth: dict[str, str], container: Container
) -> None:
    headers = composed_auth(make_token)
    first = await client.post(f"{V1}/future/orders/composed-email", json=composed("same"), headers=headers)
    again = await client.post(f"{V1}/future/orders/composed-email", json=composed("same"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    chain = {
        "idempotencyId": "same",
        "recipient": {
            "recipientEmail": {"emailAddress": "a@example.no", "emailSettings": {"subject": "s", "body": "b"}}
        },
    }
    other_type = await client.post(f"{V1}/future/orders", json=chain, headers=auth)
    assert other_type.status_code == 201
    assert await count(container, "orderschain") == 2
