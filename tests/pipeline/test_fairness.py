"""Fairness between senders (docs/architecture.md, "Fairness"): one sender's slow condition endpoint or huge
backlog never holds up another sender's order.

The slow endpoint is a real HTTP server on loopback that holds every request until the test lets it
answer, so "B was sent while A's condition calls were still blocked" is a fact about the order of events,
not a timing: the outbound client's timeout is made longer than the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from altinn_notifications.bootstrap import Container, outbound_policy
from altinn_notifications.processing.condition import HttpConditionClient
from altinn_notifications.processing.fairness import ConditionPool, ConditionPoolStopped
from altinn_notifications.processing.outbound import outbound_client
from altinn_notifications.processing.repository import ProcessingRepository
from altinn_notifications.processing.worker import OrderProcessor, ProcessingConfig
from tests.conftest import ContainerFactory
from tests.factories import email_order, insert_orders
from tests.loopback import serve
from tests.pipeline.conftest import FAST_PROCESSING, RunWorkers, eventually

LEASE = timedelta(minutes=5)


@dataclass
class HeldEndpoint:
    """A condition endpoint that answers nobody until `release` is set; counts calls in progress."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    in_progress: int = 0
    most_at_once: int = 0
    answered: int = 0

    def app(self) -> Starlette:
        async def condition(request: Request) -> Response:
            self.in_progress += 1
            self.most_at_once = max(self.most_at_once, self.in_progress)
            try:
                await self.release.wait()
            finally:
                self.in_progress -= 1
            self.answered += 1
            return JSONResponse({"sendNotification": True})

        return Starlette(routes=[Route("/condition", condition)])


@pytest.fixture
async def held() -> AsyncIterator[tuple[HeldEndpoint, str]]:
    endpoint = HeldEndpoint()
    async with serve(endpoint.app()) as base:
        try:
            yield endpoint, f"{base}/condition"
        finally:
            endpoint.release.set()


@pytest.fixture
async def patient(make_container: ContainerFactory, container: Container) -> AsyncIterator[Container]:
    """The test's container with a condition client that waits longer than the test for an answer."""
    client = outbound_client(outbound_policy(container.settings), timeout=120.0)
    yield make_container(condition=HttpConditionClient(client), outbound=client)
    await client.aclose()


async def _email_results(container: Container, order_ids: list[int]) -> dict[int, list[str]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT o._id, coalesce(array_agg(e.result::text) FILTER (WHERE e._id IS NOT NULL), '{}') AS r
               FROM orders o LEFT JOIN emailnotifications e ON e._orderid = o._id
               WHERE o._id = ANY($1::bigint[]) GROUP BY o._id""",
            order_ids,
        )
    return {r["_id"]: list(r["r"]) for r in rows}


async def test_another_senders_order_is_sent_while_a_slow_condition_endpoint_holds_its_calls(
    patient: Container, run_workers: RunWorkers, held: tuple[HeldEndpoint, str]
) -> None:
    """Org A has more orders with a (blocked) condition endpoint than the worker has processing slots;
    org B's one-recipient order, due meanwhile, is handed to the provider before any of A's calls is
    answered, and A never has more calls in progress than its per-creator cap."""
    endpoint, url = held
    slots = 2
    a_orders = await insert_orders(
        patient,
        [email_order([f"a{i}@example.no"], creator="orga", condition_endpoint=url) for i in range(3 * slots)],
    )
    processing = ProcessingConfig(
        concurrency=slots,
        condition_retry_delay=FAST_PROCESSING.condition_retry_delay,
        retry_base_delay=FAST_PROCESSING.retry_base_delay,
    )
    async with run_workers(container=patient, processing=processing):

        async def a_is_calling() -> bool:
            return endpoint.in_progress >= slots

        await eventually(a_is_calling)
        [b_order] = await insert_orders(patient, [email_order(["b@example.no"], creator="orgb")])

        async def b_handed_over() -> bool:
            return (await _email_results(patient, [b_order]))[b_order] in (["Succeeded"], ["Delivered"])

        await eventually(b_handed_over)
        # B went out while every one of A's calls so far is still waiting for its answer.
        assert endpoint.answered == 0
        assert endpoint.in_progress >= slots
        assert all(r == [] for r in (await _email_results(patient, a_orders)).values())

        endpoint.release.set()

        async def a_processed() -> bool:
            return all(len(r) == 1 for r in (await _email_results(patient, a_orders)).values())

        await eventually(a_processed)
    assert endpoint.most_at_once <= ProcessingConfig().condition_per_creator


async def test_a_claim_shares_the_batch_among_creators_whatever_one_of_them_has_waiting(
    container: Container,
) -> None:
    """Org A's backlog of 120 older orders does not keep org B's one order out of a claim of 10."""
    old = datetime.now(UTC) - timedelta(hours=1)
    backlog = await insert_orders(
        container,
        [
            email_order([f"a{i}@example.no"], creator="orga", requested_send_time=old + timedelta(seconds=i))
            for i in range(120)
        ],
    )
    [b_order] = await insert_orders(container, [email_order(["b@example.no"], creator="orgb")])
    async with container.transaction() as conn:
        claimed = await ProcessingRepository(conn).claim_due_orders(10, timedelta(0), LEASE)
    ids = [c.internal_id for c in claimed]
    assert b_order in ids
    assert {c.creator for c in claimed} == {"orga", "orgb"}
    # A's share is its oldest orders, in order; B's order comes in the first turn.
    assert [i for i in ids if i != b_order] == backlog[: len(ids) - 1]
    assert ids.index(b_order) <= 1


async def test_a_claim_leaves_out_backed_up_creators_and_caps_each_creator(container: Container) -> None:
    a_orders = await insert_orders(container, [email_order([f"a{i}@x.no"], creator="orga") for i in range(5)])
    b_orders = await insert_orders(container, [email_order([f"b{i}@x.no"], creator="orgb") for i in range(5)])
    async with container.transaction() as conn:
        repo = ProcessingRepository(conn)
        skipped = await repo.claim_due_orders(10, timedelta(0), LEASE, skip_creators=["orga"])
        capped = await repo.claim_due_orders(10, timedelta(0), LEASE, per_creator=2)
    assert sorted(c.internal_id for c in skipped) == b_orders
    assert sorted(c.internal_id for c in capped) == a_orders[:2]


async def test_condition_pool_caps_one_creator_and_leaves_room_for_others() -> None:
    """A creator's calls beyond its cap queue on its own limit, not on the pool's; the worker is told to
    leave a creator out of claims once twice its cap is waiting."""
    gate = asyncio.Event()
    started: list[str] = []

    class Endpoint:
        async def check(self, endpoint: str) -> bool | None:
            started.append(endpoint)
            await gate.wait()
            return True

    pool = ConditionPool(concurrency=3, per_creator=2)
    a_calls = [asyncio.create_task(pool.check(Endpoint(), "orga", f"a{i}")) for i in range(4)]
    await asyncio.sleep(0)
    b_call = asyncio.create_task(pool.check(Endpoint(), "orgb", "b"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert sorted(started) == ["a0", "a1", "b"]  # A at its cap of 2; B's call got the pool's third place
    assert pool.waiting("orga") == 4 and pool.backed_up() == ["orga"]
    gate.set()
    assert await asyncio.gather(*a_calls, b_call) == [True] * 5
    assert pool.waiting() == 0 and pool.backed_up() == []


async def test_condition_pool_stop_ends_queued_calls_and_lets_started_ones_finish() -> None:
    gate = asyncio.Event()

    class Endpoint:
        async def check(self, endpoint: str) -> bool | None:
            await gate.wait()
            return False

    pool = ConditionPool(concurrency=5, per_creator=1)
    started = asyncio.create_task(pool.check(Endpoint(), "orga", "first"))
    queued = asyncio.create_task(pool.check(Endpoint(), "orga", "second"))
    for _ in range(3):
        await asyncio.sleep(0)
    pool.stop()
    with pytest.raises(ConditionPoolStopped):
        await queued
    with pytest.raises(ConditionPoolStopped):
        await pool.check(Endpoint(), "orgb", "after stop")
    gate.set()
    assert await started is False
    assert pool.waiting() == 0


async def test_a_stopping_worker_hands_back_orders_whose_condition_call_had_not_started(
    patient: Container, held: tuple[HeldEndpoint, str]
) -> None:
    """One call of the creator at a time: one order asks its endpoint (held), two wait for their turn.
    On stop those two go back to `Registered` with their attempt given back, at once; the one asking
    finishes when the endpoint answers."""
    endpoint, url = held
    ids = await insert_orders(
        patient, [email_order([f"a{i}@example.no"], creator="orga", condition_endpoint=url) for i in range(3)]
    )
    processor = OrderProcessor(
        patient.transaction,
        patient.contact_points,
        patient.party_names,
        patient.condition,
        ProcessingConfig(condition_per_creator=1, straggler_after=timedelta(milliseconds=50)),
    )
    assert await processor.run_once() == 3

    async def asking() -> bool:
        return endpoint.in_progress == 1

    await eventually(asking)
    processor.stop_claiming()

    async def handed_back() -> bool:
        return sorted(await _states(patient, ids)) == [
            ("Processing", 1),
            ("Registered", 0),
            ("Registered", 0),
        ]

    await eventually(handed_back)
    endpoint.release.set()
    await processor.drain()
    assert sorted(await _states(patient, ids)) == [("Processed", 1), ("Registered", 0), ("Registered", 0)]
    assert endpoint.answered == 1


async def _states(container: Container, ids: list[int]) -> list[tuple[str, int]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT processedstatus::text AS s, attempts FROM orders WHERE _id = ANY($1::bigint[])", ids
        )
    return [(r["s"], r["attempts"]) for r in rows]
