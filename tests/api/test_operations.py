"""Operational endpoints: triggers (docs/compatibility.md C16), the condition test endpoint, Prometheus metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

import httpx
from pydantic import SecretStr

from altinn_notifications.bootstrap import Container
from altinn_notifications.queue.loop import SingleFlight
from tests.api.helpers import V1, add_notification, set_order_status
from tests.conftest import ClientFactory, ContainerFactory


async def test_send_condition_test_endpoint(client: httpx.AsyncClient) -> None:
    yes = await client.get(f"{V1}/tests/sendcondition", params={"conditionMet": "true"})
    assert yes.status_code == 200 and yes.json() == {"sendNotification": True}
    no = await client.get(f"{V1}/tests/sendcondition", params={"conditionMet": "false"})
    assert no.json() == {"sendNotification": False}
    assert (await client.get(f"{V1}/tests/sendcondition")).status_code == 400


async def test_past_due_trigger_processes_due_orders(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    placed = await client.post(
        f"{V1}/orders/email",
        json={"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@b.no"}]},
        headers=auth,
    )
    order_id = placed.json()["orderId"]
    assert (await client.post(f"{V1}/trigger/pastdueorders")).status_code == 200
    status = (await client.get(f"{V1}/orders/{order_id}/status", headers=auth)).json()
    assert status["processingStatus"]["description"] == (
        "Order processing is done. Notifications have been successfully generated."
    )
    summary = (await client.get(f"{V1}/orders/{order_id}/notifications/email", headers=auth)).json()
    assert summary["generated"] == 1


async def test_signal_triggers_answer_ok(client: httpx.AsyncClient) -> None:
    for path in ("sendemail", "sendsmsanytime", "sendsms", "sendsmsdaytime", "deleteoldstatusfeedrecords"):
        assert (await client.post(f"{V1}/trigger/{path}")).status_code == 200, path


async def test_terminate_expired_trigger_fails_stale_notifications_and_completes_orders(
    client: httpx.AsyncClient, auth: dict[str, str], container: Container
) -> None:
    placed = await client.post(
        f"{V1}/orders/email",
        json={"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@b.no"}]},
        headers=auth,
    )
    order_id = placed.json()["orderId"]
    await set_order_status(container, order_id, "Processed")
    stuck = await add_notification(container, order_id, "email", "Sending", "a@b.no")
    async with container.pool.acquire() as conn:
        await conn.execute(
            "UPDATE emailnotifications SET expirytime = now() - $2::interval WHERE alternateid = $1",
            stuck,
            timedelta(minutes=10),
        )
    assert (await client.post(f"{V1}/trigger/terminateexpirednotifications")).status_code == 200
    async with container.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT result::text FROM emailnotifications WHERE alternateid = $1", stuck)
            == "Failed_TTL"
        )
        assert (
            await conn.fetchval(
                "SELECT processedstatus::text FROM orders WHERE alternateid = $1", UUID(order_id)
            )
            == "Completed"
        )
        assert await conn.fetchval("SELECT count(*) FROM statusfeed") == 1


async def test_triggers_can_be_switched_off(container: Container, make_container: ContainerFactory) -> None:
    from altinn_notifications.api.app import create_app

    settings = container.settings.model_copy(update={"triggers_enabled": False})
    transport = httpx.ASGITransport(app=create_app(make_container(settings=settings)))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.post(f"{V1}/trigger/sendemail")).status_code == 404


async def test_triggers_can_require_a_key(
    make_container: ContainerFactory, make_client: ClientFactory
) -> None:
    container = make_container()
    settings = container.settings.model_copy(update={"triggers_api_key": SecretStr("k3y")})
    http = make_client(make_container(settings=settings))
    for path in ("sendemail", "pastdueorders", "terminateexpirednotifications", "deleteoldstatusfeedrecords"):
        assert (await http.post(f"{V1}/trigger/{path}")).status_code == 401, path
        assert (await http.post(f"{V1}/trigger/{path}", headers={"X-API-Key": "k3y!"})).status_code == 401
        assert (await http.post(f"{V1}/trigger/{path}", headers={"X-API-Key": "k3y"})).status_code == 200


async def test_concurrent_trigger_calls_share_one_run_of_the_job() -> None:
    started = 0
    release = asyncio.Event()

    async def job() -> int:
        nonlocal started
        started += 1
        await release.wait()
        return 7

    run = SingleFlight(job)
    callers = [asyncio.create_task(run.run()) for _ in range(50)]
    await asyncio.sleep(0.01)
    callers[0].cancel()  # a caller that goes away does not stop the run the others wait for
    release.set()
    results = await asyncio.gather(*callers[1:])
    assert started == 1 and results == [7] * 49
    release.clear()
    second = asyncio.create_task(run.run())  # after the run ended, the next caller starts a new one
    await asyncio.sleep(0.01)
    release.set()
    assert await second == 7 and started == 2


async def test_metrics_are_exposed(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await client.post(
        f"{V1}/orders/email",
        json={"subject": "s", "body": "b", "recipients": [{"emailAddress": "a@b.no"}]},
        headers=auth,
    )
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'notifications_orders_registered_total{channel="Email"}' in text
    assert 'notifications_queue_depth{queue="orders_registered"} 1.0' in text
