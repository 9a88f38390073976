"""The vendor's allowance holds across worker processes: two real `altinn-notifications worker` processes
send SMS through the LINK Mobility adapter to one fake PSWin gateway on loopback, with
`NOTIFICATIONS_SMS_MAX_SENDS_PER_SECOND` set. The gateway counts the messages it accepts and when; their
combined rate, counted over windows, stays within the limit (plus the bucket's one-second burst)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from altinn_notifications.bootstrap import Container
from altinn_notifications.orders.models import (
    NotificationChannel,
    Recipient,
    SendingTimePolicy,
    SmsTemplate,
)
from tests.factories import email_order, insert_orders
from tests.loopback import serve
from tests.pipeline.conftest import eventually
from tests.providers.fake_linkmobility import PASSWORD, USERNAME, FakeGateway

pytestmark = pytest.mark.slow

RATE = 20.0  # SMS per second, both processes together
BURST_SECONDS = 1.0  # the bucket may hand out one second's allowance at once
SMS_COUNT = 160  # eight seconds' worth at the limit
#: Counting tolerance, stated: the burst, plus 10 % of the window for clock and scheduling jitter between
#: a claim's grant and the gateway's arrival stamp.
JITTER = 0.10


@dataclass
class Processes:
    database_url: str
    data_dir: Path
    started: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self, **env: str) -> asyncio.subprocess.Process:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFICATIONS_")}
        environment.update(
            NOTIFICATIONS_DATABASE_URL=self.database_url,
            NOTIFICATIONS_DATA_DIR=str(self.data_dir),
            NOTIFICATIONS_RUN_MIGRATIONS="false",
            NOTIFICATIONS_OUTBOX_ENABLED="false",
            NOTIFICATIONS_POLL_INTERVAL_SECONDS="0.2",
            NOTIFICATIONS_LOG_FORMAT="json",
        )
        environment.update(env)
        log = self.data_dir / f"worker-{len(self.started) + 1}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "altinn_notifications",
                "worker",
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=environment,
            )
        self.started.append(process)
        return process

    def tail(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-2000:] for p in sorted(self.data_dir.glob("worker-*.log"))
        )


@pytest.fixture
async def processes(database_url: str, tmp_path: Path, container: Container) -> AsyncIterator[Processes]:
    started = Processes(database_url, tmp_path)
    try:
        yield started
    finally:
        for process in started.started:
            if process.returncode is None:
                process.kill()
                await process.wait()


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of stamps within any `window` seconds (a window starting at each stamp)."""
    ordered = sorted(times)
    best, end = 0, 0
    for start, first in enumerate(ordered):
        while end < len(ordered) and ordered[end] < first + window:
            end += 1
        best = max(best, end - start)
    return best


async def test_two_worker_processes_together_stay_within_the_sms_allowance(
    container: Container, processes: Processes
) -> None:
    fake = FakeGateway()
    async with serve(fake.app) as url:
        numbers = [f"+479900{i:04d}" for i in range(SMS_COUNT)]
        order = email_order(
            [],
            notification_channel=NotificationChannel.Sms,
            sending_time_policy=SendingTimePolicy.Anytime,
            email_template=None,
            sms_template=SmsTemplate(sender_number="Altinn", body="Hei"),
            recipients=[Recipient(mobile_number=n) for n in numbers],
        )
        common = {
            "NOTIFICATIONS_SMS_PROVIDER": "linkmobility",
            "NOTIFICATIONS_LINKMOBILITY_USERNAME": USERNAME,
            "NOTIFICATIONS_LINKMOBILITY_PASSWORD": PASSWORD,
            "NOTIFICATIONS_LINKMOBILITY_BATCH_SIZE": "4",
            "NOTIFICATIONS_SMS_REPORTS_USERNAME": "reports",
            "NOTIFICATIONS_SMS_REPORTS_PASSWORD": "report-secret",
            "NOTIFICATIONS_SMS_MAX_SENDS_PER_SECOND": str(RATE),
            "NOTIFICATIONS_SEND_ALLOWANCE_BURST_SECONDS": str(BURST_SECONDS),
        }
        # Each process its own path on the gateway: the counts show that both sent.
        first = await processes.start(**common, NOTIFICATIONS_LINKMOBILITY_URL=f"{url}/one")
        second = await processes.start(**common, NOTIFICATIONS_LINKMOBILITY_URL=f"{url}/two")
        await insert_orders(container, [order])

        async def all_accepted() -> bool:
            assert first.returncode is None and second.returncode is None, processes.tail()
            return len(fake.accepted_times) >= SMS_COUNT

        await eventually(all_accepted, within=90, interval=0.1)
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
        assert [await asyncio.wait_for(p.wait(), 20) for p in (first, second)] == [0, 0], processes.tail()

    assert sorted(fake.calls.values()) == [1] * SMS_COUNT, "every SMS handed over once"
    assert fake.paths["/one"] > 0 and fake.paths["/two"] > 0, "both processes sent"
    burst = RATE * BURST_SECONDS
    times = fake.accepted_times
    span = max(times) - min(times)
    # The whole run, counted at the gateway: no more than the allowance of its span plus one burst.
    assert len(times) <= RATE * span * (1 + JITTER) + burst, (len(times), span)
    # And every 2-second window on its own.
    for window in (1.0, 2.0, 4.0):
        assert most_in_any_window(times, window) <= RATE * window * (1 + JITTER) + burst, window
    async with container.pool.acquire() as conn:
        results = await conn.fetch("SELECT result::text AS r, count(*) AS n FROM smsnotifications GROUP BY 1")
    assert {r["r"]: r["n"] for r in results} == {"Accepted": SMS_COUNT}
    print(
        f"\n[allowance] {SMS_COUNT} SMS at <= {RATE}/s over {span:.1f} s (rate {len(times) / span:.1f}/s); "
        f"per process: {dict(fake.paths)} requests"
    )
