"""CPU per request of the API itself, in process: the ASGI app called directly (no HTTP server, no load
generator), serially, with cProfile. Shows where an accepted order's CPU goes beside `GET /health`.

    python bench/profile_intake.py [--requests 2000] [--top 30] [--sort cumulative] [--plain] [--only v1] [--dump PREFIX]
        [--database-url URL]

Creates (and drops) its own database on the server. Numbers are CPU per request of this process, which
includes the asyncpg client side; the HTTP server's parsing (uvicorn) is not in them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
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
    server, _ = await harness.resolve_server(args.database_url)
    dbs = harness.Databases(server)
    try:
        url = await dbs.fresh("profile")
        data_dir = Path(tempfile.mkdtemp(prefix="profile-intake-"))
        settings = load_settings(
            database_url=url, data_dir=data_dir, run_migrations=False, outbox_enabled=False
        )
        container = await build_container(settings)
        app = create_app(container)
        freeze_startup_objects()  # as the app's lifespan does (not run here)
        token = mint_token(settings, org="ttd", scopes=[SCOPE_CREATE])
        auth = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")]
        v1 = json.dumps(intake.ORDER_BODY).encode()
        shapes = {
            "GET /health": ("GET", "/health", [], b""),
            "POST v1 /orders/email": ("POST", f"{intake.API}/orders/email", auth, v1),
            "POST v2 /future/orders": ("POST", f"{intake.API}/future/orders", auth, b""),
        }
        async with asyncio.timeout(600):
            for name, (method, path, headers, body) in shapes.items():
                if args.only and args.only not in name:
                    continue
                for _ in range(50):  # warm-up
                    await _call(app, method, path, headers, _body(name, body))
                bodies = [_body(name, body) for _ in range(args.requests)]  # made before the clock starts
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
                    profiler.dump_stats(f"{args.dump}-{name.split()[1]}.pstats")
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue()[-12000:])
        await container.close()
    finally:
        await dbs.drop_all()


def _body(name: str, body: bytes) -> bytes:
    if "v2" not in name:
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
    parser.add_argument("--database-url", default=harness.DEFAULT_SERVER)
    sys.exit(asyncio.run(main(parser.parse_args())))
