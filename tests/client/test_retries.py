"""The retry rules, through a loopback proxy in front of the real service that drops connections, loses
answers and answers 503/429 (with Retry-After)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications_client import (
    AsyncClient,
    CallableToken,
    Client,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    recipients,
)
from altinn_notifications_client.models import EmailNotificationOrderRequest, NotificationOrderChainRequest
from tests.client.conftest import FAST_RETRIES
from tests.conftest import TokenFactory
from tests.fakes.faulty_proxy import FaultyProxy, Status
from tests.loopback import free_port


@pytest.fixture
async def proxy(service: str) -> AsyncIterator[FaultyProxy]:
    faulty = FaultyProxy(upstream=service)
    async with faulty.running() as url:
        faulty.url = url  # type: ignore[attr-defined]
        yield faulty


@pytest.fixture
async def through(proxy: FaultyProxy, token: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(proxy.url, token, retry=FAST_RETRIES) as api:  # type: ignore[attr-defined]
        yield api


def _chain(reference: str = "retried") -> NotificationOrderChainRequest:
    return NotificationOrderChainRequest(
        senders_reference=reference,
        recipient=recipients.to_email("ola@example.no", recipients.email_settings("s", "b")),
    )


def _v1_order() -> EmailNotificationOrderRequest:
    return EmailNotificationOrderRequest(
        subject="s", body="b", recipients=[recipients.v1_email("ola@example.no")]
    )


async def _count(container: Container, table: str) -> int:
    async with container.pool.acquire() as conn:
        count: int = await conn.fetchval(f"SELECT count(*) FROM notifications.{table}")
        return count


async def test_reads_are_retried_after_drops_and_bad_gateways(
    proxy: FaultyProxy, through: AsyncClient
) -> None:
    proxy.faults = ["drop", Status(503), "lose-answer", Status(502)]
    with pytest.raises(ServerError) as exhausted:  # four attempts, all failed
        await through.get_status_feed()
    assert exhausted.value.status_code == 502
    assert [s.fault for s in proxy.seen] == ["drop", "status 503", "lose-answer", "status 502"]

    proxy.faults = ["drop", Status(504), "lose-answer"]
    assert await through.get_status_feed() == []  # the fourth attempt passes
    assert len(proxy.seen) == 8


async def test_429_and_503_wait_what_retry_after_asks(proxy: FaultyProxy, through: AsyncClient) -> None:
    proxy.faults = [Status(429, retry_after="1"), Status(503, retry_after="1")]
    assert (await through.list_orders("x")).count == 0
    first, second, third = proxy.seen
    # Each wait is at least what the service asked for (the back-off alone is at most 200 ms here).
    assert second.at - first.at >= 1.0 and third.at - second.at >= 1.0

    proxy.faults = [Status(429, retry_after="3600")]  # longer than max_retry_after: raised at once
    with pytest.raises(RateLimitedError) as limited:
        await through.list_orders("x")
    assert limited.value.retry_after == 3600
    assert len(proxy.seen) == 4


async def test_v1_creates_are_not_repeated_once_sent(
    proxy: FaultyProxy, through: AsyncClient, container: Container
) -> None:
    proxy.faults = [Status(503), "lose-answer", "drop"]
    for _ in range(3):  # a sent create may have been done: never repeated
        with pytest.raises((ServerError, TransportError)):
            await through.create_email_order(_v1_order())
    assert [s.fault for s in proxy.seen] == ["status 503", "lose-answer", "drop"]
    assert await _count(container, "orders") == 1  # the one whose answer was lost

    proxy.faults = [Status(429, retry_after="0")]  # refused unprocessed: repeated
    placed = await through.create_email_order(_v1_order())
    assert await _count(container, "orders") == 2
    assert (await through.get_order(placed.order_id)).id == placed.order_id


async def test_a_retried_v2_create_stores_exactly_one_order(
    proxy: FaultyProxy, through: AsyncClient, container: Container
) -> None:
    proxy.faults = ["lose-answer", Status(503), "lose-answer"]
    receipt = await through.create_order_chain(_chain())
    assert proxy.forwarded == 3  # the service got the create three times ...
    assert await _count(container, "orderschain") == 1  # ... and kept one order
    assert await _count(container, "orders") == 1
    assert (await through.get_order_chain(receipt.notification_order_id)) == receipt


async def test_a_refused_token_is_renewed_once(
    service: str, make_token: TokenFactory, container: Container
) -> None:
    tokens = iter([make_token("ttd", ttl_seconds=-60), make_token("ttd")])
    calls: list[int] = []

    def next_token() -> str:
        calls.append(1)
        return next(tokens)

    async with AsyncClient(service, CallableToken(next_token), retry=FAST_RETRIES) as api:
        assert (await api.list_orders("x")).count == 0
    assert len(calls) == 2


async def test_connection_refused_is_retried_then_raised(
    token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="altinn_notifications_client")
    dead = f"http://127.0.0.1:{free_port()}"
    async with AsyncClient(dead, token, retry=RetryPolicy(attempts=3, backoff=0.01)) as api:
        with pytest.raises(TransportError):  # even a v1 create: it never reached the service
            await api.create_email_order(_v1_order())
    retries = [r.getMessage() for r in caplog.records if r.name == "altinn_notifications_client"]
    assert len(retries) == 2
    assert all(m.startswith("retrying POST /orders/email after ConnectError in ") for m in retries)
    assert token not in caplog.text and "ola@example.no" not in caplog.text


async def test_the_blocking_client_follows_the_same_rules(proxy: FaultyProxy, token: str) -> None:
    proxy.faults = ["drop", Status(503), "lose-answer"]

    def call() -> int:
        with Client(proxy.url, token, retry=FAST_RETRIES) as api:  # type: ignore[attr-defined]
            return api.list_orders("x").count

    assert await asyncio.to_thread(call) == 0
    assert len(proxy.seen) == 4
