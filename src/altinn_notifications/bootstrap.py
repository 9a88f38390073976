"""The composition root: the one place where settings become concrete adapters."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

import httpx
import structlog

from altinn_notifications.auth.maskinporten import MaskinportenTokens, build_maskinporten_tokens
from altinn_notifications.auth.platform_token import PlatformAccessTokens
from altinn_notifications.auth.service import Authenticator, build_authenticator
from altinn_notifications.config import Settings
from altinn_notifications.console.security import ConsoleSigner
from altinn_notifications.db import migrate
from altinn_notifications.db.batching import StatementBatcher
from altinn_notifications.db.embedded import start_embedded_postgres
from altinn_notifications.db.pool import Connection, Pool, create_pool, transactions
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
from altinn_notifications.providers.base import EmailProvider, ScheduledReports, SmsProvider, poller_of
from altinn_notifications.providers.email.simulated import SimulatedEmailProvider
from altinn_notifications.providers.email.smtp import SmtpEmailProvider
from altinn_notifications.providers.outbox import Outbox
from altinn_notifications.providers.sms.simulated import SimulatedSmsProvider
from altinn_notifications.queue.loop import SingleFlight
from altinn_notifications.queue.maintenance import MaintenanceJobs, MaintenanceSettings
from altinn_notifications.ratelimits.service import RateLimiter
from altinn_notifications.recipients.altinn_http import TokenSource, build_recipient_ports
from altinn_notifications.recipients.brreg import BrregNames
from altinn_notifications.recipients.combined import CombinedContactPoints
from altinn_notifications.recipients.krr import KrrPersonContactPoints
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.offload import close_large_work_thread
from altinn_notifications.recipients.ports import ContactPointsPort, PartyNamesPort
from altinn_notifications.reports.worker import DurableReportSchedule, ReportApplier, ReportRetrier
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
    #: Our own Maskinporten tokens (KRR, the Altinn exchange), when a register needs them.
    maskinporten: MaskinportenTokens | None = None

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
    def statements(self) -> StatementBatcher:
        """The intake's one-statement writes, grouped across concurrent requests (`db.batching`)."""
        return StatementBatcher(self.pool)

    @cached_property
    def console_signer(self) -> ConsoleSigner:
        """Signs the console's session cookies and one-time sign-in links (secret: setting or data dir)."""
        return ConsoleSigner.from_settings(self.settings)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """The senders' allowances (off unless `NOTIFICATIONS_RATE_LIMITS*` are set)."""
        return RateLimiter.of(self.settings)

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
        if self.maskinporten is not None:
            await self.maskinporten.close()
        await self.http.aclose()
        if self.outbound is not None:
            await self.outbound.aclose()
        if "statements" in self.__dict__:  # built on first use
            await self.statements.close()
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


def outbox_for(settings: Settings, provider: str, outbox: Outbox | None) -> Outbox | None:
    """The outbox a provider writes its copies to: by default only the simulated ones (the development
    mail catcher); `NOTIFICATIONS_OUTBOX_ENABLED=true` adds SMTP, `false` turns it off for all."""
    if settings.outbox_enabled is None:
        return outbox if provider == "simulated" else None
    return outbox if settings.outbox_enabled else None


def build_outbox(settings: Settings) -> Outbox | None:
    """The outbox file, when some configured provider writes to it."""
    writers = {settings.email_provider, settings.sms_provider} & {"simulated", "smtp"}
    if settings.outbox_enabled is False or not writers:
        return None
    if settings.outbox_enabled is None and "simulated" not in writers:
        return None
    return Outbox(
        settings.data_dir / "outbox.jsonl",
        max_bytes=settings.outbox_max_bytes,
        max_age=timedelta(days=settings.outbox_retention_days) if settings.outbox_retention_days else None,
    )


def build_email_provider(
    settings: Settings, outbox: Outbox | None, reports: ScheduledReports | None = None
) -> EmailProvider:
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
            outbox=outbox_for(settings, "smtp", outbox),
        )
    return SimulatedEmailProvider(
        outbox_for(settings, "simulated", outbox),
        report_delay=settings.simulated_report_delay_seconds,
        send_delay=settings.simulated_send_delay_seconds,
        reports=reports,
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


def build_sms_provider(
    settings: Settings, outbox: Outbox | None, reports: ScheduledReports | None = None
) -> SmsProvider:
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
        outbox_for(settings, "simulated", outbox),
        report_delay=settings.simulated_report_delay_seconds,
        send_delay=settings.simulated_send_delay_seconds,
        reports=reports,
    )


def needs_maskinporten(settings: Settings) -> bool:
    return settings.chosen_persons_source == "krr" or settings.altinn_token_exchange_url is not None


def build_registers(
    settings: Settings,
    http: httpx.AsyncClient,
    registry: LocalRegistryContactPoints,
    maskinporten: MaskinportenTokens | None,
) -> tuple[ContactPointsPort, PartyNamesPort]:
    """The contact points and names ports of the choices `NOTIFICATIONS_PERSONS_SOURCE`,
    `_ORGANIZATIONS_SOURCE` and `_NAMES_SOURCE` (unset: Altinn when its URLs are set, else the local
    registry). Person names have no open register: with `brreg`, they come from Altinn Register when
    `NOTIFICATIONS_REGISTER_URL` is set, else from the local registry."""
    altinn_points, altinn_names = build_recipient_ports(
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
        bearer=maskinporten.altinn_token if maskinporten and settings.altinn_token_exchange_url else None,
    )
    organizations: ContactPointsPort = (
        altinn_points if settings.chosen_organizations_source == "altinn" else registry
    )
    persons = settings.chosen_persons_source
    contact_points: ContactPointsPort
    if persons == "krr":
        assert settings.krr_url is not None and maskinporten is not None  # enforced by Settings
        krr = KrrPersonContactPoints(
            http,
            str(settings.krr_url),
            maskinporten,
            scope=settings.krr_scope,
            batch_size=settings.krr_batch_size,
            concurrency=settings.krr_concurrency,
            timeout=settings.krr_timeout_seconds,
        )
        contact_points = CombinedContactPoints(krr, organizations)
    else:
        chosen = altinn_points if persons == "altinn" else registry
        contact_points = chosen if chosen is organizations else CombinedContactPoints(chosen, organizations)
    names: PartyNamesPort = altinn_names if settings.chosen_names_source == "altinn" else registry
    if settings.chosen_names_source == "brreg":
        names = BrregNames(
            http,
            str(settings.brreg_url),
            altinn_names,  # persons: Register when configured, else the local registry
            cache_seconds=settings.brreg_cache_seconds,
            concurrency=settings.brreg_concurrency,
            timeout=settings.brreg_timeout_seconds,
        )
    return contact_points, names


def freeze_startup_objects() -> None:
    """Keep what start-up built (modules, settings, the container, the app) out of the garbage collector's
    full collections: each one otherwise walks all of it, a pause of tens of milliseconds on the event loop
    that was the API's p99 under load (docs/benchmarks.md). Objects made later are collected as usual."""
    gc.collect()
    gc.freeze()


async def build_container(settings: Settings, database_url: str | None = None) -> Container:
    url = database_url or resolve_database_url(settings)
    if settings.run_migrations:
        migrate.upgrade(url)
    pool = await create_pool(url, min_size=settings.db_pool_min_size, max_size=settings.db_pool_max_size)
    # The platform's client (registers, PDP); sender-chosen URLs have their own (`outbound`).
    http = httpx.AsyncClient(timeout=settings.platform_timeout_seconds, follow_redirects=False)
    outbound = outbound_client(outbound_policy(settings), timeout=settings.condition_timeout_seconds)
    registry = LocalRegistryContactPoints(pool)
    maskinporten = build_maskinporten_tokens(settings, http) if needs_maskinporten(settings) else None
    contact_points, party_names = build_registers(settings, http, registry, maskinporten)
    outbox = build_outbox(settings)
    # The simulated vendors' reports to come live in the database (a restart loses none).
    scheduled = DurableReportSchedule(transactions(pool), utcnow)
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
        maskinporten=maskinporten,
        email_provider=build_email_provider(settings, outbox, scheduled),
        sms_provider=build_sms_provider(settings, outbox, scheduled),
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
        claim_per_creator=s.processing_claim_per_creator,
        condition_concurrency=s.condition_concurrency,
        condition_per_creator=s.condition_concurrency_per_creator,
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
