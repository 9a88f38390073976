"""The background loops: order processing, email (ordinary and composed) and SMS dispatch, vendor status
polls, delivery reports (and their retries), maintenance (lease rescue, TTL, missed completions, feed
retention).

Wake-ups: LISTEN/NOTIFY on commit (a hint), a timer for the next future send time, and polling as the
safety net. Any number of processes may run these loops against one database. On stop, loops finish
the batch in hand and exit; leases cover anything a killed process leaves behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from altinn_notifications.bootstrap import Container, build_attachment_source
from altinn_notifications.config import Settings
from altinn_notifications.dispatch.service import (
    ComposedEmailDispatcher,
    DispatchConfig,
    EmailDispatcher,
    Maintenance,
    MaintenanceConfig,
    ReportApplier,
    SmsDispatcher,
    StatusPoller,
)
from altinn_notifications.processing.repository import EMAIL_CHANNEL, ORDERS_CHANNEL, SMS_CHANNEL
from altinn_notifications.processing.service import OrderProcessor, ProcessingConfig
from altinn_notifications.providers.base import poller_of
from altinn_notifications.reports.service import ReportRetrier

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    poll_interval: float = 5.0
    maintenance_interval: float = 15.0
    ttl_interval: float = 60.0
    feed_cleanup_interval: float = 3600.0
    completion_interval: float = 60.0
    #: After a composed-email claim found nothing, the next one waits at least this long. Every new email
    #: wakes the loop, and an empty claim is not free: it looks past the ordinary emails waiting.
    composed_min_gap: float = 1.0


async def _wait(events: list[asyncio.Event], seconds: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def run_loop(
    name: str,
    step: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    stop: asyncio.Event,
    idle: Callable[[], Awaitable[float]],
) -> None:
    """Run `step` while it finds work; otherwise sleep until woken, stopped, or `idle()` seconds pass."""
    while not stop.is_set():
        wake.clear()
        try:
            found = await step()
        except Exception as exc:  # the loop must survive a bad moment of the database or a dependency
            log.error("worker step failed", loop=name, error=type(exc).__name__, exc_info=exc)
            found = 0
            await _wait([stop], 1.0)
        if found:
            continue
        try:
            timeout = await idle()
        except Exception:
            timeout = 1.0
        await _wait([wake, stop], timeout)


class Workers:
    def __init__(
        self,
        container: Container,
        config: WorkerConfig | None = None,
        *,
        processing: ProcessingConfig | None = None,
        dispatch: DispatchConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.container = container
        s = container.settings
        self.config = config or WorkerConfig(
            poll_interval=s.poll_interval_seconds,
            maintenance_interval=s.maintenance_interval_seconds,
            completion_interval=s.completion_sweep_interval_seconds,
        )
        tx = container.transaction
        self.processor = OrderProcessor(
            tx,
            container.contact_points,
            container.party_names,
            container.condition,
            processing or processing_config(s),
        )
        dispatch = dispatch or dispatch_config(s)
        self.email = EmailDispatcher(tx, container.email_provider, dispatch)
        # Composed emails (attachments) have their own claim and loop: downloads never hold up other email.
        self._own_attachments = container.attachments is None
        attachments = container.attachments or build_attachment_source(s)
        self.composed = ComposedEmailDispatcher(tx, container.email_provider, attachments, dispatch)
        self.composed.polls_scheduled = self.email.polls_scheduled  # one email poller wakes for both
        # The clock decides the SMS daytime window; tests inject one instead of waiting for 09:00.
        self.sms = SmsDispatcher(tx, container.sms_provider, dispatch, clock or container.clock)
        report_schedule = tuple(s.report_retry_schedule_seconds)
        self.reports = ReportApplier(tx, container.clock, report_schedule)
        self.report_retries = ReportRetrier(tx, report_schedule)
        # Vendors with long-running operations (ACS) are polled from the database by any worker.
        self.pollers = [
            StatusPoller(tx, dispatcher.channel, poller, dispatch)
            for dispatcher in (self.email, self.sms)
            if (poller := poller_of(dispatcher.provider)) is not None
        ]
        self.maintenance = Maintenance(tx, MaintenanceConfig())
        self.wake = {
            ORDERS_CHANNEL: asyncio.Event(),
            EMAIL_CHANNEL: asyncio.Event(),
            SMS_CHANNEL: asyncio.Event(),
        }
        #: The composed-email loop wakes on the email channel too, with its own event (each loop clears
        #: its event before it claims).
        self.composed_wake = asyncio.Event()
        self._composed_next_claim = 0.0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        await self.container.email_provider.start(self.reports.submit)
        await self.container.sms_provider.start(self.reports.submit)
        poll = self.config.poll_interval

        async def orders_idle() -> float:
            next_due = await self.processor.seconds_until_next_due()
            return poll if next_due is None else min(poll, next_due)

        async def email_idle() -> float:
            paused = await self.email.paused_for()
            return max(paused, 0.05) if paused else poll

        async def sms_idle() -> float:
            paused = await self.sms.paused_for()
            return max(paused, 0.05) if paused else poll

        async def retries_idle() -> float:
            due = await self.report_retries.seconds_until_due()
            return poll if due is None else min(poll, max(due, 0.01))

        def poll_idle(poller: StatusPoller) -> Callable[[], Awaitable[float]]:
            async def idle() -> float:
                paused = await poller.paused_for()
                if paused:
                    return max(paused, 0.05)
                due = await poller.seconds_until_due()
                return poll if due is None else min(poll, max(due, 0.01))

            return idle

        poll_wake = {
            "email": self.email.polls_scheduled,
            "sms": self.sms.polls_scheduled,
        }

        tasks = [
            asyncio.create_task(self._listen(), name="listen"),
            asyncio.create_task(
                run_loop("orders", self.processor.run_once, self.wake[ORDERS_CHANNEL], self.stop, orders_idle)
            ),
            asyncio.create_task(
                run_loop("email", self.email.run_once, self.wake[EMAIL_CHANNEL], self.stop, email_idle)
            ),
            asyncio.create_task(
                run_loop("composed-email", self._composed_step, self.composed_wake, self.stop, email_idle)
            ),
            asyncio.create_task(
                run_loop("sms", self.sms.run_once, self.wake[SMS_CHANNEL], self.stop, sms_idle)
            ),
            asyncio.create_task(self.reports.run(self.stop), name="reports"),
            asyncio.create_task(
                run_loop(
                    "report-retries",
                    self.report_retries.run_once,
                    asyncio.Event(),
                    self.stop,
                    retries_idle,
                )
            ),
            *(
                asyncio.create_task(
                    run_loop(f"{p.channel}-polls", p.run_once, poll_wake[p.channel], self.stop, poll_idle(p))
                )
                for p in self.pollers
            ),
            asyncio.create_task(
                self._periodic("leases", self.maintenance.rescue_leases, self.config.maintenance_interval)
            ),
            asyncio.create_task(
                self._periodic(
                    "order-leases",
                    self.processor.keep_leases,
                    self.processor.config.lease.total_seconds() / 3,
                )
            ),
            asyncio.create_task(
                self._periodic("ttl", self.maintenance.terminate_expired, self.config.ttl_interval)
            ),
            asyncio.create_task(
                self._periodic(
                    "missed-completions", self.maintenance.complete_missed, self.config.completion_interval
                )
            ),
            asyncio.create_task(
                self._periodic(
                    "feed-retention",
                    self.maintenance.delete_old_feed_entries,
                    self.config.feed_cleanup_interval,
                )
            ),
            asyncio.create_task(
                self._periodic(
                    "instant-reservations",
                    self.maintenance.delete_abandoned_reservations,
                    self.config.feed_cleanup_interval,
                )
            ),
        ]
        log.info("workers started")
        try:
            await self.stop.wait()
        finally:
            self.stop.set()
            self.processor.stop_claiming()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.processor.drain()
            if self._own_attachments:
                await self.composed.attachments.close()
            log.info("workers stopped")

    async def _composed_step(self) -> int:
        loop = asyncio.get_running_loop()
        wait = self._composed_next_claim - loop.time()
        if wait > 0:
            await _wait([self.stop], wait)
            if self.stop.is_set():
                return 0
        found = await self.composed.run_once()
        if not found:
            self._composed_next_claim = loop.time() + self.config.composed_min_gap
        return found

    def request_stop(self) -> None:
        self.stop.set()

    async def _periodic(self, name: str, step: Callable[[], Awaitable[int]], interval: float) -> None:
        while not self.stop.is_set():
            try:
                await step()
            except Exception as exc:
                log.error("maintenance step failed", task=name, error=type(exc).__name__, exc_info=exc)
            await _wait([self.stop], interval)

    async def _listen(self) -> None:
        """Hold one connection LISTENing; reconnect when it drops (polling covers the gap)."""
        while not self.stop.is_set():
            conn: Any = None
            try:
                conn = await asyncpg.connect(self.container.database_url)
                for channel in self.wake:
                    await conn.add_listener(channel, self._on_notify)
                await _wait([self.stop], float("inf"))
            except Exception as exc:
                log.warning("listen connection lost", error=type(exc).__name__)
                await _wait([self.stop], 1.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)

    def _on_notify(self, _conn: object, _pid: int, channel: str, _payload: str) -> None:
        event = self.wake.get(channel)
        if event is not None:
            event.set()
        if channel == EMAIL_CHANNEL:
            self.composed_wake.set()


def dispatch_config(s: Settings) -> DispatchConfig:
    return DispatchConfig(
        batch_size=s.dispatch_batch_size,
        concurrency=s.dispatch_concurrency,
        lease=timedelta(seconds=s.lease_seconds),
        flush_size=s.dispatch_flush_size,
        flush_interval=s.dispatch_flush_interval_seconds,
        composed_batch_size=s.composed_email_batch_size,
        composed_concurrency=s.composed_email_concurrency,
    )


def processing_config(s: Settings) -> ProcessingConfig:
    return ProcessingConfig(
        batch_size=s.processing_batch_size,
        concurrency=s.processing_concurrency,
        condition_retry_delay=timedelta(seconds=s.condition_retry_seconds),
        retry_base_delay=timedelta(seconds=s.dependency_retry_seconds),
        lookahead=timedelta(seconds=s.processing_lookahead_seconds),
        lease=timedelta(seconds=s.lease_seconds),
        stale_contact_orgs=frozenset(s.stale_contact_orgs),
    )
