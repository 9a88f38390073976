"""CPU per request of the API itself, in process: the ASGI app called directly (no HTTP server, no load
generator), serially, with cProfile. Shows where an accepted order's CPU goes beside `GET /health`.

    python bench/profile_intake.py [--requests 2000] [--top 30] [--sort cumulative] [--plain] [--only v1] [--dump PREFIX]
        [--database-url URL]
    python bench/profile_intake.py --instructions [--requests 400] [--only v2]

Creates (and drops) its own database on the server. Numbers are CPU per request of this process, which
includes the asyncpg client side; the HTTP server's parsing (uvicorn) is not in them.

`--instructions` counts machine instructions per request instead, with valgrind's callgrind (Debian:
`apt-get install -y valgrind`): each shape runs in its own process under valgrind, counted only while its
requests run. The count does not depend on how busy or fast the machine is, so it compares two versions
of the code exactly where timings on shared cores drift by tens of percent (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import harness
import intake

from altinn_notifications.api.app import create_app
from altinn_notifications.auth.dev import mint_token
from altinn_notifications.bootstrap import build_container, freeze_startup_objects
from altinn_notifications.config import SCOPE_CREATE, load_settings
from altinn_notifications.logging import configure_logging

HEALTH, V1_ORDER, V2_ORDER = "GET /health", "POST v1 /orders/email", "POST v2 /future/orders"
SHAPES = (HEALTH, V1_ORDER, V2_ORDER)  # `--only` picks by a part of these names


def _file_name(shape: str) -> str:
    """A shape's name as a part of a file name: `POST v1 /orders/email` → `post-v1-orders-email`."""
    return "-".join(re.findall(r"[a-z0-9]+", shape.lower()))


async def _call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return status


async def main(args: argparse.Namespace) -> None:
    configure_logging("warning")
    if args.counted_in is not None:  # a child of --instructions, under valgrind
        await _shapes_in(args.counted_in, args)
        return
    server, _ = await harness.resolve_server(args.database_url)
    dbs = harness.Databases(server)
    try:
        url = await dbs.fresh("profile")
        if args.instructions:
            await asyncio.to_thread(_count_instructions, url, args)
        else:
            await _shapes_in(url, args)
    finally:
        await dbs.drop_all()


async def _shapes_in(url: str, args: argparse.Namespace) -> None:
    """Each request shape's warm-up, then its measured requests (cProfile, the clock, or callgrind)."""
    data_dir = Path(tempfile.mkdtemp(prefix="profile-intake-"))
    settings = load_settings(database_url=url, data_dir=data_dir, run_migrations=False, outbox_enabled=False)
    container = await build_container(settings)
    app = create_app(container)
    freeze_startup_objects()  # as the app's lifespan does (not run here)
    token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE])
    auth = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]
    v1 = json.dumps(intake.ORDER_BODY).encode()
    shapes = {
        HEALTH: ("GET", "/health", [], b""),
        V1_ORDER: ("POST", f"{intake.API}/orders/email", auth, v1),
        V2_ORDER: ("POST", f"{intake.API}/future/orders", auth, b""),
    }
    async with asyncio.timeout(600):
        for name, (method, path, headers, body) in shapes.items():
            if args.only and args.only not in name:
                continue
            for _ in range(50):  # warm-up
                await _call(app, method, path, headers, _body(name, body))
            bodies = [_body(name, body) for _ in range(args.requests)]  # made before the clock starts
            if args.counted_in is not None:
                await _counted(app, method, path, headers, bodies)
                continue
            profiler = cProfile.Profile()
            started = time.process_time()
            if not args.plain:
                profiler.enable()
            statuses: dict[int, int] = {}
            for each in bodies:
                status = await _call(app, method, path, headers, each)
                statuses[status] = statuses.get(status, 0) + 1
            profiler.disable()
            used = time.process_time() - started
            kind = "plain" if args.plain else "profiled"
            print(f"\n== {name}: {used / args.requests * 1e6:.0f} µs CPU per request ({kind}) {statuses}")
            if args.plain:
                continue
            if args.dump:
                profiler.dump_stats(f"{args.dump}-{_file_name(name)}.pstats")
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
            print(out.getvalue()[-12000:])
    await container.close()


async def _counted(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], bodies: list[bytes]
) -> None:
    """The requests with callgrind's counting switched on around them (and only them)."""
    _callgrind("--instr=on")
    statuses = [await _call(app, method, path, headers, body) for body in bodies]
    _callgrind("--instr=off")
    if any(status >= 300 for status in statuses):  # an error answer costs less: it must not be counted
        raise RuntimeError(f"{path}: answers {sorted(set(statuses))}")


def _callgrind(command: str) -> None:
    subprocess.run(["callgrind_control", command, str(os.getpid())], check=True, capture_output=True)


def _count_instructions(url: str, args: argparse.Namespace) -> None:
    """Every shape in its own valgrind process; instructions per request from each one's totals."""
    if shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind: apt-get install -y valgrind (Debian/Ubuntu)")
    counts: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="profile-instructions-"))
    for name in SHAPES:
        if args.only and args.only not in name:
            continue
        out = work / f"callgrind-{len(counts)}.out"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, "--counted-in", url, "--only", name]
        command += ["--requests", str(args.requests)]
        subprocess.run(command, check=True, capture_output=True)
        counts[name] = _totals(out) / args.requests
        out.unlink()
        print(f"{name}: {counts[name]:,.0f} instructions per request", flush=True)
    for top, bottom in ((V1_ORDER, HEALTH), (V2_ORDER, V1_ORDER)):
        if top in counts and bottom in counts:
            print(f"{bottom} / {top}: {counts[bottom] / counts[top]:.3f} (what one costs beside the other)")


def _totals(callgrind_out: Path) -> int:
    for line in callgrind_out.read_text().splitlines():
        if line.startswith("totals:"):  # the header's `summary:` is 0 when counting starts switched off
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {callgrind_out}")


def _body(name: str, body: bytes) -> bytes:
    if name != V2_ORDER:
        return body
    shaped = json.loads(json.dumps(intake.V2_BODY))
    shaped["idempotencyId"] = str(uuid.uuid4())
    return json.dumps(shaped).encode()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--plain", action="store_true", help="no profiler: CPU per request only")
    parser.add_argument("--only", metavar="TEXT", help="only the request shapes whose name contains TEXT")
    parser.add_argument(
        "--dump", metavar="PREFIX", help="also write each shape's stats to PREFIX-<shape>.pstats"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions per request (valgrind)"
    )
    parser.add_argument("--counted-in", metavar="URL", help=argparse.SUPPRESS)  # --instructions' children
    parser.add_argument("--database-url", default=harness.DEFAULT_SERVER)
    sys.exit(asyncio.run(main(parser.parse_args())))
