"""Fairness: another sender's order, due while one sender's slow condition endpoint or huge backlog is being
worked on, is handed over within 1 s (p95).

Each phase runs on a fresh database with one `altinn-notifications worker` in its default configuration
(the simulated provider at zero send delay; its outbox, on by default, records every hand-off's `sentAt`),
loopback targets allowed for the condition endpoint:

1. **slow endpoint**: org `slow` has a backlog of orders due now whose condition endpoint (`slow_endpoint.py`,
   its own process) answers after 30 s, beyond the 5 s condition timeout: every call ends inconclusive,
   the order is put off and asked again later (the reference's rule). Once the endpoint has calls waiting,
   org `other` places one single-recipient order every 0.2 s; due → hand-off of those is measured, and how
   much of the slow sender's backlog is still waiting at the end (it must be most of it: it waits, the
   other sender does not).
2. **huge backlog**: org `bulk` has a backlog of single-recipient orders released at once; org `other`
   places one order every 0.2 s until the backlog is sent.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
import seed
from harness import Process, Report, log

import pipeline
from altinn_notifications.orders.models import (
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    Recipient,
)

ENDPOINT_DELAY = 30.0
PROBE_EVERY = 0.2


@dataclass(frozen=True)
class Sizes:
    slow_orders: int
    probe_seconds: float
    bulk_orders: int
    warmup_orders: int


FULL = Sizes(slow_orders=300, probe_seconds=20.0, bulk_orders=20_000, warmup_orders=200)
SMOKE = Sizes(slow_orders=20, probe_seconds=2.0, bulk_orders=300, warmup_orders=10)

_INSERT = """
WITH o AS (
    INSERT INTO notifications.orders (alternateid, creatorname, created, requestedsendtime, processed,
                                      processedstatus, notificationorder, type)
    SELECT u.id, $3, now(), COALESCE($4::timestamptz, now()), now(), 'Registered', u.doc, 'Notification'
    FROM unnest($1::uuid[], $2::jsonb[]) AS u(id, doc)
    RETURNING _id
)
INSERT INTO notifications.emailtexts (_orderid, fromaddress, subject, body, contenttype)
SELECT o._id, $5, $6, $7, 'Plain' FROM o
"""


def _orders(creator: str, count: int, tag: str, condition: str | None = None) -> list[seed.OrderDoc]:
    docs = []
    for i in range(count):
        order = NotificationOrder(
            id=uuid.uuid4(),
            creator=creator,
            created=datetime.now(UTC),
            requested_send_time=datetime.now(UTC),
            notification_channel=NotificationChannel.Email,
            condition_endpoint=condition,
            email_template=EmailTemplate(
                from_address=seed.FROM_ADDRESS, subject=seed.SUBJECT, body=seed.BODY
            ),
            recipients=[Recipient(email_address=f"{tag}-{i}@bench.example.no")],
        )
        docs.append(
            seed.OrderDoc(
                order.id, json.dumps(order.model_dump(mode="json", by_alias=True, exclude_none=True))
            )
        )
    return docs


async def _insert(conn: Any, creator: str, orders: list[seed.OrderDoc], due: datetime | None = None) -> None:
    """Insert `creator`'s orders (due `due`, or now) and wake the workers, as the API does."""
    async with conn.transaction():
        for start in range(0, len(orders), 2000):
            chunk = orders[start : start + 2000]
            await conn.execute(
                _INSERT,
                [o.id for o in chunk],
                [o.doc for o in chunk],
                creator,
                due,
                seed.FROM_ADDRESS,
                seed.SUBJECT,
                seed.BODY,
            )
        await conn.execute("SELECT pg_notify('orders_due', '')")


async def _waiting(conn: Any, creator: str) -> int:
    """Orders of `creator` not processed yet (registered, put off, or being processed)."""
    count: int = await conn.fetchval(
        """SELECT count(*) FROM notifications.orders
           WHERE creatorname = $1 AND processedstatus IN ('Registered', 'Processing')""",
        creator,
    )
    return count


async def _unsent(conn: Any, creator: str) -> int:
    count: int = await conn.fetchval(
        """SELECT (SELECT count(*) FROM notifications.orders
                   WHERE creatorname = $1 AND processedstatus IN ('Registered', 'Processing'))
                + (SELECT count(*) FROM notifications.emailnotifications e
                   JOIN notifications.orders o ON o._id = e._orderid
                   WHERE o.creatorname = $1 AND e.result IN ('New', 'Sending'))""",
        creator,
    )
    return count


async def _sent(conn: Any, creator: str, within: float) -> int:
    """Poll until every order of `creator` is processed and sent (the harness polls the database), at
    most `within` seconds; returns what is still unsent then."""
    deadline = time.monotonic() + within
    while unsent := await _unsent(conn, creator):
        if time.monotonic() > deadline:
            return int(unsent)
        await asyncio.sleep(0.1)
    return 0


async def _due_times(conn: Any, creator: str) -> dict[str, datetime]:
    rows = await conn.fetch(
        """SELECT e.alternateid::text AS id, o.requestedsendtime AS due
           FROM notifications.emailnotifications e JOIN notifications.orders o ON o._id = e._orderid
           WHERE o.creatorname = $1""",
        creator,
    )
    return {r["id"]: r["due"] for r in rows}


class Phase:
    """A fresh database, one worker, a connection; `probe` places the other sender's orders."""

    def __init__(self, dbs: harness.Databases, work: Path, label: str) -> None:
        self.dbs = dbs
        self.work = work / label
        self.label = label
        self.worker: Process | None = None
        self.conn: Any = None
        self.probes = 0

    async def start(self, warmup: int, **settings: object) -> None:
        url = await self.dbs.fresh(self.label)
        env = harness.service_env(url, self.work / "data", simulated_send_delay_seconds=0, **settings)
        self.worker = Process("worker", [str(harness.CLI), "worker"], env, self.work)
        await self.worker.wait_for_output("workers started")
        self.conn = await seed.connect(url)
        await _insert(self.conn, "warm", _orders("warm", warmup, "warm"))
        if await _sent(self.conn, "warm", 60):
            raise TimeoutError("the warm-up orders were not sent in 60 s")

    async def probe(self) -> None:
        await _insert(self.conn, "other", _orders("other", 1, f"probe{self.probes}"))
        self.probes += 1

    async def finish(self) -> dict[str, Any]:
        """Wait for the probes to be sent, stop the worker (its outbox is flushed), measure them."""
        unsent = await _sent(self.conn, "other", 120)
        due = await _due_times(self.conn, "other")
        await self.conn.close()
        assert self.worker is not None
        self.worker.stop()
        outbox = self.work / "data" / "outbox.jsonl"
        stats = pipeline.handoff_stats(pipeline.outbox_handoffs(outbox), due)
        stats.update(placed=self.probes, unsent_after_120s=unsent)
        return stats


async def slow_endpoint_phase(dbs: harness.Databases, work: Path, sizes: Sizes) -> dict[str, Any]:
    port = harness.free_port()
    calls_out = work / "slow-endpoint" / "calls.json"
    endpoint = Process(
        "slow-endpoint",
        [
            *(str(harness.PYTHON), str(harness.BENCH / "slow_endpoint.py"), "--port", str(port)),
            *("--delay", str(ENDPOINT_DELAY), "--out", str(calls_out)),
        ],
        harness.service_env_base(),
        work / "slow-endpoint",
    )
    phase = Phase(dbs, work, "slow-endpoint")
    try:
        await endpoint.wait_for_output("ready")
        await phase.start(sizes.warmup_orders, outbound_allowed_hosts='["127.0.0.1"]')
        url = f"http://127.0.0.1:{port}/condition"
        await _insert(phase.conn, "slow", _orders("slow", sizes.slow_orders, "slow", condition=url))
        log(f"fairness: {sizes.slow_orders} orders behind a {ENDPOINT_DELAY:.0f} s condition endpoint")
        await asyncio.sleep(1.0)  # the endpoint now holds the slow sender's first calls
        started = time.monotonic()
        while time.monotonic() - started < sizes.probe_seconds:
            await phase.probe()
            await asyncio.sleep(PROBE_EVERY)
        slow_waiting = await _waiting(phase.conn, "slow")
        stats = await phase.finish()
    finally:
        if phase.worker is not None:
            phase.worker.stop()
        endpoint.stop()
    calls = json.loads(calls_out.read_text()) if calls_out.exists() else {}
    return {"probes": stats, "slow_orders": sizes.slow_orders, "slow_waiting_at_end": slow_waiting, **calls}


async def bulk_phase(dbs: harness.Databases, work: Path, sizes: Sizes) -> dict[str, Any]:
    phase = Phase(dbs, work, "huge-backlog")
    try:
        await phase.start(sizes.warmup_orders)
        log(f"fairness: a backlog of {sizes.bulk_orders} orders of one sender, another's orders meanwhile")
        await _insert(phase.conn, "bulk", _orders("bulk", sizes.bulk_orders, "bulk"))
        started = time.monotonic()
        while await _unsent(phase.conn, "bulk"):
            await phase.probe()
            await asyncio.sleep(PROBE_EVERY)
            if time.monotonic() - started > 600:
                raise TimeoutError("the backlog was not sent in 10 minutes")
        seconds = time.monotonic() - started
        stats = await phase.finish()
    finally:
        if phase.worker is not None:
            phase.worker.stop()
    return {"probes": stats, "bulk_orders": sizes.bulk_orders, "backlog_seconds": round(seconds, 1)}


def _latency(report: Report, phase: str, stats: dict[str, Any]) -> None:
    note = f"{stats['placed']} orders, one every {PROBE_EVERY} s"
    if stats["unsent_after_120s"]:
        note += f"; {stats['unsent_after_120s']} not sent 120 s after the last was placed"
    lat = stats.get("latency_ms", {})
    report.add(
        phase,
        "other sender: due → hand-off p50/p95/max",
        f"{lat.get('p50')}/{lat.get('p95')}/{lat.get('max')}",
        "ms",
        note,
    )


async def run(dbs: harness.Databases, smoke: bool, profile: bool) -> Report:
    sizes = SMOKE if smoke else FULL
    report = Report("fairness", smoke)
    work = harness.WORK / f"fairness-{dbs.prefix}"
    slow = await slow_endpoint_phase(dbs, work, sizes)
    bulk = await bulk_phase(dbs, work, sizes)
    report.data.update(sizes=sizes.__dict__, slow_endpoint=slow, huge_backlog=bulk)
    name = f"slow endpoint ({sizes.slow_orders} orders)"
    _latency(report, name, slow["probes"])
    report.add(name, "slow sender's orders still waiting at the end", slow["slow_waiting_at_end"], "orders")
    report.add(
        name, "condition calls made / most at once", f"{slow.get('calls')}/{slow.get('most_at_once')}", ""
    )
    name = f"huge backlog ({sizes.bulk_orders} orders)"
    _latency(report, name, bulk["probes"])
    report.add(name, "backlog sent in", bulk["backlog_seconds"], "s")
    if not smoke:
        for label, phase in (("slow endpoint", slow), ("huge backlog", bulk)):
            p95 = phase["probes"].get("latency_ms", {}).get("p95")
            met = p95 is not None and p95 < 1000 and not phase["probes"]["unsent_after_120s"]
            report.add("target", f"p95 < 1 s ({label})", p95, "ms", "met" if met else "NOT met")
    return report
