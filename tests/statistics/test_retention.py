"""The order retention (queue/maintenance.py `OrderRetention`): final orders past the retention are deleted
in batches with their texts, notifications and feed entries, and the monthly report still counts them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, timedelta
from typing import Any
from uuid import UUID

import httpx

from altinn_notifications.bootstrap import Container
from altinn_notifications.queue.maintenance import MaintenanceSettings, OrderRetention
from tests.api.helpers import add_notification
from tests.statistics.conftest import METRICS
from tests.statistics.test_monthly import _order, _table

AGE = timedelta(days=100)


async def _age(container: Container, order_id: str, status: str = "Completed") -> None:
    """The order ended `status` and everything about it happened `AGE` ago."""
    async with container.pool.acquire() as conn:
        await conn.execute(
            """UPDATE orders SET processedstatus = $2::orderprocessingstate,
                      created = created - $3::interval, requestedsendtime = requestedsendtime - $3::interval,
                      processed = now() - $3::interval
               WHERE alternateid = $1""",
            UUID(order_id),
            status,
            AGE,
        )
        await conn.execute(
            """INSERT INTO statusfeed (orderid, creatorname, orderstatus)
               SELECT _id, creatorname, '{}'::jsonb FROM orders WHERE alternateid = $1""",
            UUID(order_id),
        )


async def _counts(container: Container) -> dict[str, int]:
    async with container.pool.acquire() as conn:
        return {
            t: await conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in (
                "orders",
                "emailtexts",
                "smstexts",
                "emailnotifications",
                "smsnotifications",
                "statusfeed",
            )
        }


async def _page(stats_client: httpx.AsyncClient, container: Container, order_id: str) -> dict[str, list[str]]:
    async with container.pool.acquire() as conn:
        sent = await conn.fetchval(
            "SELECT requestedsendtime FROM orders WHERE alternateid = $1", UUID(order_id)
        )
    month = sent.astimezone(UTC)
    response = await stats_client.post(METRICS, data={"month": str(month.month), "year": str(month.year)})
    assert response.status_code == 200, response.text
    return _table(response.text)


async def test_old_final_orders_are_deleted_in_batches_and_the_monthly_report_still_counts_them(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    auth_for: Any,
    container: Container,
    stats_client: httpx.AsyncClient,
) -> None:
    old = [await _order(client, auth) for _ in range(3)]
    theirs = await _order(client, auth_for("digdir"))
    for result in ("Succeeded", "Delivered", "Failed"):
        await add_notification(container, old[0], "email", result, "a@b.no")
    for result in ("Accepted", "Failed_Rejected"):
        await add_notification(container, old[1], "sms", result, "+4799999999")
    await add_notification(container, theirs, "email", "Delivered", "x@y.no")
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE smsnotifications SET smscount = 2")
    for order_id in [*old, theirs]:
        await _age(container, order_id)
    # Kept: an old order not final yet (a notification pending), and a recent final one.
    pending = await _order(client, auth)
    await add_notification(container, pending, "email", "Succeeded", "p@b.no")
    await _age(container, pending, status="Processed")
    recent = await _order(client, auth)
    # An old v2 chain holding one of the deleted orders goes with it.
    async with container.pool.acquire() as conn:
        chain = await conn.fetchval(
            """INSERT INTO orderschain (orderid, idempotencyid, creatorname, created, orderchain)
               VALUES ($1, 'idem', 'ttd', now() - $2::interval, $3::jsonb) RETURNING _id""",
            uuid.uuid4(),
            AGE,
            json.dumps({"Type": "Notification"}),
        )
        await conn.execute("UPDATE orders SET _orderchainid = $1 WHERE alternateid = $2", chain, UUID(old[2]))

    before = await _page(stats_client, container, old[0])
    assert before == {"digdir": ["1", "1", "1", "0", "0"], "ttd": ["4", "4", "3", "4", "1"]}
    counts = await _counts(container)

    retention = OrderRetention(
        container.transaction,
        MaintenanceSettings(order_retention=timedelta(days=30), order_retention_batch=2),
    )
    assert await retention.run() == 4  # in batches of 2, 2, then an empty one

    after = await _counts(container)
    assert after["orders"] == counts["orders"] - 4
    assert after["emailnotifications"] == 1 and after["smsnotifications"] == 0  # the pending order's
    assert after["emailtexts"] == after["smstexts"] == 2  # the pending and the recent order's
    assert after["statusfeed"] == 1  # the pending order's
    async with container.pool.acquire() as conn:
        left = {str(r["alternateid"]) for r in await conn.fetch("SELECT alternateid FROM orders")}
        assert await conn.fetchval("SELECT count(*) FROM orderschain") == 0
    assert left == {pending, recent}
    assert await _page(stats_client, container, pending) == before

    assert await retention.run() == 0
    assert await _page(stats_client, container, pending) == before


async def test_no_retention_configured_keeps_everything(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    order = await _order(client, auth)
    await _age(container, order)
    assert await OrderRetention(container.transaction, MaintenanceSettings()).run() == 0
    assert (await _counts(container))["orders"] == 1
