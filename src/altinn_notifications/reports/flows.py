"""Delivery-report flows that own their transaction: a webhook's batch, and the operator's dead reports.

Everything a report needs is in the database before the vendor is told "received": the webhook's batch is
applied (or persisted for a retry, or kept as a dead report) in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from altinn_notifications.db.pool import Transaction
from altinn_notifications.providers.base import DeliveryReport, RejectedReport
from altinn_notifications.reports.models import (
    ApplySummary,
    DeadReport,
    PendingReport,
    ReplayOutcome,
    ReplaySummary,
)
from altinn_notifications.reports.repository import ReportRepository
from altinn_notifications.reports.service import apply_reports, reject_reports
from altinn_notifications.status.completion import complete_orders


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
        repo = ReportRepository(conn)
        resolved: list[int] = []
        unresolved: list[int] = []
        for dead in await repo.lock_dead(ids, limit):
            reference, result = dead.reference, dead.result
            if not reference or not result:
                outcome = "unreplayable"
            else:
                raw = dead.report.get("report")
                orders, reasons = await repo.apply_reports(
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
