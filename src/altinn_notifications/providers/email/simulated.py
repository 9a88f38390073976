"""A simulated email vendor: the outcome follows the recipient address (docs/compatibility.md C13).

| recipient                 | send outcome                                        | later report          |
|---------------------------|-----------------------------------------------------|-----------------------|
| `transient-fail@test.com` | first attempt per notification id: transient error  | —                     |
|                           | later attempts: as any other address                |                       |
| `permanent-fail@test.com` | `Failed` (final)                                    | —                     |
| `bounce@test.com`         | `Succeeded` + reference                             | `Failed_Bounced`      |
| `slow-delivery@test.com`  | `Succeeded` + reference                             | `Delivered` after 3 × |
| any other address         | `Succeeded` + reference (a uuid, like an ACS id)    | `Delivered`           |

Addresses are compared trimmed and case-insensitively. Reports are due `report_delay` seconds after the
send ("slow" delivery: two silent "still sending" intervals, then the report after 3 × `report_delay`).
Given `reports` (the composition root gives the database-backed `reports.worker.DurableReportSchedule`),
each report is kept there before `send` returns and delivered when due by any worker, through the report
path of real vendors: a killed process loses none. Without it (a provider used on its own), reports are
pushed to the sink given to `start` by background tasks; one due before `start` is held until then. The transient-once memory is per process: with several worker processes a retry that lands on
another process fails once more there, so such a notification needs at most one attempt per process.

Every send attempt is written to the outbox (when given) with its send-time result.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from typing import Any
from uuid import UUID

import structlog

from altinn_notifications.providers.base import (
    DeliveryReport,
    EmailMessage,
    ReportSink,
    ScheduledReports,
    SendOutcome,
)
from altinn_notifications.providers.outbox import Outbox
from altinn_notifications.vocabulary import Channel

log = structlog.get_logger(__name__)

TRANSIENT_FAIL = "transient-fail@test.com"
PERMANENT_FAIL = "permanent-fail@test.com"
BOUNCE = "bounce@test.com"
SLOW_DELIVERY = "slow-delivery@test.com"

#: Status polls that answer "still sending" before a slow delivery completes.
SLOW_STILL_SENDING_POLLS = 2

#: A delivery report to come, and its delay in seconds.
Later = tuple[float, DeliveryReport]

#: Reports kept while `start` has not been called; beyond this the oldest are dropped.
MAX_HELD_REPORTS = 100_000


class ReportScheduler:
    """Delivers delivery reports to a sink after a delay, from tracked background tasks (in memory: used
    when the provider is given no `ScheduledReports`).

    Shared by the simulated email and SMS providers. Reports scheduled before `start` are held and
    scheduled (with their full delay) once a sink exists. A failing sink is logged, never fatal.
    """

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._sink: ReportSink | None = None
        self._held: deque[tuple[float, DeliveryReport]] = deque(maxlen=MAX_HELD_REPORTS)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pending(self) -> int:
        """Reports scheduled or held and not yet delivered."""
        return len(self._tasks) + len(self._held)

    def start(self, sink: ReportSink) -> None:
        self._sink = sink
        self._closed = False
        held = list(self._held)
        self._held.clear()
        for delay, report in held:
            self.schedule(delay, report)

    def schedule(self, delay: float, report: DeliveryReport) -> None:
        if self._closed:
            return
        if self._sink is None:
            if len(self._held) == MAX_HELD_REPORTS:
                log.warning("simulated reports held without a sink; oldest dropped", channel=self._channel)
            self._held.append((delay, report))
            return
        task = asyncio.get_running_loop().create_task(self._deliver(self._sink, delay, report))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, sink: ReportSink, delay: float, report: DeliveryReport) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await sink(report)
        except Exception:
            log.exception(
                "delivery report sink failed",
                channel=self._channel,
                notification_id=str(report.notification_id),
                result=report.result,
            )

    async def close(self) -> None:
        """Cancel pending reports and wait for the tasks to end."""
        self._closed = True
        self._held.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


def _normalise(address: str) -> str:
    return address.strip().lower()


class SimulatedEmailProvider:
    """Email provider that sends nothing; outcomes follow the recipient address (see module docstring)."""

    name = "simulated"

    def __init__(
        self,
        outbox: Outbox | None,
        *,
        report_delay: float = 0.2,
        transient_retry_hint: float | None = None,
        send_delay: float = 0.0,
        reports: ScheduledReports | None = None,
    ) -> None:
        self._outbox = outbox
        self._kept_reports = reports
        self._send_delay = send_delay
        self._report_delay = report_delay
        self._transient_retry_hint = transient_retry_hint
        self._transient_seen: set[UUID] = set()
        self._reports = ReportScheduler("email")

    @property
    def pending_reports(self) -> int:
        return self._reports.pending

    async def start(self, sink: ReportSink) -> None:
        self._reports.start(sink)

    async def send(self, message: EmailMessage) -> SendOutcome:
        if self._send_delay:
            await asyncio.sleep(self._send_delay)  # a vendor's latency (benchmarks, crash tests)
        outcome, later = self._decide(message)
        if self._outbox is not None:
            self._outbox.record_email(
                provider=self.name,
                notification_id=message.notification_id,
                to=message.to_address,
                from_=message.from_address,
                subject=message.subject,
                body=message.body,
                result=outcome.result,
                reference=outcome.reference,
                attachments=message.attachments,
                content_type=message.content_type,
            )
        if later is not None:  # after the outbox line: its `sentAt` is the moment of the hand-off
            await self._keep(*later)
        return outcome

    async def _keep(self, delay: float, report: DeliveryReport) -> None:
        """Keep the report for later: durably when given `reports`, else in memory."""
        if self._kept_reports is not None:
            await self._kept_reports.schedule(delay, report)
        else:
            self._reports.schedule(delay, report)

    def _decide(self, message: EmailMessage) -> tuple[SendOutcome, Later | None]:
        """The outcome, and the delivery report to come (with its delay) if there is one."""
        address = _normalise(message.to_address)
        if address == TRANSIENT_FAIL and message.notification_id not in self._transient_seen:
            self._transient_seen.add(message.notification_id)
            transient = SendOutcome(
                result="Failed_TransientError",
                transient=True,
                retry_after=self._transient_retry_hint,
                detail="simulated transient error (first attempt)",
            )
            return transient, None
        if address == PERMANENT_FAIL:
            return SendOutcome(result="Failed", detail="simulated permanent failure"), None

        reference = str(uuid.uuid4())
        if address == BOUNCE:
            later = self._report(message, reference, "Failed_Bounced", "Bounced", self._report_delay)
        elif address == SLOW_DELIVERY:
            delay = self._report_delay * (SLOW_STILL_SENDING_POLLS + 1)
            later = self._report(message, reference, "Delivered", "Delivered", delay)
        else:
            later = self._report(message, reference, "Delivered", "Delivered", self._report_delay)
        return SendOutcome(result="Succeeded", reference=reference), later

    def _report(self, message: EmailMessage, reference: str, result: str, status: str, delay: float) -> Later:
        raw: dict[str, Any] = {"messageId": reference, "status": status, "simulated": True}
        report = DeliveryReport(
            channel="email",
            result=result,
            reference=reference,
            notification_id=message.notification_id,
            raw=raw,
        )
        return delay, report

    async def close(self) -> None:
        await self._reports.close()
