"""The SMTP baseline: the same messages sent straight to the sink with aiosmtplib, no service in between.

    python bench/smtp_raw.py --port 2525 --count 20000 --connections 10

Each of `--connections` persistent connections sends its share of the messages one after another (the
service's SMTP provider keeps the same number of pooled connections). Messages are built with the
provider's own `build_mime_message`. Prints `{"count", "seconds", "rate"}` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import aiosmtplib

from altinn_notifications.providers.base import EmailMessage
from altinn_notifications.providers.email.smtp import build_mime_message


async def main(host: str, port: int, count: int, connections: int) -> dict[str, float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def sender() -> None:
        client = aiosmtplib.SMTP(hostname=host, port=port, local_hostname="bench-raw")
        await client.connect()
        try:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                message = EmailMessage(
                    notification_id=uuid.uuid4(),
                    from_address="noreply@altinn.no",
                    to_address=f"raw-{i}@bench.example.no",
                    subject="Benchmark notification",
                    body="Hello from the benchmark harness. This is a notification of ordinary length, "
                    "with no placeholders.",
                )
                mime = build_mime_message(message, f"<{message.notification_id}@altinn.no>")
                await client.send_message(mime, sender=message.from_address, recipients=[message.to_address])
        finally:
            await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(connections)))
    seconds = time.perf_counter() - started
    return {"count": count, "seconds": seconds, "rate": count / seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.host, args.port, args.count, args.connections))))
