"""The loopback vendor fakes of the test suite (ACS email, LINK Mobility PSWin) in a process of their own,
answering after `--delay` seconds, for the vendor-pace benchmark.

    python bench/vendor_fakes.py --vendor acs|link --port 8123 --delay 0.2 --out stats.json \
        [--report-url URL] [--report-interval 0.2]

Prints `ready` once listening. Delivery reports (ACS: after the operation's first successful poll; LINK:
after each accepted message) are collected and posted to `--report-url` every `--report-interval`
seconds, many per request (Event Grid and the PSWin gateway both deliver reports in batches), over one
HTTP client. On SIGTERM writes the counts and the accept times to `--out` and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: `tests.providers`

from tests.providers.fake_acs import FakeAcs, Operation, delivery_event
from tests.providers.fake_linkmobility import FakeGateway, report_xml


class Reports:
    """Reports waiting to be posted, and the posts made."""

    def __init__(self, url: str | None, interval: float) -> None:
        self.url = url
        self.interval = interval
        self.pending: list[Any] = []
        self.posts = 0
        self.failed = 0

    async def run(self, post: Any) -> None:
        if self.url is None:
            return
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                await asyncio.sleep(self.interval)
                batch, self.pending = self.pending, []
                for at in range(0, len(batch), 500):
                    try:
                        response = await post(client, batch[at : at + 500])
                        self.posts += 1
                        self.failed += response.status_code >= 300
                    except httpx.HTTPError:
                        self.failed += 1


class BenchAcs(FakeAcs):
    def __init__(self, reports: Reports, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reports = reports

    def _post_report_later(self, operation: Operation) -> None:
        self.reports.pending.append(
            delivery_event(operation.id, self.report_status, operation.recipient, operation.sender)
        )


class BenchGateway(FakeGateway):
    def __init__(self, reports: Reports, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reports = reports

    def _post_report_later(self, ref: str) -> None:
        self.reports.pending.append(ref)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    reports = Reports(args.report_url, args.report_interval)
    fake: BenchAcs | BenchGateway
    if args.vendor == "acs":
        fake = BenchAcs(reports, delay=args.delay, running_polls=0, report_url=args.report_url)

        async def post(client: httpx.AsyncClient, events: list[Any]) -> httpx.Response:
            assert args.report_url is not None
            return await client.post(args.report_url, json=events)

    else:
        fake = BenchGateway(reports, delay=args.delay, report_url=args.report_url)

        async def post(client: httpx.AsyncClient, refs: list[Any]) -> httpx.Response:
            assert args.report_url is not None
            body = report_xml([(str(i + 1), ref, "DELIVRD") for i, ref in enumerate(refs)])
            return await client.post(
                args.report_url,
                content=body,
                headers={"Content-Type": "application/xml"},
                auth=("reports", "report-secret"),
            )

    config = uvicorn.Config(
        fake.app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve())
    poster = asyncio.create_task(reports.run(post))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await stop.wait()
    server.should_exit = True
    await serving
    poster.cancel()
    if isinstance(fake, BenchAcs):
        return {
            "vendor": "acs",
            "send_requests": len(fake.arrival_times),
            "accepted": len(fake.send_times),
            "accepted_times": fake.send_times,
            "operations": len(fake.operations),
            "poll_requests": sum(fake.poll_count.values()),
            "in_flight_peak": fake.in_flight_peak,
            "report_posts": reports.posts,
            "report_posts_failed": reports.failed,
        }
    return {
        "vendor": "link",
        "send_requests": len(fake.raw),
        "accepted": len(fake.accepted_times),
        "accepted_times": fake.accepted_times,
        "messages": len(fake.requests),
        "in_flight_peak": fake.in_flight_peak,  # requests (each up to a batch of messages)
        "report_posts": reports.posts,
        "report_posts_failed": reports.failed,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vendor", choices=["acs", "link"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report-url")
    parser.add_argument("--report-interval", type=float, default=0.2)
    arguments = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(main(arguments))
    arguments.out.write_text(json.dumps(result))
