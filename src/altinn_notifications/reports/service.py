"""Delivery reports (docs/compatibility.md C14): apply by vendor reference, retry the ones that overtook their send result,
dead-letter what cannot be applied, and replay dead reports on the operator's request.

Everything a report needs is in the database before anyone is told "received": the vendor webhooks (API
process) and the provider sinks (worker process) apply a batch in one transaction, and a report whose
notification is not found yet is written to `deliveryreportretries` with the time of its next attempt. A
worker loop (`reports.worker.ReportRetrier`) replays due rows; after the schedule (default 1, 5, 10, 60, 120, 120 s, as the
reference's cooldown + scheduled retries) the report becomes a dead delivery report
`RETRY_THRESHOLD_EXCEEDED`. A report for an expired notification is dead at once (`NOTIFICATION_EXPIRED`);
one with an unknown status or no reference too (`UNRECOGNIZED_SEND_RESULT`,
`INVALID_NOTIFICATION_IDENTIFIER`). Nothing is kept in process memory, so a crash loses no report and any
worker may retry any report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from altinn_notifications.db.pool import Connection
from altinn_notifications.metrics import DELIVERY_REPORTS
from altinn_notifications.providers.base import DeliveryReport, RejectedReport
from altinn_notifications.reports.models import (
    INVALID_NOTIFICATION_IDENTIFIER,
    NOTIFICATION_EXPIRED,
    RETRY_THRESHOLD_EXCEEDED,
    ApplySummary,
    PendingReport,
    RetryRow,
)
from altinn_notifications.reports.repository import ReportRepository
from altinn_notifications.status.completion import complete_orders
from altinn_notifications.vocabulary import Channel

log = structlog.get_logger(__name__)


def dead_payload(report: DeliveryReport) -> dict[str, Any]:
    """What a dead report keeps: enough to replay it (`reference`, `result`) and the vendor's payload."""
    return {"reference": report.reference, "result": report.result, "report": report.raw}


async def apply_reports(
    conn: Connection, items: Sequence[PendingReport], schedule: Sequence[float]
) -> ApplySummary:
    """Apply reports in the caller's transaction (see the module docstring). `schedule[n]` is the wait after
    the (n+1)-th attempt that found no notification."""
    summary = ApplySummary()
    reports = ReportRepository(conn)
    channels: tuple[Channel, ...] = ("email", "sms")
    for channel in channels:
        by_ref: dict[str, PendingReport] = {}
        for item in items:
            if item.report.channel != channel:
                continue
            ref = item.report.reference
            if not ref:
                await reports.add_dead(
                    channel,
                    dead_payload(item.report),
                    attempts=item.attempts + 1,
                    first_seen=item.first_seen,
                    reason=INVALID_NOTIFICATION_IDENTIFIER,
                    message="the report carries no reference",
                )
                summary.dead += 1
                DELIVERY_REPORTS.labels(channel=channel, outcome=INVALID_NOTIFICATION_IDENTIFIER).inc()
                continue
            if ref in by_ref:
                summary.duplicates += 1  # two reports for one reference in a batch: the later one counts
            by_ref[ref] = item
        if not by_ref:
            continue
        orders, reasons = await reports.apply_reports(
            channel, [(ref, p.report.result, p.report.raw) for ref, p in by_ref.items()]
        )
        await complete_orders(conn, orders)
        applied = len(by_ref) - len(reasons)
        summary.applied += applied
        if applied:
            DELIVERY_REPORTS.labels(channel=channel, outcome="applied").inc(applied)
        retries: list[RetryRow] = []
        for ref, why in reasons.items():
            p = by_ref[ref]
            attempts = p.attempts + 1
            if why == "final":
                summary.duplicates += 1
                DELIVERY_REPORTS.labels(channel=channel, outcome="duplicate").inc()
                continue
            reason, message = None, ""
            if why == "expired":
                reason, message = NOTIFICATION_EXPIRED, "the notification has expired"
            elif attempts <= len(schedule):
                retries.append(
                    RetryRow(
                        channel,
                        ref,
                        p.report.result,
                        p.report.raw,
                        p.first_seen,
                        attempts,
                        schedule[attempts - 1],
                    )
                )
                continue
            else:
                reason, message = (
                    RETRY_THRESHOLD_EXCEEDED,
                    f"no notification with this reference after {attempts} attempts",
                )
            await reports.add_dead(
                channel,
                dead_payload(p.report),
                attempts=attempts,
                first_seen=p.first_seen,
                reason=reason,
                message=message,
            )
            summary.dead += 1
            DELIVERY_REPORTS.labels(channel=channel, outcome=reason).inc()
        await reports.schedule_retries(retries)
        summary.retrying += len(retries)
        if retries:
            DELIVERY_REPORTS.labels(channel=channel, outcome="retrying").inc(len(retries))
    return summary


async def reject_reports(conn: Connection, rejected: Sequence[RejectedReport], first_seen: datetime) -> int:
    """Vendor reports that cannot be applied at all become dead reports at once."""
    repo = ReportRepository(conn)
    for r in rejected:
        await repo.add_dead(
            r.channel,
            {"reference": None, "result": None, "report": r.raw},
            attempts=1,
            first_seen=first_seen,
            reason=r.reason,
            message=r.message,
        )
        DELIVERY_REPORTS.labels(channel=r.channel, outcome=r.reason).inc()
    return len(rejected)
