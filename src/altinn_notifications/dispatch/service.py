"""Dispatch: claim a batch, send it concurrently, write results in short transactions (spec 10.7, 10.8).

No transaction is open while a provider is called. Transient failures go back to `New` with back-off (the
provider's own `retry_schedule` when it has one, e.g. LINK Mobility's 5/10/15/30 minutes, after which the
notification fails); a vendor's rate-limit signal pauses the whole channel for every worker until the reset
time.

Long-running vendor operations (ACS): a send that answers `poll_after` leaves the row `Sending` with the
operation id and `next_attempt_at` = the next poll time. `StatusPoller` claims due rows with
`FOR UPDATE SKIP LOCKED` (moving `next_attempt_at` a lease ahead, so a poller that dies is simply replaced),
asks the provider's `poll`, and writes the answer through the same guarded `write_send_results`. Nothing
about an operation lives in process memory: any worker polls any operation, before or after a crash, and
the lease rescue polls (never resends) a `Sending` row that already has a vendor reference.
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
from altinn_notifications.dispatch.models import ClaimedEmail, ClaimedPoll, ClaimedSms, SendResult, is_final
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.logging import mask_id
from altinn_notifications.metrics import NOTIFICATIONS_SENT, SEND_SECONDS
from altinn_notifications.processing.rules import is_daytime
from altinn_notifications.providers.base import (
    DEFAULT_SMS_TTL_SECONDS,
    Channel,
    DeliveryReport,
    EmailMessage,
    EmailProvider,
    PollingProvider,
    RetrySchedule,
    SendOutcome,
    SmsMessage,
    SmsProvider,
    retry_schedule_of,
)
from altinn_notifications.providers.sms.segments import segment_count
from altinn_notifications.reports.models import DEFAULT_RETRY_SCHEDULE, PendingReport
from altinn_notifications.reports.service import apply_reports
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
    poll_retry_seconds: float = 8.0  # a status poll that failed transiently is asked again after this

    def retry_delay(self, attempts: int) -> float:
        return float(min(self.retry_base_seconds * (2 ** max(0, attempts - 1)), self.retry_max_seconds))


def _result(
    item: ClaimedEmail | ClaimedSms,
    outcome: SendOutcome,
    config: DispatchConfig,
    schedule: RetrySchedule | None = None,
) -> SendResult:
    segments = segment_count(item.body) if isinstance(item, ClaimedSms) else None
    if outcome.transient:
        if schedule is not None:
            planned = schedule.delay_after(item.attempts)
            if planned is None:  # the vendor's retries are used up
                return SendResult(item.id, item.order_id, schedule.final_result, segments=segments)
            delay = max(planned, outcome.retry_after or 0.0)
        else:
            delay = max(config.retry_delay(item.attempts), outcome.retry_after or 0.0)
        return SendResult(item.id, item.order_id, "New", retry_in_seconds=delay)
    if outcome.poll_after is not None:
        return SendResult(
            item.id,
            item.order_id,
            "Sending",
            reference=outcome.reference,
            poll_in_seconds=outcome.poll_after,
            segments=segments,
        )
    return SendResult(item.id, item.order_id, outcome.result, reference=outcome.reference, segments=segments)


class _Dispatcher:
    channel: Channel
    provider: object  # the channel's EmailProvider or SmsProvider

    def __init__(self, transaction: Transaction, config: DispatchConfig) -> None:
        self.transaction = transaction
        self.config = config
        self._slots = asyncio.Semaphore(config.concurrency)
        #: Set when a write scheduled status polls (wakes this process's poller early).
        self.polls_scheduled = asyncio.Event()

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
        schedule = retry_schedule_of(self.provider)
        results = [_result(item, outcome, self.config, schedule) for item, outcome in outcomes]
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
        if any(r.poll_in_seconds is not None for r in results):
            self.polls_scheduled.set()

    async def paused_for(self) -> float:
        async with self.transaction() as conn:
            until = await DispatchRepository(conn).paused_until(self.channel)
            if until is None:
                return 0.0
            now: datetime = await conn.fetchval("SELECT now()")
        return max(0.0, (until - now).total_seconds())


class EmailDispatcher(_Dispatcher):
    channel: Channel = "email"
    provider: EmailProvider

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
    provider: SmsProvider

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
                notification_id=item.id,
                sender=item.sender,
                mobile_number=item.mobile_number,
                body=item.body,
                time_to_live_seconds=item.time_to_live_seconds or DEFAULT_SMS_TTL_SECONDS,
            )
        )


class StatusPoller:
    """Polls vendor operations still `Sending` (see the module docstring). One per channel whose provider
    has `poll`; respects the channel's rate-limit pause."""

    def __init__(
        self,
        transaction: Transaction,
        channel: Channel,
        provider: PollingProvider,
        config: DispatchConfig,
    ) -> None:
        self.transaction = transaction
        self.channel: Channel = channel
        self.provider = provider
        self.config = config
        self._slots = asyncio.Semaphore(config.concurrency)

    async def paused_for(self) -> float:
        async with self.transaction() as conn:
            until = await DispatchRepository(conn).paused_until(self.channel)
            if until is None:
                return 0.0
            now: datetime = await conn.fetchval("SELECT now()")
        return max(0.0, (until - now).total_seconds())

    async def seconds_until_due(self) -> float | None:
        async with self.transaction() as conn:
            return await DispatchRepository(conn).seconds_until_next_poll(self.channel)

    async def run_once(self) -> int:
        if await self.paused_for() > 0:
            return 0
        async with self.transaction() as conn:
            batch = await DispatchRepository(conn).claim_polls(
                self.channel, self.config.batch_size, self.config.lease
            )
        if not batch:
            return 0

        async def one(item: ClaimedPoll) -> tuple[ClaimedPoll, SendOutcome | None]:
            async with self._slots:
                try:
                    return item, await self.provider.poll(item.reference)
                except Exception as exc:  # a provider bug must not lose the notification: ask again later
                    log.warning(
                        "poll error", channel=self.channel, id=mask_id(item.id), error=type(exc).__name__
                    )
                    return item, None

        outcomes = await asyncio.gather(*(one(i) for i in batch))
        results: list[SendResult] = []
        pause = 0.0
        for item, outcome in outcomes:
            if outcome is None or outcome.transient:
                retry_after = outcome.retry_after if outcome is not None else None
                pause = max(pause, retry_after or 0.0)
                delay = max(self.config.poll_retry_seconds, retry_after or 0.0)
                results.append(
                    SendResult(
                        item.id, item.order_id, "Sending", reference=item.reference, poll_in_seconds=delay
                    )
                )
            elif outcome.poll_after is not None:
                results.append(
                    SendResult(
                        item.id,
                        item.order_id,
                        "Sending",
                        reference=item.reference,
                        poll_in_seconds=outcome.poll_after,
                    )
                )
            else:
                results.append(SendResult(item.id, item.order_id, outcome.result, reference=item.reference))
        async with self.transaction() as conn:
            repo = DispatchRepository(conn)
            await repo.write_send_results(self.channel, results)
            if pause:
                await repo.pause(self.channel, pause)
            finals = [
                r.order_id for r in results if r.poll_in_seconds is None and is_final(self.channel, r.result)
            ]
            await complete_orders(conn, finals)
        if pause:
            log.warning("channel paused by provider rate limit", channel=self.channel, seconds=pause)
        return len(batch)


# --- delivery reports (spec 10.8) ---


class ReportApplier:
    """The providers' `ReportSink` in a worker: collects reports for a moment and applies them in one
    transaction through `reports.service.apply_reports`. A report whose notification is not found yet (it
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
