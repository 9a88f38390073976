"""Pipeline, scale-out and large order: due orders → worker process(es) → provider hand-off.

Method (every phase on a fresh database, workers started as `altinn-notifications worker`):
1. start the worker(s) and wait for "workers started"; warm up with a few hundred orders due now;
2. seed the measured orders due in an hour (beyond the workers' one-minute look-ahead, so untouched);
3. release them: one transaction sets `requestedsendtime = now()` and sends the API's
   `pg_notify('orders_due')`. That instant is the due time of every measured notification;
4. poll the database every 0.2 s until every notification has its send result written (result no longer
   `New`/`Sending`): throughput = notifications / (last poll − due time); "steady" is the slope between
   10 % and 90 % done;
5. hand-off times per notification, where there is a record of them: the outbox's `sentAt` (simulated
   provider, when the outbox is on) or the SMTP sink's arrival time. Latency = hand-off − due time.

The simulated provider runs with no send delay; its delivery reports (0.2 s later, default) are applied
by the same worker, as in production. Everything else is the service's default configuration.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
import seed
from harness import Process, Report, log

OUTBOX_OFF: dict[str, object] = {"simulated_send_delay_seconds": 0, "outbox_enabled": False}
OUTBOX_ON: dict[str, object] = {"simulated_send_delay_seconds": 0, "outbox_enabled": True}


@dataclass(frozen=True)
class Sizes:
    single_orders: int
    multi_orders: int
    multi_recipients: int
    warmup_orders: int
    steady_seconds: float
    smtp_orders: int
    large_users: int
    scale_workers: tuple[int, ...]
    scale_orders: int


FULL = Sizes(
    single_orders=20_000,
    multi_orders=20,
    multi_recipients=1_000,
    warmup_orders=500,
    steady_seconds=20,
    smtp_orders=20_000,
    large_users=100_000,
    scale_workers=(1, 2, 4),
    scale_orders=20_000,
)
SMOKE = Sizes(
    single_orders=200,
    multi_orders=2,
    multi_recipients=100,
    warmup_orders=20,
    steady_seconds=2,
    smtp_orders=200,
    large_users=500,
    scale_workers=(1, 2),
    scale_orders=200,
)


async def progress(conn: Any, first_order_id: int, last_order_id: int | None = None) -> tuple[int, int]:
    """(notifications generated, notifications with their send result written) of the orders from
    `first_order_id` on (to `last_order_id` when given)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS generated, count(*) FILTER (WHERE result NOT IN ('New', 'Sending')) AS done
           FROM notifications.emailnotifications WHERE _orderid >= $1 AND _orderid <= coalesce($2, _orderid)""",
        first_order_id,
        last_order_id,
    )
    return row["generated"], row["done"]


async def wait_done(
    conn: Any, first_order_id: int, expected: int, workers: list[Process], poll: float = 0.2
) -> dict[str, Any]:
    """Poll until `expected` notifications are done; a time series of progress and worker memory."""
    timeout = max(120.0, expected / 50)
    start = time.time()
    series: list[tuple[float, int, int]] = []
    peak_rss = [0] * len(workers)
    while True:
        generated, done = await progress(conn, first_order_id)
        now = time.time()
        series.append((now, generated, done))
        for i, w in enumerate(workers):
            peak_rss[i] = max(peak_rss[i], w.memory_kib().get("VmRSS", 0))
        if done >= expected:
            break
        for w in workers:
            if w.popen.poll() is not None:
                raise RuntimeError(f"{w.name} exited; see {w.log_path}")
        if now - start > timeout:
            raise TimeoutError(f"only {done}/{expected} notifications done after {timeout:.0f}s")
        await asyncio.sleep(poll)
    return {"series": series, "done_at": series[-1][0], "peak_rss_kib": peak_rss}


def steady_rate(series: list[tuple[float, int, int]], expected: int) -> float | None:
    """Slope of `done` between 10 % and 90 % of `expected` (linear interpolation between polls)."""

    def when(target: float) -> float | None:
        for (t0, _, d0), (t1, _, d1) in itertools.pairwise(series):
            if d0 <= target <= d1 and d1 > d0:
                return t0 + (t1 - t0) * (target - d0) / (d1 - d0)
        return None

    low, high = when(0.1 * expected), when(0.9 * expected)
    if low is None or high is None or high <= low:
        return None
    return 0.8 * expected / (high - low)


def handoff_stats(handoffs: dict[str, float], due: dict[str, datetime]) -> dict[str, Any]:
    """Latency (ms) from due time to hand-off, and hand-off throughput, for the measured notifications."""
    pairs = [(t, due[i].timestamp()) for i, t in handoffs.items() if i in due]
    if not pairs:
        return {"count": 0}
    latencies = [(t - d) * 1000 for t, d in pairs]
    first_due = min(d for _, d in pairs)
    last = max(t for t, _ in pairs)
    return {
        "count": len(pairs),
        "latency_ms": {k: round(v, 1) for k, v in harness.percentiles(latencies).items()},
        "rate": len(pairs) / max(last - first_due, 1e-9),
    }


def outbox_handoffs(path: Path) -> dict[str, float]:
    """notification id → `sentAt` (unix time) from an outbox file."""
    found: dict[str, float] = {}
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        sent = datetime.fromisoformat(entry["sentAt"].replace("Z", "+00:00"))
        found.setdefault(entry["notificationId"], sent.timestamp())
    return found


def sink_handoffs(path: Path) -> dict[str, float]:
    arrivals = json.loads(path.read_text())["arrivals"]
    return {i: t for i, t in arrivals}


class Run:
    """One phase: a fresh database, worker processes, a connection for seeding and polling."""

    def __init__(self, dbs: harness.Databases, work: Path, label: str) -> None:
        self.dbs = dbs
        self.label = label
        self.work = work / label
        self.url = ""
        self.workers: list[Process] = []
        self.conn: Any = None

    async def start(
        self, workers: int, settings: dict[str, object], warmup: int, url: str | None = None
    ) -> None:
        self.url = url or await self.dbs.fresh(self.label)
        env = harness.service_env(self.url, self.work / "data", **settings)
        args = [str(harness.CLI), "worker"]
        self.workers = [Process(f"worker{i + 1}", args, env, self.work) for i in range(workers)]
        for w in self.workers:
            await w.wait_for_output("workers started")
        self.conn = await seed.connect(self.url)
        if warmup:
            orders = seed.address_orders(warmup, 1, datetime.now(UTC), "warm")
            first = await seed.insert(self.conn, orders, None, notify=True)
            await wait_done(self.conn, first, warmup, self.workers)

    async def backlog(
        self, orders: list[seed.OrderDoc], expected: int, profile_s: float = 0, watch: Sequence[int] = ()
    ) -> dict[str, Any]:
        """Seed `orders` in the future, release them at once, wait until all `expected` are done."""
        first = await seed.seed_future(self.conn, orders)
        idle = [w.memory_kib() for w in self.workers]
        profiler = None
        if profile_s:
            profiler = harness.Profiler(self.workers[0].pid, self.work / "profile.txt", profile_s)
        usage = harness.Usage([*(w.pid for w in self.workers), *watch])
        due = await seed.release(self.conn, first)
        polled = await wait_done(self.conn, first, expected, self.workers)
        used = usage.done()
        seconds = polled["done_at"] - due.timestamp()
        out = {
            "notifications": expected,
            "workers": len(self.workers),
            "seconds": round(seconds, 2),
            "rate": expected / seconds,
            "steady_rate": steady_rate(polled["series"], expected),
            "idle_kib": idle,
            "peak_rss_kib": polled["peak_rss_kib"],
            "worker_cores": used["process_cores"],
            "machine_busy": used["machine_busy"],
            "postgres_cores": used["postgres_cores"],
            "first_order_id": first,
            "due": due.isoformat(),
        }
        if profiler is not None:
            out["profile"] = profiler.summary()
        return out

    def outbox(self) -> Path:
        return self.work / "data" / "outbox.jsonl"

    async def stop(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        for w in self.workers:
            w.stop()


async def backlog_phase(
    dbs: harness.Databases,
    work: Path,
    label: str,
    orders: list[seed.OrderDoc],
    expected: int,
    settings: dict[str, object],
    *,
    workers: int = 1,
    warmup: int = 0,
    profile_s: float = 0,
    handoffs_from: Path | None = None,
    watch: Sequence[int] = (),
) -> dict[str, Any]:
    run = Run(dbs, work, label)
    try:
        await run.start(workers, settings, warmup)
        log(f"{label}: {expected} notifications, {workers} worker(s)")
        result = await run.backlog(orders, expected, profile_s, watch)
        due = await seed.due_times(run.conn, result["first_order_id"])
    finally:
        await run.stop()  # stops the workers: the outbox is flushed
    if settings.get("outbox_enabled"):
        result["handoff"] = handoff_stats(outbox_handoffs(run.outbox()), due)
    if handoffs_from is not None:
        result["due_times"] = due  # the caller matches them with the sink's arrivals
    return result


async def steady_phase(
    dbs: harness.Databases, work: Path, rate: float, seconds: float, warmup: int
) -> dict[str, Any]:
    """Orders due now trickling in at `rate`/s (inserted every 0.1 s), outbox on: latency when not saturated."""
    run = Run(dbs, work, "steady")
    total = max(1, round(rate * seconds))
    try:
        await run.start(1, OUTBOX_ON, warmup)
        orders = seed.address_orders(total, 1, datetime.now(UTC), "steady")
        first: int = await run.conn.fetchval("SELECT COALESCE(max(_id), 0) + 1 FROM notifications.orders")
        log(f"steady: {total} orders at {rate:.0f}/s")
        tick, sent, started = 0.1, 0, time.perf_counter()
        while sent < total:
            due_now = min(total, round((time.perf_counter() - started + tick) * rate))
            if due_now > sent:
                await seed.insert(run.conn, orders[sent:due_now], None, notify=True)
                sent = due_now
            await asyncio.sleep(max(0.0, started + (sent / rate) - time.perf_counter()) or tick / 10)
        elapsed = time.perf_counter() - started
        await wait_done(run.conn, first, total, run.workers)
        due = await seed.due_times(run.conn, first)
    finally:
        await run.stop()
    stats = handoff_stats(outbox_handoffs(run.outbox()), due)
    return {"target_rate": rate, "offered_rate": total / elapsed, "orders": total, "handoff": stats}


def smtp_sink(work: Path, name: str) -> tuple[Process, int, Path]:
    work.mkdir(parents=True, exist_ok=True)
    port = harness.free_port()
    out = work / f"{name}.json"
    args = [str(harness.PYTHON), str(harness.BENCH / "smtp_sink.py"), "--port", str(port), "--out", str(out)]
    return Process(name, args, harness.service_env("", work), work), port, out


async def smtp_phase(dbs: harness.Databases, work: Path, sizes: Sizes) -> dict[str, Any]:
    """The same backlog through the SMTP provider into a local aiosmtpd sink; then aiosmtplib straight to a
    fresh sink at the provider's connection count, the ceiling of the sink on this machine."""
    n = sizes.smtp_orders
    sink, port, out = smtp_sink(work, "smtp-sink")
    try:
        await sink.wait_for_output("ready")
        settings: dict[str, object] = {"email_provider": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port}
        settings["outbox_enabled"] = False
        orders = seed.address_orders(n, 1, datetime.now(UTC), "smtp")
        result = await backlog_phase(
            dbs,
            work,
            "smtp",
            orders,
            n,
            settings,
            warmup=sizes.warmup_orders,
            handoffs_from=out,
            watch=[sink.pid],
        )
    finally:
        sink.stop()
    due = result.pop("due_times")
    result["handoff"] = handoff_stats(sink_handoffs(out), due)

    connections = 10  # NOTIFICATIONS_SMTP_MAX_CONNECTIONS default
    raw_sink, raw_port, raw_out = smtp_sink(work, "smtp-sink-raw")
    try:
        await raw_sink.wait_for_output("ready")
        log(f"smtp: raw aiosmtplib baseline, {n} messages, {connections} connections")
        args = [str(harness.PYTHON), str(harness.BENCH / "smtp_raw.py"), "--port", str(raw_port)]
        args += ["--count", str(n), "--connections", str(connections)]
        result["raw"] = json.loads(await harness.run_command(args))
    finally:
        raw_sink.stop()
    result["raw"]["received"] = json.loads(raw_out.read_text())["count"]
    result["raw"]["connections"] = connections
    return result


def _usage(r: dict[str, Any]) -> str:
    return f"{'+'.join(str(c) for c in r['worker_cores'])} / {r['postgres_cores']} / {r['machine_busy']:.0%}"


def _cpu_per(r: dict[str, Any]) -> str:
    """CPU milliseconds per notification: worker(s) and PostgreSQL (less sensitive to a busy machine)."""
    worker = sum(r["worker_cores"][: r["workers"]]) * 1000 / r["rate"]
    pg = (r["postgres_cores"] or 0) * 1000 / r["rate"]
    return f"{worker:.2f} / {pg:.2f}"


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


async def run_pipeline(dbs: harness.Databases, smoke: bool, profile: bool) -> Report:
    sizes = SMOKE if smoke else FULL
    report = Report("pipeline", smoke)
    work = harness.WORK / f"pipeline-{dbs.prefix}"
    now = datetime.now(UTC)
    n = sizes.single_orders

    off = await backlog_phase(
        dbs, work, "single", seed.address_orders(n, 1, now, "s"), n, OUTBOX_OFF, warmup=sizes.warmup_orders
    )
    on = await backlog_phase(
        dbs,
        work,
        "single-outbox",
        seed.address_orders(n, 1, now, "o"),
        n,
        OUTBOX_ON,
        warmup=sizes.warmup_orders,
    )
    m = sizes.multi_orders * sizes.multi_recipients
    multi = await backlog_phase(
        dbs,
        work,
        "multi",
        seed.address_orders(sizes.multi_orders, sizes.multi_recipients, now, "m"),
        m,
        OUTBOX_OFF,
        warmup=sizes.warmup_orders,
    )
    report.data.update(sizes=sizes.__dict__, single=off, single_outbox=on, multi=multi)
    for name, r, note in (
        (f"backlog {n}x1", off, "outbox off"),
        (f"backlog {n}x1", on, "outbox on"),
        (f"backlog {sizes.multi_orders}x{sizes.multi_recipients}", multi, "outbox off"),
    ):
        report.add(name, "handed off/s (due → result written)", r["rate"], "notif/s", note)
        report.add(name, "steady 10-90%", r["steady_rate"], "notif/s", note)
        report.add(name, "worker peak RSS", _mib(r["peak_rss_kib"][0]), "MiB", note)
        report.add(name, "CPU cores: worker / PostgreSQL / machine busy", _usage(r), "", note)
        report.add(name, "CPU per notification: worker / PostgreSQL", _cpu_per(r), "ms", note)
    hand = on["handoff"]
    report.add(f"backlog {n}x1", "hand-off/s (outbox sentAt)", hand.get("rate"), "notif/s", "outbox on")
    lat = hand.get("latency_ms", {})
    report.add(
        f"backlog {n}x1",
        "due → hand-off p50/p95/p99",
        f"{lat.get('p50')}/{lat.get('p95')}/{lat.get('p99')}",
        "ms",
        "saturated: queueing behind the backlog",
    )
    report.add(
        "ratio", "outbox on / off", round(on["rate"] / off["rate"], 2), "x", "throughput cost of the outbox"
    )

    target = max(1.0, on["rate"] / 2)
    steady = await steady_phase(dbs, work, target, sizes.steady_seconds, sizes.warmup_orders)
    report.data["steady"] = steady
    slat = steady["handoff"].get("latency_ms", {})
    report.add(
        "due now @ 50% of max",
        "offered rate",
        steady["offered_rate"],
        "orders/s",
        f"{steady['orders']} orders",
    )
    for p in ("p50", "p95", "p99", "max"):
        report.add("due now @ 50% of max", f"due → hand-off {p}", slat.get(p), "ms", "outbox sentAt")

    smtp = await smtp_phase(dbs, work / "smtp", sizes)
    report.data["smtp"] = smtp
    s_rate = smtp["handoff"].get("rate") or 0.0
    report.add(f"smtp {sizes.smtp_orders}x1", "arrived at sink/s", s_rate, "msg/s", "due → sink arrival")
    report.add(f"smtp {sizes.smtp_orders}x1", "handed off/s (result written)", smtp["rate"], "notif/s")
    report.add(f"smtp {sizes.smtp_orders}x1", "CPU cores: worker+sink / PostgreSQL / busy", _usage(smtp), "")
    slat2 = smtp["handoff"].get("latency_ms", {})
    report.add(
        f"smtp {sizes.smtp_orders}x1",
        "due → arrival p50/p95/p99",
        f"{slat2.get('p50')}/{slat2.get('p95')}/{slat2.get('p99')}",
        "ms",
        "saturated",
    )
    report.add(
        "baseline", "aiosmtplib → sink", smtp["raw"]["rate"], "msg/s", f"{smtp['raw']['connections']} conns"
    )
    report.add("ratio", "smtp pipeline / raw", round(s_rate / smtp["raw"]["rate"], 2), "x")

    if profile:
        log("pipeline: profiling the worker during a backlog (py-spy)")
        profiled = await backlog_phase(
            dbs,
            work,
            "single-profiled",
            seed.address_orders(n, 1, now, "p"),
            n,
            OUTBOX_OFF,
            warmup=sizes.warmup_orders,
            profile_s=off["seconds"],
        )
        report.data["profile"] = profiled.get("profile")
        report.add("profiled run", "handed off/s", profiled["rate"], "notif/s", "py-spy attached")

    if not smoke:
        best = max(off["rate"], multi["rate"])
        report.add("target", "≥2000 notif/s", best, "notif/s", "met" if best >= 2000 else "NOT met")
        p95 = slat.get("p95")
        met = p95 is not None and p95 < 1000
        report.add("target", "p95 < 1 s unsaturated", p95, "ms", "met" if met else "NOT met")
    return report


async def run_scale_out(dbs: harness.Databases, smoke: bool, profile: bool) -> Report:
    sizes = SMOKE if smoke else FULL
    report = Report("scale-out", smoke)
    work = harness.WORK / f"scale-out-{dbs.prefix}"
    n = sizes.scale_orders
    results = []
    for k in sizes.scale_workers:
        orders = seed.address_orders(n, 1, datetime.now(UTC), f"k{k}")
        results.append(
            await backlog_phase(
                dbs, work, f"workers{k}", orders, n, OUTBOX_OFF, workers=k, warmup=sizes.warmup_orders
            )
        )
    base = results[0]["rate"]
    for k, r in zip(sizes.scale_workers, results, strict=True):
        report.add(
            f"{k} worker(s)", "handed off/s", r["rate"], "notif/s", f"x{r['rate'] / base:.2f} vs 1 worker"
        )
        report.add(f"{k} worker(s)", "steady 10-90%", r["steady_rate"], "notif/s")
        report.add(f"{k} worker(s)", "CPU cores: worker / PostgreSQL / machine busy", _usage(r), "")
        report.add(f"{k} worker(s)", "CPU per notification: workers / PostgreSQL", _cpu_per(r), "ms")
    report.data.update(sizes={"orders": n, "workers": sizes.scale_workers}, runs=results)
    return report


async def run_large_order(dbs: harness.Databases, smoke: bool, profile: bool) -> Report:
    sizes = SMOKE if smoke else FULL
    users = sizes.large_users
    report = Report("large-order", smoke)
    work = harness.WORK / f"large-order-{dbs.prefix}"
    run = Run(dbs, work, "large")
    run.work.mkdir(parents=True, exist_ok=True)
    url = await dbs.fresh("large")
    registry = seed.write_registry(run.work / "registry.json", users)
    log(f"large-order: importing an organisation with {users} users")
    with harness.timed() as took:
        await harness.run_command(
            [str(harness.CLI), "registry", "import", str(registry), "--database-url", url],
            harness.service_env(url, run.work / "data"),
        )
    report.add("registry import", "users imported/s", users / took[0], "rows/s", f"{took[0]:.1f} s (CLI)")
    try:
        await run.start(1, OUTBOX_ON, sizes.warmup_orders, url)
        idle = run.workers[0].memory_kib()
        usage = harness.Usage([run.workers[0].pid])
        first = await seed.insert(run.conn, [seed.large_org_order()], None, notify=True)
        due = time.time()
        log(f"large-order: one order to {users} recipients, a small order due every 0.2 s meanwhile")
        generated_at = None
        series: list[tuple[float, int, int, int]] = []
        probes = 0
        while True:
            generated, done = await progress(run.conn, first, first)
            rss = run.workers[0].memory_kib().get("VmRSS", 0)
            now = time.time()
            series.append((now, generated, done, rss))
            if generated >= users and generated_at is None:
                generated_at = now
            if done >= users:
                break
            if now - due > max(300.0, users / 20):
                raise TimeoutError(f"large order: {done}/{users} done")
            # Small orders due while the large one is processed and sent: does it hold them up?
            await seed.insert(
                run.conn, seed.address_orders(1, 1, datetime.now(UTC), f"probe{probes}"), None, notify=True
            )
            probes += 1
            await asyncio.sleep(0.2)
        peak = run.workers[0].memory_kib()
        used = usage.done()
        if probes:
            await wait_done(run.conn, first + 1, probes, run.workers)
        probe_due = await seed.due_times(run.conn, first + 1)
    finally:
        await run.stop()  # stops the worker: the outbox is flushed
    probe_stats = handoff_stats(outbox_handoffs(run.outbox()), probe_due)
    seconds = series[-1][0] - due
    gen_s = (generated_at or series[-1][0]) - due
    report.add("one order", "recipients", users, "")
    report.add("one order", "worker RSS idle (after warm-up)", _mib(idle.get("VmRSS")), "MiB")
    report.add("one order", "worker peak RSS (VmHWM)", _mib(peak.get("VmHWM")), "MiB", "target < 500 MiB")
    report.add("one order", "processing (due → rows written)", gen_s, "s")
    report.add(
        "one order", "handed off/s (due → all results)", users / seconds, "notif/s", f"{seconds:.1f} s"
    )
    cores = f"{used['process_cores'][0]} / {used['postgres_cores']} / {used['machine_busy']:.0%}"
    report.add("one order", "CPU cores: worker / PostgreSQL / machine busy", cores, "")
    if probe_stats["count"]:
        lat = probe_stats["latency_ms"]
        report.add(
            "small orders meanwhile",
            "due → hand-off p50/p99/max",
            f"{lat['p50']}/{lat['p99']}/{lat['max']}",
            "ms",
            f"{probe_stats['count']} orders, one due every 0.2 s (outbox sentAt)",
        )
    report.data.update(
        users=users,
        idle_kib=idle,
        peak_kib=peak,
        seconds=seconds,
        generation_seconds=gen_s,
        usage=used,
        import_seconds=took[0],
        series=[(round(t - due, 2), g, d, r) for t, g, d, r in series],
        probes=probe_stats,
    )
    if not smoke:
        hwm = _mib(peak.get("VmHWM")) or 0
        report.add("target", "peak RSS < 500 MB", hwm, "MiB", "met" if hwm * 1.048576 < 500 else "NOT met")
    return report


if __name__ == "__main__":
    sys.exit("run: python bench/run.py pipeline | scale-out | large-order")
