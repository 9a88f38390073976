"""Support lookups: how long one recipient's year of notifications takes to look up, over a year of
everyone's notifications.

Phases (one `altinn-notifications api` process, workers off, a fresh database):
1. seed a year of orders straight into the database (SQL `generate_series`): each order has an email and
   an SMS to one of `persons` people (or organisations), so every recipient has a few dozen
   notifications a year among millions; then `ANALYZE`;
2. for random recipients, one after another (no concurrency: the latency of one support request):
   `GET .../recipients/notifications/nin` over the whole year, the same over the default 7 days, then
   `…/orgnumber` and `…/email` over the year. Each answer is checked to hold that recipient's orders.

The client shares the machine's cores with the API and PostgreSQL; times are the client's round trips.
"""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import harness
import httpx
from harness import Process, Report, log
from intake import wait_healthy

API = "/notifications/api/v1/future/dashboard/recipients/notifications"
SUPPORT_SCOPE = "altinn:notifications.support.admin"


@dataclass(frozen=True)
class Sizes:
    orders: int
    persons: int
    lookups: int


FULL = Sizes(orders=1_000_000, persons=50_000, lookups=200)
SMOKE = Sizes(orders=5_000, persons=500, lookups=5)

# One order every `interval` over the last year; recipient i of order n is n mod persons.
_SEED = """
INSERT INTO orders (alternateid, creatorname, created, requestedsendtime, processed, processedstatus,
                    notificationorder, type)
SELECT gen_random_uuid(), 'org' || (i % 20), t, t, t, 'Completed',
       jsonb_build_object('notificationChannel', 'EmailAndSms', 'resourceId', 'urn:altinn:resource:r' || (i % 50)),
       'Notification'
FROM generate_series($1::bigint, $2::bigint) i,
     LATERAL (SELECT now() - (i * $3::interval) AS t) s;
"""
_SEED_NOTIFICATIONS = """
INSERT INTO {table} (_orderid, alternateid, {address}, result, resulttime, expirytime, recipientnin,
                     recipientorgno)
SELECT o._id, gen_random_uuid(), {value}, 'Delivered', o.requestedsendtime,
       o.requestedsendtime + interval '2 days', lpad((o._id % $3)::text, 11, '0'), lpad((o._id % $3)::text, 9, '0')
FROM orders o WHERE o._id BETWEEN $1 AND $2
"""
_EMAIL = _SEED_NOTIFICATIONS.format(
    table="emailnotifications", address="toaddress", value="'person' || (o._id % $3) || '@example.no'"
)
_SMS = _SEED_NOTIFICATIONS.format(
    table="smsnotifications", address="mobilenumber", value="'+47' || (40000000 + o._id % $3)"
)
_BATCH = 100_000


async def _seed(url: str, sizes: Sizes) -> None:
    interval = timedelta(days=365) / sizes.orders
    conn = await asyncpg.connect(url, server_settings={"search_path": "notifications"})
    try:
        for first in range(1, sizes.orders + 1, _BATCH):
            last = min(first + _BATCH - 1, sizes.orders)
            await conn.execute(_SEED, first, last, interval)
            await conn.execute(_EMAIL, first, last, sizes.persons)
            await conn.execute(_SMS, first, last, sizes.persons)
            log(f"support: seeded {last:,} of {sizes.orders:,} orders")
        await conn.execute("ANALYZE orders; ANALYZE emailnotifications; ANALYZE smsnotifications")
    finally:
        await conn.close()


def _support_token(data_dir: str) -> str:
    done = subprocess.run(
        [str(harness.CLI), "token", "--scope", SUPPORT_SCOPE, "--ttl", "86400", "--data-dir", data_dir],
        check=True,
        capture_output=True,
        text=True,
        env=harness.service_env_base(),
    )
    return done.stdout.strip()


async def _lookups(
    http: httpx.AsyncClient, route: str, header: str, values: list[str], window: dict[str, str]
) -> tuple[list[float], int]:
    """Sequential lookups; their round-trip times in ms and the orders found in all."""
    times: list[float] = []
    found = 0
    for value in values:
        started = time.perf_counter()
        answer = await http.get(f"{API}/{route}", headers={header: value}, params=window)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
        found += len(answer.json())
    return times, found


async def run(dbs: harness.Databases, smoke: bool, profile: bool) -> Report:
    sizes = SMOKE if smoke else FULL
    report = Report("support-lookup", smoke)
    report.data["sizes"] = sizes.__dict__
    work = harness.WORK / f"support-{dbs.prefix}"
    work.mkdir(parents=True, exist_ok=True)
    url = await dbs.fresh("support")
    with harness.timed() as seeding:
        await _seed(url, sizes)
    notifications = sizes.orders * 2
    report.add("seed", "notifications (a year)", notifications, "", f"{sizes.persons:,} recipients")
    report.add("seed", "seeding time", seeding[0], "s")
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    api = Process(
        "api", [str(harness.CLI), "api", "--port", str(port)], harness.service_env(url, work / "data"), work
    )
    try:
        await wait_healthy(base, api)
        token = _support_token(str(work / "data"))
        rng = random.Random(7)
        people = [rng.randrange(sizes.persons) for _ in range(sizes.lookups)]
        now = datetime.now(UTC)
        year = {"from": (now - timedelta(days=365)).isoformat().replace("+00:00", "Z")}
        per_year = sizes.orders / sizes.persons
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            await _lookups(http, "nin", "NationalIdentityNumber", ["00000000001"] * 5, year)  # warm-up
            cases = [
                ("nin, a year", "nin", "NationalIdentityNumber", [f"{p:011d}" for p in people], year),
                ("nin, default 7 days", "nin", "NationalIdentityNumber", [f"{p:011d}" for p in people], {}),
                ("orgnumber, a year", "orgnumber", "OrganizationNumber", [f"{p:09d}" for p in people], year),
                ("email, a year", "email", "Email", [f"Person{p}@Example.no" for p in people], year),
            ]
            for phase, route, header, values, window in cases:
                log(f"support: {phase}, {len(values)} lookups")
                times, found = await _lookups(http, route, header, values, window)
                stats = harness.percentiles(times)
                note = f"{found / len(values):.1f} orders per answer (~{per_year:.0f} a year each)"
                report.add(phase, "p50", stats["p50"], "ms", note)
                report.add(phase, "p95", stats["p95"], "ms")
                report.add(phase, "p99", stats["p99"], "ms")
                report.data[phase] = {"ms": times, "orders_found": found}
    finally:
        api.stop()
    return report
