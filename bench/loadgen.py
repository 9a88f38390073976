"""Fallback load generator for when wrk is missing: closed loop over keep-alive connections (httpx).

Configured by the same BENCH_* environment variables as bench/wrk/request.lua and writing the same JSON
summary. Much slower per request than wrk and it competes for the same cores: numbers taken with it are
marked as such and are not comparable with wrk's. Install wrk for real measurements.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path

import httpx


async def main(base_url: str, connections: int, seconds: float, body: str | None) -> dict[str, object]:
    method = os.environ.get("BENCH_METHOD", "GET")
    path = os.environ.get("BENCH_PATH", "/health")
    token = os.environ.get("BENCH_TOKEN")
    unique = os.environ.get("BENCH_UNIQUE") == "1"
    delay = float(os.environ.get("BENCH_DELAY_MS", "0")) / 1000
    headers = {"Content-Type": "application/json"} if body else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:
        end = time.perf_counter() + seconds

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < end:
                content = body.replace("__UNIQUE__", str(uuid.uuid4())) if body and unique else body
                started = time.perf_counter()
                try:
                    answer = await client.request(method, path, content=content, headers=headers)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if delay:
                    await asyncio.sleep(delay)

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(connections)))
        duration = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> int:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1e6)

    return {
        "duration_us": round(duration * 1e6),
        "requests": len(latencies),
        "bytes": 0,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": {"connect": 0, "read": errors, "write": 0, "status": 0, "timeout": 0},
        "latency_us": {
            "mean": statistics.fmean(ordered) * 1e6,
            "stdev": statistics.pstdev(ordered) * 1e6,
            "max": round(ordered[-1] * 1e6),
            "p50": pct(50),
            "p90": pct(90),
            "p95": pct(95),
            "p99": pct(99),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    body_file = os.environ.get("BENCH_BODY_FILE")
    body = Path(body_file).read_text() if body_file else None
    summary = asyncio.run(main(args.base_url, args.connections, args.seconds, body))
    Path(os.environ["BENCH_RESULT_FILE"]).write_text(json.dumps(summary))
