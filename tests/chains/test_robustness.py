"""Input the reference answers with a server error is refused with 400 here (never a 500)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from altinn_notifications.config import SCOPE_COMPOSED_EMAIL
from tests.api.helpers import V1

RECIPIENT: dict[str, Any] = {
    "recipientEmail": {"emailAddress": "a@example.no", "emailSettings": {"subject": "s", "body": "b"}}
}
TOO_LATE = "The send time must not be later than 9999-12-24T00:00:00Z."


def chain(**fields: Any) -> dict[str, Any]:
    return {"idempotencyId": "x", "recipient": RECIPIENT, **fields}


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "NUL in a key",
        chain(idempotencyId="a\u0000b"),
        "$.idempotencyId",
        "The JSON value could not be converted. Path: $.idempotencyId.",
    ),
    (
        "lone surrogate",
        chain(sendersReference="a\ud800b"),
        "$.sendersReference",
        "The JSON value could not be converted. Path: $.sendersReference.",
    ),
    ("end of the calendar", chain(requestedSendTime="9999-12-31T23:59:59Z"), "RequestedSendTime", TOO_LATE),
    (
        "beyond the calendar in UTC",
        chain(requestedSendTime="9999-12-31T23:59:59-01:00"),
        "RequestedSendTime",
        TOO_LATE,
    ),
    (
        "before the calendar in UTC",
        chain(requestedSendTime="0001-01-01T00:00:00+01:00"),
        "RequestedSendTime",
        "RequestedSendTime must be greater than or equal to now.",
    ),
    (
        "huge delay",
        chain(reminders=[{"delayDays": 2**40, "recipient": RECIPIENT}]),
        "Reminders[0].DelayDays",
        TOO_LATE,
    ),
    (
        "delay past the calendar",
        chain(requestedSendTime="9999-12-20T00:00:00Z", reminders=[{"delayDays": 5, "recipient": RECIPIENT}]),
        "Reminders[0].DelayDays",
        TOO_LATE,
    ),
    (
        "reminder beyond the calendar",
        chain(reminders=[{"requestedSendTime": "9999-12-31T23:00:00-05:00", "recipient": RECIPIENT}]),
        "Reminders[0].RequestedSendTime",
        TOO_LATE,
    ),
    (
        "idempotency id too long for an index",
        chain(idempotencyId="x" * 501),
        "IdempotencyId",
        "IdempotencyId must not be longer than 500 characters.",
    ),
    (
        "senders reference too long for an index",
        chain(reminders=[{"delayDays": 1, "sendersReference": "x" * 501, "recipient": RECIPIENT}]),
        "Reminders[0].SendersReference",
        "SendersReference must not be longer than 500 characters.",
    ),
]


@pytest.mark.parametrize(("body", "key", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_future_order_edge_cases_are_400(
    validation_client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any], key: str, message: str
) -> None:
    # Sent as ASCII JSON: a lone surrogate travels as a `\ud800` escape, as a client would send it.
    content = json.dumps(body).encode()
    headers = {**auth, "Content-Type": "application/json"}
    response = await validation_client.post(f"{V1}/future/orders", content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert message in response.json()["errors"].get(key, []), response.json()["errors"]


async def test_instant_and_composed_edge_cases_are_400(
    validation_client: httpx.AsyncClient, auth: dict[str, str], make_token: Any
) -> None:
    instant = {
        "idempotencyId": "n",
        "recipientSms": {
            "phoneNumber": "+4799999999",
            "timeToLiveInSeconds": 60,
            "smsSettings": {"body": "x\u0000"},
        },
    }
    response = await validation_client.post(f"{V1}/future/orders/instant/sms", json=instant, headers=auth)
    assert response.status_code == 400
    assert "$.recipientSms.smsSettings.body" in response.json()["errors"]

    sas = "https://a.blob.core.windows.net/c/a.pdf?se=0001-01-01T00:00:00%2B05:00&sp=r&sr=b&sig=x"
    composed = {
        "idempotencyId": "c",
        "requestedSendTime": "9999-12-31T23:59:00Z",
        "recipient": {
            "emailAddress": "a@example.no",
            "emailSettings": {
                "subject": "s",
                "body": "b",
                "attachments": [{"filename": "a.pdf", "mimeType": "application/pdf", "sasUrl": sas}],
            },
        },
    }
    headers = {"Authorization": f"Bearer {make_token('ttd', scopes=[SCOPE_COMPOSED_EMAIL])}"}
    response = await validation_client.post(
        f"{V1}/future/orders/composed-email", json=composed, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"RequestedSendTime": [TOO_LATE]}
