"""Dispatch: claim a batch, send it concurrently, write results in short transactions (spec 10.7, 10.8).

No transaction is open while a provider is called. Results are written while the batch is still sending,
in small groups: a write starts once `flush_size` results are in or `flush_interval` after the first of
them, and takes everything that came in meanwhile (group commit: a slow commit never builds a backlog). A
worker killed mid-batch thus leaves at most its in-flight sends and one unwritten group to be sent again
after the lease rescue (measured: 20 instead of up to the whole batch of 500). While a batch runs, the leases of its rows not yet written are extended every third
of the lease, so a batch that takes longer than the lease is never rescued (and resent) while still
sending. Once a vendor asks the channel to pause, sends of the batch not yet started are not made: they go
back to `New` until the pause ends, with their claim's attempt given back.

Composed emails (spec 4.2) are claimed separately (`ComposedEmailDispatcher`, its own loop, batch 50) so
that attachment downloads never hold up ordinary email; each email's attachments are downloaded from their
SAS URLs (`dispatch.attachments`) right before the send.
 Transient failures go back to `New` with back-off (the
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
from typing import Any, Literal, TypeVar
from uuid import UUID

import structlog

from altinn_notifications.db.pool import Connection
from altinn_notifications.dispatch.attachments import AttachmentSource, DownloadFailed
from altinn_notifications.dispatch.models import (
    ClaimedComposedEmail,
    ClaimedEmail,
    ClaimedPoll,
    ClaimedSms,
    SendResult,
)
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.logging import mask_id
from altinn_notifications.metrics import NOTIFICATIONS_SENT, SEND_SECONDS
from altinn_notifications.processing.rules import is_daytime
from altinn_notifications.providers.base import (
    DEFAULT_SMS_TTL_SECONDS,
    Channel,
    DeliveryReport,
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
from altinn_notifications.status.completion import CompletionRepository, complete_orders
from altinn_notifications.vocabulary import is_final

log = structlog.get_logger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[Connection]]
C = TypeVar("C")


@dataclass(frozen=True)
class DispatchConfig:
    batch_size: int = 500
    concurrency: int = 50
    lease: timedelta = timedelta(minutes=5)
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 30 * 60.0
    default_pause_seconds: float = 60.0
    poll_retry_seconds: float = 8.0  # a status poll that failed transiently is asked again after this
    flush_size: int = 50  # results written per transaction while a batch is sending ...
    flush_interval: float = 0.1  # ... at the latest this long after the first of them arrived
    composed_batch_size: int = 50  # composed emails (spec 12 `ComposedEmailPublishBatchSize`)
    composed_concurrency: int = 5  # composed emails sent at a time (each downloads its attachments first)

    def retry_delay(self, attempts: int) -> float:
        return float(min(self.retry_base_seconds * (2 ** max(0, attempts - 1)), self.retry_max_seconds))


@dataclass(frozen=True)
class Sent:
    """What became of one claimed item: the provider's outcome, plus what dispatch knows besides.

    `kind`: `sent` (the provider was called), `download_failed` (a composed email whose attachments could
    not be fetched: the provider was not called, a transient failure uses dispatch's own back-off, never a
    vendor's retry schedule), `not_attempted` (the channel was paused before this send started: back to
    `New` until the pause ends, the claim's attempt given back).
    """

    outcome: SendOutcome
    kind: Literal["sent", "download_failed", "not_attempted"] = "sent"
    attachment_bytes: int | None = None


Claimed = ClaimedEmail | ClaimedSms


def _result(
    item: Claimed, sent: Sent, config: DispatchConfig, schedule: RetrySchedule | None = None
) -> SendResult:
    outcome = sent.outcome
    if sent.kind == "not_attempted":
        return SendResult(
            item.id, item.order_id, "New", retry_in_seconds=outcome.retry_after or 0.0, not_attempted=True
        )
    if sent.kind == "download_failed":
        schedule = None
    segments = segment_count(item.body) if isinstance(item, ClaimedSms) else None
    size = sent.attachment_bytes
    if outcome.transient:
        if schedule is not None:
            planned = schedule.delay_after(item.attempts)
            if planned is None:  # the vendor's retries are used up
                return SendResult(
                    item.id, item.order_id, schedule.final_result, segments=segments, attachment_bytes=size
                )
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
            attachment_bytes=size,
        )
    return SendResult(
        item.id,
        item.order_id,
        outcome.result,
        reference=outcome.reference,
        segments=segments,
        attachment_bytes=size,
    )


class _ChannelWork:
    """Claims a channel's work unless a vendor asked the channel to wait (spec 10.7.1)."""

    channel: Channel
    transaction: Transaction

    async def paused_for(self) -> float:
        """Seconds left of the channel's rate-limit pause, for the idle loop's sleep."""
        async with self.transaction() as conn:
            return await DispatchRepository(conn).paused_seconds(self.channel)

    async def _claim_unless_paused(
        self, claim: Callable[[DispatchRepository], Awaitable[Sequence[C]]]
    ) -> Sequence[C]:
        """The pause check and the claim in one transaction: one unit of work per batch, not two."""
        async with self.transaction() as conn:
            repo = DispatchRepository(conn)
            if await repo.paused_seconds(self.channel) > 0:
                return []
            return await claim(repo)


class _Dispatcher(_ChannelWork):
    channel: Channel
    provider: object  # the channel's EmailProvider or SmsProvider

    def __init__(
        self, transaction: Transaction, config: DispatchConfig, concurrency: int | None = None
    ) -> None:
        self.transaction = transaction
        self.config = config
        self._slots = asyncio.Semaphore(concurrency or config.concurrency)
        #: Set when a write scheduled status polls (wakes this process's poller early).
        self.polls_scheduled = asyncio.Event()
        # Result writes and lease extensions of this dispatcher take turns: two transactions updating the
        # same rows in different orders could deadlock.
        self._writing = asyncio.Lock()
        self._newest_first = False

    async def _claim_and_send(
        self,
        claim: Callable[[DispatchRepository, bool], Awaitable[Sequence[Claimed]]],
        send: Callable[[Any], Awaitable[SendOutcome | Sent]],
    ) -> int:
        """Claim one batch, from the oldest and the newest end of the queue in turn (see
        dispatch/repository.py), and send it; returns how many were claimed (0 while paused)."""
        newest_first, self._newest_first = self._newest_first, not self._newest_first
        batch = await self._claim_unless_paused(lambda repo: claim(repo, newest_first))
        if batch:
            await self._send_all(batch, send)
        return len(batch)

    async def _send_all(
        self, items: Sequence[Claimed], send: Callable[[Any], Awaitable[SendOutcome | Sent]]
    ) -> None:
        """Send a claimed batch; write the results as they come in (see the module docstring)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Queue[tuple[Claimed, Sent]] = asyncio.Queue()
        unwritten: dict[UUID, Claimed] = {item.id: item for item in items}
        paused_until = [0.0]  # loop time until which the vendor asked this channel to wait

        async def one(item: Claimed) -> None:
            async with self._slots:
                wait = paused_until[0] - loop.time()
                if wait > 0:
                    done.put_nowait(
                        (item, Sent(SendOutcome(result="New", retry_after=wait), "not_attempted"))
                    )
                    return
                started = time.perf_counter()
                try:
                    answer = await send(item)
                    sent = answer if isinstance(answer, Sent) else Sent(answer)
                except Exception as exc:  # a provider bug must not lose the notification
                    log.warning(
                        "provider error", channel=self.channel, id=mask_id(item.id), error=type(exc).__name__
                    )
                    sent = Sent(SendOutcome(result="New", transient=True, detail=type(exc).__name__))
                finally:
                    SEND_SECONDS.labels(channel=self.channel).observe(time.perf_counter() - started)
                if sent.outcome.retry_after:
                    paused_until[0] = max(paused_until[0], loop.time() + sent.outcome.retry_after)
                done.put_nowait((item, sent))

        senders = asyncio.gather(*(one(i) for i in items))
        keeper = asyncio.create_task(self._keep_leases(unwritten))
        try:
            await self._write_as_they_come(done, len(items), unwritten)
        except BaseException:
            # Results can no longer be written (or we are cancelled): what is unwritten stays `Sending`
            # and is rescued after its lease.
            senders.cancel()
            raise
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, senders, return_exceptions=True)

    async def _write_as_they_come(
        self, done: asyncio.Queue[tuple[Claimed, Sent]], expected: int, unwritten: dict[UUID, Claimed]
    ) -> None:
        loop = asyncio.get_running_loop()
        group: list[tuple[Claimed, Sent]] = []
        received = 0
        failures = 0
        unwritten_per_order = Counter(item.order_id for item in unwritten.values())
        while received < expected or group:
            if not group:
                group.append(await done.get())
                received += 1
            # Whatever is ready goes into this write, however many (results that came in during the last
            # write: group commit, so a slow commit never builds a backlog); then wait for more while the
            # group is smaller than `flush_size` and younger than `flush_interval`.
            while received < expected and not done.empty():
                group.append(done.get_nowait())
                received += 1
            deadline = loop.time() + self.config.flush_interval
            while received < expected and len(group) < self.config.flush_size:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    group.append(await asyncio.wait_for(done.get(), left))
                except TimeoutError:
                    break
                received += 1
            # An order with results of this batch still to come has pending rows: asking for its completion
            # now is wasted work (for a large order, a scan of its rows per group). The group that writes
            # its last result of the batch asks.
            in_group = Counter(item.order_id for item, _ in group)
            open_orders = {o for o, n in in_group.items() if unwritten_per_order[o] > n}
            try:
                await self._write(group, open_orders)
            except Exception as exc:  # keep the group: it is written with the next one
                failures += 1
                if failures >= 5 and received == expected:
                    raise
                log.warning(
                    "writing send results failed; retrying", channel=self.channel, error=type(exc).__name__
                )
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            failures = 0
            for item, _ in group:
                unwritten.pop(item.id, None)
            unwritten_per_order.subtract(in_group)
            group = []

    async def _write(self, group: Sequence[tuple[Claimed, Sent]], open_orders: set[int]) -> None:
        schedule = retry_schedule_of(self.provider)
        results = [_result(item, sent, self.config, schedule) for item, sent in group]
        pause = max(
            (s.outcome.retry_after or 0.0 for _, s in group if s.kind == "sent" and s.outcome.retry_after),
            default=0.0,
        )
        async with self._writing, self.transaction() as conn:
            repo = DispatchRepository(conn)
            await repo.write_send_results(self.channel, results)
            if pause:
                await repo.pause(self.channel, pause)
            finals = {
                r.order_id
                for r in results
                if r.retry_in_seconds is None
                and is_final(self.channel, r.result)
                and r.order_id not in open_orders
            }
            await complete_orders(conn, sorted(finals))
        for result, count in Counter(
            "Failed_TransientError" if r.retry_in_seconds else r.result
            for r in results
            if not r.not_attempted
        ).items():
            NOTIFICATIONS_SENT.labels(channel=self.channel, result=result).inc(count)
        if pause:
            log.warning("channel paused by provider rate limit", channel=self.channel, seconds=pause)
        if any(r.poll_in_seconds is not None for r in results):
            self.polls_scheduled.set()

    async def _keep_leases(self, unwritten: dict[UUID, Claimed]) -> None:
        """Every third of the lease, extend the claims of the batch not written yet."""
        lease = self.config.lease
        every = max(lease.total_seconds() / 3, 0.01)
        while True:
            await asyncio.sleep(every)
            claims = [(item.id, item.attempts) for item in unwritten.values()]
            if not claims:
                continue
            try:
                async with self._writing, self.transaction() as conn:
                    await DispatchRepository(conn).extend_leases(self.channel, claims, lease)
            except Exception as exc:  # the next round tries again; the lease has two more thirds to go
                log.warning("extending leases failed", channel=self.channel, error=type(exc).__name__)


class EmailDispatcher(_Dispatcher):
    channel: Channel = "email"
    provider: EmailProvider

    def __init__(self, transaction: Transaction, provider: EmailProvider, config: DispatchConfig) -> None:
        super().__init__(transaction, config)
        self.provider = provider

    async def run_once(self) -> int:
        """Claim and send one batch; returns how many were claimed (0 also while the channel is paused)."""
        return await self._claim_and_send(
            lambda repo, newest: repo.claim_emails(
                self.config.batch_size, self.config.lease, newest_first=newest
            ),
            self._send,
        )

    async def _send(self, item: ClaimedEmail) -> SendOutcome:
        return await self.provider.send(item.message())


class ComposedEmailDispatcher(_Dispatcher):
    """Emails of `Composed` orders (spec 4.2, 10.7.1): claimed in their own batches, attachments downloaded
    from their SAS URLs right before the send. A final download failure (`Failed_InvalidSasUrl`,
    `Failed_PayloadTooLarge`) is the email's result; a transient one sends the email back to `New` with
    dispatch's back-off. Shares the email channel's rate-limit pause."""

    channel: Channel = "email"
    provider: EmailProvider

    def __init__(
        self,
        transaction: Transaction,
        provider: EmailProvider,
        attachments: AttachmentSource,
        config: DispatchConfig,
    ) -> None:
        super().__init__(transaction, config, concurrency=config.composed_concurrency)
        self.provider = provider
        self.attachments = attachments

    async def run_once(self) -> int:
        return await self._claim_and_send(
            lambda repo, newest: repo.claim_composed_emails(
                self.config.composed_batch_size, self.config.lease, newest_first=newest
            ),
            self._send,
        )

    async def _send(self, item: ClaimedComposedEmail) -> Sent:
        fetched = await self.attachments.download(item.attachments)
        if isinstance(fetched, DownloadFailed):
            log.info(
                "attachment download failed",
                id=mask_id(item.id),
                detail=fetched.detail,
                result=fetched.result or "retry",
            )
            if fetched.result is None:
                outcome = SendOutcome(result="Failed_TransientError", transient=True, detail=fetched.detail)
            else:
                outcome = SendOutcome(result=fetched.result, detail=fetched.detail)
            return Sent(outcome, "download_failed")
        outcome = await self.provider.send(item.message(fetched.files))
        return Sent(outcome, attachment_bytes=fetched.total_bytes)


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
        daytime_open = is_daytime(self.clock())
        return await self._claim_and_send(
            lambda repo, newest: repo.claim_sms(
                self.config.batch_size, self.config.lease, daytime_open=daytime_open, newest_first=newest
            ),
            self._send,
        )

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


class StatusPoller(_ChannelWork):
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

    async def seconds_until_due(self) -> float | None:
        async with self.transaction() as conn:
            return await DispatchRepository(conn).seconds_until_next_poll(self.channel)

    async def run_once(self) -> int:
        batch = await self._claim_unless_paused(
            lambda repo: repo.claim_polls(self.channel, self.config.batch_size, self.config.lease)
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
    completion_batch: int = 500


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

    async def complete_missed(self) -> int:
        """Safety net: `Processed` orders with no pending notification are completed (with their status
        feed entry). Every path that writes a final result completes its orders in the same transaction,
        so this finds nothing unless a completion was missed; then no order stays `Processed` for ever."""
        total = 0
        while True:
            async with self.transaction() as conn:
                candidates = await CompletionRepository(conn).completable_orders(self.config.completion_batch)
                completed = await complete_orders(conn, candidates)
            total += len(completed)
            if len(candidates) < self.config.completion_batch or not completed:
                break
        if total:
            log.warning("completed orders whose completion was missed", orders=total)
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

    async def delete_abandoned_reservations(self) -> int:
        """Instant-order reservations whose holder crashed expire; a day later their rows go too."""
        from altinn_notifications.chains.repository import ChainRepository

        async with self.transaction() as conn:
            return await ChainRepository(conn).delete_expired_reservations(timedelta(days=1))
