"""Dispatch: claim a batch, send it concurrently, write results in short transactions (spec 10.7, 10.8).

No transaction is open while a provider is called. Transient failures go back to `New` with back-off; a
vendor's rate-limit signal pauses the whole channel for every worker until the reset time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from altinn_notifications.db.pool import Connection
from altinn_notifications.dispatch.models import ClaimedEmail, ClaimedSms, SendResult, is_final
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.logging import mask_id
from altinn_notifications.metrics import DELIVERY_REPORTS, NOTIFICATIONS_SENT, SEND_SECONDS
from altinn_notifications.processing.rules import is_daytime
from altinn_notifications.providers.base import (
    Channel,
    DeliveryReport,
    EmailMessage,
    EmailProvider,
    SendOutcome,
    SmsMessage,
    SmsProvider,
)
from altinn_notifications.status.completion import complete_orders

log = structlog.get_logger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[Connection]]


@dataclass(frozen=True)
class DispatchConfig:
    batch_size: int = 500
    concurrency: int = 50
    lease: timedelta = timedelta(minutes=5)
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 30 * 60.0
    default_pause_seconds: float = 60.0

    def retry_delay(self, attempts: int) -> float:
        return float(min(self.retry_base_seconds * (2 ** max(0, attempts - 1)), self.retry_max_seconds))


def _result(item: ClaimedEmail | ClaimedSms, outcome: SendOutcome, config: DispatchConfig) -> SendResult:
    if outcome.transient:
        delay = max(config.retry_delay(item.attempts), outcome.retry_after or 0.0)
        return SendResult(item.id, item.order_id, "New", retry_in_seconds=delay)
    return SendResult(item.id, item.order_id, outcome.result, reference=outcome.reference)


class _Dispatcher:
    channel: Channel

    def __init__(self, transaction: Transaction, config: DispatchConfig) -> None:
        self.transaction = transaction
        self.config = config
        self._slots = asyncio.Semaphore(config.concurrency)

    async def _send_all(
        self, items: Sequence[ClaimedEmail | ClaimedSms], send: Callable[[Any], Awaitable[SendOutcome]]
    ) -> None:
        async def one(item: ClaimedEmail | ClaimedSms) -> tuple[ClaimedEmail | ClaimedSms, SendOutcome]:
            async with self._slots:
                started = time.perf_counter()
                try:
                    return item, await send(item)
                except Exception as exc:  # a provider bug must not lose the notification
                    log.warning(
                        "provider error", channel=self.channel, id=mask_id(item.id), error=type(exc).__name__
                    )
                    return item, SendOutcome(result="New", transient=True, detail=type(exc).__name__)
                finally:
                    SEND_SECONDS.labels(channel=self.channel).observe(time.perf_counter() - started)

        outcomes = await asyncio.gather(*(one(i) for i in items))
        results = [_result(item, outcome, self.config) for item, outcome in outcomes]
        for result, count in Counter(
            "Failed_TransientError" if r.retry_in_seconds else r.result for r in results
        ).items():
            NOTIFICATIONS_SENT.labels(channel=self.channel, result=result).inc(count)
        pause = max((o.retry_after or 0.0 for _, o in outcomes if o.retry_after), default=0.0)
        async with self.transaction() as conn:
            repo = DispatchRepository(conn)
            await repo.write_send_results(self.channel, results)
            if pause:
                await repo.pause(self.channel, pause)
            finals = [
                r.order_id for r in results if r.retry_in_seconds is None and is_final(self.channel, r.result)
            ]
            await complete_orders(conn, finals)
        if pause:
            log.warning("channel paused by provider rate limit", channel=self.channel, seconds=pause)

    async def paused_for(self) -> float:
        async with self.transaction() as conn:
            until = await DispatchRepository(conn).paused_until(self.channel)
            if until is None:
                return 0.0
            now: datetime = await conn.fetchval("SELECT now()")
        return max(0.0, (until - now).total_seconds())


class EmailDispatcher(_Dispatcher):
    channel: Channel = "email"

    def __init__(self, transaction: Transaction, provider: EmailProvider, config: DispatchConfig) -> None:
        super().__init__(transaction, config)
        self.provider = provider

    async def run_once(self) -> int:
        """Claim and send one batch; returns how many were claimed (0 also while the channel is paused)."""
        if await self.paused_for() > 0:
            return 0
        async with self.transaction() as conn:
            batch = await DispatchRepository(conn).claim_emails(self.config.batch_size, self.config.lease)
        if batch:
            await self._send_all(batch, self._send)
        return len(batch)

    async def _send(self, item: ClaimedEmail) -> SendOutcome:
        return await self.provider.send(
            EmailMessage(
                notification_id=item.id,
                from_address=item.from_address,
                to_address=item.to_address,
                subject=item.subject,
                body=item.body,
                content_type=item.content_type,
            )
        )


class SmsDispatcher(_Dispatcher):
    channel: Channel = "sms"

    def __init__(
        self,
        transaction: Transaction,
        provider: SmsProvider,
        config: DispatchConfig,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(transaction, config)
        self.provider = provider
        self.clock = clock

    async def run_once(self) -> int:
        if await self.paused_for() > 0:
            return 0
        daytime_open = is_daytime(self.clock())
        async with self.transaction() as conn:
            batch = await DispatchRepository(conn).claim_sms(
                self.config.batch_size, self.config.lease, daytime_open=daytime_open
            )
        if batch:
            await self._send_all(batch, self._send)
        return len(batch)

    async def _send(self, item: ClaimedSms) -> SendOutcome:
        return await self.provider.send(
            SmsMessage(
                notification_id=item.id, sender=item.sender, mobile_number=item.mobile_number, body=item.body
            )
        )


# --- delivery reports (spec 10.8) ---


@dataclass
class _Pending:
    report: DeliveryReport
    first_seen: datetime
    attempts: int = 0


class ReportApplier:
    """Applies delivery reports in small batches; a report that overtook its send result is retried on a
    schedule, then kept as a dead delivery report (`RETRY_THRESHOLD_EXCEEDED`); reports for expired
    notifications are dead at once (`NOTIFICATION_EXPIRED`)."""

    def __init__(
        self,
        transaction: Transaction,
        clock: Callable[[], datetime],
        retry_schedule: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0),
        flush_interval: float = 0.05,
    ) -> None:
        self.transaction = transaction
        self.clock = clock
        self.retry_schedule = tuple(retry_schedule)
        self.flush_interval = flush_interval
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, report: DeliveryReport) -> None:
        """The provider's `ReportSink`."""
        self._enqueue(_Pending(report, self.clock()))

    def _enqueue(self, pending: _Pending) -> None:
        self._queue.append(pending)
        self._wake.set()

    def pending(self) -> int:
        return len(self._queue) + len(self._tasks)

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
            try:
                await self.apply(batch)
            except Exception as exc:  # keep the reports: retry the whole batch shortly
                log.warning("applying delivery reports failed; retrying", error=type(exc).__name__)
                self._queue.extend(batch)
                await asyncio.sleep(1.0)
        for task in list(self._tasks):
            task.cancel()

    async def apply(self, batch: Sequence[_Pending]) -> None:
        for channel in ("email", "sms"):
            items = [p for p in batch if p.report.channel == channel]
            if items:
                await self._apply_channel(channel, items)

    async def _apply_channel(self, channel: Channel, items: Sequence[_Pending]) -> None:
        by_ref: dict[str, _Pending] = {}
        dead: list[tuple[_Pending, str, str]] = []
        for p in items:
            if p.report.reference:
                by_ref[p.report.reference] = p
            else:
                dead.append((p, "INVALID_NOTIFICATION_IDENTIFIER", "report carries no reference"))
        async with self.transaction() as conn:
            repo = DispatchRepository(conn)
            orders, reasons = await repo.apply_reports(
                channel, [(ref, p.report.result, p.report.raw) for ref, p in by_ref.items()]
            )
            DELIVERY_REPORTS.labels(channel=channel, outcome="applied").inc(len(by_ref) - len(reasons))
            await complete_orders(conn, orders)
            retry: list[_Pending] = []
            for ref, why in reasons.items():
                p = by_ref[ref]
                p.attempts += 1
                if why == "expired":
                    dead.append((p, "NOTIFICATION_EXPIRED", "the notification has expired"))
                elif why == "not_found":
                    if p.attempts <= len(self.retry_schedule):
                        retry.append(p)
                    else:
                        dead.append((p, "RETRY_THRESHOLD_EXCEEDED", "no notification with this reference"))
            for p, reason, message in dead:
                DELIVERY_REPORTS.labels(channel=channel, outcome=reason).inc()
                await repo.add_dead_report(
                    channel,
                    {"reference": p.report.reference, "result": p.report.result, "report": p.report.raw},
                    attempts=max(1, p.attempts),
                    first_seen=p.first_seen,
                    reason=reason,
                    message=message,
                )
        for p in retry:
            self._later(p, self.retry_schedule[p.attempts - 1])

    def _later(self, pending: _Pending, delay: float) -> None:
        async def requeue() -> None:
            await asyncio.sleep(delay)
            self._enqueue(pending)

        task = asyncio.create_task(requeue())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# --- maintenance (DESIGN.md: no stuck states) ---


@dataclass(frozen=True)
class MaintenanceConfig:
    ttl_grace: timedelta = timedelta(seconds=300)
    ttl_batch: int = 1000
    feed_retention: timedelta = timedelta(days=90)
    feed_batch: int = 10000


class Maintenance:
    def __init__(self, transaction: Transaction, config: MaintenanceConfig) -> None:
        self.transaction = transaction
        self.config = config

    async def rescue_leases(self) -> int:
        from altinn_notifications.processing.repository import ProcessingRepository

        async with self.transaction() as conn:
            orders = await ProcessingRepository(conn).rescue_expired_leases()
            repo = DispatchRepository(conn)
            emails = await repo.rescue_expired_leases("email")
            sms = await repo.rescue_expired_leases("sms")
        if orders or emails or sms:
            log.warning("rescued expired leases", orders=orders, emails=emails, sms=sms)
        return orders + emails + sms

    async def terminate_expired(self) -> int:
        """Loop until nothing is left (the reference stops at 100 rows per run)."""
        total = 0
        for channel in ("email", "sms"):
            while True:
                async with self.transaction() as conn:
                    order_ids = await DispatchRepository(conn).terminate_expired(
                        channel, self.config.ttl_batch, self.config.ttl_grace
                    )
                    await complete_orders(conn, order_ids)
                total += len(order_ids)
                if len(order_ids) < self.config.ttl_batch:
                    break
        return total

    async def delete_old_feed_entries(self) -> int:
        from altinn_notifications.status.feed import FeedRepository

        total = 0
        while True:
            async with self.transaction() as conn:
                deleted = await FeedRepository(conn).delete_older_than(
                    self.config.feed_retention, self.config.feed_batch
                )
            total += deleted
            if deleted < self.config.feed_batch:
                return total
