"""Intake: how many v1 email orders per second the API accepts, and its latency at half that rate.

Phases (one `altinn-notifications api` process, workers off, a fresh database):
1. warm-up: POST orders for a few seconds (discarded);
2. sweep: POST /orders/email (1 recipient) at several connection counts, closed loop; the best
   accepted (202) rate is the maximum sustained rate;
3. latency: the same request at ~50% of that rate. wrk has no constant-rate mode (wrk2 does), so each of
   a few connections pauses between requests (Lua `delay()`), calibrated once so that the achieved rate
   is close to the target. This is a paced closed loop: a stalled server delays the next requests too
   (coordinated omission), so the tail is a lower bound of what an open-loop client would see;
4. invalid payload (400);
5. side by side, at the sweep's best connection count: `GET /health` (unauthenticated, one `SELECT 1`),
   the v1 order and v2 `POST /future/orders`, in interleaved rounds; the ratios (v1 / health, v2 / v1)
   compare rounds: the median of the per-round ratios;
6. baselines in the same run: an authenticated `GET /orders/{unknown id}` (404), and pgbench inserting
   the same rows with the API's statement.

wrk runs with one thread in its own process; all of it shares the machine's cores with the API and
PostgreSQL. Without wrk a small Python generator is used instead, and the report says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
import seed
from harness import Process, Report, log

from altinn_notifications.orders.models import Recipient

API = "/notifications/api/v1"
ORDER_BODY = {
    "sendersReference": "bench",
    "subject": seed.SUBJECT,
    "body": seed.BODY,
    "recipients": [{"emailAddress": "someone@bench.example.no"}],
}
INVALID_BODY = {"body": seed.BODY, "recipients": [{"emailAddress": "someone@bench.example.no"}]}
V2_BODY = {
    "idempotencyId": "__UNIQUE__",
    "sendersReference": "bench",
    "recipient": {
        "recipientEmail": {
            "emailAddress": "someone@bench.example.no",
            "emailSettings": {"subject": seed.SUBJECT, "body": seed.BODY},
        }
    },
}
WRK_INSTALL = "install wrk: `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)"


@dataclass(frozen=True)
class Sizes:
    warmup: float
    measure: float
    connections: tuple[int, ...]
    latency_connections: int
    pgbench_clients: int
    side_by_side_rounds: int
    side_by_side_seconds: float


FULL = Sizes(
    warmup=5,
    measure=10,
    connections=(4, 16, 64, 128),
    latency_connections=8,
    pgbench_clients=10,
    side_by_side_rounds=6,
    side_by_side_seconds=5,
)
SMOKE = Sizes(
    warmup=1,
    measure=1,
    connections=(8,),
    latency_connections=4,
    pgbench_clients=4,
    side_by_side_rounds=1,
    side_by_side_seconds=1,
)


@dataclass(frozen=True)
class Load:
    """One request shape."""

    method: str
    path: str
    token: str | None = None
    body: dict[str, Any] | None = None
    unique: bool = False
    base_url: str | None = None  # another server than the generator's

    def at(self, base_url: str) -> Load:
        return Load(self.method, self.path, self.token, self.body, self.unique, base_url)


@dataclass(frozen=True)
class SecondApi:
    process: Process
    base: str


# Limits generous enough never to be met: what is measured is their cost (one statement per order).
RATE_LIMITS_ON = json.dumps(
    {"requests_per_second": 1e6, "notifications_per_second": 1e6, "daily_notifications": 10**12}
)


async def _rate_limited_api(url: str, work: Path) -> SecondApi:
    port = harness.free_port()
    env = harness.service_env(url, work / "data", rate_limits=RATE_LIMITS_ON)
    process = Process("api-rate-limited", [str(harness.CLI), "api", "--port", str(port)], env, work)
    base = f"http://127.0.0.1:{port}"
    await wait_healthy(base, process)
    return SecondApi(process, base)


class Generator:
    """Runs one load phase with wrk (or, without wrk, bench/loadgen.py) and returns its summary."""

    def __init__(self, base_url: str, work: Path) -> None:
        self.base_url = base_url
        self.work = work
        self.wrk = shutil.which("wrk")
        self.runs = 0
        self.watch_pid = 0  # the API process, whose CPU use is recorded per run
        self.created = 0  # 202 + 201 answers over all runs: orders the database must now hold,
        self.cut_off = 0  # plus at most the requests in flight when a run ended (wrk drops those)

    @property
    def name(self) -> str:
        return "wrk" if self.wrk else "python-fallback (bench/loadgen.py; not comparable with wrk numbers)"

    def run(
        self, load: Load, connections: int, seconds: float, delay_ms: float = 0.0, profile_pid: int = 0
    ) -> dict[str, Any]:
        self.runs += 1
        result_file = self.work / f"load-{self.runs}.json"
        body_file = self.work / f"body-{self.runs}.json"
        env = dict(os.environ)
        env.update(
            BENCH_METHOD=load.method,
            BENCH_PATH=load.path,
            BENCH_TOKEN=load.token or "",
            BENCH_BODY_FILE="",
            BENCH_UNIQUE="1" if load.unique else "0",
            BENCH_DELAY_MS=str(round(delay_ms)),
            BENCH_RESULT_FILE=str(result_file),
        )
        if load.body is not None:
            body_file.write_text(json.dumps(load.body))
            env["BENCH_BODY_FILE"] = str(body_file)
        if self.wrk:
            script = harness.BENCH / "wrk" / "request.lua"
            args = [self.wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
            args += ["-s", str(script), (load.base_url or self.base_url) + load.path]
        else:
            args = [str(harness.PYTHON), str(harness.BENCH / "loadgen.py"), self.base_url]
            args += ["--connections", str(connections), "--seconds", str(seconds)]
        profiler = None
        if profile_pid:
            profiler = harness.Profiler(profile_pid, self.work / f"profile-{self.runs}.txt", seconds)
        # The API process and, with several API processes, the workers of its supervisor.
        usage = harness.Usage(harness.process_tree(self.watch_pid) if self.watch_pid else [])
        subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
        used = usage.done()
        raw = json.loads(result_file.read_text())
        seconds_run = raw["duration_us"] / 1e6
        statuses = {int(k): v for k, v in raw["statuses"].items()}
        self.created += statuses.get(202, 0) + statuses.get(201, 0)
        if load.method == "POST":
            self.cut_off += connections
        lat = {k: v / 1000 for k, v in raw["latency_us"].items()}
        out = {
            "connections": connections,
            "seconds": round(seconds_run, 2),
            "requests": raw["requests"],
            "statuses": statuses,
            "errors": raw["errors"],
            "rate": raw["requests"] / seconds_run,
            "latency_ms": {k: round(v, 2) for k, v in lat.items()},
            "delay_ms": delay_ms,
            "machine_busy": used["machine_busy"],
            "api_cores": round(sum(used["process_cores"]), 2) if self.watch_pid else None,
            "postgres_cores": used["postgres_cores"],
        }
        if profiler is not None:
            out["profile"] = profiler.summary()
        return out


def rate_of(run: dict[str, Any], status: int) -> float:
    rate: float = run["statuses"].get(status, 0) / run["seconds"]
    return rate


def best_rate(runs: list[dict[str, Any]], status: int) -> float:
    return max(rate_of(r, status) for r in runs)


def side_by_side(
    gen: Generator, loads: dict[str, tuple[Load, int]], connections: int, sizes: Sizes
) -> dict[str, list[dict[str, Any]]]:
    """The phases a ratio compares, interleaved: each round runs every load once, one after the other
    (every other round in reverse order), for the same time. On shared cores the machine's speed drifts by
    tens of percent within minutes; short interleaved rounds make the drift weigh on every load alike,
    and a ratio is the median of its per-round ratios (`round_ratio`)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in loads}
    names = list(loads)
    for round_number in range(sizes.side_by_side_rounds):
        for name in names if round_number % 2 == 0 else reversed(names):
            log(f"intake: side by side, round {round_number + 1}: {name}, {connections} connections")
            runs[name].append(gen.run(loads[name][0], connections, sizes.side_by_side_seconds))
    return runs


def round_ratio(
    side: dict[str, list[dict[str, Any]]], top: tuple[str, int], bottom: tuple[str, int]
) -> tuple[float, list[float]]:
    """The median of `top`'s rate over `bottom`'s, round by round, and the per-round ratios."""
    ratios = [
        rate_of(a, top[1]) / max(rate_of(b, bottom[1]), 1e-9)
        for a, b in zip(side[top[0]], side[bottom[0]], strict=True)
    ]
    return statistics.median(ratios), ratios


def pgbench(database_url: str, clients: int, seconds: float, work: Path) -> dict[str, Any]:
    """The API's insert statement (order + email texts + NOTIFY, one transaction) from pgbench."""
    exe = shutil.which("pgbench")
    if exe is None:
        return {"error": "pgbench not found (apt-get install -y postgresql-client)"}
    script = work / "insert-order.sql"
    script.write_text(
        """BEGIN;
WITH o AS (
    INSERT INTO notifications.orders (alternateid, creatorname, sendersreference, created, requestedsendtime,
                        processed, processedstatus, notificationorder, sendingtimepolicy, type, _orderchainid)
    VALUES (gen_random_uuid(), 'ttd', 'bench', now(), now(), now(), 'Registered', :doc::jsonb, NULL,
            'Notification', NULL)
    RETURNING _id
), e AS (
    INSERT INTO notifications.emailtexts (_orderid, fromaddress, subject, body, contenttype)
    SELECT o._id, 'noreply@altinn.no', :subject, :body, 'Plain' FROM o
)
SELECT _id, pg_notify('orders_due', '') FROM o;
COMMIT;
"""
    )
    order = seed.email_order([Recipient(email_address="someone@bench.example.no")], datetime.now(UTC))
    args = [exe, "-n", "-M", "prepared", "-c", str(clients), "-j", "1", "-T", str(max(1, round(seconds)))]
    args += ["-f", str(script), "-D", f"doc={order.doc}", "-D", f"subject={seed.SUBJECT}"]
    args += ["-D", f"body={seed.BODY}", database_url]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    return {
        "clients": clients,
        "seconds": seconds,
        "rate": float(tps.group(1)) if tps else None,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
    }


def has_v2(base_url: str) -> bool:
    with urllib.request.urlopen(base_url + "/swagger/v1/swagger.json", timeout=10) as answer:
        paths = json.load(answer).get("paths", {})
    return f"{API}/future/orders" in paths


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


async def wait_healthy(base_url: str, process: Process, limit: float = 60.0) -> None:
    for _ in range(int(limit * 10)):
        if process.popen.poll() is not None:
            raise RuntimeError(f"the API exited; see {process.log_path}")
        if await asyncio.to_thread(_healthy, base_url):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the API did not become healthy; see {process.log_path}")


async def run(dbs: harness.Databases, smoke: bool, profile: bool) -> Report:
    sizes = SMOKE if smoke else FULL
    report = Report("intake", smoke)
    work = harness.WORK / f"intake-{dbs.prefix}"
    work.mkdir(parents=True, exist_ok=True)
    url = await dbs.fresh("intake")
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    # `api --processes N` (run.py --api-processes); a profile follows the first pid only: use N = 1.
    processes = int(os.environ.get("BENCH_API_PROCESSES", "1"))
    api = Process(
        "api",
        [str(harness.CLI), "api", "--port", str(port), "--processes", str(processes)],
        harness.service_env(url, work / "data"),
        work,
    )
    gen = Generator(base, work)
    gen.watch_pid = api.pid
    if not gen.wrk:
        log(f"wrk not found: using the Python fallback generator; {WRK_INSTALL}")
    report.data.update(generator=gen.name, sizes=sizes.__dict__, api_pid=api.pid, api_processes=processes)
    report.add("setup", "load generator", "wrk" if gen.wrk else "python", "", "" if gen.wrk else gen.name)
    report.add("setup", "API processes", processes, "")
    try:
        await wait_healthy(base, api)
        token = harness.mint_token(work / "data")
        orders = Load("POST", f"{API}/orders/email", token, ORDER_BODY)

        log("intake: warm-up")
        gen.run(orders, max(sizes.connections), sizes.warmup)

        sweep = []
        for c in sizes.connections:
            log(f"intake: POST orders, {c} connections, {sizes.measure}s")
            sweep.append(gen.run(orders, c, sizes.measure))
        best = max(sweep, key=lambda r: rate_of(r, 202))
        best_c, max_rate = best["connections"], rate_of(best, 202)
        for r in sweep:
            report.add(
                "orders (closed loop)",
                f"accepted/s @{r['connections']} conns",
                rate_of(r, 202),
                "orders/s",
                f"p50 {r['latency_ms']['p50']} ms, p99 {r['latency_ms']['p99']} ms, non-202 "
                f"{r['requests'] - r['statuses'].get(202, 0)}; cores: API {r['api_cores']}, "
                f"PostgreSQL {r['postgres_cores']}, machine {r['machine_busy']:.0%} busy",
            )
        report.data["sweep"] = sweep
        if best["api_cores"] is not None:
            api_ms = best["api_cores"] * 1000 / max(rate_of(best, 202), 1e-9)
            pg_ms = (best["postgres_cores"] or 0) * 1000 / max(rate_of(best, 202), 1e-9)
            note = f"@{best_c} conns; PostgreSQL {pg_ms:.2f} ms"
            report.add("orders (closed loop)", "API CPU per accepted order", api_ms, "ms", note)

        target = max_rate / 2
        lat_c = sizes.latency_connections
        delay = max(0.0, lat_c / target * 1000)
        log(f"intake: latency at ~{target:.0f}/s (calibrating)")
        for _ in range(3):  # each connection's cycle is pause + service time: solve for the pause
            probe = gen.run(orders, lat_c, min(3.0, sizes.measure), delay)
            if abs(probe["rate"] / target - 1) < 0.05:
                break
            service_s = max(0.0, lat_c / max(probe["rate"], 1e-9) - delay / 1000)
            delay = max(0.0, (lat_c / target - service_s) * 1000)
        paced = gen.run(orders, lat_c, sizes.measure * 1.5, delay)
        lat = paced["latency_ms"]
        report.add(
            "orders @ 50% of max",
            "achieved rate",
            rate_of(paced, 202),
            "orders/s",
            f"target {target:.0f}/s, {lat_c} conns, {delay:.1f} ms pause",
        )
        for p in ("p50", "p95", "p99", "max"):
            report.add("orders @ 50% of max", f"latency {p}", lat[p], "ms")
        report.data["paced"] = paced

        invalid = gen.run(Load("POST", f"{API}/orders/email", token, INVALID_BODY), best_c, sizes.measure)
        report.add("invalid payload", "rejected/s", rate_of(invalid, 400), "req/s", f"@{best_c} conns")
        report.data["invalid"] = invalid

        # The ratios' phases, interleaved (see `side_by_side`).
        loads = {"health": (Load("GET", "/health"), 200), "orders": (orders, 202)}
        if has_v2(base):
            loads["v2"] = (Load("POST", f"{API}/future/orders", token, V2_BODY, unique=True), 201)
        else:
            report.add("v2 POST /future/orders", "created/s", None, "", "endpoint not present in this build")
        side = side_by_side(gen, loads, best_c, sizes)
        labels = {"health": "GET /health", "orders": "v1 POST /orders/email", "v2": "v2 POST /future/orders"}
        for name, runs in side.items():
            status = loads[name][1]
            rates = ", ".join(f"{rate_of(r, status):.0f}" for r in runs)
            report.add(
                "side by side", labels[name], best_rate(runs, status), "req/s", f"best round; rounds {rates}"
            )
        report.data["side_by_side"] = side
        health = max(side["health"], key=lambda r: rate_of(r, 200))
        if "v2" in side:
            report.data["v2"] = max(side["v2"], key=lambda r: rate_of(r, 201))
            report.add(
                "v2 POST /future/orders",
                "created/s",
                rate_of(report.data["v2"], 201),
                "orders/s",
                f"@{best_c} conns, best round",
            )

        limited = await _rate_limited_api(url, work)
        try:
            gen.watch_pid = limited.process.pid
            gen.run(orders.at(limited.base), best_c, sizes.warmup)  # as warm as the first API
            rated = gen.run(orders.at(limited.base), best_c, sizes.measure)
            gen.watch_pid = api.pid
            unrated = gen.run(orders, best_c, sizes.measure)  # again, right beside it
        finally:
            gen.watch_pid = api.pid
            limited.process.stop()
        on, off = rate_of(rated, 202), rate_of(unrated, 202)
        report.add("rate limits on", "accepted/s", on, "orders/s", f"@{best_c} conns; limits never met")
        report.add("rate limits on", "accepted/s, off (same run)", off, "orders/s", f"@{best_c} conns")
        report.add("rate limits on", "on vs off", round(on / max(off, 1e-9), 2), "x", "target ≥ 0.9")
        report.data.update(rate_limited=rated, rate_unlimited=unrated)

        missing = gen.run(Load("GET", f"{API}/orders/{uuid.uuid4()}", token), best_c, sizes.measure)
        report.add("baseline", "GET /health", rate_of(health, 200), "req/s", f"@{best_c} conns, best round")
        report.add("baseline", "GET /orders/{unknown} (404)", rate_of(missing, 404), "req/s", "authenticated")
        report.data.update(health=health, not_found=missing)

        if profile:
            log("intake: profiling the API under the closed-loop load (py-spy)")
            profiled = gen.run(orders, best_c, sizes.measure, profile_pid=api.pid)
            report.data["profile"] = profiled.get("profile")
    finally:
        api.stop()

    conn = await seed.connect(url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM notifications.orders")
    finally:
        await conn.close()
    report.data.update(orders_stored=stored, orders_accepted=gen.created)
    extra = stored - gen.created
    check = "ok" if 0 <= extra <= gen.cut_off else "MISMATCH: accepted orders missing, or too many stored"
    note = f"{check} (in flight at run ends: ≤{gen.cut_off})"
    report.add("check", "orders stored / accepted", f"{stored} / {gen.created}", "", note)

    log(f"intake: pgbench baseline, {sizes.pgbench_clients} clients")
    raw = pgbench(url, sizes.pgbench_clients, sizes.measure, work)
    report.data["pgbench"] = raw
    report.add(
        "baseline", "pgbench same insert", raw.get("rate"), "orders/s", f"{raw.get('clients')} clients"
    )

    side = report.data["side_by_side"]
    orders_vs_health, per_round = round_ratio(side, ("orders", 202), ("health", 200))
    report.data["round_ratios"] = {"orders_vs_health": per_round}
    ratios = {
        "orders_vs_health": orders_vs_health,  # the median over the side-by-side rounds
        "orders_vs_404": max_rate / max(rate_of(missing, 404), 1e-9),
        "orders_vs_pgbench": max_rate / raw["rate"] if raw.get("rate") else None,
        "invalid_vs_orders": rate_of(invalid, 400) / max(max_rate, 1e-9),
    }
    if "v2" in side:
        ratios["v2_vs_orders"], report.data["round_ratios"]["v2_vs_orders"] = round_ratio(
            side, ("v2", 201), ("orders", 202)
        )
    report.data["ratios"] = ratios
    report.data["max_accepted_per_s"] = max_rate
    for name, value in ratios.items():
        rounds = report.data["round_ratios"].get(name)
        note = "median of rounds " + ", ".join(f"{r:.2f}" for r in rounds) if rounds else ""
        report.add("ratio", name.replace("_", " "), round(value, 2) if value is not None else None, "x", note)
    if not smoke:
        report.add(
            "target", "≥1000 accepted/s", max_rate, "orders/s", "met" if max_rate >= 1000 else "NOT met"
        )
        report.add(
            "target", "p99 < 100 ms at half rate", lat["p99"], "ms", "met" if lat["p99"] < 100 else "NOT met"
        )
        for name, least in (("orders_vs_health", 0.7), ("v2_vs_orders", 0.8)):
            value = ratios.get(name)
            if value is not None:
                met = "met" if value >= least else "NOT met"
                report.add("target", f"{name.replace('_', ' ')} ≥ {least}", round(value, 2), "x", met)
    return report


if __name__ == "__main__":
    sys.exit("run: python bench/run.py intake")
