"""An SMTP sink (aiosmtpd) in its own process: accepts every message and records when it arrived.

    python bench/smtp_sink.py --port 2525 --out arrivals.json [--delay 0.02]

Prints `ready` once listening. On SIGTERM writes `{"count", "arrivals": [[notification id, unix time]]}`
(the id from the `X-Notification-Id` header the SMTP provider sets) to `--out` and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

_HEADER = b"X-Notification-Id: "


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.arrivals: list[tuple[str, float]] = []
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # a relay's latency per message (vendor-pace scenario)
        content: bytes = envelope.original_content or envelope.content
        at = content.find(_HEADER)
        notification_id = ""
        if at >= 0:
            end = content.find(b"\r\n", at)
            notification_id = content[at + len(_HEADER) : end].decode("ascii", "replace").strip()
        self.arrivals.append((notification_id, time.time()))
        return "250 Message accepted for delivery"


async def main(host: str, port: int, delay: float = 0.0) -> Recorder:
    recorder = Recorder(delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(recorder, hostname="bench-sink", data_size_limit=None), host, port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    return recorder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering each message")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    recorder = asyncio.run(main(args.host, args.port, args.delay))
    args.out.write_text(json.dumps({"count": len(recorder.arrivals), "arrivals": recorder.arrivals}))
