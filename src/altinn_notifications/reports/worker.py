"""Delivery-report workers: the providers' report sink of a worker process (`ReportApplier`), the replay of
reports that overtook their send result (`ReportRetrier`), and the simulated vendors' reports to come
(`DurableReportSchedule`). Only reports not yet committed are held in memory; a crash loses none that a
vendor was told were received, nor any that the simulated vendor promised."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from altinn_notifications.db.pool import Transaction
from altinn_notifications.providers.base import DeliveryReport
from altinn_notifications.queue.channels import REPORTS_DUE
from altinn_notifications.queue.repository import QueueRepository
from altinn_notifications.reports.models import DEFAULT_RETRY_SCHEDULE, PendingReport, RetryRow
from altinn_notifications.reports.repository import ReportRepository
from altinn_notifications.reports.service import apply_reports

log = structlog.get_logger(__name__)


class ReportApplier:
    """The providers' `ReportSink` in a worker: collects reports for a moment and applies them in one
    transaction through `apply_reports`. A report whose notification is not found yet (it
    overtook its send result) is persisted for a retry on `retry_schedule` (the `ReportRetrier` loop), then
    kept as a dead delivery report (`RETRY_THRESHOLD_EXCEEDED`); reports for expired notifications are dead
    at once (`NOTIFICATION_EXPIRED`). Only reports not yet committed are in memory."""

    def __init__(
        self,
        transaction: Transaction,
        clock: Callable[[], datetime],
        retry_schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE,
        flush_interval: float = 0.05,
    ) -> None:
        self.transaction = transaction
        self.clock = clock
        self.retry_schedule = tuple(retry_schedule)
        self.flush_interval = flush_interval
        self._queue: list[PendingReport] = []
        self._wake = asyncio.Event()
        self._applying = 0

    async def submit(self, report: DeliveryReport) -> None:
        """The provider's `ReportSink`."""
        self._queue.append(PendingReport(report, self.clock()))
        self._wake.set()

    def pending(self) -> int:
        return len(self._queue) + self._applying

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set() or self._queue:
            if not self._queue:
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                self._wake.clear()
                continue
            await asyncio.sleep(self.flush_interval)
            batch, self._queue = self._queue, []
            self._applying = len(batch)
            try:
                await self.apply(batch)
            except Exception as exc:  # keep the reports: retry the whole batch shortly
                log.warning("applying delivery reports failed; retrying", error=type(exc).__name__)
                self._queue.extend(batch)
                await asyncio.sleep(1.0)
            finally:
                self._applying = 0

    async def apply(self, batch: Sequence[PendingReport]) -> None:
        async with self.transaction() as conn:
            await apply_reports(conn, batch, self.retry_schedule)


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
        if summary.dead or summary.retrying:  # the simulated vendor's reports, applied: not news
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


class DurableReportSchedule:
    """The simulated vendors' `ScheduledReports`: each report they will deliver later is written to
    `deliveryreportretries` (not yet tried: `attemptcount` 0, due after its delay) before the send returns,
    so it survives a killed process; any worker's `ReportRetrier` applies it when due, exactly as a real
    vendor's report that came early. A NOTIFY on `reports_due` wakes the retriers.

    Sends in flight at the same moment share one insert (group commit): while one write runs, the next
    reports gather, and the following write takes them all (at most `max_batch`)."""

    def __init__(self, transaction: Transaction, clock: Callable[[], datetime], max_batch: int = 500) -> None:
        self.transaction = transaction
        self.clock = clock
        self.max_batch = max_batch
        self._waiting: list[tuple[RetryRow, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def schedule(self, delay: float, report: DeliveryReport) -> None:
        if not report.reference:
            raise ValueError("a scheduled report needs the vendor reference it will be applied by")
        row = RetryRow(report.channel, report.reference, report.result, report.raw, self.clock(), 0, delay)
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting(), name="scheduled-reports")
        await written

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                async with self.transaction() as conn:
                    await ReportRepository(conn).schedule_retries([row for row, _ in batch])
                    await QueueRepository(conn).notify(REPORTS_DUE)
            except Exception as exc:  # the sends waiting for it fail (and are retried by dispatch)
                for _, written in batch:
                    if not written.done():
                        written.set_exception(exc)
            else:
                for _, written in batch:
                    if not written.done():
                        written.set_result(None)
