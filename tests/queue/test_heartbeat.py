"""Worker liveness: each loop's last step and last claim, written in one statement per flush."""

from __future__ import annotations

from datetime import timedelta

from altinn_notifications.bootstrap import Container
from altinn_notifications.queue.heartbeat import Heartbeats, recent_heartbeats


async def _rows(container: Container) -> dict[tuple[str, str], tuple[object, object]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch("SELECT worker, loop, last_step, last_found FROM workerheartbeats")
    return {(r["worker"], r["loop"]): (r["last_step"], r["last_found"]) for r in rows}


async def test_beats_are_written_on_flush_and_keep_the_last_claim(container: Container) -> None:
    beats = Heartbeats("host-a:1")
    beats.beat("orders", found=True)
    beats.beat("email", found=False)
    assert await _rows(container) == {}  # nothing is written per step
    assert await beats.flush(container.transaction) == 2
    first = await _rows(container)
    orders_step, orders_found = first[("host-a:1", "orders")]
    assert orders_found == orders_step
    assert first[("host-a:1", "email")][1] is None

    assert await beats.flush(container.transaction) == 0  # nothing new: no write
    beats.beat("orders", found=False)  # ran again, found nothing: the last claim stays
    assert await beats.flush(container.transaction) == 1
    step, found = (await _rows(container))[("host-a:1", "orders")]
    assert step > orders_step and found == orders_found  # type: ignore[operator]


async def test_silent_workers_are_left_out_and_forgotten(container: Container) -> None:
    await _write(container, "gone:9", "orders", "now() - interval '2 days'")
    await _write(container, "quiet:8", "orders", "now() - interval '1 hour'")
    alive = Heartbeats("alive:7")
    alive.beat("sms", found=True)
    await alive.flush(container.transaction)
    rows = await _rows(container)
    assert ("gone:9", "orders") not in rows  # older than a day: removed by the flush
    recent = await recent_heartbeats(container.transaction, timedelta(minutes=15))
    assert [(w, loop) for w, loop, _, _ in recent] == [("alive:7", "sms")]


async def _write(container: Container, worker: str, loop: str, at: str) -> None:
    async with container.pool.acquire() as conn:
        await conn.execute(
            f"INSERT INTO workerheartbeats (worker, loop, last_step) VALUES ($1, $2, {at})", worker, loop
        )
