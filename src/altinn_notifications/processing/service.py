"""Processing one due order (spec 10.3-10.6): condition, lookup, names, generation, persist.

Network calls (condition endpoint, registers) happen outside any transaction; the outcome is written in
one short transaction whose status change is guarded, so a second worker can never process it twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import DependencyError
from altinn_notifications.logging import mask_id
from altinn_notifications.metrics import CLAIM_SECONDS, NOTIFICATIONS_GENERATED, ORDERS_PROCESSED
from altinn_notifications.orders.models import NotificationOrder
from altinn_notifications.processing import rules
from altinn_notifications.processing.condition import ConditionPort
from altinn_notifications.processing.models import ClaimedOrder, GeneratedNotifications
from altinn_notifications.processing.repository import EMAIL_CHANNEL, SMS_CHANNEL, ProcessingRepository
from altinn_notifications.recipients.models import ResolvedRecipient
from altinn_notifications.recipients.ports import ContactPointsPort, PartyNamesPort
from altinn_notifications.recipients.service import lookup_at_processing
from altinn_notifications.status.completion import CompletionRepository

log = structlog.get_logger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[Connection]]


@dataclass(frozen=True)
class ProcessingConfig:
    batch_size: int = 50
    concurrency: int = 10
    lookahead: timedelta = timedelta(0)
    lease: timedelta = timedelta(minutes=5)
    condition_retry_delay: timedelta = timedelta(seconds=60)
    retry_base_delay: timedelta = timedelta(seconds=60)
    retry_max_delay: timedelta = timedelta(minutes=15)
    stale_contact_orgs: frozenset[str] = field(default_factory=frozenset)

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
        self.contact_points = contact_points
        self.names = names
        self.condition = condition
        self.config = config
        self._slots = asyncio.Semaphore(config.concurrency)

    async def run_once(self) -> int:
        """Claim one batch of due orders and process them concurrently; returns how many were claimed."""
        with CLAIM_SECONDS.labels(queue="orders").time():
            claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._guarded(c) for c in claimed))
        return len(claimed)

    async def _claim(self) -> list[ClaimedOrder]:
        async with self.transaction() as conn:
            return await ProcessingRepository(conn).claim_due_orders(
                self.config.batch_size, self.config.lookahead, self.config.lease
            )

    async def seconds_until_next_due(self) -> float | None:
        async with self.transaction() as conn:
            return await ProcessingRepository(conn).seconds_until_next_due(self.config.lookahead)

    async def _guarded(self, claimed: ClaimedOrder) -> None:
        async with self._slots:
            try:
                await self.process(claimed)
            except _AlreadyProcessed:
                log.info("order already processed elsewhere", order_id=mask_id(claimed.order_json.get("id")))
            except Exception as exc:  # never leave an order stuck: back off and try again later
                delay = self.config.retry_delay(claimed.attempts)
                log.warning(
                    "order processing failed; rescheduled",
                    order_id=mask_id(claimed.order_json.get("id")),
                    error=type(exc).__name__,
                    dependency=isinstance(exc, DependencyError),
                    retry_in_s=delay.total_seconds(),
                )
                async with self.transaction() as conn:
                    await ProcessingRepository(conn).reschedule(claimed.internal_id, delay)

    async def process(self, claimed: ClaimedOrder) -> None:
        order = NotificationOrder.model_validate(claimed.order_json)
        if order.condition_endpoint and not await self._condition_met(claimed, order.condition_endpoint):
            return
        recipients = await lookup_at_processing(
            self.contact_points,
            order,
            use_stale_contact_info=order.use_stale_contact_information
            or order.creator in self.config.stale_contact_orgs,
        )
        names = await self._names(order, recipients)
        generated = generate(order, recipients, names)
        await self._persist(claimed.internal_id, generated)

    async def _condition_met(self, claimed: ClaimedOrder, endpoint: str) -> bool:
        decision = await self.condition.check(endpoint)
        if decision is True:
            return True
        if decision is None:
            if claimed.attempts <= 1:
                async with self.transaction() as conn:
                    await ProcessingRepository(conn).reschedule(
                        claimed.internal_id, self.config.condition_retry_delay
                    )
                return False
            log.info("send condition inconclusive again; processing the order regardless")
            return True
        async with self.transaction() as conn:
            repo = ProcessingRepository(conn)
            if await repo.finish(claimed.internal_id, "SendConditionNotMet"):
                await CompletionRepository(conn).write_status_feed([claimed.internal_id])
        return False

    async def _names(self, order: NotificationOrder, recipients: list[ResolvedRecipient]) -> dict[str, str]:
        if not rules.needs_names(order):
            return {}
        orgs = sorted({r.organization_number for r in recipients if r.organization_number})
        nins = sorted({r.national_identity_number for r in recipients if r.national_identity_number})
        if not orgs and not nins:
            return {}
        return await self.names.party_names(orgs, nins)

    async def _persist(self, order_id: int, generated: GeneratedNotifications) -> None:
        final = generated.all_failed_at_generation
        async with self.transaction() as conn:
            repo = ProcessingRepository(conn)
            await repo.insert_emails(order_id, generated.emails)
            await repo.insert_sms(order_id, generated.sms)
            if not await repo.finish(order_id, "Completed" if final else "Processed"):
                raise _AlreadyProcessed()
            if final:
                await CompletionRepository(conn).write_status_feed([order_id])
            if any(e.result == "New" for e in generated.emails):
                await repo.notify(EMAIL_CHANNEL)
            if any(s.result == "New" for s in generated.sms):
                await repo.notify(SMS_CHANNEL)
        ORDERS_PROCESSED.labels(outcome="Completed" if final else "Processed").inc()
        _count_generated("email", [e.result for e in generated.emails])
        _count_generated("sms", [s.result for s in generated.sms])


class _AlreadyProcessed(Exception):
    """The guarded status change found the order no longer `Processing`: roll back, do nothing."""


def _count_generated(channel: str, results: list[str]) -> None:
    for result, count in Counter(results).items():
        NOTIFICATIONS_GENERATED.labels(channel=channel, result=result).inc(count)


def generate(
    order: NotificationOrder, recipients: list[ResolvedRecipient], names: dict[str, str]
) -> GeneratedNotifications:
    email_recipients, sms_recipients = rules.split_by_channel(order.notification_channel, recipients)
    return GeneratedNotifications(
        emails=list(rules.email_notifications(order, email_recipients, names)) if email_recipients else [],
        sms=list(rules.sms_notifications(order, sms_recipients, names)) if sms_recipients else [],
    )
