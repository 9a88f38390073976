"""The send condition against a real HTTP endpoint on loopback (docs/compatibility.md C10 (send condition)).

Orders are inserted straight into the database: v1 validation refuses `localhost`/IP condition hosts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from altinn_notifications.bootstrap import Container, outbound_policy
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.processing.condition import HttpConditionClient
from altinn_notifications.processing.outbound import outbound_client
from altinn_notifications.processing.worker import ProcessingConfig
from tests.conftest import ContainerFactory
from tests.loopback import serve
from tests.pipeline.conftest import RunWorkers, eventually

RETRY_DELAY = 1.0


@dataclass
class ConditionEndpoint:
    """A sender's condition endpoint: answers per path, counts the calls it gets."""

    base: str = ""
    calls: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


def _app(endpoint: ConditionEndpoint) -> Starlette:
    async def answer(request: Request) -> Response:
        path = request.path_params["path"]
        endpoint.calls[path] += 1
        endpoint.requests.append((request.method, request.url.path, request.url.query))
        if path == "true":
            return JSONResponse({"sendNotification": True})
        if path == "false":
            return JSONResponse({"sendNotification": False})
        if path == "error":
            return JSONResponse({"sendNotification": True}, status_code=500)
        if path == "invalid-json":
            return PlainTextResponse("{sendNotification: tru", media_type="application/json")
        if path == "missing-field":
            return JSONResponse({"send": True})
        if path == "not-a-boolean":
            return JSONResponse({"sendNotification": "true"})
        if path == "slow":
            await asyncio.sleep(1.0)
            return JSONResponse({"sendNotification": False})
        return PlainTextResponse("not found", status_code=404)

    return Starlette(routes=[Route("/{path}", answer, methods=["GET", "POST"])])


@pytest.fixture
async def endpoint() -> AsyncIterator[ConditionEndpoint]:
    state = ConditionEndpoint()
    async with serve(_app(state)) as base:
        state.base = base
        yield state


async def insert_order(container: Container, condition_endpoint: str, address: str = "a@example.no") -> int:
    now = datetime.now(UTC)
    order = NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=now,
        requested_send_time=now,
        notification_channel=NotificationChannel.Email,
        senders_reference="condition-test",
        condition_endpoint=condition_endpoint,
        email_template=EmailTemplate(from_address="noreply@altinn.no", subject="s", body="b"),
        recipients=[Recipient(email_address=address)],
    )
    async with container.transaction() as conn:
        return await OrderRepository(conn).insert(order)


async def order_state(container: Container, order_id: int) -> dict[str, Any]:
    async with container.pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT processedstatus::text AS status, attempts, next_attempt_at,
                      next_attempt_at > now() AS waiting,
                      (SELECT count(*) FROM emailnotifications e WHERE e._orderid = o._id) AS emails,
                      (SELECT array_agg(e.result::text) FROM emailnotifications e WHERE e._orderid = o._id)
                          AS results,
                      (SELECT f.orderstatus FROM statusfeed f WHERE f.orderid = o._id) AS feed
               FROM orders o WHERE o._id = $1""",
            order_id,
        )
    assert row is not None
    return dict(row)


def _status_is(container: Container, order_id: int, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        current: str = (await order_state(container, order_id))["status"]
        return current == status

    return check


async def test_condition_met_sends_the_order(
    container: Container, run_workers: RunWorkers, endpoint: ConditionEndpoint
) -> None:
    order_id = await insert_order(container, endpoint.url("true"))
    async with run_workers():
        await eventually(_status_is(container, order_id, "Completed"))
    state = await order_state(container, order_id)
    assert state["results"] == ["Delivered"]
    assert state["feed"]["status"] == "Order_Completed"
    assert endpoint.calls == Counter({"true": 1})
    assert endpoint.requests == [("GET", "/true", "")]  # a plain GET, nothing added to the URL


async def test_condition_not_met_ends_the_order_without_notifications(
    container: Container, run_workers: RunWorkers, endpoint: ConditionEndpoint
) -> None:
    order_id = await insert_order(container, endpoint.url("false"))
    async with run_workers():
        await eventually(_status_is(container, order_id, "SendConditionNotMet"))
        await asyncio.sleep(0.3)  # a few more polls: nothing else happens to a final order
    state = await order_state(container, order_id)
    assert state["status"] == "SendConditionNotMet"
    assert state["emails"] == 0
    feed = state["feed"]
    assert feed is not None
    assert feed["status"] == "Order_SendConditionNotMet"
    assert feed["recipients"] == []
    assert feed["sendersReference"] == "condition-test"
    assert endpoint.calls == Counter({"false": 1})


@pytest.mark.parametrize("path", ["error", "invalid-json", "missing-field", "not-a-boolean"])
async def test_inconclusive_condition_is_retried_once_then_the_order_is_sent(
    container: Container, run_workers: RunWorkers, endpoint: ConditionEndpoint, path: str
) -> None:
    order_id = await insert_order(container, endpoint.url(path))
    processing = ProcessingConfig(condition_retry_delay=timedelta(seconds=RETRY_DELAY))
    async with run_workers(processing=processing):

        async def rescheduled() -> bool:
            state = await order_state(container, order_id)
            return endpoint.calls[path] == 1 and state["status"] == "Registered" and bool(state["waiting"])

        await eventually(rescheduled, within=5)
        first = await order_state(container, order_id)
        assert first["attempts"] == 1
        assert first["emails"] == 0
        assert first["feed"] is None
        assert endpoint.calls[path] == 1  # not asked again before the retry delay has passed

        await eventually(_status_is(container, order_id, "Completed"), within=10)
    state = await order_state(container, order_id)
    assert endpoint.calls == Counter({path: 2})
    assert state["attempts"] == 2
    assert state["results"] == ["Delivered"]
    assert state["feed"]["status"] == "Order_Completed"


async def test_condition_endpoint_timeout_is_inconclusive(
    container: Container,
    make_container: ContainerFactory,
    run_workers: RunWorkers,
    endpoint: ConditionEndpoint,
) -> None:
    # Only the read times out: a generous connect timeout keeps a loaded machine from turning the test's
    # first call into a connect timeout that never reaches the endpoint.
    policy = outbound_policy(container.settings)
    async with outbound_client(policy, timeout=httpx.Timeout(5.0, read=0.3)) as http:
        impatient = make_container(condition=HttpConditionClient(http))
        order_id = await insert_order(container, endpoint.url("slow"))
        processing = ProcessingConfig(condition_retry_delay=timedelta(seconds=0.5))
        async with run_workers(container=impatient, processing=processing):
            await eventually(_status_is(container, order_id, "Completed"), within=10)
    state = await order_state(container, order_id)
    # The slow endpoint would have said "false"; both answers came too late, so the order was sent anyway.
    assert endpoint.calls == Counter({"slow": 2})
    assert state["attempts"] == 2
    assert state["results"] == ["Delivered"]


async def test_unreachable_condition_endpoint_is_inconclusive(
    container: Container, run_workers: RunWorkers
) -> None:
    from tests.loopback import free_port

    order_id = await insert_order(container, f"http://127.0.0.1:{free_port()}/nobody-listens")
    processing = ProcessingConfig(condition_retry_delay=timedelta(seconds=0.5))
    async with run_workers(processing=processing):
        await eventually(_status_is(container, order_id, "Completed"), within=10)
    state = await order_state(container, order_id)
    assert state["attempts"] == 2
    assert state["results"] == ["Delivered"]


async def test_each_order_asks_its_own_endpoint(
    container: Container, run_workers: RunWorkers, endpoint: ConditionEndpoint
) -> None:
    sent = await insert_order(container, endpoint.url("true"), "x@example.no")
    held = await insert_order(container, endpoint.url("false"), "y@example.no")
    async with run_workers():
        await eventually(_status_is(container, sent, "Completed"))
        await eventually(_status_is(container, held, "SendConditionNotMet"))
    assert endpoint.calls == Counter({"true": 1, "false": 1})


# --- sender-chosen URLs reach only vetted targets (processing/outbound.py) ---


def test_condition_endpoints_are_called_with_their_own_client(container: Container) -> None:
    condition = container.condition
    assert isinstance(condition, HttpConditionClient)
    assert condition.client is container.outbound
    assert condition.client is not container.http  # not the client that calls the Altinn platform


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_condition_endpoint_is_refused_by_default_then_the_order_is_sent(
    container: Container,
    make_container: ContainerFactory,
    run_workers: RunWorkers,
    endpoint: ConditionEndpoint,
    host: str,
) -> None:
    strict = container.settings.model_copy(update={"outbound_allowed_hosts": []})
    async with outbound_client(outbound_policy(strict), timeout=5.0) as http:
        guarded = make_container(condition=HttpConditionClient(http))
        port = httpx.URL(endpoint.base).port
        order_id = await insert_order(container, f"http://{host}:{port}/false")
        processing = ProcessingConfig(condition_retry_delay=timedelta(seconds=0.5))
        async with run_workers(container=guarded, processing=processing):
            await eventually(_status_is(container, order_id, "Completed"), within=10)
    state = await order_state(container, order_id)
    assert endpoint.calls == Counter()  # never called: the endpoint would have said "false"
    assert state["attempts"] == 2  # inconclusive twice, then sent (the reference's rule)
    assert state["results"] == ["Delivered"]


async def test_loopback_condition_endpoint_by_name_is_called_when_allowed(
    container: Container,
    make_container: ContainerFactory,
    run_workers: RunWorkers,
    endpoint: ConditionEndpoint,
) -> None:
    on_premises = container.settings.model_copy(
        update={"outbound_allowed_hosts": [], "outbound_allow_private": True}
    )
    async with outbound_client(outbound_policy(on_premises), timeout=5.0) as http:
        allowed = make_container(condition=HttpConditionClient(http))
        order_id = await insert_order(container, f"http://localhost:{httpx.URL(endpoint.base).port}/false")
        async with run_workers(container=allowed):
            await eventually(_status_is(container, order_id, "SendConditionNotMet"))
    assert endpoint.calls == Counter({"false": 1})
