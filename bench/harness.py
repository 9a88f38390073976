"""Shared machinery of the benchmark harness: databases, service processes, statistics, results.

Every scenario gets databases of its own on the PostgreSQL server given by `--database-url` (created from
one migrated template, dropped at the end unless `--keep`), or on the embedded pgserver when no server
answers. Services run as separate processes of the console script `.venv/bin/altinn-notifications`; their
logs go to `bench/.work/<run>/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
WORK = BENCH / ".work"
VENV_BIN = ROOT / ".venv" / "bin"
CLI = VENV_BIN / "altinn-notifications"
PYTHON = VENV_BIN / "python"
#: The same command line as `CLI`, through the interpreter (independent of the installed script).
CLI_ARGS = [str(PYTHON), "-m", "altinn_notifications"]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


# --- databases ---


async def resolve_server(url: str) -> tuple[str, bool]:
    """The server URL to create databases on, and whether it is the embedded pgserver."""
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        log(f"no PostgreSQL at {url} ({type(exc).__name__}); starting the embedded pgserver")
        from altinn_notifications.db.embedded import start_embedded_postgres

        return start_embedded_postgres(WORK / "embedded"), True  # stops when the harness exits
    await conn.close()
    return url, False


class Databases:
    """Fresh databases for one run: a migrated template, copied per phase."""

    def __init__(self, server_url: str, *, keep: bool = False) -> None:
        self.server_url = server_url
        self.keep = keep
        self.prefix = "bench_" + secrets.token_hex(3)
        self.created: list[str] = []
        self.template: str | None = None

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def fresh(self, label: str) -> str:
        if self.template is None:
            self.template = f"{self.prefix}_template"
            await self._execute(f'CREATE DATABASE "{self.template}"')
            self.created.append(self.template)
            url = with_database(self.server_url, self.template)
            await run_command([*CLI_ARGS, "migrate", "--database-url", url])
        name = f"{self.prefix}_{label.replace('-', '_')}"
        await self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return with_database(self.server_url, name)

    async def server_version(self) -> str:
        conn = await asyncpg.connect(self.server_url)
        try:
            version: str = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        return version

    async def drop_all(self) -> None:
        if self.keep:
            log(f"kept databases: {', '.join(self.created)}")
            return

        async def drop(name: str) -> None:
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        await asyncio.gather(*(drop(n) for n in self.created if n != self.template))
        if self.template is not None:
            await drop(self.template)


#: Run folders kept in WORK per scenario: older ones (logs of 100+ MB each) go when the harness starts.
KEEP_RUNS = 3


def prune_work(keep: int = KEEP_RUNS) -> list[Path]:
    """Remove all but the `keep` newest run folders (`<scenario>-bench_<id>`) of each scenario from WORK."""
    runs: dict[str, list[Path]] = {}
    for folder in WORK.iterdir() if WORK.is_dir() else ():
        scenario, marker, _ = folder.name.rpartition("-bench_")
        if marker and folder.is_dir():
            runs.setdefault(scenario, []).append(folder)
    removed: list[Path] = []
    for folders in runs.values():
        folders.sort(key=lambda f: f.stat().st_mtime, reverse=True)
        for old in folders[keep:]:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


# --- processes ---


def service_env(database_url: str, data_dir: Path, **settings: object) -> dict[str, str]:
    """The environment of a service process: ours without NOTIFICATIONS_*, plus the given settings."""
    env = service_env_base()
    env["NOTIFICATIONS_DATABASE_URL"] = database_url
    env["NOTIFICATIONS_DATA_DIR"] = str(data_dir)
    env["NOTIFICATIONS_RUN_MIGRATIONS"] = "false"  # the template database is migrated already
    if os.environ.get("BENCH_PYTHONPATH"):  # try a private copy of src/ (see docs/benchmarks.md)
        env["PYTHONPATH"] = os.environ["BENCH_PYTHONPATH"]
    for key, value in settings.items():
        env["NOTIFICATIONS_" + key.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


class Process:
    """A child process with its output in a log file; stopped with SIGTERM (then SIGKILL) by its pid."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            list(args), env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid = self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_for_output(self, text: str, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        while text not in self.output():
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}); see {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {text!r} after {limit}s; see {self.log_path}")
            await asyncio.sleep(0.1)

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) of the process, in KiB."""
        found: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0])
        return found

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop in {timeout}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


async def run_command(args: Sequence[str], env: dict[str, str] | None = None) -> str:
    """Run a command to its end (in a thread, off the event loop); its stdout, or an error with stderr."""
    done = await asyncio.to_thread(
        subprocess.run, list(args), capture_output=True, text=True, env=env or service_env_base()
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} {args[1]} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done.stdout


def service_env_base() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NOTIFICATIONS_")}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a supervisor's worker processes)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return tree


def _machine_jiffies() -> tuple[int, int, int]:
    """(busy, total, steal) jiffies of all cores; steal: time the hypervisor gave our vCPUs to others."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values), values[7]


POSTMASTER_PID = 0  # of the PostgreSQL server under test, when readable (set by run.py)


def postgres_pids() -> list[int]:
    """The server's postmaster and its children (backends, walwriter, ...), when its pid is known."""
    if not POSTMASTER_PID:
        return []
    pids = [POSTMASTER_PID]
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError, ValueError):
            for line in status.read_text().splitlines():
                if line.startswith("PPid:"):
                    if int(line.split()[1]) == POSTMASTER_PID:
                        pids.append(int(status.parent.name))
                    break
    return pids


async def find_postmaster(server_url: str) -> int:
    """The postmaster's pid from `postmaster.pid` in the data directory (superuser, same machine)."""
    with contextlib.suppress(asyncpg.PostgresError, OSError, ValueError):
        conn = await asyncpg.connect(server_url)
        try:
            data_dir: str = await conn.fetchval("SHOW data_directory")
        finally:
            await conn.close()
        return int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
    return 0


class Usage:
    """CPU used between construction and `done()`: the whole machine's busy share (all cores), the cores
    used by each watched process and by the PostgreSQL server (1.0 = one core fully busy). PostgreSQL
    counts the processes alive through the whole phase (its backends of other clients included)."""

    def __init__(self, pids: Sequence[int] = ()) -> None:
        self.pids = list(pids)
        self.pg = postgres_pids()
        self.start = time.monotonic()
        self.machine = _machine_jiffies()
        self.cpu = [cpu_seconds(p) for p in self.pids]
        self.pg_cpu = {p: cpu_seconds(p) for p in self.pg}

    def done(self) -> dict[str, Any]:
        wall = max(time.monotonic() - self.start, 1e-9)
        busy, total, steal = _machine_jiffies()
        share = (busy - self.machine[0]) / max(total - self.machine[1], 1)
        stolen = (steal - self.machine[2]) / max(total - self.machine[1], 1)
        cores = [round((cpu_seconds(p) - c) / wall, 2) for p, c in zip(self.pids, self.cpu, strict=True)]
        alive = [p for p in postgres_pids() if p in self.pg_cpu]
        pg = sum(max(0.0, cpu_seconds(p) - self.pg_cpu[p]) for p in alive) / wall if self.pg else None
        return {
            "machine_busy": round(share, 2),
            "machine_steal": round(stolen, 3),
            "process_cores": cores,
            "postgres_cores": None if pg is None else round(pg, 2),
        }


def mint_token(data_dir: Path, org: str = "ttd") -> str:
    env = service_env_base()
    done = subprocess.run(
        [*CLI_ARGS, "token", "--org", org, "--ttl", "86400", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return done.stdout.strip()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- profiling (py-spy) ---


class Profiler:
    """`py-spy record` of a running process into collapsed stacks, summarised as the top frames."""

    def __init__(self, pid: int, out: Path, seconds: float) -> None:
        self.out = out
        exe = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        args = [exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "100"]
        args += ["-f", "raw", "--nolineno", "--nonblocking", "-o", str(out)]
        self.popen = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def summary(self, top: int = 12) -> dict[str, Any]:
        """Top frames of the main thread (the event loop): by own time and, for the project's code,
        inclusive. Samples of other threads (thread pools) are only counted."""
        self.popen.wait(timeout=120)
        if not self.out.exists():
            return {"error": "py-spy wrote nothing (permissions? try as root or with CAP_SYS_PTRACE)"}
        own: dict[str, int] = {}
        inclusive: dict[str, int] = {}
        total = other_threads = 0
        for line in self.out.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_short_frame(f) for f in stack.split(";")]
            if not frames[0].startswith("<module>"):
                other_threads += count
                continue
            total += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + count

        def ranked(table: dict[str, int]) -> list[dict[str, Any]]:
            rows = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:top]
            return [{"frame": f, "share": round(c / max(total, 1), 3)} for f, c in rows]

        project = {f: c for f, c in inclusive.items() if "altinn_notifications" in f}
        return {
            "samples": total,
            "other_thread_samples": other_threads,
            "file": str(self.out.relative_to(ROOT)),
            "self": ranked(own),
            "inclusive_project": ranked(project),
        }


def _short_frame(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py)` → `func (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/src/", "/lib/python3."):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "/lib/python3.":
                where = "stdlib/" + where.split("/", 1)[-1]
            break
    return f"{name} ({where})"


# --- statistics ---


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles plus count, mean and max; empty input gives only the count."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    out: dict[str, float] = {"count": len(ordered)}
    for p in points:
        rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
        out[f"p{p}"] = ordered[rank - 1]
    out["mean"] = sum(ordered) / len(ordered)
    out["max"] = ordered[-1]
    return out


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- results ---


@dataclass
class Row:
    """One line of the printed table."""

    phase: str
    metric: str
    value: float | str | None
    unit: str = ""
    note: str = ""


@dataclass
class Report:
    scenario: str
    smoke: bool
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    load_before: list[float] = field(default_factory=load_average)

    def add(self, phase: str, metric: str, value: float | str | None, unit: str = "", note: str = "") -> None:
        self.rows.append(Row(phase, metric, value, unit, note))

    def write(self, machine: dict[str, Any]) -> Path:
        """bench/results/<scenario>-<time>.json; smoke runs (CI) go to bench/.work/results instead."""
        folder = WORK / "results" if self.smoke else RESULTS
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = folder / f"{self.scenario}{'-smoke' if self.smoke else ''}-{stamp}.json"
        document = {
            "scenario": self.scenario,
            "smoke": self.smoke,
            "started": self.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average": {"before": self.load_before, "after": load_average()},
            "machine": machine,
            "table": [r.__dict__ for r in self.rows],
            "data": self.data,
        }
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        return path

    def print_table(self) -> None:
        def fmt(value: float | str | None) -> str:
            if value is None:
                return "-"
            if isinstance(value, float):
                return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
            if isinstance(value, int):
                return f"{value:,}"
            return value

        lines = [("phase", "metric", "value", "unit", "note")]
        lines += [(r.phase, r.metric, fmt(r.value), r.unit, r.note) for r in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(4)]
        title = f"== {self.scenario}{' (smoke)' if self.smoke else ''} =="
        print(title)
        for i, line in enumerate(lines):
            cells = [line[0].ljust(widths[0]), line[1].ljust(widths[1]), line[2].rjust(widths[2])]
            print("  ".join([*cells, line[3].ljust(widths[3]), line[4]]).rstrip())
            if i == 0:
                print("  ".join("-" * w for w in widths))
        sys.stdout.flush()


def machine_info(server_version: str, embedded: bool) -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        mem_kib = int(first.split()[1])
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True, text=True
    ).stdout.strip()
    wrk = shutil.which("wrk")
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": server_version + (" (embedded pgserver)" if embedded else ""),
        "wrk": wrk is not None,
        "git": commit + (" (src modified)" if dirty else ""),
        # Services imported from another copy of src/ (an A/B run): the commit above is not what ran.
        "services_pythonpath": os.environ.get("BENCH_PYTHONPATH"),
    }


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t:` ... `t[0]` is the elapsed seconds afterwards."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)
