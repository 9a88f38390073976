"""POST metrics/sms and metrics/email: the API key, and yesterday's Parquet files (docs/compatibility.md C17).

Orders are placed through the API and notification rows added as the pipeline writes them; their result
times are then moved to "yesterday" of the stats app's fixed clock (simulating time).
"""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.statistics.service import mobile_number_prefix, round_trip_time, sms_rate
from tests.api.helpers import V1, add_notification
from tests.statistics.conftest import API_KEY, METRICS, NOW, YESTERDAY_NOON, StatsClientFactory

SMS_COLUMNS = [
    "SmsId",
    "ShipmentId",
    "SendersReference",
    "RequestedSendTime",
    "CreatorName",
    "ResourceId",
    "Result",
    "GatewayReference",
    "Rate",
    "MobileNumberPrefix",
    "AltinnSmsCount",
    "AltinnSmsBodyLength",
    "AltinnSmsCustomBodyLength",
]
EMAIL_COLUMNS = [
    "EmailId",
    "ShipmentId",
    "SendersReference",
    "RequestedSendTime",
    "CreatorName",
    "ResourceId",
    "Result",
    "OperationId",
]
KEY = {"X-API-Key": API_KEY}


# --- the API key ---


@pytest.mark.parametrize("kind", ["sms", "email"])
@pytest.mark.parametrize(
    ("configured", "headers", "error"),
    [
        (API_KEY, {}, "API key required for Metrics endpoints"),
        (None, {}, "API key required for Metrics endpoints"),  # the header is checked first
        (API_KEY, {"X-API-Key": ""}, "API key cannot be empty"),
        (API_KEY, {"X-API-Key": "   "}, "API key cannot be empty"),
        (None, {"X-API-Key": "anything"}, "API key validation not configured"),
        ("   ", {"X-API-Key": "anything"}, "API key validation not configured"),
        (API_KEY, {"X-API-Key": "wrong"}, "Invalid API key"),
        (API_KEY, {"X-API-Key": API_KEY + "x"}, "Invalid API key"),
        (API_KEY, {"x-api-key": API_KEY.upper()}, "Invalid API key"),
    ],
)
async def test_refusals_are_401_with_the_reference_messages(
    stats_client_for: StatsClientFactory,
    kind: str,
    configured: str | None,
    headers: dict[str, str],
    error: str,
) -> None:
    client = stats_client_for(api_key=configured)
    response = await client.post(f"{METRICS}/{kind}", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": error}


async def test_the_header_name_is_case_insensitive(stats_client: httpx.AsyncClient) -> None:
    response = await stats_client.post(f"{METRICS}/sms", headers={"x-api-key": API_KEY})
    assert response.status_code == 200


# --- the files ---


async def _order(
    client: httpx.AsyncClient, auth: dict[str, str], channel: str, reference: str | None, resource: str | None
) -> str:
    body: dict[str, Any] = {"body": "Hello, world", "recipients": []}
    if channel == "sms":
        body["recipients"] = [{"mobileNumber": "+4799999999"}]
    else:
        body |= {"subject": "s", "recipients": [{"emailAddress": "a@b.no"}]}
    if reference is not None:
        body["sendersReference"] = reference
    if resource is not None:
        body["resourceId"] = resource
    response = await client.post(f"{V1}/orders/{channel}", json=body, headers=auth)
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def _notification(
    container: Container, order_id: str, channel: str, result: str, address: str, at: datetime, **columns: Any
) -> UUID:
    notification_id = await add_notification(container, order_id, channel, result, address)
    table = "smsnotifications" if channel == "sms" else "emailnotifications"
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=3))
    async with container.pool.acquire() as conn:
        await conn.execute(
            f"UPDATE {table} SET resulttime = $2{', ' + sets if sets else ''} WHERE alternateid = $1",
            notification_id,
            at,
            *columns.values(),
        )
    return notification_id


def _read(response: httpx.Response) -> Any:
    return pq.read_table(io.BytesIO(response.content))


def _check_file_headers(response: httpx.Response, kind: str, rows: int, environment: str = "test") -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    name = f"20260314_{kind}_notifications_{environment}.parquet"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and name in disposition
    digest = base64.b64encode(hashlib.md5(response.content).digest()).decode()
    assert response.headers["x-file-hash"] == digest
    assert response.headers["x-file-size"] == str(len(response.content))
    assert response.headers["x-total-filetransfercount"] == str(rows)
    assert response.headers["x-total-filetransfer-count"] == str(rows)
    assert response.headers["x-environment"] == environment
    assert datetime.fromisoformat(response.headers["x-generated-at"]) == NOW


async def test_sms_export_has_yesterdays_final_results(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    auth_for: Any,
    container: Container,
    stats_client: httpx.AsyncClient,
) -> None:
    order = await _order(client, auth, "sms", "ref-sms", "urn:altinn:resource:ttd_billing")
    other = await _order(client, auth_for("digdir"), "sms", None, None)
    included: list[tuple[str, str, str, str, str, dict[str, Any]]] = [
        (order, "Delivered", "+4799999999", "innland", "+479", {"gatewayreference": "gw-1"}),
        (order, "Failed", "004791234567", "innland", "0047", {"customizedbody": "Hi Ola"}),
        (order, "Failed_InvalidRecipient", "+46701234567", "utland", "+467", {}),
        (order, "Failed_RecipientReserved", "", "n/a", "", {}),
        (order, "Failed_TTL", "+ 4741000000", "innland", "+ 47", {"smscount": 2}),
        (other, "Failed_Rejected", "0046701234567", "utland", "0046", {}),
        (other, "Failed_InvalidReceiver", "4799999999", "utland", "4799", {}),
    ]
    for order_id, result, number, _, _, columns in included:
        await _notification(container, order_id, "sms", result, number, YESTERDAY_NOON, **columns)
    # Not final, or not yesterday (UTC): left out.
    await _notification(container, order, "sms", "Accepted", "+4711111111", YESTERDAY_NOON)
    await _notification(container, order, "sms", "New", "+4711111112", YESTERDAY_NOON)
    await _notification(container, order, "sms", "Sending", "+4711111113", YESTERDAY_NOON)
    await _notification(container, order, "sms", "Delivered", "+4711111114", NOW - timedelta(minutes=1))
    await _notification(
        container,
        order,
        "sms",
        "Delivered",
        "+4711111115",
        YESTERDAY_NOON - timedelta(hours=12, microseconds=1),
    )
    await _notification(
        container, order, "sms", "Delivered", "+4711111116", YESTERDAY_NOON + timedelta(hours=12)
    )
    # The window's edges: midnight at its start is in.
    edge = await _notification(
        container, order, "sms", "Delivered", "+4711111117", YESTERDAY_NOON - timedelta(hours=12)
    )

    response = await stats_client.post(f"{METRICS}/sms", headers=KEY)

    _check_file_headers(response, "sms", len(included) + 1)
    table = _read(response)
    assert table.column_names == SMS_COLUMNS
    assert str(table.schema.field("SmsId").type) == "int64"
    assert str(table.schema.field("AltinnSmsCount").type) == "int32"
    rows = table.to_pylist()
    assert len(rows) == len(included) + 1
    async with container.pool.acquire() as conn:
        ids = {
            r["alternateid"]: r["_id"]
            for r in await conn.fetch("SELECT _id, alternateid FROM smsnotifications")
        }
        sent = await conn.fetchval("SELECT requestedsendtime FROM orders WHERE alternateid = $1", UUID(order))
    assert [r["SmsId"] for r in rows] == sorted(r["SmsId"] for r in rows)
    assert ids[edge] in {r["SmsId"] for r in rows}
    by_number = {(r["Rate"], r["MobileNumberPrefix"], r["Result"]): r for r in rows}
    for order_id, result, _, rate, prefix, _ in included:
        row = by_number[(rate, prefix, result)]
        assert row["ShipmentId"] == order_id
    first = by_number[("innland", "+479", "Delivered")]
    assert first["SendersReference"] == "ref-sms"
    assert first["CreatorName"] == "ttd"
    assert first["ResourceId"] == "urn:altinn:resource:ttd_billing"
    assert first["GatewayReference"] == "gw-1"
    assert first["RequestedSendTime"] == round_trip_time(sent)
    assert first["AltinnSmsBodyLength"] == len("Hello, world")
    assert first["AltinnSmsCustomBodyLength"] == 0
    assert first["AltinnSmsCount"] == 0  # as stored: dispatch records the segments it sent
    assert by_number[("innland", "0047", "Failed")]["AltinnSmsCustomBodyLength"] == len("Hi Ola")
    assert by_number[("innland", "+ 47", "Failed_TTL")]["AltinnSmsCount"] == 2
    digdir = by_number[("utland", "0046", "Failed_Rejected")]
    assert digdir["CreatorName"] == "digdir"
    assert digdir["SendersReference"] == ""
    assert digdir["ResourceId"] is None
    assert digdir["GatewayReference"] == ""
    # Legacy DB names are exported as stored.
    assert by_number[("utland", "4799", "Failed_InvalidReceiver")]["ShipmentId"] == other


async def test_email_export_has_yesterdays_final_results(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container, stats_client: httpx.AsyncClient
) -> None:
    order = await _order(client, auth, "email", "ref-mail", "urn:altinn:resource:ttd_billing")
    delivered = await _notification(
        container, order, "email", "Delivered", "a@b.no", YESTERDAY_NOON, operationid="op-1"
    )
    bounced = await _notification(container, order, "email", "Failed_Bounced", "b@b.no", YESTERDAY_NOON)
    for pending in ("New", "Sending", "Succeeded"):
        await _notification(container, order, "email", pending, "c@b.no", YESTERDAY_NOON)
    await _notification(container, order, "email", "Delivered", "d@b.no", NOW)

    response = await stats_client.post(f"{METRICS}/email", headers=KEY)

    _check_file_headers(response, "email", 2)
    table = _read(response)
    assert table.column_names == EMAIL_COLUMNS
    rows = table.to_pylist()
    async with container.pool.acquire() as conn:
        ids = {
            r["alternateid"]: r["_id"]
            for r in await conn.fetch("SELECT _id, alternateid FROM emailnotifications")
        }
    assert [r["EmailId"] for r in rows] == [ids[delivered], ids[bounced]]
    assert [r["Result"] for r in rows] == ["Delivered", "Failed_Bounced"]
    assert [r["OperationId"] for r in rows] == ["op-1", ""]
    assert {r["ShipmentId"] for r in rows} == {order}
    assert {r["SendersReference"] for r in rows} == {"ref-mail"}
    assert {r["CreatorName"] for r in rows} == {"ttd"}
    assert {r["ResourceId"] for r in rows} == {"urn:altinn:resource:ttd_billing"}
    assert all(r["RequestedSendTime"].endswith("Z") for r in rows)


@pytest.mark.parametrize(("kind", "columns"), [("sms", SMS_COLUMNS), ("email", EMAIL_COLUMNS)])
async def test_a_day_without_results_is_an_empty_file_with_the_columns(
    stats_client_for: StatsClientFactory, kind: str, columns: list[str]
) -> None:
    response = await stats_client_for(environment="Production").post(f"{METRICS}/{kind}", headers=KEY)
    _check_file_headers(response, kind, 0, environment="Production")
    table = _read(response)
    assert table.num_rows == 0
    assert table.column_names == columns


async def test_exports_are_not_in_the_openapi_document(stats_client: httpx.AsyncClient) -> None:
    paths = (await stats_client.get("/swagger/v1/swagger.json")).json()["paths"]
    assert not [p for p in paths if "/metrics" in p]


@pytest.mark.parametrize(
    ("number", "rate", "prefix"),
    [
        ("+4799999999", "innland", "+479"),
        ("004799999999", "innland", "0047"),
        ("+ 4799999999", "innland", "+ 47"),
        ("00  47999", "innland", "00  "),
        ("+4699999999", "utland", "+469"),
        ("4799999999", "utland", "4799"),
        (" +4799999999", "utland", " +47"),
        ("", "n/a", ""),
        (None, "n/a", ""),
        ("+47", "innland", "+47"),
    ],
)
def test_rate_and_prefix_rules(number: str | None, rate: str, prefix: str) -> None:
    assert sms_rate(number) == rate
    assert mobile_number_prefix(number) == prefix


async def test_an_odd_environment_name_cannot_break_the_headers(stats_client_for: StatsClientFactory) -> None:
    response = await stats_client_for(environment='Prød "x"').post(f"{METRICS}/email", headers=KEY)
    assert response.status_code == 200
    assert response.headers["x-environment"] == "Pr_d _x_"
    assert (
        "filename*=UTF-8''20260314_email_notifications_Pr%C3%B8d%20%22x%22.parquet"
        in (response.headers["content-disposition"])
    )
