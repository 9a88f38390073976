"""The notification log: after real runs of every kind of order (v1 and v2, email and SMS, a reminder, an
instant order, a send condition not met, a cancel) there is exactly one row per notification, with the
chain's Dialogporten ids; a second completion writes nothing; the read is scoped to the caller's org
(docs/compatibility.md C22)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.recipients.registry import import_registry_document
from altinn_notifications.status.completion import record_final_orders
from altinn_notifications.status.notification_log import FILTER_REQUIRED
from tests.api.helpers import V1
from tests.pipeline.conftest import RunWorkers, eventually

NOON_OSLO = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
DIALOG_ID = "01927d4a-0000-7000-8000-000000000001"
TRANSMISSION_ID = "01927d4a-0000-7000-8000-000000000002"
NIN = "16069412345"
ORGNO = "810419652"
REGISTRY = {
    "persons": [
        {"nationalIdentityNumber": NIN, "name": "Ola", "email": "ola@example.no", "mobileNumber": "98765432"}
    ],
    "organizations": [
        {
            "organizationNumber": ORGNO,
            "name": "Firma AS",
            "emails": ["post@firma.no"],
            "mobileNumbers": ["+4741234567"],
        }
    ],
}


class NeverSend:
    """A send-condition port that answers "do not send" for one endpoint and "send" for the rest."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    async def check(self, endpoint: str) -> bool | None:
        return endpoint != self.endpoint


NOT_MET = "https://sender.example.no/never"


@pytest.fixture
def container(make_container: Callable[..., Container]) -> Container:
    return make_container(condition=NeverSend(NOT_MET))


async def _post(client: httpx.AsyncClient, auth: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"{V1}{path}", json=body, headers=auth)
    assert response.status_code in (201, 202), response.text
    return response.json()


async def _rows(container: Container, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with container.pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def _place_every_kind(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    """One order of each kind; returns their shipment ids by name."""
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    ids = {
        "v1 email": (
            await _post(
                client,
                auth,
                "/orders/email",
                {
                    "subject": "s",
                    "body": "b",
                    "recipients": [{"emailAddress": "a@example.no"}, {"emailAddress": "b@example.no"}],
                },
            )
        )["orderId"],
        "v1 sms": (
            await _post(
                client, auth, "/orders/sms", {"body": "b", "recipients": [{"mobileNumber": "+4799999999"}]}
            )
        )["orderId"],
        "v1 person and org": (
            await _post(
                client,
                auth,
                "/orders",
                {
                    "notificationChannel": "EmailAndSms",
                    "emailTemplate": {"subject": "s", "body": "b"},
                    "smsTemplate": {"body": "b"},
                    "recipients": [{"nationalIdentityNumber": NIN}, {"organizationNumber": ORGNO}],
                },
            )
        )["orderId"],
        "v1 condition not met": (
            await _post(
                client,
                auth,
                "/orders/email",
                {
                    "subject": "s",
                    "body": "b",
                    "conditionEndpoint": NOT_MET,
                    "recipients": [{"emailAddress": "c@example.no"}],
                },
            )
        )["orderId"],
        "v1 cancelled": (
            await _post(
                client,
                auth,
                "/orders/email",
                {
                    "subject": "s",
                    "body": "b",
                    "requestedSendTime": later,
                    "recipients": [{"emailAddress": "d@example.no"}],
                },
            )
        )["orderId"],
    }
    chain = await _post(
        client,
        auth,
        "/future/orders",
        {
            "idempotencyId": "log-1",
            "sendersReference": "chain-ref",
            "dialogportenAssociation": {"dialogId": DIALOG_ID, "transmissionId": TRANSMISSION_ID},
            "recipient": {
                "recipientEmail": {
                    "emailAddress": "main@example.no",
                    "emailSettings": {"subject": "s", "body": "b"},
                }
            },
            "reminders": [
                {
                    "requestedSendTime": soon,
                    "recipient": {
                        "recipientSms": {
                            "phoneNumber": "+4798765432",
                            "smsSettings": {"body": "reminder", "sendingTimePolicy": "Anytime"},
                        }
                    },
                }
            ],
        },
    )
    ids["v2 main"] = chain["notification"]["shipmentId"]
    ids["v2 reminder"] = chain["notification"]["reminders"][0]["shipmentId"]
    instant = await _post(
        client,
        auth,
        "/future/orders/instant/sms",
        {
            "idempotencyId": "otp-1",
            "recipientSms": {
                "phoneNumber": "+4741234567",
                "timeToLiveInSeconds": 300,
                "smsSettings": {"body": "123456"},
            },
        },
    )
    ids["v2 instant"] = instant["notification"]["shipmentId"]
    cancel = await client.put(f"{V1}/orders/{ids['v1 cancelled']}/cancel", headers=auth)
    assert cancel.status_code == 200, cancel.text
    return ids


async def _all_final(container: Container, ids: list[str]) -> bool:
    rows = await _rows(
        container,
        "SELECT processedstatus::text AS s FROM orders WHERE alternateid = ANY($1::uuid[])",
        [UUID(i) for i in ids],
    )
    return len(rows) == len(ids) and all(r["s"] in ("Completed", "SendConditionNotMet") for r in rows)


async def _notifications(container: Container) -> list[dict[str, Any]]:
    return await _rows(
        container,
        """SELECT n.alternateid, o.alternateid AS shipment FROM emailnotifications n JOIN orders o ON o._id = n._orderid
           UNION ALL
           SELECT n.alternateid, o.alternateid FROM smsnotifications n JOIN orders o ON o._id = n._orderid""",
    )


async def test_one_row_per_notification_after_real_runs(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, run_workers: RunWorkers
) -> None:
    await import_registry_document(container.pool, REGISTRY)
    ids = await _place_every_kind(client, auth)
    finals = [v for k, v in ids.items() if k != "v1 cancelled"]
    async with run_workers(clock=lambda: NOON_OSLO):
        await eventually(lambda: _all_final(container, finals), within=60)

    notifications = await _notifications(container)
    log = await _rows(container, "SELECT * FROM notificationlog")
    # Exactly one row per notification, and nothing else (the cancelled order has none).
    assert sorted(r["notificationid"] for r in log) == sorted(n["alternateid"] for n in notifications)
    assert (
        len(notifications) == 2 + 1 + 4 + 1 + 1 + 1
    )  # v1 email, sms, person+org, v2 main, reminder, instant
    shipments = {str(r["shipmentid"]) for r in log}
    assert ids["v1 cancelled"] not in shipments and ids["v1 condition not met"] not in shipments

    by_shipment = {str(r["shipmentid"]): r for r in log}
    for name in ("v2 main", "v2 reminder"):
        row = by_shipment[ids[name]]
        assert (row["dialogid"], row["transmissionid"]) == (DIALOG_ID, TRANSMISSION_ID), name
        assert row["orderchainid"] is not None and row["sendersreference"] == (
            "chain-ref" if name == "v2 main" else None
        )
    assert by_shipment[ids["v2 reminder"]]["ordertype"] == "Reminder"
    assert (by_shipment[ids["v2 instant"]]["ordertype"], by_shipment[ids["v2 instant"]]["dialogid"]) == (
        "Instant",
        None,
    )
    v1 = [r for r in log if str(r["shipmentid"]) == ids["v1 person and org"]]
    assert sorted((r["channel"], r["recipient"], r["destination"], r["status"]) for r in v1) == [
        ("Email", NIN, "ola@example.no", "Email_Delivered"),
        ("Email", ORGNO, "post@firma.no", "Email_Delivered"),
        ("Sms", NIN, "+4798765432", "SMS_Delivered"),
        ("Sms", ORGNO, "+4741234567", "SMS_Delivered"),
    ]
    assert all(r["orderchainid"] is None and r["dialogid"] is None for r in v1)
    assert all(r["vendorreference"] for r in log if r["channel"] == "Sms")

    # Completing again (a sweep, a second path) writes nothing more; the database refuses a duplicate.
    internal = [r["_id"] for r in await _rows(container, "SELECT _id FROM orders")]
    async with container.transaction() as conn:
        await record_final_orders(conn, internal)
    assert len(await _rows(container, "SELECT 1 FROM notificationlog")) == len(log)
    with pytest.raises(asyncpg.UniqueViolationError):
        async with container.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO notificationlog (shipmentid, notificationid, creatorname, ordertype, channel,
                       destination, status, requestedsendtime, lastupdate)
                   SELECT shipmentid, notificationid, creatorname, ordertype, channel, destination, status,
                          requestedsendtime, lastupdate FROM notificationlog LIMIT 1"""
            )

    # The read: by dialog, transmission or shipment, in the shipment-tracking shape, the caller's only.
    response = await client.get(f"{V1}/future/notification-log", params={"dialogId": DIALOG_ID}, headers=auth)
    assert response.status_code == 200, response.text
    entries = response.json()
    assert sorted((e["shipmentId"], e["type"], e["destination"], e["status"]) for e in entries) == sorted(
        [
            (ids["v2 main"], "Email", "main@example.no", "Email_Delivered"),
            (ids["v2 reminder"], "SMS", "+4798765432", "SMS_Delivered"),
        ]
    )
    main = next(e for e in entries if e["shipmentId"] == ids["v2 main"])
    assert {k: main[k] for k in ("dialogId", "transmissionId", "shipmentType", "sendersReference")} == {
        "dialogId": DIALOG_ID,
        "transmissionId": TRANSMISSION_ID,
        "shipmentType": "Notification",
        "sendersReference": "chain-ref",
    }
    assert {"notificationId", "orderChainId", "lastUpdate", "requestedSendTime"} <= set(main)
    both = await client.get(
        f"{V1}/future/notification-log",
        params={"transmissionId": TRANSMISSION_ID, "shipmentId": ids["v2 reminder"]},
        headers=auth,
    )
    assert [e["shipmentId"] for e in both.json()] == [ids["v2 reminder"]]
    by_shipment_read = await client.get(
        f"{V1}/future/notification-log", params={"shipmentId": ids["v1 email"]}, headers=auth
    )
    assert sorted(e["destination"] for e in by_shipment_read.json()) == ["a@example.no", "b@example.no"]


async def test_the_log_read_is_scoped_to_the_callers_org(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    auth_for: Callable[[str], dict[str, str]],
    container: Container,
    run_workers: RunWorkers,
) -> None:
    order = await _post(
        client,
        auth,
        "/orders/email",
        {"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@example.no"}]},
    )
    async with run_workers():
        await eventually(lambda: _all_final(container, [order["orderId"]]))
    params = {"shipmentId": order["orderId"]}
    mine = await client.get(f"{V1}/future/notification-log", params=params, headers=auth)
    theirs = await client.get(f"{V1}/future/notification-log", params=params, headers=auth_for("nav"))
    assert len(mine.json()) == 1 and theirs.status_code == 200 and theirs.json() == []


async def test_the_log_read_needs_a_filter(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get(f"{V1}/future/notification-log", params={"dialogId": " "}, headers=auth)
    assert response.status_code == 400
    assert response.json()["errors"] == {"": [FILTER_REQUIRED]}
