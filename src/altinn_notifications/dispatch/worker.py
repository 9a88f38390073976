"""Dispatch workers: claims feed a stream of sends, results are written by one writer per dispatcher.

No transaction is open while a provider is called. A dispatcher keeps up to `concurrency` sends in flight
(the provider's own `max_in_flight` when it has one: hundreds for HTTP vendors, whose latency would
otherwise bound the rate) and claims the next rows while earlier ones are still sending: a claim is made
whenever at most `capacity - batch/4` rows of this dispatcher are still unwritten (`capacity` =
max(batch size, concurrency)), so sends never wait for the slowest of a batch. A send's slot is freed only
once its result is committed: a worker killed at any moment has handed at most `concurrency` notifications
to the vendor without their result written (the duplicates a restart can cause), and at most `capacity`
rows of it stay `Sending` until the lease rescue.

Results are written by one writer per dispatcher in small groups: a write starts once `flush_size`
results are in, `flush_interval` after the first of them, or when nothing else is outstanding, and takes
everything that came in meanwhile (group commit: a slow commit never builds a backlog). The leases of rows
not yet written are extended every third of the lease, so rows that take longer than the lease are never
rescued (and resent) while still sending. Once a vendor asks the channel to pause, sends not yet started
are not made: they go back to `New` until the pause ends, with their claim's attempt given back.

Vendor allowance: with a maximum send rate for the channel (`DispatchConfig.send_rate`), every claim first
takes tokens from the channel's bucket in the database (shared by every worker process; see
`DispatchRepository.take_allowance`) and claims at most that many rows.

Batching vendors (LINK Mobility's PSWin XML takes many messages in one request): an SMS provider with
`send_batch` and `batch_size` gets the claimed rows in groups of up to `batch_size`, one request each;
the result of each message is its own (a batch may partly fail).

Composed emails are claimed separately (`ComposedEmailDispatcher`, its own loop, batch 50) so that
attachment downloads never hold up ordinary email; each email's attachments are downloaded from their SAS
URLs (`dispatch.attachments`) right before the send.

Long-running vendor operations (ACS): a send that answers `poll_after` leaves the row `Sending` with the
operation id and `next_attempt_at` = the next poll time. `StatusPoller` claims due rows with
`FOR UPDATE SKIP LOCKED` (moving `next_attempt_at` a lease ahead, so a poller that dies is simply replaced),
asks the provider's `poll` with as many polls in flight as the provider allows sends, and writes the
answers through the same writer and guarded `write_send_results`. Nothing about an operation lives in
process memory: any worker polls any operation, before or after a crash, and the lease rescue polls (never
resends) a `Sending` row that already has a vendor reference.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import structlog

from altinn_notifications.db.pool import Transaction
from altinn_notifications.dispatch.attachments import AttachmentSource, DownloadFailed
from altinn_notifications.dispatch.models import (
    ClaimedComposedEmail,
    ClaimedEmail,
    ClaimedPoll,
    ClaimedSms,
    SendResult,
)
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.dispatch.service import (
    Claimed,
    DispatchConfig,
    Sent,
    orders_to_complete,
    poll_result,
    send_result,
)
from altinn_notifications.logging import mask_id
from altinn_notifications.metrics import NOTIFICATIONS_SENT, SEND_SECONDS
from altinn_notifications.processing.rules import is_daytime
from altinn_notifications.providers.base import (
    DEFAULT_SMS_TTL_SECONDS,
    EmailProvider,
    PollingProvider,
    SendOutcome,
    SmsMessage,
    SmsProvider,
    retry_schedule_of,
)
from altinn_notifications.queue.repository import QueueRepository
from altinn_notifications.status.completion import complete_orders
from altinn_notifications.vocabulary import Channel

log = structlog.get_logger(__name__)

C = TypeVar("C")


class _Slots:
    """A counting limit whose holders may take several units at once, served first come first served."""

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.free = self.total
        self.peak = 0  # most units held at once, for the logs
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, units: int) -> None:
        if units > self.total:
            raise ValueError("more units than the limit")
        if not self._waiters and self.free >= units:
            self._take(units)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((units, waiter))
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(units)  # granted, but the holder is gone
            raise

    def release(self, units: int) -> None:
        self.free += units
        while self._waiters and self.free >= self._waiters[0][0]:
            wanted, waiter = self._waiters.popleft()
            if not waiter.done():
                self._take(wanted)
                waiter.set_result(None)

    def _take(self, units: int) -> None:
        self.free -= units
        self.peak = max(self.peak, self.total - self.free)


@dataclass(frozen=True)
class _Done:
    """One item's result, waiting for the writer."""

    item: Claimed | ClaimedPoll
    result: SendResult
    pause: float = 0.0  # seconds the vendor asked the whole channel to wait
    counted: bool = True  # a send (counted in the metrics), not a status poll


class _Pipeline:
    """Claimed items handed to the vendor with at most `concurrency` in flight, results written by one
    writer task, leases kept for everything not written yet (see the module docstring)."""

    channel: Channel

    def __init__(
        self, transaction: Transaction, config: DispatchConfig, concurrency: int, claim_size: int
    ) -> None:
        self.transaction = transaction
        self.config = config
        self.concurrency = max(1, concurrency)
        self.claim_size = max(1, claim_size)
        self.capacity = max(self.claim_size, self.concurrency)
        self._slots = _Slots(self.concurrency)
        #: Set when a write scheduled status polls (wakes this process's poller early).
        self.polls_scheduled = asyncio.Event()
        self._outstanding: dict[UUID, Claimed | ClaimedPoll] = {}
        self._per_order: Counter[int] = Counter()
        self._results: asyncio.Queue[_Done] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()  # something was written: there may be room, or nothing left
        # Result writes and lease extensions take turns: two transactions updating the same rows in
        # different orders could deadlock.
        self._writing = asyncio.Lock()
        self._allowance_wait = 0.0  # seconds until the channel's send allowance has tokens again
        self._paused_until = 0.0  # loop time until which the vendor asked this channel to wait ...
        self._pause_recorded = False  # ... and whether that pause is in the database already

    # -- the channel's pause and allowance ------------------------------------------------------------

    async def paused_for(self) -> float:
        """Seconds left of the channel's rate-limit pause, or until its send allowance refills, for the
        idle loop's sleep."""
        async with self.transaction() as conn:
            paused = await DispatchRepository(conn).paused_seconds(self.channel)
        return max(paused, self._allowance_wait)

    async def _claim_unless_paused(
        self, claim: Callable[[DispatchRepository, int], Awaitable[Sequence[C]]], limit: int
    ) -> Sequence[C]:
        """The pause check, the allowance and the claim in one transaction: one unit of work per claim."""
        rate = self.config.send_rate(self.channel) if self.counts_sends else None
        async with self.transaction() as conn:
            repo = DispatchRepository(conn)
            if await repo.paused_seconds(self.channel) > 0:
                return []
            if self._pause_recorded:  # the pause this process heard of is over (or lifted)
                self._paused_until, self._pause_recorded = 0.0, False
            if not rate:
                return await claim(repo, limit)
            capacity = max(1.0, rate * self.config.allowance_burst_seconds)
            least = max(1, min(limit, int(capacity) // 4))
            granted, there = await repo.take_allowance(
                self.channel, limit, rate=rate, capacity=capacity, least=least
            )
            if not granted:
                self._allowance_wait = max(0.01, (least - there) / rate)
                return []
            self._allowance_wait = 0.0
            claimed = await claim(repo, granted)
            if len(claimed) < granted:
                await repo.give_back_allowance(self.channel, granted - len(claimed), capacity)
            return claimed

    counts_sends = True

    # -- the stream of items ---------------------------------------------------------------------------

    @property
    def unwritten(self) -> int:
        return len(self._outstanding)

    @property
    def peak_in_flight(self) -> int:
        return self._slots.peak

    async def _room(self) -> int:
        """Wait until a claim is worth making; how many rows it may take."""
        least = max(1, self.claim_size // 4)
        while self.capacity - len(self._outstanding) < least:
            self._changed.clear()
            await self._changed.wait()
        return min(self.claim_size, self.capacity - len(self._outstanding))

    def _start(
        self,
        items: Sequence[Claimed | ClaimedPoll],
        attempt: Callable[[Sequence[Any]], Awaitable[list[_Done]]],
        group_size: int = 1,
    ) -> None:
        """Hand the claimed items to `attempt` in groups of `group_size`, each group holding that many slots."""
        for item in items:
            self._outstanding[item.id] = item
            self._per_order[item.order_id] += 1
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=f"{self.channel}-results")
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_leases(), name=f"{self.channel}-leases")
        size = max(1, min(group_size, self.concurrency))
        for at in range(0, len(items), size):
            task = asyncio.create_task(self._run(items[at : at + size], attempt))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(
        self, group: Sequence[Any], attempt: Callable[[Sequence[Any]], Awaitable[list[_Done]]]
    ) -> None:
        await self._slots.acquire(len(group))
        try:
            done = await attempt(group)
        except BaseException:
            self._slots.release(len(group))  # nothing to write: these rows wait for the lease rescue
            for item in group:
                self._forget(item)
            raise
        for entry in done:
            self._results.put_nowait(entry)  # the writer frees the slot once the result is committed

    def _forget(self, item: Claimed | ClaimedPoll) -> None:
        if self._outstanding.pop(item.id, None) is not None:
            self._per_order[item.order_id] -= 1
            if self._per_order[item.order_id] <= 0:
                del self._per_order[item.order_id]
        self._changed.set()

    async def step(self) -> int:
        """Claim what there is room for and start it; returns how many were claimed."""
        raise NotImplementedError

    async def run_once(self) -> int:
        """Claim one batch, send it and write its results; returns how many were claimed."""
        try:
            found = await self.step()
            await self.drain()
        except BaseException:
            await self.abort()
            raise
        return found

    async def drain(self) -> None:
        """Wait until every item handed to this dispatcher has its result written (or given up)."""
        while self._outstanding:
            self._changed.clear()
            await self._changed.wait()

    async def abort(self) -> None:
        """Stop at once (a cancelled worker): what is unwritten stays `Sending` for the lease rescue."""
        tasks = [*self._tasks, *(t for t in (self._writer, self._keeper) if t is not None)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._outstanding.clear()
        self._per_order.clear()
        self._results = asyncio.Queue()
        peak, self._slots = self._slots.peak, _Slots(self.concurrency)
        self._slots.peak = peak
        self._writer = self._keeper = None
        self._changed.set()

    async def close(self) -> None:
        """Let what is in flight finish and be written, then stop the writer and the lease keeper."""
        await self.drain()
        await self.abort()
        if self.peak_in_flight:
            log.info(
                "dispatch stopped",
                channel=self.channel,
                kind=type(self).__name__,
                peak_in_flight=self.peak_in_flight,
            )

    # -- writing results -------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await self._results.get()]
            # Whatever is ready goes into this write, however many (results that came in during the last
            # write: group commit); then wait for more while the group is smaller than `flush_size`,
            # younger than `flush_interval`, and other items are still sending.
            while not self._results.empty():
                group.append(self._results.get_nowait())
            deadline = loop.time() + self.config.flush_interval
            while len(group) < self.config.flush_size and len(group) < len(self._outstanding):
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    group.append(await asyncio.wait_for(self._results.get(), left))
                except TimeoutError:
                    break
            await self._write_group(group)

    async def _write_group(self, group: list[_Done]) -> None:
        # An order with results still to come has pending rows: asking for its completion now is wasted
        # work (for a large order, a scan of its rows per group). The group with its last result asks.
        in_group = Counter(d.item.order_id for d in group)
        open_orders = {o for o, n in in_group.items() if self._per_order[o] > n}
        failures = 0
        while True:
            try:
                await self._write(group, open_orders)
                break
            except Exception as exc:
                failures += 1
                if failures >= 5:
                    log.error(
                        "send results could not be written; the rows are rescued after their lease",
                        channel=self.channel,
                        count=len(group),
                        error=type(exc).__name__,
                    )
                    break
                log.warning(
                    "writing send results failed; retrying", channel=self.channel, error=type(exc).__name__
                )
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
        for entry in group:
            self._forget(entry.item)
        self._slots.release(len(group))

    async def _write(self, group: Sequence[_Done], open_orders: set[int]) -> None:
        results = [d.result for d in group]
        pause = max((d.pause for d in group), default=0.0)
        async with self._writing, self.transaction() as conn:
            repo = DispatchRepository(conn)
            await repo.write_send_results(self.channel, results)
            if pause:
                await repo.pause(self.channel, pause)
            await complete_orders(conn, orders_to_complete(self.channel, results, open_orders))
        if pause:
            self._pause_recorded = True
        for result, count in Counter(
            "Failed_TransientError" if d.result.retry_in_seconds else d.result.result
            for d in group
            if d.counted and not d.result.not_attempted
        ).items():
            NOTIFICATIONS_SENT.labels(channel=self.channel, result=result).inc(count)
        if pause:
            log.warning("channel paused by provider rate limit", channel=self.channel, seconds=pause)
        if any(r.poll_in_seconds is not None for r in results):
            self.polls_scheduled.set()

    async def _keep_leases(self) -> None:
        """Every third of the lease, extend the claims not written yet."""
        lease = self.config.lease
        every = max(lease.total_seconds() / 3, 0.01)
        while True:
            await asyncio.sleep(every)
            claims = [(item.id, item.attempts) for item in self._outstanding.values()]
            if not claims:
                continue
            try:
                async with self._writing, self.transaction() as conn:
                    await QueueRepository(conn).extend_notification_leases(self.channel, claims, lease)
            except Exception as exc:  # the next round tries again; the lease has two more thirds to go
                log.warning("extending leases failed", channel=self.channel, error=type(exc).__name__)


class _Dispatcher(_Pipeline):
    channel: Channel
    provider: object  # the channel's EmailProvider or SmsProvider

    def __init__(
        self,
        transaction: Transaction,
        provider: object,
        config: DispatchConfig,
        *,
        concurrency: int | None = None,
        claim_size: int | None = None,
    ) -> None:
        own = getattr(provider, "max_in_flight", None)
        limit = concurrency or (own if isinstance(own, int) and own > 0 else config.concurrency)
        super().__init__(transaction, config, limit, claim_size or config.batch_size)
        self.provider = provider
        self._schedule = retry_schedule_of(provider)
        self._newest_first = False

    async def step(self) -> int:
        """Claim rows as soon as there is room and start sending them; returns how many were claimed (0
        also while the channel is paused or out of allowance). Their results are written in the
        background (`drain` waits for them)."""
        limit = await self._room()
        # From the oldest and the newest end of the queue in turn (see dispatch/repository.py).
        newest_first, self._newest_first = self._newest_first, not self._newest_first
        batch = await self._claim_unless_paused(lambda repo, n: self._claim(repo, n, newest_first), limit)
        if batch:
            self._start(batch, self._attempt, self._group_size())
        return len(batch)

    async def _claim(self, repo: DispatchRepository, limit: int, newest_first: bool) -> Sequence[Claimed]:
        raise NotImplementedError

    def _group_size(self) -> int:
        return 1

    async def _send(self, item: Any) -> SendOutcome | Sent:
        raise NotImplementedError

    async def _send_group(self, group: Sequence[Any]) -> list[SendOutcome | Sent]:
        return [await self._send(group[0])] if len(group) == 1 else await self._send_many(group)

    async def _send_many(self, group: Sequence[Any]) -> list[SendOutcome | Sent]:
        return list(await asyncio.gather(*(self._send(item) for item in group)))

    async def _attempt(self, group: Sequence[Claimed]) -> list[_Done]:
        """Send one group (one vendor call); every item's result, never an exception."""
        loop = asyncio.get_running_loop()
        wait = self._paused_until - loop.time()
        if wait > 0:
            sent = [Sent(SendOutcome(result="New", retry_after=wait), "not_attempted")] * len(group)
        else:
            started = time.perf_counter()
            try:
                answers = await self._send_group(group)
                if len(answers) != len(group):
                    raise RuntimeError("the provider answered for a different number of messages")
                sent = [a if isinstance(a, Sent) else Sent(a) for a in answers]
            except Exception as exc:  # a provider bug must not lose the notification
                log.warning("provider error", channel=self.channel, error=type(exc).__name__)
                sent = [Sent(SendOutcome(result="New", transient=True, detail=type(exc).__name__))] * len(
                    group
                )
            finally:
                SEND_SECONDS.labels(channel=self.channel).observe(time.perf_counter() - started)
        done = []
        for item, one in zip(group, sent, strict=True):
            pause = (one.outcome.retry_after or 0.0) if one.kind == "sent" else 0.0
            if pause:
                self._paused_until = max(self._paused_until, loop.time() + pause)
            done.append(_Done(item, send_result(item, one, self.config, self._schedule), pause))
        return done


class EmailDispatcher(_Dispatcher):
    channel: Channel = "email"
    provider: EmailProvider

    def __init__(self, transaction: Transaction, provider: EmailProvider, config: DispatchConfig) -> None:
        super().__init__(transaction, provider, config)

    async def _claim(self, repo: DispatchRepository, limit: int, newest_first: bool) -> Sequence[Claimed]:
        return await repo.claim_emails(limit, self.config.lease, newest_first=newest_first)

    async def _send(self, item: ClaimedEmail) -> SendOutcome:
        return await self.provider.send(item.message())


class ComposedEmailDispatcher(_Dispatcher):
    """Emails of `Composed` orders (docs/compatibility.md C7, C12): claimed in their own batches, attachments downloaded
    from their SAS URLs right before the send. A final download failure (`Failed_InvalidSasUrl`,
    `Failed_PayloadTooLarge`) is the email's result; a transient one sends the email back to `New` with
    dispatch's back-off. Shares the email channel's rate-limit pause and send allowance."""

    channel: Channel = "email"
    provider: EmailProvider

    def __init__(
        self,
        transaction: Transaction,
        provider: EmailProvider,
        attachments: AttachmentSource,
        config: DispatchConfig,
    ) -> None:
        super().__init__(
            transaction,
            provider,
            config,
            concurrency=config.composed_concurrency,
            claim_size=config.composed_batch_size,
        )
        self.attachments = attachments

    async def _claim(self, repo: DispatchRepository, limit: int, newest_first: bool) -> Sequence[Claimed]:
        return await repo.claim_composed_emails(limit, self.config.lease, newest_first=newest_first)

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
    """SMS; with a batching provider (`send_batch`, `batch_size`: LINK Mobility) one vendor call carries
    up to `batch_size` messages, each with its own result."""

    channel: Channel = "sms"
    provider: SmsProvider

    def __init__(
        self,
        transaction: Transaction,
        provider: SmsProvider,
        config: DispatchConfig,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(transaction, provider, config)
        self.clock = clock
        batch = getattr(provider, "send_batch", None)
        size = getattr(provider, "batch_size", 1)
        self._batch: Callable[[list[SmsMessage]], Awaitable[Sequence[SendOutcome]]] | None = (
            batch if callable(batch) and isinstance(size, int) and size > 1 else None
        )
        self._batch_size = size if self._batch is not None else 1

    async def _claim(self, repo: DispatchRepository, limit: int, newest_first: bool) -> Sequence[Claimed]:
        return await repo.claim_sms(
            limit, self.config.lease, daytime_open=is_daytime(self.clock()), newest_first=newest_first
        )

    def _group_size(self) -> int:
        return self._batch_size

    @staticmethod
    def _message(item: ClaimedSms) -> SmsMessage:
        return SmsMessage(
            notification_id=item.id,
            sender=item.sender,
            mobile_number=item.mobile_number,
            body=item.body,
            time_to_live_seconds=item.time_to_live_seconds or DEFAULT_SMS_TTL_SECONDS,
        )

    async def _send(self, item: ClaimedSms) -> SendOutcome:
        return await self.provider.send(self._message(item))

    async def _send_many(self, group: Sequence[Any]) -> list[SendOutcome | Sent]:
        if self._batch is None:
            return await super()._send_many(group)
        return list(await self._batch([self._message(item) for item in group]))


class StatusPoller(_Pipeline):
    """Polls vendor operations still `Sending` (see the module docstring). One per channel whose provider
    has `poll`; respects the channel's rate-limit pause; as many polls in flight as the provider allows
    sends."""

    counts_sends = False

    def __init__(
        self,
        transaction: Transaction,
        channel: Channel,
        provider: PollingProvider,
        config: DispatchConfig,
    ) -> None:
        own = getattr(provider, "max_in_flight", None)
        limit = own if isinstance(own, int) and own > 0 else config.concurrency
        super().__init__(transaction, config, limit, config.poll_batch_size)
        self.channel = channel
        self.provider = provider

    async def seconds_until_due(self) -> float | None:
        async with self.transaction() as conn:
            return await DispatchRepository(conn).seconds_until_next_poll(self.channel)

    async def step(self) -> int:
        """Claim due polls as soon as there is room and start them; their answers are written in the
        background."""
        limit = await self._room()
        batch = await self._claim_unless_paused(
            lambda repo, n: repo.claim_polls(self.channel, n, self.config.lease), limit
        )
        if batch:
            self._start(batch, self._poll)
        return len(batch)

    async def _poll(self, group: Sequence[ClaimedPoll]) -> list[_Done]:
        [item] = group
        try:
            outcome = await self.provider.poll(item.reference)
        except Exception as exc:  # a provider bug must not lose the notification: ask again later
            log.warning("poll error", channel=self.channel, id=mask_id(item.id), error=type(exc).__name__)
            outcome = None
        pause = (outcome.retry_after or 0.0) if outcome is not None and outcome.transient else 0.0
        return [_Done(item, poll_result(item, outcome, self.config), pause, counted=False)]
