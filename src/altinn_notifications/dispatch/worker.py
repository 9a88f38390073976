"""Dispatch workers: claim a batch, send it concurrently, write results in short transactions.

No transaction is open while a provider is called. Results are written while the batch is still sending,
in small groups: a write starts once `flush_size` results are in or `flush_interval` after the first of
them, and takes everything that came in meanwhile (group commit: a slow commit never builds a backlog). A
worker killed mid-batch thus leaves at most its in-flight sends and one unwritten group to be sent again
after the lease rescue. While a batch runs, the leases of its rows not yet written are extended every third
of the lease, so a batch that takes longer than the lease is never rescued (and resent) while still
sending. Once a vendor asks the channel to pause, sends of the batch not yet started are not made: they go
back to `New` until the pause ends, with their claim's attempt given back.

Composed emails are claimed separately (`ComposedEmailDispatcher`, its own loop, batch 50) so that
attachment downloads never hold up ordinary email; each email's attachments are downloaded from their SAS
URLs (`dispatch.attachments`) right before the send.

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


class _ChannelWork:
    """Claims a channel's work unless a vendor asked the channel to wait (docs/compatibility.md C12)."""

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
        results = [send_result(item, sent, self.config, schedule) for item, sent in group]
        pause = max(
            (s.outcome.retry_after or 0.0 for _, s in group if s.kind == "sent" and s.outcome.retry_after),
            default=0.0,
        )
        async with self._writing, self.transaction() as conn:
            repo = DispatchRepository(conn)
            await repo.write_send_results(self.channel, results)
            if pause:
                await repo.pause(self.channel, pause)
            await complete_orders(conn, orders_to_complete(self.channel, results, open_orders))
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
                    await QueueRepository(conn).extend_notification_leases(self.channel, claims, lease)
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
    """Emails of `Composed` orders (docs/compatibility.md C7, C12): claimed in their own batches, attachments downloaded
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
        results = [poll_result(item, outcome, self.config) for item, outcome in outcomes]
        pause = max(
            (o.retry_after or 0.0 for _, o in outcomes if o is not None and o.transient),
            default=0.0,
        )
        async with self.transaction() as conn:
            repo = DispatchRepository(conn)
            await repo.write_send_results(self.channel, results)
            if pause:
                await repo.pause(self.channel, pause)
            await complete_orders(conn, orders_to_complete(self.channel, results, set()))
        if pause:
            log.warning("channel paused by provider rate limit", channel=self.channel, seconds=pause)
        return len(batch)
