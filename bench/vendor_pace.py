"""Vendor pace: the pipeline when the vendor takes its time (docs/benchmarks.md, "Vendor pace").

Phases, each on a fresh database with one `altinn-notifications worker` process:
1. the simulated email provider with 0, 50, 200 and 500 ms send latency
   (`NOTIFICATIONS_SIMULATED_SEND_DELAY_SECONDS`), outbox on (its `sentAt` is the hand-off time);
2. the real ACS email adapter against the test suite's ACS fake in a process of its own
   (`bench/vendor_fakes.py`) answering sends and operation polls after 0 and 200 ms, with Event Grid
   delivery reports posted to an `altinn-notifications api` process;
3. the real LINK Mobility SMS adapter against the fake PSWin gateway answering after 0 and 200 ms,
   delivery reports to the API likewise;
4. orders due now at half of the 200 ms simulated rate (the unsaturated hand-off latency);
5. SMTP into the aiosmtpd sink answering each message after 20 ms, beside raw aiosmtplib at the same
   latency and number of connections.

A backlog is seeded in the future and released at one instant (bench/seed.py); its notifications are all
due then. Hand-off = the vendor's answer (the fake's accept time, the outbox's `sentAt`, the sink's
arrival); throughput = notifications / (last hand-off − due). The ratio of each latency to the 0 ms run of
the same provider is measured in the same run. Sends in flight: the most the worker held at once (logged
when it stops) and, for the HTTP fakes, the most requests they answered at once.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness
import intake
import seed
from harness import Process, Report, log

from altinn_notifications.orders.models import (
    NotificationChannel,
    NotificationOrder,
    Recipient,
    SendingTimePolicy,
    SmsTemplate,
)

ACS_KEY_FOR_REPORTS = "bench-event-grid-key"
SMS_BODY = "Hei fra ytelsestesten. Dette er et varsel av vanlig lengde."
# The fakes' key and credentials (tests/providers/fake_*.py).
FAKE_ACS_KEY = "ZmFrZS1hY3MtYWNjZXNzLWtleS0wMTIzNDU2Nzg5YWI="


@dataclass(frozen=True)
class Sizes:
    orders: int
    recipients: int
    warmup: int
    latencies_ms: tuple[int, ...]
    vendor_latencies_ms: tuple[int, ...]
    steady_seconds: float
    smtp_messages: int
    link_batch_sizes: tuple[int, ...] = ()  # other PSWin batch sizes tried at 200 ms
    acs_orders: int = 0  # ACS phases (two HTTP requests per email): this many orders; 0: `orders`


FULL = Sizes(
    orders=20,
    recipients=1_000,
    warmup=200,
    latencies_ms=(0, 50, 200, 500),
    vendor_latencies_ms=(0, 200),
    steady_seconds=15,
    smtp_messages=3_000,
    link_batch_sizes=(10, 100, 500),
    acs_orders=5,
)
SMOKE = Sizes(
    orders=2,
    recipients=40,
    warmup=10,
    latencies_ms=(0, 50, 200, 500),
    vendor_latencies_ms=(0, 200),
    steady_seconds=2,
    smtp_messages=100,
)

_TABLE = {"email": "notifications.emailnotifications", "sms": "notifications.smsnotifications"}
_PEAK = re.compile(r"channel=(\w+) kind=(\w+) peak_in_flight=(\d+)")


def sms_orders(count: int, recipients_each: int, send_time: datetime, tag: str) -> list[seed.OrderDoc]:
    docs = []
    for i in range(count):
        order = NotificationOrder(
            id=uuid.uuid4(),
            creator="ttd",
            created=datetime.now(UTC),
            requested_send_time=send_time,
            notification_channel=NotificationChannel.Sms,
            sending_time_policy=SendingTimePolicy.Anytime,
            sms_template=SmsTemplate(sender_number="Altinn", body=SMS_BODY),
            recipients=[
                Recipient(mobile_number=f"+47{90000000 + (i * recipients_each + r) % 9999999}")
                for r in range(recipients_each)
            ],
        )
        doc = order.model_dump(mode="json", by_alias=True, exclude_none=True)
        docs.append(seed.OrderDoc(order.id, json.dumps(doc)))
    return docs


_INSERT_SMS = """
WITH o AS (
    INSERT INTO notifications.orders (alternateid, creatorname, created, requestedsendtime, processed,
                                      processedstatus, notificationorder, sendingtimepolicy, type)
    SELECT u.id, 'ttd', now(), COALESCE($3::timestamptz, now()), now(), 'Registered', u.doc, 1, 'Notification'
    FROM unnest($1::uuid[], $2::jsonb[]) AS u(id, doc)
    RETURNING _id
)
INSERT INTO notifications.smstexts (_orderid, sendernumber, body) SELECT o._id, 'Altinn', $4 FROM o
"""


async def insert(conn: Any, channel: str, orders: list[seed.OrderDoc], due: datetime | None) -> int:
    if channel == "email":
        return await seed.insert(conn, orders, due, notify=due is None)
    first: int = await conn.fetchval("SELECT COALESCE(max(_id), 0) + 1 FROM notifications.orders")
    async with conn.transaction():
        await conn.execute(_INSERT_SMS, [o.id for o in orders], [o.doc for o in orders], due, SMS_BODY)
        if due is None:
            await conn.execute("SELECT pg_notify('orders_due', '')")
    return first


def orders_of(channel: str, count: int, recipients: int, when: datetime, tag: str) -> list[seed.OrderDoc]:
    if channel == "email":
        return seed.address_orders(count, recipients, when, tag)
    return sms_orders(count, recipients, when, tag)


async def progress(conn: Any, channel: str, first: int, final_only: bool = False) -> tuple[int, int]:
    """(notifications, with their send result written) of the orders from `first` on. `final_only`:
    done means settled for good (ACS: polled to `Succeeded`, or its report applied)."""
    pending = "('New', 'Sending', 'Succeeded', 'Accepted')" if final_only else "('New', 'Sending')"
    row = await conn.fetchrow(
        f"""SELECT count(*) AS n, count(*) FILTER (WHERE result::text NOT IN {pending}) AS done
            FROM {_TABLE[channel]} WHERE _orderid >= $1""",
        first,
    )
    return row["n"], row["done"]


async def wait_until(
    conn: Any, channel: str, first: int, expected: int, worker: Process, final_only: bool, limit: float
) -> tuple[float, int]:
    """Poll every 0.1 s until `expected` are done; (when, peak worker RSS KiB)."""
    started = time.time()
    peak = 0
    while True:
        _, done = await progress(conn, channel, first, final_only)
        peak = max(peak, worker.memory_kib().get("VmRSS", 0))
        if done >= expected:
            return time.time(), peak
        if worker.popen.poll() is not None:
            raise RuntimeError(f"{worker.name} exited; see {worker.log_path}")
        if time.time() - started > limit:
            raise TimeoutError(f"{channel}: {done}/{expected} after {limit:.0f}s; see {worker.log_path}")
        await asyncio.sleep(0.1)


def latency_stats(times: list[float], due: float) -> dict[str, Any]:
    """Hand-off latency (ms) and rate when every notification was due at `due`."""
    if not times:
        return {"count": 0}
    ms = [(t - due) * 1000 for t in times]
    return {
        "count": len(times),
        "latency_ms": {k: round(v, 1) for k, v in harness.percentiles(ms).items()},
        "rate": len(times) / max(max(times) - due, 1e-9),
        "steady_rate": _steady(sorted(times)),
    }


def _steady(times: list[float]) -> float | None:
    """Hand-offs per second between 10 % and 90 % of them."""
    if len(times) < 20:
        return None
    low, high = times[len(times) // 10], times[(len(times) * 9) // 10]
    return 0.8 * len(times) / (high - low) if high > low else None


def peaks_in_flight(log_text: str) -> dict[str, int]:
    return {f"{c}/{kind}": int(n) for c, kind, n in _PEAK.findall(log_text)}


class Phase:
    """A fresh database, the fake vendor (if any), the API for its reports (if any), one worker."""

    def __init__(self, dbs: harness.Databases, work: Path, label: str) -> None:
        self.dbs = dbs
        self.label = label
        self.work = work / label
        self.processes: list[Process] = []
        self.conn: Any = None
        self.worker: Process | None = None

    def start_process(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        process = Process(name, args, env, self.work)
        self.processes.append(process)
        return process

    async def stop(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        for process in reversed(self.processes):
            process.stop()


async def run_phase(
    dbs: harness.Databases,
    work: Path,
    label: str,
    sizes: Sizes,
    *,
    channel: str,
    settings: dict[str, object],
    vendor: str | None = None,
    vendor_delay: float = 0.0,
) -> dict[str, Any]:
    """One backlog through one worker; returns its measurements."""
    phase = Phase(dbs, work, label)
    url = await dbs.fresh(label)
    order_count = sizes.acs_orders if vendor == "acs" and sizes.acs_orders else sizes.orders
    expected = order_count * sizes.recipients
    fake_out = phase.work / "vendor.json"
    try:
        env_settings = dict(settings)
        if vendor is not None:
            api_port, fake_port = harness.free_port(), harness.free_port()
            api = f"http://127.0.0.1:{api_port}"
            if vendor == "acs":
                report_url = f"{api}/notifications/email/api/v1/reports?accesskey={ACS_KEY_FOR_REPORTS}"
                env_settings.update(
                    email_provider="acs",
                    acs_connection_string=f"endpoint=http://127.0.0.1:{fake_port}/;accesskey={FAKE_ACS_KEY}",
                    acs_reports_access_key=ACS_KEY_FOR_REPORTS,
                )
            else:
                report_url = f"{api}/notifications/sms/api/v1/reports"
                env_settings.update(
                    sms_provider="linkmobility",
                    linkmobility_url=f"http://127.0.0.1:{fake_port}/",
                    linkmobility_username="altinn",
                    linkmobility_password="gateway-secret",
                    sms_reports_username="reports",
                    sms_reports_password="report-secret",
                )
            env = harness.service_env(url, phase.work / "data", **env_settings)
            env["PYTHONPATH"] = f"{harness.ROOT}:{env.get('PYTHONPATH', str(harness.ROOT / 'src'))}"
            fake_args = [str(harness.PYTHON), str(harness.BENCH / "vendor_fakes.py"), "--vendor", vendor]
            fake_args += ["--port", str(fake_port), "--delay", str(vendor_delay), "--out", str(fake_out)]
            fake_args += ["--report-url", report_url]
            fake = phase.start_process("vendor", fake_args, env)
            await fake.wait_for_output("ready")
            api_proc = phase.start_process("api", [*harness.CLI_ARGS, "api", "--port", str(api_port)], env)
            await intake.wait_healthy(api, api_proc)
        env = harness.service_env(url, phase.work / "data", **env_settings)
        worker = phase.start_process("worker", [*harness.CLI_ARGS, "worker"], env)
        phase.worker = worker
        await worker.wait_for_output("workers started")
        phase.conn = await seed.connect(url)
        if sizes.warmup:
            first = await insert(
                phase.conn, channel, orders_of(channel, 1, sizes.warmup, datetime.now(UTC), "warm"), None
            )
            await wait_until(phase.conn, channel, first, sizes.warmup, worker, False, 120)
        orders = orders_of(channel, order_count, sizes.recipients, datetime.now(UTC), label)
        first = await insert(phase.conn, channel, orders, datetime.now(UTC) + timedelta(hours=1))
        usage = harness.Usage([worker.pid])
        due = (await seed.release(phase.conn, first)).timestamp()
        limit = max(180.0, expected / 20)
        written_at, peak_rss = await wait_until(phase.conn, channel, first, expected, worker, False, limit)
        used = usage.done()
        settled_at = written_at
        if vendor is not None:  # polls (ACS) and delivery reports settle every notification
            settled_at, rss = await wait_until(phase.conn, channel, first, expected, worker, True, limit)
            peak_rss = max(peak_rss, rss)
        hwm = worker.memory_kib().get("VmHWM", 0)
        due_ids = await seed.due_times(phase.conn, first) if channel == "email" else {}
    finally:
        await phase.stop()
    out: dict[str, Any] = {
        "channel": channel,
        "notifications": expected,
        "vendor": vendor,
        "latency_ms": round(vendor_delay * 1000) if vendor else settings.get("simulated_send_delay_seconds"),
        "written_rate": expected / (written_at - due),
        "settled_seconds": round(settled_at - due, 2),
        "peak_rss_kib": max(peak_rss, hwm),
        "worker_cores": used["process_cores"][0],
        "machine_busy": used["machine_busy"],
        "postgres_cores": used["postgres_cores"],
        "peak_in_flight": peaks_in_flight(phase.processes[-1].output()),
    }
    if vendor is not None:
        stats = json.loads(fake_out.read_text())
        times = stats.pop("accepted_times")
        out["vendor_stats"] = stats
        out["handoff"] = latency_stats(times, due)
        out["http_requests_per_1000"] = round(stats["send_requests"] * 1000 / expected, 1)
        out["report_posts_per_1000"] = round(stats["report_posts"] * 1000 / expected, 1)
    else:
        handoffs = [
            t
            for i, t in pipeline_outbox(phase.work / "data" / "outbox.jsonl").items()
            if i in due_ids and t >= due
        ]
        out["handoff"] = latency_stats(handoffs, due)
    return out


def pipeline_outbox(path: Path) -> dict[str, float]:
    import pipeline

    return pipeline.outbox_handoffs(path)


STEADY_RECIPIENTS = 10  # per order: the backlog's orders have many recipients too


async def steady_phase(dbs: harness.Databases, work: Path, rate: float, seconds: float) -> dict[str, Any]:
    """Orders due now trickling in at `rate` notifications/s (an order of 10 every 1/(rate/10) s, in
    inserts every 0.1 s), simulated provider at 200 ms, outbox on."""
    phase = Phase(dbs, work, "steady-200ms")
    url = await dbs.fresh("steady_200ms")
    rate = max(1.0, rate / STEADY_RECIPIENTS)  # orders per second
    total = max(1, round(rate * seconds))
    try:
        env = harness.service_env(
            url, phase.work / "data", simulated_send_delay_seconds=0.2, outbox_enabled=True
        )
        worker = phase.start_process("worker", [*harness.CLI_ARGS, "worker"], env)
        await worker.wait_for_output("workers started")
        phase.conn = await seed.connect(url)
        orders = seed.address_orders(total, STEADY_RECIPIENTS, datetime.now(UTC), "steady")
        first: int = await phase.conn.fetchval("SELECT COALESCE(max(_id), 0) + 1 FROM notifications.orders")
        log(f"vendor-pace steady: {total} orders at {rate:.0f}/s, 200 ms latency")
        sent, started, tick = 0, time.perf_counter(), 0.1
        while sent < total:
            due_now = min(total, round((time.perf_counter() - started + tick) * rate))
            if due_now > sent:
                await seed.insert(phase.conn, orders[sent:due_now], None, notify=True)
                sent = due_now
            await asyncio.sleep(tick / 2)
        elapsed = time.perf_counter() - started
        await wait_until(phase.conn, "email", first, total * STEADY_RECIPIENTS, worker, False, 120)
        due = await seed.due_times(phase.conn, first)
    finally:
        await phase.stop()
    import pipeline

    stats = pipeline.handoff_stats(pipeline.outbox_handoffs(phase.work / "data" / "outbox.jsonl"), due)
    return {
        "target_rate": rate * STEADY_RECIPIENTS,
        "offered_rate": total * STEADY_RECIPIENTS / elapsed,
        "orders": total,
        "recipients_each": STEADY_RECIPIENTS,
        "handoff": stats,
    }


async def smtp_phase(dbs: harness.Databases, work: Path, sizes: Sizes, delay: float) -> dict[str, Any]:
    """SMTP into a sink answering each message after `delay`; then raw aiosmtplib at the same latency and
    connections."""
    import pipeline

    n, connections = sizes.smtp_messages, 10  # NOTIFICATIONS_SMTP_MAX_CONNECTIONS default
    phase = Phase(dbs, work, "smtp-20ms")
    url = await dbs.fresh("smtp_20ms")
    sink_out = phase.work / "sink.json"
    port = harness.free_port()
    try:
        sink_args = [str(harness.PYTHON), str(harness.BENCH / "smtp_sink.py"), "--port", str(port)]
        sink_args += ["--out", str(sink_out), "--delay", str(delay)]
        sink = phase.start_process("sink", sink_args, harness.service_env("", phase.work))
        await sink.wait_for_output("ready")
        env = harness.service_env(
            url,
            phase.work / "data",
            email_provider="smtp",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_max_connections=connections,
            outbox_enabled=False,
        )
        worker = phase.start_process("worker", [*harness.CLI_ARGS, "worker"], env)
        await worker.wait_for_output("workers started")
        phase.conn = await seed.connect(url)
        first = await seed.insert(
            phase.conn, seed.address_orders(1, sizes.warmup, datetime.now(UTC), "warm"), None, notify=True
        )
        await wait_until(phase.conn, "email", first, sizes.warmup, worker, False, 120)
        orders = seed.address_orders(max(1, n // 1000), min(n, 1000), datetime.now(UTC), "smtp")
        expected = max(1, n // 1000) * min(n, 1000)
        first = await seed.seed_future(phase.conn, orders)
        usage = harness.Usage([worker.pid, sink.pid])
        due = (await seed.release(phase.conn, first)).timestamp()
        _, peak_rss = await wait_until(
            phase.conn, "email", first, expected, worker, False, max(120.0, n / 20)
        )
        used = usage.done()
        due_ids = await seed.due_times(phase.conn, first)
    finally:
        await phase.stop()
    arrivals = [t for i, t in pipeline.sink_handoffs(sink_out).items() if i in due_ids]
    result: dict[str, Any] = {
        "notifications": expected,
        "handoff": latency_stats(arrivals, due),
        "peak_rss_kib": peak_rss,
        "cores": used["process_cores"],
        "postgres_cores": used["postgres_cores"],
        "peak_in_flight": peaks_in_flight(phase.processes[-1].output()),
    }
    raw_out = phase.work / "sink-raw.json"
    raw_port = harness.free_port()
    raw_args = [str(harness.PYTHON), str(harness.BENCH / "smtp_sink.py"), "--port", str(raw_port)]
    raw_args += ["--out", str(raw_out), "--delay", str(delay)]
    raw_sink = Process("sink-raw", raw_args, harness.service_env("", phase.work), phase.work)
    try:
        await raw_sink.wait_for_output("ready")
        args = [str(harness.PYTHON), str(harness.BENCH / "smtp_raw.py"), "--port", str(raw_port)]
        args += ["--count", str(expected), "--connections", str(connections)]
        result["raw"] = json.loads(await harness.run_command(args))
    finally:
        raw_sink.stop()
    result["raw"]["connections"] = connections
    result["delay_ms"] = delay * 1000
    return result


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def _lat(r: dict[str, Any]) -> str:
    lat = r["handoff"].get("latency_ms", {})
    return f"{lat.get('p50')}/{lat.get('p95')}/{lat.get('p99')}"


def _rate(r: dict[str, Any]) -> float:
    return float(r["handoff"].get("rate") or r["written_rate"])


async def run(dbs: harness.Databases, smoke: bool, profile: bool) -> Report:
    sizes = SMOKE if smoke else FULL
    report = Report("vendor-pace", smoke)
    work = harness.WORK / f"vendor-pace-{dbs.prefix}"
    n = sizes.orders * sizes.recipients
    runs: dict[str, dict[str, Any]] = {}
    log(
        f"vendor-pace: {n} notifications per phase ({(sizes.acs_orders or sizes.orders) * sizes.recipients} for ACS)"
    )

    for ms in sizes.latencies_ms:
        label = f"simulated-{ms}ms"
        log(f"vendor-pace: {label}, {n} emails")
        runs[label] = await run_phase(
            dbs,
            work,
            label,
            sizes,
            channel="email",
            settings={"simulated_send_delay_seconds": ms / 1000, "outbox_enabled": True},
        )
    for vendor, channel in (("acs", "email"), ("link", "sms")):
        for ms in sizes.vendor_latencies_ms:
            label = f"{vendor}-{ms}ms"
            log(f"vendor-pace: {label}, {n} {channel}")
            runs[label] = await run_phase(
                dbs,
                work,
                label,
                sizes,
                channel=channel,
                settings={"outbox_enabled": False},
                vendor=vendor,
                vendor_delay=ms / 1000,
            )

    batch_runs: dict[int, dict[str, Any]] = {}
    for size in sizes.link_batch_sizes:
        label = f"link-200ms-batch{size}"
        log(f"vendor-pace: {label}, {n} sms")
        batch_runs[size] = await run_phase(
            dbs,
            work,
            label,
            sizes,
            channel="sms",
            settings={"outbox_enabled": False, "linkmobility_batch_size": size},
            vendor="link",
            vendor_delay=0.2,
        )
    default_batch = 250  # NOTIFICATIONS_LINKMOBILITY_BATCH_SIZE default
    for size, r in sorted({**batch_runs, default_batch: runs.get("link-200ms", {})}.items()):
        if r:
            report.add(
                f"link-200ms, batch {size}",
                "handed off/s; HTTP requests per 1,000",
                f"{_rate(r):,.0f}; {r['http_requests_per_1000']}",
                "",
                "the default" if size == default_batch else "",
            )
    report.data["link_batch_sizes"] = {str(k): v for k, v in batch_runs.items()}

    for label, r in runs.items():
        family = label.rsplit("-", 1)[0]
        base = runs[f"{family}-0ms"]
        ratio = _rate(r) / _rate(base)
        r["ratio_to_0ms"] = round(ratio, 2)
        note = f"x{ratio:.2f} of 0 ms" if not label.endswith("-0ms") else "baseline"
        report.add(label, "handed off/s (due → vendor answer)", _rate(r), "notif/s", note)
        steady = r["handoff"].get("steady_rate")
        base_steady = base["handoff"].get("steady_rate")
        report.add(
            label,
            "steady 10-90 %",
            steady,
            "notif/s",
            f"x{steady / base_steady:.2f} of 0 ms" if steady and base_steady else "",
        )
        report.add(
            label, "due → hand-off p50/p95/p99", _lat(r), "ms", "saturated: the whole backlog due at once"
        )
        peaks = ", ".join(f"{k.split('/')[1]} {v}" for k, v in r["peak_in_flight"].items())
        fake_peak = (r.get("vendor_stats") or {}).get("in_flight_peak")
        report.add(
            label,
            "sends in flight (worker peak)",
            peaks or "-",
            "",
            f"fake vendor: {fake_peak} requests at once" if fake_peak is not None else "",
        )
        report.add(label, "worker peak RSS", _mib(r["peak_rss_kib"]), "MiB")
        report.add(
            label, "CPU cores: worker / PostgreSQL", f"{r['worker_cores']} / {r['postgres_cores']}", ""
        )
        if r.get("vendor") is not None:
            report.add(label, "settled (polls, reports applied)", r["settled_seconds"], "s after due")
            report.add(
                label,
                "HTTP requests per 1,000 sent",
                r["http_requests_per_1000"],
                "",
                f"+ {r['report_posts_per_1000']} report posts",
            )
    report.data.update(sizes=sizes.__dict__, runs=runs)

    steady_rate = max(1.0, _rate(runs["simulated-200ms"]) / 2)
    steady = await steady_phase(dbs, work, steady_rate, sizes.steady_seconds)
    report.data["steady"] = steady
    slat = steady["handoff"].get("latency_ms", {})
    report.add(
        "due now @ 50% of the 200 ms rate",
        "offered rate",
        steady["offered_rate"],
        "notif/s",
        f"{steady['orders']} orders × {STEADY_RECIPIENTS}",
    )
    report.add(
        "due now @ 50% of the 200 ms rate",
        "due → hand-off p50/p95/p99",
        f"{slat.get('p50')}/{slat.get('p95')}/{slat.get('p99')}",
        "ms",
        "includes the 200 ms latency",
    )

    smtp = await smtp_phase(dbs, work, sizes, 0.02)
    report.data["smtp"] = smtp
    s_rate = smtp["handoff"].get("rate") or 0.0
    report.add("smtp, 20 ms per message", "arrived at sink/s", s_rate, "msg/s", "10 connections")
    report.add("smtp, 20 ms per message", "due → arrival p50/p95/p99", _lat(smtp), "ms", "saturated")
    report.add("baseline", "raw aiosmtplib → sink, 20 ms", smtp["raw"]["rate"], "msg/s", "10 connections")
    report.add("ratio", "smtp pipeline / raw", round(s_rate / smtp["raw"]["rate"], 2), "x", "target ≥ 0.8")

    if not smoke:
        for label in ("simulated-200ms", "acs-200ms", "link-200ms"):
            ratio = runs[label]["ratio_to_0ms"]
            report.add("target", f"{label} ≥ 0.8× its 0 ms", ratio, "x", "met" if ratio >= 0.8 else "NOT met")
        worst = max(r["peak_rss_kib"] for r in runs.values())
        met = worst / 1024 * 1.048576 < 300
        report.add("target", "peak worker RSS < 300 MB", _mib(worst), "MiB", "met" if met else "NOT met")
        p95 = slat.get("p95")
        ok = p95 is not None and p95 < 1000
        report.add("target", "p95 due → hand-off < 1 s below capacity", p95, "ms", "met" if ok else "NOT met")
    return report
