"""A claimed batch of orders is written in groups, one transaction each (processing/service.py `run_once`).

The edges of that batching, against the real database: an order settled by someone else between claim
and write gets no notifications while the rest of the batch does; when the batched write fails (here a
database trigger refusing one address), every other order is still written one by one and only the
failing order is rescheduled; a slow order (its send condition endpoint or the contact register answers
late) finishes in the background without holding up its batch, and the next claim waits for a free
processing slot (which an order waiting for its condition call does not hold).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.models import NotificationOrder, Recipient
from altinn_notifications.processing.worker import OrderProcessor, ProcessingConfig
from altinn_notifications.queue.maintenance import LeaseRescue, MaintenanceSettings
from altinn_notifications.recipients.ports import ContactPointsPort
from tests.factories import email_order, insert_orders
from tests.loopback import serve
from tests.recipients.altinn_fake import PROFILE, altinn_adapters

POISON = "poison@example.no"


def _order(address: str, condition: str | None = None) -> NotificationOrder:
    return email_order([address], condition_endpoint=condition)


def _processor(
    container: Container, batch_size: int, contact_points: ContactPointsPort | None = None, **config: Any
) -> OrderProcessor:
    return OrderProcessor(
        container.transaction,
        contact_points or container.contact_points,
        container.party_names,
        container.condition,
        ProcessingConfig(batch_size=batch_size, **config),
    )


async def _run_once(processor: OrderProcessor) -> int:
    """One batch, and whatever of it finished in the background."""
    claimed = await processor.run_once()
    await processor.drain()
    return claimed


async def _state(container: Container, order_ids: list[int]) -> dict[int, tuple[str, int, bool]]:
    """{order id: (processing status, email notification rows, has a future next attempt)}."""
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT o._id, o.processedstatus::text AS status,
                      (SELECT count(*) FROM notifications.emailnotifications e WHERE e._orderid = o._id) AS n,
                      coalesce(o.next_attempt_at > now(), false) AS later
               FROM notifications.orders o WHERE o._id = ANY($1::bigint[])""",
            order_ids,
        )
    return {r["_id"]: (r["status"], r["n"], r["later"]) for r in rows}


@contextlib.asynccontextmanager
async def _refusing(container: Container, name: str, event: str, table: str) -> AsyncIterator[None]:
    """A trigger `name` that makes `event` on `table` fail for the rows matching its WHEN condition
    (part of `event`), as a broken row or a database gone bad would; dropped afterwards."""
    async with container.pool.acquire() as conn:
        await conn.execute(
            f"""CREATE FUNCTION notifications.{name}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$;
                CREATE TRIGGER {name} BEFORE {event.replace("$TABLE", f"notifications.{table}")}
                EXECUTE FUNCTION notifications.{name}();"""
        )
    try:
        yield
    finally:
        async with container.pool.acquire() as conn:
            await conn.execute(
                f"DROP TRIGGER {name} ON notifications.{table}; DROP FUNCTION notifications.{name}();"
            )


@pytest.fixture
async def refuse_poison(container: Container) -> AsyncIterator[None]:
    """Any write of an email notification to POISON fails."""
    event = f"INSERT ON $TABLE FOR EACH ROW WHEN (NEW.toaddress = '{POISON}')"
    async with _refusing(container, "refuse_poison", event, "emailnotifications"):
        yield


async def test_a_batch_is_written_together(container: Container) -> None:
    ids = await insert_orders(container, [_order(f"user{i}@example.no") for i in range(7)])

    assert await _run_once(_processor(container, batch_size=10)) == 7

    assert await _state(container, ids) == {i: ("Processed", 1, False) for i in ids}


async def test_failed_batch_write_falls_back_to_one_by_one(container: Container, refuse_poison: None) -> None:
    good = await insert_orders(container, [_order(f"user{i}@example.no") for i in range(3)])
    [poison] = await insert_orders(container, [_order(POISON)])
    more = await insert_orders(container, [_order(f"later{i}@example.no") for i in range(2)])

    assert await _run_once(_processor(container, batch_size=10)) == 6

    state = await _state(container, [*good, poison, *more])
    assert {i: state[i] for i in [*good, *more]} == {i: ("Processed", 1, False) for i in [*good, *more]}
    # The refused order is not lost: back to Registered, with no rows, and a retry scheduled later.
    assert state[poison] == ("Registered", 0, True)


async def test_order_settled_elsewhere_meanwhile_gets_no_notifications(container: Container) -> None:
    """The condition endpoint of one order settles that order behind the worker's back (as a second worker
    whose lease took over would), before the batch is written."""
    settled: list[int] = []

    async def condition(request: Request) -> Response:
        async with container.pool.acquire() as conn:
            await conn.execute(
                "UPDATE notifications.orders SET processedstatus = 'Completed' WHERE _id = $1", settled[0]
            )
        return JSONResponse({"sendNotification": True})

    app = Starlette(routes=[Route("/condition", condition)])
    async with serve(app) as base:
        others = await insert_orders(container, [_order(f"user{i}@example.no") for i in range(3)])
        settled.extend(
            await insert_orders(container, [_order("taken@example.no", condition=f"{base}/condition")])
        )

        assert await _run_once(_processor(container, batch_size=10)) == 4

    state = await _state(container, [*others, *settled])
    assert {i: state[i] for i in others} == {i: ("Processed", 1, False) for i in others}
    assert state[settled[0]] == ("Completed", 0, False)


async def _slow_condition_server(delay: float) -> Starlette:
    async def condition(request: Request) -> Response:
        await asyncio.sleep(delay)
        return JSONResponse({"sendNotification": True})

    return Starlette(routes=[Route("/slow", condition)])


async def test_a_slow_order_finishes_in_the_background_without_holding_up_its_batch(
    container: Container,
) -> None:
    async with serve(await _slow_condition_server(1.0)) as base:
        fast = await insert_orders(container, [_order(f"user{i}@example.no") for i in range(3)])
        [slow] = await insert_orders(container, [_order("slow@example.no", condition=f"{base}/slow")])
        processor = _processor(container, batch_size=10, straggler_after=timedelta(milliseconds=100))

        assert await processor.run_once() == 4
        state = await _state(container, [*fast, slow])
        assert {i: state[i] for i in fast} == {i: ("Processed", 1, False) for i in fast}
        assert state[slow] == ("Processing", 0, False)  # still asking its condition endpoint

        await processor.drain()
    assert (await _state(container, [slow]))[slow] == ("Processed", 1, False)


@contextlib.asynccontextmanager
async def _slow_register(delay: float) -> AsyncIterator[ContactPointsPort]:
    """Altinn Profile's person lookup on loopback, answering after `delay` seconds with an email address
    for every person asked about."""

    async def persons(request: Request) -> Response:
        body = await request.json()
        await asyncio.sleep(delay)
        found = [
            {
                "userId": 1,
                "nationalIdentityNumber": nin,
                "isReserved": False,
                "mobileNumber": "",
                "email": "p@example.no",
            }
            for nin in body["nationalIdentityNumbers"]
        ]
        return JSONResponse({"contactPointsList": found})

    app = Starlette(routes=[Route(PROFILE + "users/contactpoint/lookup", persons, methods=["POST"])])
    async with serve(app) as base, altinn_adapters(base) as (contact_points, _):
        yield contact_points


def _person_order() -> NotificationOrder:
    return email_order([], recipients=[Recipient(national_identity_number="01017012345")])


async def test_no_new_claim_while_stragglers_hold_every_slot(container: Container) -> None:
    async with _slow_register(0.5) as register:
        [slow] = await insert_orders(container, [_person_order()])
        processor = _processor(
            container,
            batch_size=1,
            contact_points=register,
            concurrency=1,
            straggler_after=timedelta(milliseconds=50),
        )
        assert await processor.run_once() == 1
        assert (await _state(container, [slow]))[slow][0] == "Processing"
        [later] = await insert_orders(container, [_order("later@example.no")])

        # The only slot is the straggler's: the second claim waits for it to finish first.
        assert await processor.run_once() == 1
        state = await _state(container, [slow, later])
        assert state == {slow: ("Processed", 1, False), later: ("Processed", 1, False)}


async def test_a_slow_order_keeps_its_lease_and_is_never_taken_over(container: Container) -> None:
    """The claim's lease (0.4 s here) is shorter than the order's preparation (1 s): kept alive by
    `keep_leases`, the lease rescue never hands the order to someone else."""
    rescue = LeaseRescue(container.transaction, MaintenanceSettings())
    async with serve(await _slow_condition_server(1.0)) as base:
        [slow] = await insert_orders(container, [_order("slow@example.no", condition=f"{base}/slow")])
        processor = _processor(
            container,
            batch_size=1,
            lease=timedelta(milliseconds=400),
            straggler_after=timedelta(milliseconds=50),
        )
        assert await processor.run_once() == 1
        seen: set[str] = set()
        extended = []
        for _ in range(12):  # 1.2 s: the lease would have run out three times over
            extended.append(await processor.keep_leases())
            await rescue.run()
            seen.add((await _state(container, [slow]))[slow][0])
            await asyncio.sleep(0.1)
        await processor.drain()
    assert seen <= {"Processing", "Processed"}
    assert extended[0] == 1  # the order was in progress, and its lease extended
    assert (await _state(container, [slow]))[slow] == ("Processed", 1, False)
    assert await processor.keep_leases() == 0  # nothing left in progress


@pytest.fixture
async def refuse_reschedules(container: Container) -> AsyncIterator[None]:
    """Every `Processing → Registered` change of an order fails."""
    event = (
        "UPDATE ON $TABLE FOR EACH ROW "
        "WHEN (OLD.processedstatus = 'Processing' AND NEW.processedstatus = 'Registered')"
    )
    async with _refusing(container, "refuse_reschedule", event, "orders"):
        yield


async def test_an_order_that_cannot_even_be_rescheduled_is_left_to_its_lease_and_the_rest_written(
    container: Container, refuse_reschedules: None
) -> None:
    """Its send condition endpoint fails (→ reschedule), and so does the reschedule: the others of the
    batch are still written, and the failed order is no longer kept alive, so the lease rescue gets it."""

    async def broken(request: Request) -> Response:
        return JSONResponse({"error": "down"}, status_code=500)

    async with serve(Starlette(routes=[Route("/broken", broken)])) as base:
        others = await insert_orders(container, [_order(f"user{i}@example.no") for i in range(3)])
        [failing] = await insert_orders(container, [_order("x@example.no", condition=f"{base}/broken")])
        processor = _processor(container, batch_size=10)
        assert await _run_once(processor) == 4

    state = await _state(container, [*others, failing])
    assert {i: state[i] for i in others} == {i: ("Processed", 1, False) for i in others}
    assert state[failing] == ("Processing", 0, False)
    assert await processor.keep_leases() == 0


async def test_draining_keeps_leases_and_no_claim_follows_stop(container: Container) -> None:
    """On stop: the straggler still finishes, its lease kept alive by `drain`, and a claim that was
    waiting for a free slot takes nothing."""
    rescue = LeaseRescue(container.transaction, MaintenanceSettings())
    async with _slow_register(1.0) as register:
        [slow] = await insert_orders(container, [_person_order()])
        processor = _processor(
            container,
            batch_size=1,
            contact_points=register,
            concurrency=1,
            lease=timedelta(milliseconds=300),
            straggler_after=timedelta(milliseconds=50),
        )
        assert await processor.run_once() == 1
        [waiting] = await insert_orders(container, [_order("waiting@example.no")])
        claim = asyncio.create_task(processor.run_once())  # waits for the straggler's slot
        processor.stop_claiming()
        draining = asyncio.create_task(processor.drain())
        seen: set[str] = set()
        while not draining.done():
            await rescue.run()
            seen.add((await _state(container, [slow]))[slow][0])
            await asyncio.sleep(0.05)
        await draining
        assert await claim == 0
    assert seen <= {"Processing", "Processed"}
    state = await _state(container, [slow, waiting])
    assert state == {slow: ("Processed", 1, False), waiting: ("Registered", 0, False)}
