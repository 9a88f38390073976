"""The composition root: the one place where settings become concrete adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

import httpx
import structlog

from altinn_notifications.auth.platform_token import PlatformAccessTokens
from altinn_notifications.auth.service import Authenticator, build_authenticator
from altinn_notifications.config import Settings
from altinn_notifications.db import migrate
from altinn_notifications.db.embedded import start_embedded_postgres
from altinn_notifications.db.pool import Connection, Pool, create_pool
from altinn_notifications.dispatch.attachments import AttachmentSource, HttpAttachmentDownloader
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.dispatch.worker import (
    ComposedEmailDispatcher,
    EmailDispatcher,
    SmsDispatcher,
    StatusPoller,
)
from altinn_notifications.processing.condition import ConditionPort, HttpConditionClient
from altinn_notifications.processing.outbound import OutboundPolicy, outbound_client
from altinn_notifications.processing.worker import OrderProcessor, ProcessingConfig
from altinn_notifications.providers.base import EmailProvider, SmsProvider, poller_of
from altinn_notifications.providers.email.simulated import SimulatedEmailProvider
from altinn_notifications.providers.email.smtp import SmtpEmailProvider
from altinn_notifications.providers.outbox import Outbox
from altinn_notifications.providers.sms.simulated import SimulatedSmsProvider
from altinn_notifications.queue.loop import SingleFlight
from altinn_notifications.queue.maintenance import MaintenanceJobs, MaintenanceSettings
from altinn_notifications.recipients.altinn_http import TokenSource, build_recipient_ports
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.offload import close_large_work_thread
from altinn_notifications.recipients.ports import ContactPointsPort, PartyNamesPort
from altinn_notifications.reports.worker import ReportApplier, ReportRetrier
from altinn_notifications.status.completion import OrderCompletion

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TriggeredRuns:
    past_due_orders: SingleFlight
    terminate_expired: SingleFlight
    prune_status_feed: SingleFlight


@dataclass
class Container:
    settings: Settings
    database_url: str
    pool: Pool
    http: httpx.AsyncClient
    authenticator: Authenticator
    contact_points: ContactPointsPort
    party_names: PartyNamesPort
    condition: ConditionPort
    email_provider: EmailProvider
    sms_provider: SmsProvider
    outbox: Outbox | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    #: Where composed emails' attachments are downloaded from (their SAS URLs).
    attachments: AttachmentSource | None = None
    #: The client of sender-chosen URLs (condition endpoints), apart from `http` (the platform's).
    outbound: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """The unit of work (`db.pool.Transaction`): commits on success, rolls back on error."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection without a transaction, for a unit of work that is one (atomic) statement."""
        async with self.pool.acquire() as conn:
            yield conn

    @cached_property
    def maintenance(self) -> MaintenanceJobs:
        """This process's maintenance jobs, as configured (the trigger endpoints run these)."""
        return MaintenanceJobs.build(
            self.transaction, MaintenanceSettings.from_settings(self.settings), OrderCompletion()
        )

    @cached_property
    def order_processor(self) -> OrderProcessor:
        """The order processor of the trigger endpoint `pastdueorders` (workers build their own)."""
        return build_order_processor(self)

    @cached_property
    def triggered(self) -> TriggeredRuns:
        """One run at a time of each job the trigger endpoints start, however many callers ask."""
        jobs = self.maintenance
        return TriggeredRuns(
            past_due_orders=SingleFlight(self.order_processor.run_until_no_full_batch),
            terminate_expired=SingleFlight(jobs.ttl.run),
            prune_status_feed=SingleFlight(jobs.feed_pruning.run),
        )

    async def close(self) -> None:
        await self.email_provider.close()
        await self.sms_provider.close()
        if self.attachments is not None:
            await self.attachments.close()
        if self.outbox is not None:
            await self.outbox.close()
        await self.authenticator.close()
        await self.http.aclose()
        if self.outbound is not None:
            await self.outbound.aclose()
        await self.pool.close()
        close_large_work_thread()


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or an embedded PostgreSQL in the data dir when none is set."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.data_dir)


def platform_token_source(settings: Settings) -> TokenSource:
    """Minted tokens when a signing key is configured, else the static token, else none."""
    if settings.platform_access_token_key_file is not None:
        return PlatformAccessTokens.from_file(
            settings.platform_access_token_key_file,
            issuer=settings.platform_access_token_issuer,
            app=settings.platform_access_token_app,
        )
    if settings.platform_access_token is not None:
        return settings.platform_access_token.get_secret_value()
    return None


def build_email_provider(settings: Settings, outbox: Outbox | None) -> EmailProvider:
    if settings.email_provider == "acs":
        from altinn_notifications.providers.email.acs import AcsEmailProvider

        assert settings.acs_connection_string is not None  # enforced by Settings
        return AcsEmailProvider(
            settings.acs_connection_string.get_secret_value(),
            timeout=settings.acs_timeout_seconds,
            poll_interval=settings.acs_poll_interval_seconds,
            max_in_flight=settings.acs_max_in_flight,
        )
    if settings.email_provider == "smtp":
        assert settings.smtp_host is not None  # enforced by Settings
        return SmtpEmailProvider(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            tls=settings.smtp_tls,
            max_connections=settings.smtp_max_connections,
            outbox=outbox,
        )
    return SimulatedEmailProvider(
        outbox,
        report_delay=settings.simulated_report_delay_seconds,
        send_delay=settings.simulated_send_delay_seconds,
    )


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """Which targets sender-chosen URLs may reach (public addresses, and what the settings allow)."""
    return OutboundPolicy.of(settings.outbound_allow_private, settings.outbound_allowed_hosts)


def build_attachment_source(settings: Settings) -> AttachmentSource:
    return HttpAttachmentDownloader(
        concurrency=settings.attachment_download_concurrency,
        timeout=settings.attachment_download_timeout_seconds,
        max_total_bytes=settings.attachment_max_total_bytes,
        policy=outbound_policy(settings),
    )


def build_sms_provider(settings: Settings, outbox: Outbox | None) -> SmsProvider:
    if settings.sms_provider == "linkmobility":
        from altinn_notifications.providers.sms.linkmobility import LinkMobilitySmsProvider

        # enforced by Settings
        assert settings.linkmobility_url and settings.linkmobility_username and settings.linkmobility_password
        return LinkMobilitySmsProvider(
            str(settings.linkmobility_url),
            settings.linkmobility_username,
            settings.linkmobility_password.get_secret_value(),
            timeout=settings.linkmobility_timeout_seconds,
            retry_delays=settings.linkmobility_retry_schedule_seconds,
            batch_size=settings.linkmobility_batch_size,
            max_in_flight=settings.linkmobility_max_in_flight,
        )
    return SimulatedSmsProvider(
        outbox,
        report_delay=settings.simulated_report_delay_seconds,
        send_delay=settings.simulated_send_delay_seconds,
    )


async def build_container(settings: Settings, database_url: str | None = None) -> Container:
    url = database_url or resolve_database_url(settings)
    if settings.run_migrations:
        migrate.upgrade(url)
    pool = await create_pool(url, min_size=settings.db_pool_min_size, max_size=settings.db_pool_max_size)
    http = httpx.AsyncClient(timeout=settings.condition_timeout_seconds, follow_redirects=False)
    outbound = outbound_client(outbound_policy(settings), timeout=settings.condition_timeout_seconds)
    registry = LocalRegistryContactPoints(pool)
    contact_points, party_names = build_recipient_ports(
        http,
        local_contact_points=registry,
        local_party_names=registry,
        profile_url=str(settings.profile_url) if settings.profile_url else None,
        register_url=str(settings.register_url) if settings.register_url else None,
        authorization_url=str(settings.authorization_url) if settings.authorization_url else None,
        platform_access_token=platform_token_source(settings),
        timeout=settings.platform_timeout_seconds,
        authorization_batch_size=settings.authorization_batch_size,
        authorization_concurrency=settings.authorization_concurrency,
    )
    outbox = Outbox(settings.data_dir / "outbox.jsonl") if settings.outbox_enabled else None
    return Container(
        settings=settings,
        database_url=url,
        pool=pool,
        http=http,
        authenticator=build_authenticator(settings),
        contact_points=contact_points,
        party_names=party_names,
        condition=HttpConditionClient(outbound),
        outbound=outbound,
        email_provider=build_email_provider(settings, outbox),
        sms_provider=build_sms_provider(settings, outbox),
        outbox=outbox,
        attachments=build_attachment_source(settings),
    )


# --- the background workers (`workers.py` runs them; the trigger endpoints use some of them) ---


def processing_config(s: Settings) -> ProcessingConfig:
    return ProcessingConfig(
        batch_size=s.processing_batch_size,
        concurrency=s.processing_concurrency,
        condition_retry_delay=timedelta(seconds=s.condition_retry_seconds),
        retry_base_delay=timedelta(seconds=s.dependency_retry_seconds),
        lookahead=timedelta(seconds=s.processing_lookahead_seconds),
        lease=timedelta(seconds=s.lease_seconds),
    )


def dispatch_config(s: Settings) -> DispatchConfig:
    return DispatchConfig(
        batch_size=s.dispatch_batch_size,
        concurrency=s.dispatch_concurrency,
        lease=timedelta(seconds=s.lease_seconds),
        flush_size=s.dispatch_flush_size,
        flush_interval=s.dispatch_flush_interval_seconds,
        composed_batch_size=s.composed_email_batch_size,
        composed_concurrency=s.composed_email_concurrency,
        email_sends_per_second=s.email_max_sends_per_second,
        sms_sends_per_second=s.sms_max_sends_per_second,
        allowance_burst_seconds=s.send_allowance_burst_seconds,
    )


def build_order_processor(container: Container, config: ProcessingConfig | None = None) -> OrderProcessor:
    return OrderProcessor(
        container.transaction,
        container.contact_points,
        container.party_names,
        container.condition,
        config or processing_config(container.settings),
    )


def build_dispatchers(
    container: Container,
    config: DispatchConfig,
    attachments: AttachmentSource,
    clock: Callable[[], datetime],
) -> tuple[EmailDispatcher, ComposedEmailDispatcher, SmsDispatcher, list[StatusPoller]]:
    """The email, composed-email and SMS dispatchers, and a status poller per vendor that has `poll`."""
    tx = container.transaction
    email = EmailDispatcher(tx, container.email_provider, config)
    composed = ComposedEmailDispatcher(tx, container.email_provider, attachments, config)
    composed.polls_scheduled = email.polls_scheduled  # one email poller wakes for both
    sms = SmsDispatcher(tx, container.sms_provider, config, clock)
    # Vendors with long-running operations (ACS) are polled from the database by any worker.
    pollers = [
        StatusPoller(tx, dispatcher.channel, poller, config)
        for dispatcher in (email, sms)
        if (poller := poller_of(dispatcher.provider)) is not None
    ]
    return email, composed, sms, pollers


def build_report_workers(container: Container) -> tuple[ReportApplier, ReportRetrier]:
    """The providers' delivery-report sink of this process, and the retries of early reports."""
    schedule = tuple(container.settings.report_retry_schedule_seconds)
    return (
        ReportApplier(container.transaction, container.clock, schedule),
        ReportRetrier(container.transaction, schedule),
    )
