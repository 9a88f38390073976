"""Group commit of one-statement writes (`db.batching`): grouped when concurrent, each call its own answer,
one bad statement fails only itself, a caller that goes away cancels nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.db.batching import StatementBatcher
from tests.api.helpers import V1

_PROBE = "CREATE TABLE IF NOT EXISTS batching_probe (id bigserial PRIMARY KEY, label text NOT NULL)"
_INSERT = "INSERT INTO batching_probe (label) VALUES ($1) RETURNING id, label"


@pytest.fixture
async def probe(container: Container) -> AsyncIterator[None]:
    async with container.pool.acquire() as conn:
        await conn.execute(_PROBE)
        await conn.execute("TRUNCATE batching_probe RESTART IDENTITY")
    yield
    async with container.pool.acquire() as conn:
        await conn.execute("DROP TABLE batching_probe")


async def _labels(container: Container) -> list[str]:
    async with container.pool.acquire() as conn:
        return [r["label"] for r in await conn.fetch("SELECT label FROM batching_probe ORDER BY id")]


async def test_a_lone_statement_goes_out_alone(container: Container) -> None:
    batcher = StatementBatcher(container.pool)
    row = await batcher.fetchrow("SELECT $1::int * 2 AS doubled", 21)
    assert row["doubled"] == 42
    assert batcher.largest_batch == 1


async def test_concurrent_statements_share_a_batch_and_each_gets_its_own_row(container: Container) -> None:
    batcher = StatementBatcher(container.pool)
    queries = ["SELECT $1::int * 2 AS v", "SELECT $1::int + 1000 AS v"]
    rows = await asyncio.gather(*(batcher.fetchrow(queries[i % 2], i) for i in range(40)))
    assert [r["v"] for r in rows] == [i * 2 if i % 2 == 0 else i + 1000 for i in range(40)]
    assert batcher.largest_batch > 1


async def test_batches_are_capped(container: Container) -> None:
    batcher = StatementBatcher(container.pool, max_batch=5)
    rows = await asyncio.gather(*(batcher.fetchrow("SELECT $1::int AS v", i) for i in range(23)))
    assert [r["v"] for r in rows] == list(range(23))
    assert batcher.largest_batch == 5


async def test_one_failing_statement_fails_only_its_own_call(container: Container, probe: None) -> None:
    batcher = StatementBatcher(container.pool)
    labels: list[Any] = [f"ok-{i}" for i in range(10)]
    labels[4] = None  # NOT NULL: PostgreSQL refuses this one

    answers = await asyncio.gather(
        *(batcher.fetchrow(_INSERT, label) for label in labels), return_exceptions=True
    )

    assert isinstance(answers[4], asyncpg.NotNullViolationError)
    assert [a["label"] for i, a in enumerate(answers) if i != 4] == [f"ok-{i}" for i in range(10) if i != 4]
    # The failed batch was rolled back and its good statements written once each, one by one.
    assert sorted(await _labels(container)) == sorted(f"ok-{i}" for i in range(10) if i != 4)
    assert batcher.largest_batch == 10


async def test_a_batch_is_written_in_the_order_of_its_keys(container: Container, probe: None) -> None:
    """The same lock order in every process's batches: the creators' allowance rows cannot deadlock."""
    batcher = StatementBatcher(container.pool)
    keys = ["org-c", "org-a", "org-b", "org-a"]
    await asyncio.gather(*(batcher.fetchrow(_INSERT, key, order_key=key) for key in keys))
    assert await _labels(container) == ["org-a", "org-a", "org-b", "org-c"]


async def test_a_caller_that_goes_away_does_not_cancel_the_others(container: Container, probe: None) -> None:
    batcher = StatementBatcher(container.pool)
    first = asyncio.create_task(batcher.fetchrow(_INSERT, "kept-1"))
    leaving = asyncio.create_task(batcher.fetchrow(_INSERT, "left"))
    last = asyncio.create_task(batcher.fetchrow(_INSERT, "kept-2"))
    await asyncio.sleep(0)  # every call is handed over
    leaving.cancel()
    assert [(await first)["label"], (await last)["label"]] == ["kept-1", "kept-2"]
    with pytest.raises(asyncio.CancelledError):
        await leaving
    await batcher.close()
    # Handed over is written: the statement of the caller that left went out with its batch.
    assert sorted(await _labels(container)) == ["kept-1", "kept-2", "left"]


async def test_concurrent_v1_orders_are_stored_in_shared_batches(
    container: Container, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {"subject": "Subject", "body": "Body", "recipients": [{"emailAddress": "a@example.no"}]}
    answers = await asyncio.gather(
        *(
            client.post(f"{V1}/orders/email", json={**body, "sendersReference": f"ref-{i}"}, headers=auth)
            for i in range(30)
        )
    )
    assert [a.status_code for a in answers] == [202] * 30
    ids = {a.json()["orderId"] for a in answers}
    async with container.pool.acquire() as conn:
        stored = await conn.fetch("SELECT alternateid::text AS id, sendersreference FROM orders")
    assert {r["id"] for r in stored} == ids
    assert sorted(r["sendersreference"] for r in stored) == sorted(f"ref-{i}" for i in range(30))
    assert container.statements.largest_batch > 1


async def test_no_call_is_left_behind_between_batches(container: Container) -> None:
    """Calls arriving as a writer finishes, alone or together, with one or two writers: all answered."""
    for writers in (1, 2):
        batcher = StatementBatcher(container.pool, writers=writers)
        async with asyncio.timeout(30):
            for round_ in range(60):
                size = 1 + round_ % 3
                rows = await asyncio.gather(
                    *(batcher.fetchrow("SELECT $1::int AS v", i) for i in range(size))
                )
                assert [r["v"] for r in rows] == list(range(size))
            slow = asyncio.create_task(batcher.fetchrow("SELECT pg_sleep(0.2), 1 AS v"))
            await asyncio.sleep(0.05)  # the slow one is being written: these wait and go together
            quick = await asyncio.gather(*(batcher.fetchrow("SELECT $1::int AS v", i) for i in range(8)))
            assert [r["v"] for r in quick] == list(range(8))
            assert (await slow)["v"] == 1
        assert batcher.largest_batch >= (8 if writers == 1 else 1)


async def test_a_writer_cancelled_at_shutdown_strands_nobody(container: Container) -> None:
    batcher = StatementBatcher(container.pool, writers=1)
    waiting = asyncio.create_task(batcher.fetchrow("SELECT 1 AS v"))
    await asyncio.sleep(0)  # the call is handed over; its writer has not run yet
    for writer in list(batcher._writers):
        writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    # Nothing leaked: the next call gets a writer of its own.
    assert (await asyncio.wait_for(batcher.fetchrow("SELECT 2 AS v"), 5))["v"] == 2
