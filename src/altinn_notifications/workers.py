"""The worker process: every background loop of the pipeline, run side by side in one event loop.

Order processing, email (ordinary and composed) and SMS dispatch, vendor status polls, delivery reports
(and their retries), and the maintenance jobs. Wake-ups: LISTEN/NOTIFY on commit (a hint), a timer for the
next future send time, and polling as the safety net. Any number of processes may run these loops against
one database. On stop, loops finish the batch in hand and exit; leases cover anything a killed process
leaves behind. The objects themselves are built by the composition root (`bootstrap.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from altinn_notifications.bootstrap import (
    Container,
    build_attachment_source,
    build_dispatchers,
    build_order_processor,
    build_report_workers,
    dispatch_config,
)
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.dispatch.worker import StatusPoller
from altinn_notifications.processing.worker import ProcessingConfig
from altinn_notifications.queue.channels import EMAIL_NEW, ORDERS_DUE, REPORTS_DUE, SMS_NEW
from altinn_notifications.queue.heartbeat import FLUSH_INTERVAL_SECONDS, Heartbeats
from altinn_notifications.queue.listener import Listener
from altinn_notifications.queue.loop import poll_or_sooner, run_loop, run_periodic, wait_any
from altinn_notifications.queue.maintenance import MaintenanceJobs, MaintenanceSettings
from altinn_notifications.status.completion import OrderCompletion

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """Loop timing of one worker process: from the settings by default; tests shorten it. The maintenance
    jobs' intervals are their own settings (`MaintenanceSettings`)."""

    poll_interval: float = 5.0
    #: After a composed-email claim found nothing, the next one waits at least this long. Every new email
    #: wakes the loop, and an empty claim is not free: it looks past the ordinary emails waiting.
    composed_min_gap: float = 1.0
    #: The same for the report retries: every scheduled simulated report wakes them (it is due shortly),
    #: and under load those wake-ups come by the dozen per second.
    report_retries_min_gap: float = 0.05


class Workers:
    def __init__(
        self,
        container: Container,
        config: WorkerConfig | None = None,
        *,
        processing: ProcessingConfig | None = None,
        dispatch: DispatchConfig | None = None,
        maintenance: MaintenanceSettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.container = container
        s = container.settings
        self.config = config or WorkerConfig(poll_interval=s.poll_interval_seconds)
        self.processor = build_order_processor(container, processing)
        # Composed emails (attachments) have their own claim and loop: downloads never hold up other email.
        self._own_attachments = container.attachments is None
        attachments = container.attachments or build_attachment_source(s)
        # The clock decides the SMS daytime window; tests inject one instead of waiting for 09:00.
        self.email, self.composed, self.sms, self.pollers = build_dispatchers(
            container, dispatch or dispatch_config(s), attachments, clock or container.clock
        )
        self.reports, self.report_retries = build_report_workers(container)
        self.maintenance = MaintenanceJobs.build(
            container.transaction, maintenance or MaintenanceSettings.from_settings(s), OrderCompletion()
        )
        self.wake = {
            ORDERS_DUE: asyncio.Event(),
            EMAIL_NEW: asyncio.Event(),
            SMS_NEW: asyncio.Event(),
            REPORTS_DUE: asyncio.Event(),
        }
        #: The composed-email loop wakes on the email channel too, with its own event (each loop clears
        #: its event before it claims).
        self.composed_wake = asyncio.Event()
        self._composed_next_claim = 0.0
        self._retries_next_take = 0.0
        self.stop = asyncio.Event()
        #: When each loop last ran and last found work (the console's worker liveness).
        self.heartbeats = Heartbeats()

    async def _write_heartbeats(self) -> int:
        return await self.heartbeats.flush(self.container.transaction)

    async def run(self) -> None:
        await self.container.email_provider.start(self.reports.submit)
        await self.container.sms_provider.start(self.reports.submit)
        listener = Listener(
            self.container.database_url,
            {
                ORDERS_DUE: [self.wake[ORDERS_DUE]],
                EMAIL_NEW: [self.wake[EMAIL_NEW], self.composed_wake],
                SMS_NEW: [self.wake[SMS_NEW]],
                REPORTS_DUE: [self.wake[REPORTS_DUE]],
            },
        )
        tasks = [
            asyncio.create_task(listener.run(self.stop), name="listen"),
            *self._loops(),
            asyncio.create_task(self.reports.run(self.stop), name="reports"),
            *(
                asyncio.create_task(
                    run_periodic(job.name, job.run, job.interval, self.stop, self.heartbeats.beat),
                    name=job.name,
                )
                for job in self.maintenance.all()
            ),
            asyncio.create_task(
                run_periodic(
                    "order-leases",
                    self.processor.keep_leases,
                    self.processor.config.lease.total_seconds() / 3,
                    self.stop,
                )
            ),
            asyncio.create_task(
                run_periodic("heartbeats", self._write_heartbeats, FLUSH_INTERVAL_SECONDS, self.stop),
                name="heartbeats",
            ),
        ]
        log.info("workers started")
        try:
            await self.stop.wait()
        finally:
            self.stop.set()
            self.processor.stop_claiming()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Sends in flight finish and their results are written before the process ends.
            await asyncio.gather(
                *(d.close() for d in (self.email, self.composed, self.sms, *self.pollers)),
                return_exceptions=True,
            )
            await self.processor.drain()
            with contextlib.suppress(Exception):  # the last beats; the database may be what stopped us
                await self._write_heartbeats()
            if self._own_attachments:
                await self.composed.attachments.close()
            log.info("workers stopped")

    def _loops(self) -> list[asyncio.Task[None]]:
        """The claim loops: each runs its step while it finds work, else sleeps until woken or due."""
        poll = self.config.poll_interval
        stop = self.stop
        beat = self.heartbeats.beat

        async def orders_idle() -> float:
            next_due = await self.processor.seconds_until_next_due()
            return poll if next_due is None else min(poll, next_due)

        def paused_or_poll(paused_for: Callable[[], Awaitable[float]]) -> Callable[[], Awaitable[float]]:
            async def idle() -> float:
                paused = await paused_for()
                return max(paused, 0.05) if paused else poll

            return idle

        async def retries_idle() -> float:
            return poll_or_sooner(poll, await self.report_retries.seconds_until_due())

        def poll_idle(poller: StatusPoller) -> Callable[[], Awaitable[float]]:
            async def idle() -> float:
                paused = await poller.paused_for()
                if paused:
                    return max(paused, 0.05)
                return poll_or_sooner(poll, await poller.seconds_until_due())

            return idle

        email_idle = paused_or_poll(self.email.paused_for)
        polls_wake = {"email": self.email.polls_scheduled, "sms": self.sms.polls_scheduled}
        loops = [
            run_loop("orders", self.processor.run_once, self.wake[ORDERS_DUE], stop, orders_idle, beat),
            run_loop("email", self.email.step, self.wake[EMAIL_NEW], stop, email_idle, beat),
            run_loop("composed-email", self._composed_step, self.composed_wake, stop, email_idle, beat),
            run_loop(
                "sms", self.sms.step, self.wake[SMS_NEW], stop, paused_or_poll(self.sms.paused_for), beat
            ),
            run_loop(
                "report-retries", self._report_retries_step, self.wake[REPORTS_DUE], stop, retries_idle, beat
            ),
            *(
                run_loop(f"{p.channel}-polls", p.step, polls_wake[p.channel], stop, poll_idle(p), beat)
                for p in self.pollers
            ),
        ]
        return [asyncio.create_task(loop) for loop in loops]

    async def _composed_step(self) -> int:
        loop = asyncio.get_running_loop()
        wait = self._composed_next_claim - loop.time()
        if wait > 0:
            await wait_any([self.stop], wait)
            if self.stop.is_set():
                return 0
        found = await self.composed.step()
        if not found:
            self._composed_next_claim = loop.time() + self.config.composed_min_gap
        return found

    async def _report_retries_step(self) -> int:
        loop = asyncio.get_running_loop()
        wait = self._retries_next_take - loop.time()
        if wait > 0:
            await wait_any([self.stop], wait)
            if self.stop.is_set():
                return 0
        found = await self.report_retries.run_once()
        if not found:
            self._retries_next_take = loop.time() + self.config.report_retries_min_gap
        return found

    def request_stop(self) -> None:
        self.stop.set()
