"""Maintenance jobs, one small class each, so that nothing stays stuck and nothing grows for ever.

Every worker process runs them on timers (`workers.py`); the trigger endpoints call the same objects. Jobs
that compare times take an optional `now` (default: the database's clock), so tests move time instead of
waiting for it. Any
number of processes may run them at once: their statements use `SKIP LOCKED` or an advisory lock.
Completing orders belongs to the status package; it is handed in as `Completion`, so the queue imports
no domain package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from altinn_notifications.config import Settings
from altinn_notifications.db.pool import Connection, Transaction
from altinn_notifications.queue.repository import QueueRepository
from altinn_notifications.vocabulary import Channel

log = structlog.get_logger(__name__)

CHANNELS: tuple[Channel, ...] = ("email", "sms")


class Completion(Protocol):
    """How orders become `Completed` (with their status-feed entry) once nothing of theirs is pending."""

    async def complete(self, conn: Connection, order_ids: Sequence[int]) -> list[int]: ...

    async def completable(self, conn: Connection, limit: int) -> list[int]: ...


@dataclass(frozen=True)
class MaintenanceSettings:
    lease_rescue_interval: float = 15.0
    ttl_interval: float = 60.0
    ttl_grace: timedelta = timedelta(seconds=300)
    ttl_batch: int = 1000
    completion_interval: float = 60.0
    completion_batch: int = 500
    retention_interval: float = 3600.0
    feed_retention: timedelta = timedelta(days=90)
    feed_batch: int = 10000
    reservation_retention: timedelta = timedelta(days=1)
    #: Final orders older than this are deleted (None: kept for ever).
    order_retention: timedelta | None = None
    order_retention_batch: int = 500

    @classmethod
    def from_settings(cls, s: Settings) -> MaintenanceSettings:
        return cls(
            lease_rescue_interval=s.maintenance_interval_seconds,
            ttl_interval=s.ttl_interval_seconds,
            ttl_grace=timedelta(seconds=s.ttl_grace_seconds),
            completion_interval=s.completion_sweep_interval_seconds,
            retention_interval=s.retention_interval_seconds,
            feed_retention=timedelta(days=s.status_feed_retention_days),
            reservation_retention=timedelta(seconds=s.instant_reservation_retention_seconds),
            order_retention=timedelta(days=s.order_retention_days) if s.order_retention_days else None,
            order_retention_batch=s.order_retention_batch_size,
        )


class Job(Protocol):
    name: str
    interval: float

    async def run(self) -> int:
        """One run to the end; returns how many items it handled."""
        ...


class LeaseRescue:
    """Orders and notifications whose worker died (lease run out) become claimable again."""

    name = "lease-rescue"

    def __init__(self, transaction: Transaction, config: MaintenanceSettings) -> None:
        self.transaction = transaction
        self.interval = config.lease_rescue_interval

    async def run(self, now: datetime | None = None) -> int:
        async with self.transaction() as conn:
            repo = QueueRepository(conn)
            orders = await repo.rescue_order_leases(now)
            emails = await repo.rescue_notification_leases("email", now)
            sms = await repo.rescue_notification_leases("sms", now)
        if orders or emails or sms:
            log.warning("rescued expired leases", orders=orders, emails=emails, sms=sms)
        return orders + emails + sms


class TtlTermination:
    """Notifications still pending past their expiry (plus a grace) end `Failed_TTL`, and their orders
    complete. Runs until nothing is left (the reference stops at 100 rows per run)."""

    name = "ttl"

    def __init__(self, transaction: Transaction, config: MaintenanceSettings, completion: Completion) -> None:
        self.transaction = transaction
        self.config = config
        self.completion = completion
        self.interval = config.ttl_interval

    async def run(self, now: datetime | None = None) -> int:
        total = 0
        for channel in CHANNELS:
            while True:
                async with self.transaction() as conn:
                    order_ids = await QueueRepository(conn).terminate_expired(
                        channel, self.config.ttl_batch, self.config.ttl_grace, now
                    )
                    await self.completion.complete(conn, order_ids)
                total += len(order_ids)
                if len(order_ids) < self.config.ttl_batch:
                    break
        return total


class CompletionSweep:
    """Safety net: `Processed` orders with no pending notification are completed. Every path that writes a
    final result completes its orders in the same transaction, so this finds nothing unless a completion
    was missed; then no order stays `Processed` for ever."""

    name = "missed-completions"

    def __init__(self, transaction: Transaction, config: MaintenanceSettings, completion: Completion) -> None:
        self.transaction = transaction
        self.batch = config.completion_batch
        self.completion = completion
        self.interval = config.completion_interval

    async def run(self) -> int:
        total = 0
        while True:
            async with self.transaction() as conn:
                candidates = await self.completion.completable(conn, self.batch)
                completed = await self.completion.complete(conn, candidates)
            total += len(completed)
            if len(candidates) < self.batch or not completed:
                break
        if total:
            log.warning("completed orders whose completion was missed", orders=total)
        return total


class FeedPruning:
    """Status-feed entries older than the retention are deleted, in batches."""

    name = "feed-retention"

    def __init__(self, transaction: Transaction, config: MaintenanceSettings) -> None:
        self.transaction = transaction
        self.config = config
        self.interval = config.retention_interval

    async def run(self) -> int:
        total = 0
        while True:
            async with self.transaction() as conn:
                deleted = await QueueRepository(conn).delete_feed_entries(
                    self.config.feed_retention, self.config.feed_batch
                )
            total += deleted
            if deleted < self.config.feed_batch:
                return total


class ReservationPruning:
    """Instant-order reservations whose holder crashed expire; some time later their rows go too."""

    name = "instant-reservations"

    def __init__(self, transaction: Transaction, config: MaintenanceSettings) -> None:
        self.transaction = transaction
        self.retention = config.reservation_retention
        self.interval = config.retention_interval

    async def run(self) -> int:
        async with self.transaction() as conn:
            return await QueueRepository(conn).delete_expired_reservations(self.retention)


class OrderRetention:
    """Final orders older than `order_retention` are deleted in batches (one transaction each) with their
    texts, notifications (recipients, addresses, customised bodies) and status-feed entries; what the
    monthly report counts of them is kept in `monthlystatistics` by the same statement. Off when unset."""

    name = "order-retention"

    def __init__(self, transaction: Transaction, config: MaintenanceSettings) -> None:
        self.transaction = transaction
        self.config = config
        self.interval = config.retention_interval

    async def run(self, now: datetime | None = None) -> int:
        retention = self.config.order_retention
        if retention is None:
            return 0
        total = 0
        while True:
            async with self.transaction() as conn:
                deleted = await QueueRepository(conn).delete_old_orders(
                    retention, self.config.order_retention_batch, now
                )
            total += deleted
            if deleted < self.config.order_retention_batch:
                break
        if total:
            log.info("deleted orders past their retention", orders=total)
        return total


@dataclass(frozen=True)
class MaintenanceJobs:
    """The jobs of one process, built once by the composition root."""

    lease_rescue: LeaseRescue
    ttl: TtlTermination
    completion_sweep: CompletionSweep
    feed_pruning: FeedPruning
    reservation_pruning: ReservationPruning
    order_retention: OrderRetention

    @classmethod
    def build(
        cls, transaction: Transaction, config: MaintenanceSettings, completion: Completion
    ) -> MaintenanceJobs:
        return cls(
            lease_rescue=LeaseRescue(transaction, config),
            ttl=TtlTermination(transaction, config, completion),
            completion_sweep=CompletionSweep(transaction, config, completion),
            feed_pruning=FeedPruning(transaction, config),
            reservation_pruning=ReservationPruning(transaction, config),
            order_retention=OrderRetention(transaction, config),
        )

    def all(self) -> tuple[Job, ...]:
        return (
            self.lease_rescue,
            self.ttl,
            self.completion_sweep,
            self.feed_pruning,
            self.reservation_pruning,
            self.order_retention,
        )
