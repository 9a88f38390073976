"""The order-processing worker: claims due orders, prepares them concurrently, writes them together.

Network calls (condition endpoint, registers) happen outside any transaction (`processing.service`); the
outcome is written in one short transaction whose status change is guarded, so a second worker can never
process an order twice. Slow orders finish in the background while new ones are claimed; their leases are
kept alive meanwhile, so a slow order is never taken over mid-way.

Fairness between senders: claims share each batch among the creators with due orders
(`ProcessingRepository.claim_due_orders`), and send-condition calls wait in their own pool
(`processing.fairness.ConditionPool`, capped per creator) instead of a processing slot, so one sender's
slow condition endpoint or huge backlog never holds up another sender's orders.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import structlog

from altinn_notifications.db.pool import Transaction
from altinn_notifications.errors import DependencyError
from altinn_notifications.logging import mask_id
from altinn_notifications.metrics import CLAIM_SECONDS, NOTIFICATIONS_GENERATED, ORDERS_PROCESSED
from altinn_notifications.processing.condition import ConditionPort
from altinn_notifications.processing.fairness import ConditionPool, ConditionPoolStopped
from altinn_notifications.processing.models import ClaimedOrder, GeneratedNotifications
from altinn_notifications.processing.repository import ProcessingRepository
from altinn_notifications.processing.service import ConditionOutcome, OrderPreparer, condition_outcome
from altinn_notifications.queue.channels import EMAIL_NEW, SMS_NEW
from altinn_notifications.queue.repository import QueueRepository
from altinn_notifications.recipients.ports import ContactPointsPort, PartyNamesPort
from altinn_notifications.status.completion import record_final_orders

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ProcessingConfig:
    batch_size: int = 50
    concurrency: int = 10
    lookahead: timedelta = timedelta(0)
    lease: timedelta = timedelta(minutes=5)
    condition_retry_delay: timedelta = timedelta(seconds=60)
    retry_base_delay: timedelta = timedelta(seconds=60)
    retry_max_delay: timedelta = timedelta(minutes=15)
    #: Orders of a batch still being prepared after this long (a slow register, a huge organisation)
    #: finish in the background: the batch's other orders are written and new due orders claimed.
    straggler_after: timedelta = timedelta(seconds=1)
    #: The longest this worker keeps an order's claim alive; one stuck longer is left to the lease rescue.
    max_processing: timedelta = timedelta(minutes=30)
    #: Most orders of one creator in one claim (each creator's share is also at most the batch divided by
    #: the creators with due orders, rounded up).
    claim_per_creator: int = 50
    #: Send-condition calls at a time in this worker, and of one creator (`processing.fairness`).
    condition_concurrency: int = 20
    condition_per_creator: int = 4

    def retry_delay(self, attempts: int) -> timedelta:
        """Exponential back-off after a failed attempt, capped."""
        delay: timedelta = self.retry_base_delay * (2 ** max(0, attempts - 1))
        return min(delay, self.retry_max_delay)


class OrderProcessor:
    def __init__(
        self,
        transaction: Transaction,
        contact_points: ContactPointsPort,
        names: PartyNamesPort,
        condition: ConditionPort,
        config: ProcessingConfig,
    ) -> None:
        self.transaction = transaction
        self.preparer = OrderPreparer(contact_points, names, condition)
        self.config = config
        self.conditions = ConditionPool(config.condition_concurrency, config.condition_per_creator)
        self._slots = asyncio.Semaphore(config.concurrency)
        #: Orders past their condition call, holding or waiting for a processing slot or not yet written
        #: (those waiting for their condition call are not counted).
        self._slot_demand: set[int] = set()
        self._room = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        # Claimed here, outcome not written yet (internal id → when claimed): the leases to keep.
        self._in_progress: dict[int, float] = {}
        self._stopping = False

    async def run_once(self) -> int:
        """Claim one batch of due orders, prepare them concurrently, write them together.

        The batch is written in one transaction (one guarded status update, one COPY per channel, one
        NOTIFY) instead of one per order: per-transaction round trips were the pipeline's top cost. Orders
        not ready after `straggler_after` finish in the background (each written on its own), so one slow
        order holds up its batch at most that long, and the next claim not at all. Returns how many were
        claimed.
        """
        await self._wait_for_room()
        if self._stopping:
            return 0
        with CLAIM_SECONDS.labels(queue="orders").time():
            claimed = await self._claim()
        if claimed:
            now = time.monotonic()
            self._in_progress.update((c.internal_id, now) for c in claimed)
            await self._prepare_and_persist(claimed)
        return len(claimed)

    async def run_until_no_full_batch(self) -> int:
        """Claim and prepare batches until one is not full (the trigger endpoint's synchronous run, as the
        reference's); returns how many orders were claimed."""
        total = 0
        while True:
            claimed = await self.run_once()
            total += claimed
            if claimed < self.config.batch_size:
                return total

    async def keep_leases(self) -> int:
        """Extend the leases of the orders this processor is still working on (called every third of a
        lease), so a slow one (a huge organisation, a slow register) is never taken over mid-way."""
        oldest = time.monotonic() - self.config.max_processing.total_seconds()
        keep = sorted(order_id for order_id, claimed_at in self._in_progress.items() if claimed_at > oldest)
        if not keep:
            return 0
        async with self.transaction() as conn:
            return await QueueRepository(conn).extend_order_leases(keep, self.config.lease)

    def stop_claiming(self) -> None:
        """On stop: no new claims (a claim waiting for a free slot returns empty-handed)."""
        self._stopping = True
        self._room.set()
        self.conditions.stop()

    async def drain(self) -> None:
        """Wait for the orders still finishing in the background (on stop, and in tests), keeping their
        leases alive meanwhile."""
        interval = self.config.lease.total_seconds() / 3
        while self._background:
            done, _ = await asyncio.wait(self._background, timeout=interval)
            if not done:
                try:
                    await self.keep_leases()
                except Exception as exc:  # the rescue takes them over when the leases run out
                    log.warning("could not keep order leases", error=type(exc).__name__)

    async def _wait_for_room(self) -> None:
        # Stragglers hold prepare slots: claim again only when one is free, so claimed orders never pile
        # up, their leases running, behind slow ones. Orders waiting for their condition call hold none.
        while len(self._slot_demand) >= self.config.concurrency and not self._stopping:
            self._room.clear()
            await self._room.wait()

    async def _prepare_and_persist(self, claimed: list[ClaimedOrder]) -> None:
        tasks = {asyncio.create_task(self._guarded_prepare(c)): c for c in claimed}
        try:
            done, pending = await asyncio.wait(tasks, timeout=self.config.straggler_after.total_seconds())
        except BaseException:  # cancelled (stop): every order still finishes, in the background
            for task, order in tasks.items():
                self._finish_in_background(order, task)
            raise
        for task in pending:
            self._finish_in_background(tasks[task], task)
        try:
            # `_guarded_prepare` handles every failure itself: a result is None or the notifications.
            ready = [(tasks[t], g) for t in done if (g := t.result()) is not None]
            if ready:
                await self._persist_group(ready)
        finally:
            for task in done:
                self._settled(tasks[task].internal_id)

    def _settled(self, order_id: int) -> None:
        """The order's outcome is written (or left to its lease): its claim and its slot are over."""
        self._in_progress.pop(order_id, None)
        self._slot_demand.discard(order_id)
        self._room.set()

    async def _persist_group(self, ready: list[tuple[ClaimedOrder, GeneratedNotifications]]) -> None:
        try:
            await self._persist_many(ready)
        except Exception as exc:  # one bad order must not hold back the others: one by one
            log.warning("batched persist failed; persisting one by one", error=type(exc).__name__)
            await asyncio.gather(*(self._guarded_persist(c, g) for c, g in ready))

    def _finish_in_background(
        self, claimed: ClaimedOrder, prepare: asyncio.Task[GeneratedNotifications | None]
    ) -> None:
        async def finish() -> None:
            try:
                generated = await prepare
                if generated is not None:
                    await self._guarded_persist(claimed, generated)
            finally:
                self._settled(claimed.internal_id)

        task = asyncio.create_task(finish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _claim(self) -> list[ClaimedOrder]:
        async with self.transaction() as conn:
            return await ProcessingRepository(conn).claim_due_orders(
                self.config.batch_size,
                self.config.lookahead,
                self.config.lease,
                per_creator=self.config.claim_per_creator,
                skip_creators=self.conditions.backed_up(),
            )

    async def seconds_until_next_due(self) -> float | None:
        async with self.transaction() as conn:
            return await ProcessingRepository(conn).seconds_until_next_due(self.config.lookahead)

    async def process(self, claimed: ClaimedOrder) -> None:
        """Prepare and persist one order, errors left to the caller."""
        generated = await self.prepare(claimed)
        if generated is not None:
            await self._persist(claimed, generated)

    async def prepare(self, claimed: ClaimedOrder) -> GeneratedNotifications | None:
        """The domain steps, then what a stopping condition means for the order; None when it stopped."""
        prepared = await self.preparer.prepare(claimed)
        if isinstance(prepared, ConditionOutcome):
            await self._write_condition_outcome(claimed, prepared)
            return None
        return prepared

    async def _guarded_prepare(self, claimed: ClaimedOrder) -> GeneratedNotifications | None:
        """The condition call in the condition pool, then the rest in a processing slot."""
        try:
            order = self.preparer.parse(claimed)
            if order.condition_endpoint:
                creator = claimed.creator or order.creator
                decision = await self.conditions.check(
                    self.preparer.condition, creator, order.condition_endpoint
                )
                stopped = condition_outcome(claimed, decision)
                if stopped is not None:
                    await self._write_condition_outcome(claimed, stopped)
                    return None
            self._slot_demand.add(claimed.internal_id)  # until `_settled`
            async with self._slots:
                return await self.preparer.generate_for(order)
        except ConditionPoolStopped:  # stopping before its condition call started: hand it back
            await self._hand_back(claimed)
            return None
        except Exception as exc:  # never leave an order stuck: back off and try again later
            await self._reschedule_after(claimed, exc)
            return None

    async def _guarded_persist(self, claimed: ClaimedOrder, generated: GeneratedNotifications) -> None:
        try:
            await self._persist(claimed, generated)
        except _AlreadyProcessed:
            log.info("order already processed elsewhere", order_id=mask_id(claimed.order_json.get("id")))
        except Exception as exc:
            await self._reschedule_after(claimed, exc)

    async def _reschedule_after(self, claimed: ClaimedOrder, exc: Exception) -> None:
        delay = self.config.retry_delay(claimed.attempts)
        log.warning(
            "order processing failed; rescheduled",
            order_id=mask_id(claimed.order_json.get("id")),
            error=type(exc).__name__,
            dependency=isinstance(exc, DependencyError),
            retry_in_s=delay.total_seconds(),
        )
        try:
            async with self.transaction() as conn:
                await ProcessingRepository(conn).reschedule(claimed.internal_id, delay)
        except Exception as again:  # the database too: the claim's lease runs out, then the rescue retries
            log.error(
                "order left to its lease",
                order_id=mask_id(claimed.order_json.get("id")),
                error=type(again).__name__,
            )

    async def _hand_back(self, claimed: ClaimedOrder) -> None:
        try:
            async with self.transaction() as conn:
                await ProcessingRepository(conn).hand_back(claimed.internal_id)
        except Exception as exc:  # its lease runs out, then the rescue returns it
            log.warning(
                "order left to its lease",
                order_id=mask_id(claimed.order_json.get("id")),
                error=type(exc).__name__,
            )

    async def _write_condition_outcome(self, claimed: ClaimedOrder, outcome: ConditionOutcome) -> None:
        async with self.transaction() as conn:
            repo = ProcessingRepository(conn)
            if outcome is ConditionOutcome.PUT_OFF:
                await repo.reschedule(claimed.internal_id, self.config.condition_retry_delay)
            elif await repo.finish(claimed.internal_id, "SendConditionNotMet"):
                await record_final_orders(conn, [claimed.internal_id])

    async def _persist(self, claimed: ClaimedOrder, generated: GeneratedNotifications) -> None:
        if not await self._persist_many([(claimed, generated)]):
            raise _AlreadyProcessed()

    async def _persist_many(self, items: list[tuple[ClaimedOrder, GeneratedNotifications]]) -> set[int]:
        """Write the outcome of many orders in one transaction; returns the ids this worker settled.

        The guarded status change goes first, so notifications are written only for orders still ours.
        """
        outcomes = {
            c.internal_id: ("Completed" if g.all_failed_at_generation else "Processed") for c, g in items
        }
        async with self.transaction() as conn:
            repo = ProcessingRepository(conn)
            won = await repo.finish_many(outcomes)
            kept = [g for c, g in items if c.internal_id in won]
            await repo.insert_emails_many((c.internal_id, g.emails) for c, g in items if c.internal_id in won)
            await repo.insert_sms_many((c.internal_id, g.sms) for c, g in items if c.internal_id in won)
            finals = sorted(i for i in won if outcomes[i] == "Completed")
            if finals:
                await record_final_orders(conn, finals)
            if any(e.result == "New" for g in kept for e in g.emails):
                await QueueRepository(conn).notify(EMAIL_NEW)
            if any(s.result == "New" for g in kept for s in g.sms):
                await QueueRepository(conn).notify(SMS_NEW)
        for order_id in won:
            ORDERS_PROCESSED.labels(outcome=outcomes[order_id]).inc()
        for g in kept:
            _count_generated("email", [e.result for e in g.emails])
            _count_generated("sms", [s.result for s in g.sms])
        return won


class _AlreadyProcessed(Exception):
    """The guarded status change found the order no longer `Processing`: roll back, do nothing."""


def _count_generated(channel: str, results: list[str]) -> None:
    for result, count in Counter(results).items():
        NOTIFICATIONS_GENERATED.labels(channel=channel, result=result).inc(count)
