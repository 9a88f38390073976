"""GET/POST metrics: the monthly page per org (docs/compatibility.md C9, C17), unauthenticated."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any
from uuid import UUID

import httpx

from altinn_notifications.bootstrap import Container
from tests.api.helpers import V1, add_notification
from tests.statistics.conftest import METRICS


def _table(html: str) -> dict[str, list[str]]:
    """Organization → the other cells of its row."""
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in rows]
    return {c[0]: c[1:] for c in cells if c}


async def _order(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post(
        f"{V1}/orders",
        json={
            "notificationChannel": "EmailAndSms",
            "emailTemplate": {"subject": "s", "body": "b"},
            "smsTemplate": {"body": "b"},
            "recipients": [{"organizationNumber": "810419652"}],
        },
        headers=headers,
    )
    assert response.status_code == 202, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def test_form_page(stats_client: httpx.AsyncClient) -> None:
    response = await stats_client.get(METRICS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<form method="post">' in html
    assert '<select id="month" name="month" required>' in html
    assert '<option value="12">December</option>' in html
    # The year of the clock (2026) and the five before it.
    assert re.findall(r'<option value="(\d{4})">', html) == ["2026", "2025", "2024", "2023", "2022", "2021"]
    assert "<table>" not in html


async def test_monthly_counts_per_org(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    auth_for: Any,
    container: Container,
    stats_client: httpx.AsyncClient,
) -> None:
    first = await _order(client, auth)
    second = await _order(client, auth)
    await _order(client, auth)  # no notifications yet
    for result in ("Succeeded", "Delivered", "Failed", "New"):
        await add_notification(container, first, "email", result, "a@b.no")
    for result in ("Accepted", "Delivered", "Failed_Rejected"):
        await add_notification(container, second, "sms", result, "+4799999999")
    theirs = await _order(client, auth_for("digdir"))
    await add_notification(container, theirs, "sms", "New", "+4799999999")
    await add_notification(container, theirs, "email", "Failed_Bounced", "x@y.no")
    # SMS are counted in segments (`smscount`, recorded at dispatch; 0 for one never sent).
    async with container.pool.acquire() as conn:
        await conn.execute(
            """UPDATE smsnotifications s SET smscount = CASE WHEN o.alternateid = $1 THEN 0
                                                            WHEN s.result = 'Delivered' THEN 2 ELSE 1 END
               FROM orders o WHERE o._id = s._orderid""",
            UUID(theirs),
        )
    # An order whose requested send time is in another month is not counted.
    other_month = await _order(client, auth)
    async with container.pool.acquire() as conn:
        await conn.execute(
            "UPDATE orders SET requestedsendtime = requestedsendtime - interval '40 days' WHERE alternateid = $1",
            UUID(other_month),
        )
    async with container.pool.acquire() as conn:
        sent = await conn.fetchval("SELECT requestedsendtime FROM orders WHERE alternateid = $1", UUID(first))
    now = sent.astimezone(UTC)

    response = await stats_client.post(METRICS, data={"month": str(now.month), "year": str(now.year)})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September"]
    months += ["October", "November", "December"]
    assert f"<caption>Metrics - {months[now.month - 1]} {now.year}</caption>" in html
    assert "<th>Organization</th><th>Total orders</th><th>Total email notifications</th>" in html
    # orders, emails, succeeded emails (Succeeded/Delivered), SMS segments, succeeded SMS (Accepted/Delivered)
    assert _table(html) == {"digdir": ["1", "1", "0", "0", "0"], "ttd": ["3", "4", "2", "4", "2"]}


async def test_month_without_orders(stats_client: httpx.AsyncClient) -> None:
    response = await stats_client.post(METRICS, data={"month": "2", "year": "2021"})
    assert response.status_code == 200
    assert "No notification orders with requested send time in February 2021" in response.text
    assert "<table>" not in response.text


async def test_org_names_are_escaped(container: Container, stats_client: httpx.AsyncClient) -> None:
    async with container.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO orders (alternateid, creatorname, created, requestedsendtime, processed, notificationorder)
               VALUES (gen_random_uuid(), '<b>x</b>', now(), '2024-05-10T00:00:00Z', now(), '{}'::jsonb)"""
        )
    html = (await stats_client.post(METRICS, data={"month": "5", "year": "2024"})).text
    assert _table(html) == {"&lt;b&gt;x&lt;/b&gt;": ["1", "0", "0", "0", "0"]}


async def test_bad_month_or_year_is_a_validation_problem(stats_client: httpx.AsyncClient) -> None:
    response = await stats_client.post(METRICS, data={"month": "13", "year": "abc"})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "month": ["The month must be between 1 and 12."],
        "year": ["The value 'abc' is not valid for year."],
    }
    missing = await stats_client.post(METRICS, data={})
    assert missing.status_code == 400
    assert set(missing.json()["errors"]) == {"month", "year"}


async def test_monthly_page_is_not_in_the_openapi_document(stats_client: httpx.AsyncClient) -> None:
    paths = (await stats_client.get("/swagger/v1/swagger.json")).json()["paths"]
    assert not [p for p in paths if p.endswith("/metrics")]
