"""Delivery reports (spec 10.8): apply by vendor reference, retry the ones that overtook their send result,
dead-letter what cannot be applied, and replay dead reports on the operator's request.

Everything a report needs is in the database before anyone is told "received": the vendor webhooks (API
process) and the provider sinks (worker process) apply a batch in one transaction, and a report whose
notification is not found yet is written to `deliveryreportretries` with the time of its next attempt. A
worker loop (`ReportRetrier`) replays due rows; after the schedule (default 1, 5, 10, 60, 120, 120 s, as the
reference's cooldown + scheduled retries) the report becomes a dead delivery report
`RETRY_THRESHOLD_EXCEEDED`. A report for an expired notification is dead at once (`NOTIFICATION_EXPIRED`);
one with an unknown status or no reference too (`UNRECOGNIZED_SEND_RESULT`,
`INVALID_NOTIFICATION_IDENTIFIER`). Nothing is kept in process memory, so a crash loses no report and any
worker may retry any report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import structlog

from altinn_notifications.db.pool import Connection
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.metrics import DELIVERY_REPORTS
from altinn_notifications.providers.base import Channel, DeliveryReport, RejectedReport
from altinn_notifications.reports.models import (
    INVALID_NOTIFICATION_IDENTIFIER,
    NOTIFICATION_EXPIRED,
    RETRY_THRESHOLD_EXCEEDED,
    ApplySummary,
    DeadReport,
    PendingReport,
    ReplayOutcome,
    ReplaySummary,
    RetryRow,
)
from altinn_notifications.reports.repository import ReportRepository
from altinn_notifications.status.completion import complete_orders

log = structlog.get_logger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[Connection]]


def dead_payload(report: DeliveryReport) -> dict[str, Any]:
    """What a dead report keeps: enough to replay it (`reference`, `result`) and the vendor's payload."""
    return {"reference": report.reference, "result": report.result, "report": report.raw}


async def apply_reports(
    conn: Connection, items: Sequence[PendingReport], schedule: Sequence[float]
) -> ApplySummary:
    """Apply reports in the caller's transaction (see the module docstring). `schedule[n]` is the wait after
    the (n+1)-th attempt that found no notification."""
    summary = ApplySummary()
    dispatch, reports = DispatchRepository(conn), ReportRepository(conn)
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
        orders, reasons = await dispatch.apply_reports(
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


async def receive_reports(
    transaction: Transaction,
    reports: Sequence[DeliveryReport],
    rejected: Sequence[RejectedReport],
    schedule: Sequence[float],
    now: datetime,
) -> ApplySummary:
    """A webhook's batch, in one transaction: once this returns, every report is applied or persisted."""
    async with transaction() as conn:
        summary = await apply_reports(conn, [PendingReport(r, now) for r in reports], schedule)
        summary.dead += await reject_reports(conn, rejected, now)
    return summary


class ReportRetrier:
    """Worker step: replay due `deliveryreportretries` rows (see the module docstring)."""

    def __init__(self, transaction: Transaction, schedule: Sequence[float], batch_size: int = 500) -> None:
        self.transaction = transaction
        self.schedule = tuple(schedule)
        self.batch_size = batch_size

    async def run_once(self) -> int:
        async with self.transaction() as conn:
            rows = await ReportRepository(conn).take_due_retries(self.batch_size)
            if not rows:
                return 0
            items = [
                PendingReport(
                    DeliveryReport(channel=r.channel, result=r.result, reference=r.reference, raw=r.raw),
                    r.first_seen,
                    r.attempts,
                )
                for r in rows
            ]
            summary = await apply_reports(conn, items, self.schedule)
        if summary.applied or summary.dead:
            log.info(
                "retried delivery reports",
                applied=summary.applied,
                dead=summary.dead,
                waiting=summary.retrying,
            )
        return len(rows)

    async def seconds_until_due(self) -> float | None:
        async with self.transaction() as conn:
            return await ReportRepository(conn).seconds_until_next_retry()


# --- dead reports (operator CLI) ---


async def list_dead(
    transaction: Transaction, limit: int, *, include_resolved: bool = False
) -> list[DeadReport]:
    async with transaction() as conn:
        return await ReportRepository(conn).list_dead(limit, include_resolved=include_resolved)


async def replay_dead(transaction: Transaction, ids: Sequence[int] | None, limit: int = 500) -> ReplaySummary:
    """Replay unresolved dead reports through the result path. Applied reports (and those whose
    notification already has a final result) are marked `resolved`; the others stay unresolved with one more
    attempt counted."""
    summary = ReplaySummary()
    async with transaction() as conn:
        repo, dispatch = ReportRepository(conn), DispatchRepository(conn)
        resolved: list[int] = []
        unresolved: list[int] = []
        for dead in await repo.lock_dead(ids, limit):
            reference, result = dead.reference, dead.result
            if not reference or not result:
                outcome = "unreplayable"
            else:
                raw = dead.report.get("report")
                orders, reasons = await dispatch.apply_reports(
                    dead.channel, [(reference, result, raw if isinstance(raw, dict) else {})]
                )
                await complete_orders(conn, orders)
                why = reasons.get(reference)
                outcome = "applied" if why is None else "already_final" if why == "final" else why
            (resolved if outcome in ("applied", "already_final") else unresolved).append(dead.id)
            summary.outcomes.append(ReplayOutcome(dead.id, dead.channel, outcome))
        await repo.mark_replayed(resolved, resolved=True)
        await repo.mark_replayed(unresolved, resolved=False)
    return summary
