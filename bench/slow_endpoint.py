"""A slow send-condition endpoint in its own process: answers `{"sendNotification": true}` to every GET
after `--delay` seconds (longer than the service's condition timeout, the endpoint never answers in time).

    python bench/slow_endpoint.py --port 8099 --delay 30 --out calls.json

Prints `ready` once listening. On SIGTERM writes `{"calls", "most_at_once"}` to `--out` and exits. A call
counts as in progress until it is answered or the caller hangs up (a client that timed out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

_ANSWER = b'{"sendNotification": true}'


class Endpoint:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0
        self.in_progress = 0
        self.most_at_once = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.calls += 1
        self.in_progress += 1
        self.most_at_once = max(self.most_at_once, self.in_progress)
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                await reader.readuntil(b"\r\n\r\n")
                try:  # wait `delay`, unless the caller hangs up first (EOF)
                    await asyncio.wait_for(reader.read(1), self.delay)
                    return
                except TimeoutError:
                    pass
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(_ANSWER)}\r\nConnection: close\r\n\r\n"
                )
                writer.write(head.encode() + _ANSWER)
                await writer.drain()
        finally:
            self.in_progress -= 1
            writer.close()


async def main(host: str, port: int, delay: float) -> Endpoint:
    endpoint = Endpoint(delay)
    server = await asyncio.start_server(endpoint.handle, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    return endpoint


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    done = asyncio.run(main(args.host, args.port, args.delay))
    args.out.write_text(json.dumps({"calls": done.calls, "most_at_once": done.most_at_once}))
