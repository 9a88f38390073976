"""A simulated SMS gateway: the outcome is decided by the mobile number (docs/compatibility.md C13).

| number        | send outcome                                                  | later report      |
|---------------|---------------------------------------------------------------|-------------------|
| `+4741000001` | `Failed_InvalidRecipient` (final)                             | —                 |
| `+4741000002` | first attempt per notification id: transient gateway error;   | —                 |
|               | later attempts: as any other number                           |                   |
| `+4741000003` | `Accepted` + gateway reference                                | `Failed_Rejected` |
| any other     | `Accepted` + gateway reference (a uuid)                       | `Delivered`       |

Numbers are compared with all whitespace removed and a leading `00` read as `+`. Reports are due
`report_delay` seconds after the send, kept in `reports` when given (see the email simulator: durable,
delivered by any worker), else pushed to the sink given to `start` by background tasks.
The transient-once memory is per process (see the email simulator). Every send attempt is written to the
outbox (when given) with its send-time result.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

from altinn_notifications.providers.base import (
    DeliveryReport,
    ReportSink,
    ScheduledReports,
    SendOutcome,
    SmsMessage,
)
from altinn_notifications.providers.email.simulated import Later, ReportScheduler
from altinn_notifications.providers.outbox import Outbox

INVALID_RECIPIENT = "+4741000001"
TRANSIENT_FAIL = "+4741000002"
REJECTED = "+4741000003"


def _normalise(number: str) -> str:
    compact = "".join(number.split())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact


class SimulatedSmsProvider:
    """SMS provider that sends nothing; outcomes follow the mobile number (see module docstring)."""

    name = "simulated"

    def __init__(
        self,
        outbox: Outbox | None,
        *,
        report_delay: float = 0.2,
        send_delay: float = 0.0,
        reports: ScheduledReports | None = None,
    ) -> None:
        self._outbox = outbox
        self._kept_reports = reports
        self._report_delay = report_delay
        self._send_delay = send_delay
        self._transient_seen: set[UUID] = set()
        self._reports = ReportScheduler("sms")

    @property
    def pending_reports(self) -> int:
        return self._reports.pending

    async def start(self, sink: ReportSink) -> None:
        self._reports.start(sink)

    async def send(self, message: SmsMessage) -> SendOutcome:
        if self._send_delay:
            await asyncio.sleep(self._send_delay)  # a vendor's latency (benchmarks, crash tests)
        outcome, later = self._decide(message)
        if self._outbox is not None:
            self._outbox.record_sms(
                provider=self.name,
                notification_id=message.notification_id,
                to=message.mobile_number,
                from_=message.sender,
                body=message.body,
                result=outcome.result,
                reference=outcome.reference,
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

    def _decide(self, message: SmsMessage) -> tuple[SendOutcome, Later | None]:
        """The outcome, and the delivery report to come (with its delay) if there is one."""
        number = _normalise(message.mobile_number)
        if number == INVALID_RECIPIENT:
            return SendOutcome(result="Failed_InvalidRecipient", detail="simulated: Invalid RCV"), None
        if number == TRANSIENT_FAIL and message.notification_id not in self._transient_seen:
            self._transient_seen.add(message.notification_id)
            transient = SendOutcome(
                result="Failed_TransientError",
                transient=True,
                detail="simulated gateway error (first attempt)",
            )
            return transient, None
        reference = str(uuid.uuid4())
        if number == REJECTED:
            later = self._report(message, reference, "Failed_Rejected", "REJECTD")
        else:
            later = self._report(message, reference, "Delivered", "DELIVRD")
        return SendOutcome(result="Accepted", reference=reference), later

    def _report(self, message: SmsMessage, reference: str, result: str, state: str) -> Later:
        raw: dict[str, Any] = {"REF": reference, "STATE": state, "simulated": True}
        report = DeliveryReport(
            channel="sms",
            result=result,
            reference=reference,
            notification_id=message.notification_id,
            raw=raw,
        )
        return self._report_delay, report

    async def close(self) -> None:
        await self._reports.close()
