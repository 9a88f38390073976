"""Transient provider failures are retried until delivered; a vendor's rate limit pauses the channel
(docs/compatibility.md C9 `Failed_TransientError` → `New`, 10.7.1 rate-limit signal, 10.8)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.orders.models import (
    NotificationOrder,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.providers.base import EmailMessage, ReportSink, SendOutcome
from tests.conftest import ContainerFactory
from tests.factories import email_order
from tests.pipeline.conftest import RunWorkers, eventually

FAST_RETRY = DispatchConfig(retry_base_seconds=0.1, retry_max_seconds=0.5)


class FlakyEmailProvider:
    """A fake vendor that fails transiently, then accepts; counts every attempt and when it happened.

    `per_notification`: each notification fails this many times first. `outage`: the first this many
    calls overall fail (a vendor down for a while). `rate_limit`: the first call answers "slow down for
    this many seconds". `raise_instead`: failures are exceptions (a provider bug), not outcomes.
    """

    name = "flaky"

    def __init__(
        self,
        *,
        per_notification: int = 0,
        outage: int = 0,
        rate_limit: float | None = None,
        raise_instead: bool = False,
    ) -> None:
        self.per_notification = per_notification
        self.outage = outage
        self.rate_limit = rate_limit
        self.raise_instead = raise_instead
        self.attempts: Counter[UUID] = Counter()
        self.delivered: Counter[UUID] = Counter()
        self.calls: list[tuple[datetime, UUID, str]] = []

    async def start(self, sink: ReportSink) -> None:
        return None

    async def send(self, message: EmailMessage) -> SendOutcome:
        await asyncio.sleep(0.001)
        self.attempts[message.notification_id] += 1
        self.calls.append((datetime.now(UTC), message.notification_id, message.to_address))
        if self.rate_limit is not None and len(self.calls) == 1:
            return SendOutcome(
                result="Failed_TransientError", transient=True, retry_after=self.rate_limit, detail="429"
            )
        failing = (
            len(self.calls) <= self.outage or self.attempts[message.notification_id] <= self.per_notification
        )
        if failing:
            if self.raise_instead:
                raise ConnectionResetError("vendor connection reset")
            return SendOutcome(result="Failed_TransientError", transient=True, detail="503")
        self.delivered[message.notification_id] += 1
        return SendOutcome(result="Delivered", reference=str(uuid.uuid4()))

    async def close(self) -> None:
        return None


def _order(addresses: list[str]) -> NotificationOrder:
    return email_order(addresses)


async def _insert(container: Container, addresses: list[str]) -> int:
    async with container.transaction() as conn:
        return await OrderRepository(conn).insert(_order(addresses))


async def _all_completed(container: Container) -> bool:
    async with container.pool.acquire() as conn:
        open_orders: int = await conn.fetchval(
            "SELECT count(*) FROM orders WHERE processedstatus <> 'Completed'"
        )
    return open_orders == 0


async def _rows(container: Container) -> dict[UUID, tuple[str, int]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch("SELECT alternateid, result::text, attempts FROM emailnotifications")
    return {r["alternateid"]: (r["result"], r["attempts"]) for r in rows}


Swap = Callable[[FlakyEmailProvider], FlakyEmailProvider]


@pytest.fixture
def chosen_provider() -> dict[str, FlakyEmailProvider]:
    return {}


@pytest.fixture
def swap_email_provider(chosen_provider: dict[str, FlakyEmailProvider]) -> Swap:
    """Choose the email provider of the workers this test runs."""

    def swap(provider: FlakyEmailProvider) -> FlakyEmailProvider:
        chosen_provider["email"] = provider
        return provider

    return swap


@pytest.fixture
def run_workers(
    run_workers: RunWorkers, make_container: ContainerFactory, chosen_provider: dict[str, FlakyEmailProvider]
) -> RunWorkers:
    """The pipeline's workers, over a copy of the test's container with the chosen email provider."""

    def run(**overrides: Any) -> Any:
        return run_workers(container=make_container(email_provider=chosen_provider["email"]), **overrides)

    return run


@pytest.mark.parametrize("raise_instead", [False, True], ids=["transient-outcome", "provider-exception"])
async def test_transient_failures_are_retried_until_delivered(
    container: Container, run_workers: RunWorkers, swap_email_provider: Swap, raise_instead: bool
) -> None:
    provider = swap_email_provider(FlakyEmailProvider(per_notification=2, raise_instead=raise_instead))
    addresses = [f"r{i}@example.no" for i in range(40)]
    await _insert(container, addresses[:20])
    await _insert(container, addresses[20:])
    async with run_workers(dispatch=FAST_RETRY):
        await eventually(lambda: _all_completed(container), within=15)

    rows = await _rows(container)
    assert len(rows) == 40
    # Nothing lost, nothing sent twice after success: three attempts each, the third one delivered.
    assert set(provider.attempts) == set(rows)
    assert set(provider.attempts.values()) == {3}
    assert set(provider.delivered.values()) == {1} and len(provider.delivered) == 40
    assert set(rows.values()) == {("Delivered", 3)}
    async with container.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM statusfeed") == 2
        assert await conn.fetchval("SELECT count(*) FROM resourcelimitlog") == 0  # no rate limit signalled


async def test_a_vendor_outage_loses_nothing(
    container: Container, run_workers: RunWorkers, swap_email_provider: Swap
) -> None:
    provider = swap_email_provider(FlakyEmailProvider(outage=60))
    await _insert(container, [f"o{i}@example.no" for i in range(50)])
    async with run_workers(dispatch=FAST_RETRY):
        await eventually(lambda: _all_completed(container), within=15)
    rows = await _rows(container)
    assert len(rows) == 50
    assert len(provider.calls) == 60 + 50  # every failed call was retried, every notification delivered once
    assert set(provider.delivered.values()) == {1} and set(provider.delivered) == set(rows)
    assert {result for result, _ in rows.values()} == {"Delivered"}
    assert {attempts for _, attempts in rows.values()} == set(provider.attempts.values())
    assert sum(attempts for _, attempts in rows.values()) == 110


async def test_rate_limit_pauses_the_email_channel_until_the_reset_time(
    container: Container, run_workers: RunWorkers, swap_email_provider: Swap
) -> None:
    pause = 2.0
    provider = swap_email_provider(FlakyEmailProvider(rate_limit=pause))
    await _insert(container, ["first@example.no"])

    async def paused_until() -> datetime | None:
        async with container.pool.acquire() as conn:
            value: datetime | None = await conn.fetchval(
                "SELECT emaillimittimeout FROM resourcelimitlog WHERE channel = 'email'"
            )
        return value

    async with run_workers(dispatch=FAST_RETRY) as workers:
        await eventually(lambda: _is_set(paused_until), within=5)
        until = await paused_until()
        assert until is not None
        first_call = provider.calls[0][0]
        assert timedelta(seconds=pause - 0.5) < until - first_call < timedelta(seconds=pause + 0.5)

        # New work arriving during the pause is processed but not sent.
        second = await _insert(container, ["a@example.no", "b@example.no", "c@example.no"])

        async def second_order_waits() -> bool:
            async with container.pool.acquire() as conn:
                results = await conn.fetch(
                    "SELECT result::text FROM emailnotifications WHERE _orderid = $1", second
                )
            return [r["result"] for r in results] == ["New"] * 3

        await eventually(second_order_waits, within=5)
        still_paused = datetime.now(UTC) < until - timedelta(seconds=0.2)
        if still_paused:  # (the check below is only meaningful inside the pause)
            assert await workers.email.run_once() == 0
            assert await workers.email.paused_for() > 0
        assert len(provider.calls) == 1

        await eventually(lambda: _all_completed(container), within=10)

    # Nothing was handed to the vendor between the rate-limit answer and the reset time.
    later = provider.calls[1:]
    assert len(later) == 4
    assert all(when >= until - timedelta(milliseconds=20) for when, _, _ in later), (until, later)
    rows = await _rows(container)
    assert set(rows.values()) == {("Delivered", 1), ("Delivered", 2)}
    assert provider.attempts[provider.calls[0][1]] == 2  # the limited one was retried after the pause
    assert sorted(address for _, _, address in provider.calls) == sorted(
        ["first@example.no", "first@example.no", "a@example.no", "b@example.no", "c@example.no"]
    )


async def _is_set(read: Callable[[], Awaitable[datetime | None]]) -> bool:
    return await read() is not None
