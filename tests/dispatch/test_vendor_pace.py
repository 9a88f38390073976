"""Dispatch at the vendors' pace against the real database: PSWin batches whose messages fail or pass one by
one, sends in flight bounded by the concurrency until their results are committed, and the channel's send
allowance (a token bucket in PostgreSQL) granted per claim."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.responses import Response

from altinn_notifications.bootstrap import Container
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.dispatch.worker import EmailDispatcher, SmsDispatcher, StatusPoller
from altinn_notifications.providers.email.acs import AcsEmailProvider
from altinn_notifications.providers.sms.linkmobility import LinkMobilitySmsProvider
from tests.dispatch.test_dispatcher import GatedProvider, _order, _results, _rows, _sms_order
from tests.loopback import serve
from tests.pipeline.conftest import eventually
from tests.providers.fake_acs import FakeAcs, Operation, connection_string
from tests.providers.fake_linkmobility import PASSWORD, USERNAME, FakeGateway

NOON = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # 12:00 in Oslo: every SMS may go


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    async with serve(fake.app) as url:
        yield fake, url + "/"


async def _sms_rows(container: Container) -> list[dict[str, Any]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT mobilenumber, result::text AS result, gatewayreference, attempts
               FROM smsnotifications ORDER BY _id"""
        )
    return [dict(r) for r in rows]


async def test_a_pswin_batch_with_failures_inside_writes_each_message_its_own_result(
    container: Container, gateway: tuple[FakeGateway, str]
) -> None:
    fake, url = gateway
    numbers = [
        "+4799000001",
        "+4741000001",  # the gateway: Invalid RCV
        "+4799000002",
        "+4741000003",  # the gateway: rejected
        "+4799000003",
        "+4799000004",
        "+4799000005",
    ]
    await _sms_order(container, numbers)
    provider = LinkMobilitySmsProvider(url, USERNAME, PASSWORD, timeout=5.0, batch_size=4)
    try:
        dispatcher = SmsDispatcher(container.transaction, provider, DispatchConfig(), lambda: NOON)
        assert await dispatcher.run_once() == 7
    finally:
        await provider.close()
    assert len(fake.raw) == 2, "seven SMS in requests of at most four"
    assert sorted(Counter(len(r.split(b"<MSG>")) - 1 for r in fake.raw).elements()) == [3, 4]
    rows = {r["mobilenumber"]: r for r in await _sms_rows(container)}
    assert rows["+4741000001"]["result"] == "Failed_InvalidRecipient"
    assert rows["+4741000003"]["result"] == "Failed"
    accepted = [r for n, r in rows.items() if n not in ("+4741000001", "+4741000003")]
    assert {r["result"] for r in accepted} == {"Accepted"}
    assert len({r["gatewayreference"] for r in accepted}) == 5 and None not in {
        r["gatewayreference"] for r in accepted
    }
    assert {r["attempts"] for r in rows.values()} == {1}
    assert sorted(fake.calls.values()) == [1] * 7  # every message handed over once


async def test_a_message_missing_from_the_batch_answer_is_retried_alone(
    container: Container, gateway: tuple[FakeGateway, str]
) -> None:
    fake, url = gateway
    await _sms_order(container, ["+4799000001", "+4799000002", "+4799000003"])
    fake.queue(
        Response(
            '<?xml version="1.0"?><SESSION><LOGON>OK</LOGON><REASON></REASON><MSGLST>'
            "<MSG><ID>1</ID><REF>r1</REF><STATUS>OK</STATUS><INFO></INFO></MSG>"
            "<MSG><ID>3</ID><REF>r3</REF><STATUS>OK</STATUS><INFO></INFO></MSG>"
            "</MSGLST></SESSION>",
            media_type="application/xml",
        )
    )
    provider = LinkMobilitySmsProvider(url, USERNAME, PASSWORD, timeout=5.0, retry_delays=(0.0,))
    try:
        dispatcher = SmsDispatcher(container.transaction, provider, DispatchConfig(), lambda: NOON)
        assert await dispatcher.run_once() == 3
        rows = await _sms_rows(container)
        assert [(r["result"], r["gatewayreference"]) for r in rows] == [
            ("Accepted", "r1"),
            ("New", None),
            ("Accepted", "r3"),
        ]
        assert await dispatcher.run_once() == 1  # only the one the answer did not mention
    finally:
        await provider.close()
    rows = await _sms_rows(container)
    assert [r["result"] for r in rows] == ["Accepted"] * 3
    assert [r["attempts"] for r in rows] == [1, 2, 1]


async def test_sends_in_flight_stay_within_the_concurrency_until_their_results_are_written(
    container: Container,
) -> None:
    """The bound on duplicates after a crash: a slot is freed only when the result is committed, so at
    no moment are more than `concurrency` sends handed over and unrecorded."""
    await _order(container, [f"r{i}@example.no" for i in range(60)])
    provider = GatedProvider(latency=0.02)
    config = DispatchConfig(batch_size=25, concurrency=7, flush_size=5, flush_interval=0.05)
    dispatcher = EmailDispatcher(container.transaction, provider, config)
    peak_unrecorded = 0
    loop_task = asyncio.create_task(_claim_until_empty(dispatcher))
    while not loop_task.done():
        handed = len(provider.calls)
        recorded = _results(await _rows(container))["Delivered"]
        peak_unrecorded = max(peak_unrecorded, handed - recorded)
        assert dispatcher.unwritten <= max(config.batch_size, config.concurrency)
        await asyncio.sleep(0.005)
    await loop_task
    assert _results(await _rows(container)) == Counter({"Delivered": 60})
    assert peak_unrecorded <= config.concurrency
    assert dispatcher.peak_in_flight == config.concurrency  # and the concurrency was used


async def _claim_until_empty(dispatcher: EmailDispatcher) -> None:
    while await dispatcher.step():
        pass
    await dispatcher.close()


async def test_claims_keep_coming_while_earlier_sends_are_still_out(container: Container) -> None:
    """A slow send does not hold up the claims behind it (no batch waits for its slowest member)."""
    await _order(container, ["slow@example.no", *(f"r{i}@example.no" for i in range(12))])
    provider = GatedProvider(held=["slow@example.no"])
    dispatcher = EmailDispatcher(
        container.transaction, provider, DispatchConfig(batch_size=4, concurrency=8, flush_interval=0.02)
    )
    try:
        claimed = 0
        for _ in range(4):
            claimed += await dispatcher.step()
        assert claimed == 13

        async def all_but_the_slow_one_written() -> bool:
            return _results(await _rows(container))["Delivered"] == 12

        await eventually(all_but_the_slow_one_written, within=5)
    finally:
        provider.release.set()
        await dispatcher.close()
    assert _results(await _rows(container)) == Counter({"Delivered": 13})


async def test_the_send_allowance_grants_tokens_per_claim_and_refills_at_its_rate(
    container: Container,
) -> None:
    rate, capacity = 10.0, 10.0
    async with container.transaction() as conn:
        repo = DispatchRepository(conn)
        assert (await repo.take_allowance("sms", 4, rate=rate, capacity=capacity, least=2))[0] == 4
        assert (await repo.take_allowance("sms", 50, rate=rate, capacity=capacity, least=2))[0] == 6
    async with container.transaction() as conn:
        granted, there = await DispatchRepository(conn).take_allowance(
            "sms", 50, rate=rate, capacity=capacity, least=2
        )
        assert granted == 0 and there < 2  # empty: nothing until `least` tokens are back
        # The other channel has a bucket of its own.
        assert (await DispatchRepository(conn).take_allowance("email", 3, rate=1, capacity=5, least=1))[
            0
        ] == 3
    async with container.pool.acquire() as conn:
        await conn.execute(
            "UPDATE sendallowance SET refilled_at = refilled_at - interval '0.5 seconds' WHERE channel = 'sms'"
        )
    async with container.transaction() as conn:
        repo = DispatchRepository(conn)
        granted, _ = await repo.take_allowance("sms", 50, rate=rate, capacity=capacity, least=2)
        assert granted == 5  # half a second at 10/s
        await repo.give_back_allowance("sms", 3, capacity)
        assert (await repo.take_allowance("sms", 50, rate=rate, capacity=capacity, least=2))[0] == 3


async def test_a_rate_limited_channel_claims_no_more_than_its_allowance(container: Container) -> None:
    await _order(container, [f"r{i}@example.no" for i in range(30)])
    provider = GatedProvider()
    config = DispatchConfig(batch_size=500, email_sends_per_second=8.0, allowance_burst_seconds=1.0)
    dispatcher = EmailDispatcher(container.transaction, provider, config)
    assert await dispatcher.run_once() == 8  # the bucket's burst: one second's worth
    assert await dispatcher.run_once() == 0  # empty: the loop is told how long to wait
    assert 0 < await dispatcher.paused_for() <= 2 / 8 + 0.05
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE sendallowance SET refilled_at = refilled_at - interval '1 second'")
    assert await dispatcher.run_once() == 8
    assert len(provider.calls) == 16
    rows = await _rows(container)
    assert _results(rows) == Counter({"Delivered": 16, "New": 14})
    assert all(r["attempts"] == 0 for r in rows if r["result"] == "New")


async def test_an_unused_allowance_is_given_back(container: Container) -> None:
    await _order(container, ["a@example.no", "b@example.no"])
    config = DispatchConfig(email_sends_per_second=100.0, allowance_burst_seconds=1.0)
    dispatcher = EmailDispatcher(container.transaction, GatedProvider(), config)
    assert await dispatcher.run_once() == 2
    async with container.pool.acquire() as conn:
        tokens = await conn.fetchval("SELECT tokens FROM sendallowance WHERE channel = 'email'")
    assert 97 <= tokens <= 100  # 100 less the two sent (plus what refilled meanwhile, capped at 100)


async def test_acs_operations_due_are_polled_many_at_a_time(container: Container) -> None:
    """Tens of thousands of operations can be `Sending` at once: the poller claims them in large batches
    and polls as many at a time as the provider allows sends, each operation once."""
    count, allowed = 120, 30
    await _order(container, [f"r{i}@example.no" for i in range(count)])
    async with container.pool.acquire() as conn:
        ids = await conn.fetch(
            """UPDATE emailnotifications SET result = 'Sending', operationid = alternateid::text,
                      next_attempt_at = now() - interval '1 second', attempts = 1
               RETURNING alternateid::text AS id, toaddress"""
        )
    fake = FakeAcs(running_polls=0, delay=0.1)
    for row in ids:
        fake.operations[row["id"]] = Operation(row["id"], row["toaddress"], "noreply@altinn.no", fail=False)
    async with serve(fake.app) as url:
        acs = AcsEmailProvider(connection_string(url), max_in_flight=allowed)
        try:
            poller = StatusPoller(container.transaction, "email", acs, DispatchConfig(poll_batch_size=1000))
            assert await poller.run_once() == count  # one claim for all of them
        finally:
            await acs.close()
    assert _results(await _rows(container)) == Counter({"Succeeded": count})
    assert set(fake.poll_count.values()) == {1}
    assert fake.in_flight_peak == allowed  # as many at a time as allowed, and no more
