"""One settings object, read from `NOTIFICATIONS_*` environment variables (documented in the README)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

SCOPE_CREATE = "altinn:serviceowner/notifications.create"
SCOPE_COMPOSED_EMAIL = "altinn:serviceowner/notifications.composedemail.create"
# Support staff's read-only lookups across every sender (the reference's `SupportDashboardAccess` policy).
SCOPE_SUPPORT = "altinn:notifications.support.admin"


class SettingsError(Exception):
    """Raised at start-up when a setting is malformed; the message names the setting."""


class RateLimits(BaseModel):
    """A creator's allowance; every field unset means unlimited (the reference has no limits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_second: float | None = Field(default=None, gt=0)
    requests_burst: int | None = Field(default=None, ge=1)
    notifications_per_second: float | None = Field(default=None, gt=0)
    notifications_burst: int | None = Field(default=None, ge=1)
    daily_notifications: int | None = Field(default=None, ge=0)

    @property
    def enabled(self) -> bool:
        return any(
            v is not None
            for v in (self.requests_per_second, self.notifications_per_second, self.daily_notifications)
        )


class TokenIssuer(BaseModel):
    """One trusted issuer of bearer tokens (`NOTIFICATIONS_TOKEN_ISSUERS`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(min_length=1, description="The exact `iss` of its tokens.")
    keys: str = Field(min_length=1, description="OpenID configuration / JWKS URL, or a JWKS or PEM file.")
    audience: str | None = Field(default=None, description="Required `aud`; unset: not checked.")
    claims: Literal["altinn", "maskinporten"] = Field(
        default="altinn",
        description="altinn: urn:altinn:org and urn:altinn:scope; maskinporten: consumer and scope.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts an embedded PostgreSQL in the data dir."
    )
    data_dir: Path = Field(default=Path("./.data"), description="Embedded database, dev signing key, outbox.")
    host: str = "127.0.0.1"
    port: int = Field(default=5090, ge=1, le=65535)
    base_uri: AnyHttpUrl | None = Field(
        default=None, description="Prefix of links and Location headers; unset: http://localhost:{port}."
    )
    api_processes: int = Field(
        default=1, ge=1, description="Processes of `api` sharing its port (the API is CPU-bound per process)."
    )
    default_email_from_address: str = "noreply@altinn.no"
    default_sms_sender_number: str = "Altinn"

    jwks_url: AnyHttpUrl | None = Field(default=None, description="OpenID configuration or JWKS URL.")
    jwks_file: Path | None = Field(default=None, description="Local JWKS or PEM public key file.")
    jwt_issuer: str | None = Field(default=None, description="Required `iss`; unset: not checked.")
    jwt_audience: str | None = Field(default=None, description="Required `aud`; unset: not checked.")
    jwks_cache_seconds: int = Field(default=3600, ge=0)
    # Incoming platform access tokens (docs/compatibility.md C2); none configured: the header is refused.
    platform_token_keys_dir: Path | None = Field(
        default=None,
        description="Directory of `<issuer>.pem|.crt|.cer|.json|.jwks`: the keys each issuer signs PATs with.",
    )
    platform_token_issuers: dict[str, str] = Field(
        default_factory=dict, description="JSON object: issuer -> JWKS URL or key file of its PAT keys."
    )
    platform_token_allowed_issuers: list[str] | None = Field(
        default=None, description="JSON list: the only PAT issuers accepted; unset: any issuer with keys."
    )

    db_pool_min_size: int = Field(default=2, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)
    run_migrations: bool = True

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    triggers_enabled: bool = True
    triggers_api_key: SecretStr | None = Field(
        default=None, description="When set, the trigger endpoints require it in the X-API-Key header."
    )

    # Statistics exports (docs/compatibility.md C17)
    metrics_api_key: SecretStr | None = Field(
        default=None, description="X-API-Key of the Parquet metrics exports; unset: exports refused."
    )
    environment_name: str = Field(
        default="local",
        validation_alias=AliasChoices("environment_name", "NOTIFICATIONS_ENVIRONMENT"),
        description="Environment name in metrics file names and X-Environment.",
    )

    # Altinn platform (unset: the local registry)
    profile_url: AnyHttpUrl | None = Field(
        default=None, description="Altinn Profile base URL, e.g. .../profile/api/v1/"
    )
    register_url: AnyHttpUrl | None = Field(
        default=None, description="Altinn Register base URL, e.g. .../register/api/v1/"
    )
    authorization_url: AnyHttpUrl | None = Field(
        default=None, description="Altinn Authorization base URL (PDP), e.g. .../authorization/api/v1/"
    )
    platform_timeout_seconds: float = Field(default=30.0, gt=0)
    platform_access_token: SecretStr | None = Field(
        default=None, description="Sent as PlatformAccessToken to Register and PDP."
    )
    platform_access_token_key_file: Path | None = Field(
        default=None, description="PEM RSA key to mint short-lived PlatformAccessTokens with, instead."
    )
    platform_access_token_issuer: str = "platform"
    platform_access_token_app: str = "notifications"
    authorization_batch_size: int = Field(default=500, ge=1)
    authorization_concurrency: int = Field(default=10, ge=1)

    # Outside Altinn: trusted token issuers (Maskinporten), the national registers, the outbound
    # Maskinporten client (docs/self-hosting.md). Unset choices keep the behaviour of the settings above.
    token_issuers: list[TokenIssuer] = Field(
        default_factory=list,
        description="JSON list of bearer-token issuers: {issuer, keys, audience?, claims: altinn|maskinporten}.",
    )
    service_owners_file: Path | None = Field(
        default=None,
        description="altinn-orgs.json: maps a Maskinporten consumer's org number to its org code.",
    )
    persons_source: Literal["local", "altinn", "krr"] | None = Field(
        default=None, description="Person contact points; unset: altinn when PROFILE_URL is set, else local."
    )
    organizations_source: Literal["local", "altinn"] | None = Field(
        default=None, description="Organisation (and self-identified user) contact points; unset: as persons."
    )
    names_source: Literal["local", "altinn", "brreg"] | None = Field(
        default=None, description="Party names; unset: altinn when REGISTER_URL is set, else local."
    )
    krr_url: AnyHttpUrl | None = Field(
        default=None,
        description="Kontaktregisteret's person lookup, e.g. https://kontaktregisteret.no/rest/v2/personer",
    )
    krr_scope: str = "krr:global/kontaktinformasjon.read"
    krr_batch_size: int = Field(default=1000, ge=1, le=1000, description="Identifiers per KRR request.")
    krr_concurrency: int = Field(default=4, ge=1, description="KRR requests of one lookup in flight.")
    krr_timeout_seconds: float = Field(default=30.0, gt=0)
    brreg_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://data.brreg.no/enhetsregisteret/api/"),
        description="Enhetsregisteret's open API (main units `enheter/`, sub-units `underenheter/`).",
    )
    brreg_cache_seconds: float = Field(default=86400.0, ge=0, description="How long a unit's name is kept.")
    brreg_concurrency: int = Field(default=8, ge=1)
    brreg_timeout_seconds: float = Field(default=10.0, gt=0)
    maskinporten_issuer: str | None = Field(
        default=None,
        description="Maskinporten's issuer (the grant's audience), e.g. https://maskinporten.no/",
    )
    maskinporten_token_url: AnyHttpUrl | None = Field(
        default=None, description="Maskinporten's token endpoint; unset: {issuer}token."
    )
    maskinporten_client_id: str | None = None
    maskinporten_key_file: Path | None = Field(
        default=None,
        description="PEM RSA private key of the Maskinporten client (a registered key or business certificate).",
    )
    maskinporten_key_id: str | None = Field(default=None, description="`kid` of the registered key.")
    maskinporten_certificate_file: Path | None = Field(
        default=None, description="PEM business certificate (chain) sent as `x5c` instead of a `kid`."
    )
    maskinporten_timeout_seconds: float = Field(default=30.0, gt=0)
    altinn_token_exchange_url: AnyHttpUrl | None = Field(
        default=None,
        description="Altinn Authentication's exchange of a Maskinporten token, for the Altinn adapters.",
    )
    altinn_token_scopes: list[str] = Field(
        default_factory=list, description="JSON list: scopes of the Maskinporten token exchanged for Altinn."
    )

    # Providers
    email_provider: Literal["simulated", "smtp", "acs"] = "simulated"
    sms_provider: Literal["simulated", "linkmobility"] = "simulated"
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_max_connections: int = Field(default=10, ge=1)
    acs_connection_string: SecretStr | None = Field(
        default=None, description="ACS email: `endpoint=https://...;accesskey=...`."
    )
    acs_reports_access_key: SecretStr | None = Field(
        default=None, description="Key the Event Grid webhook must send as `?accesskey=`."
    )
    acs_poll_interval_seconds: float = Field(default=8.0, gt=0, description="ACS operation status polls.")
    acs_timeout_seconds: float = Field(default=30.0, gt=0)
    linkmobility_url: AnyHttpUrl | None = Field(default=None, description="LINK Mobility PSWin XML gateway.")
    linkmobility_username: str | None = None
    linkmobility_password: SecretStr | None = None
    linkmobility_timeout_seconds: float = Field(default=30.0, gt=0)
    linkmobility_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [300.0, 600.0, 900.0, 1800.0],
        description="Waits after gateway errors; when used up the SMS fails.",
    )
    sms_reports_username: str | None = Field(
        default=None, description="Basic auth of the SMS report webhook."
    )
    sms_reports_password: SecretStr | None = None
    report_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [1.0, 5.0, 10.0, 60.0, 120.0, 120.0],
        description="Waits before retrying a delivery report whose notification is not found yet.",
    )
    simulated_report_delay_seconds: float = Field(default=0.2, ge=0)
    simulated_send_delay_seconds: float = Field(default=0.0, ge=0)
    outbox_enabled: bool | None = Field(
        default=None,
        description="Copies of sent messages in the outbox; unset: only the simulated providers write them.",
    )

    # Operator console (`/console`): who may sign in, and its session cookie.
    console_enabled: bool = Field(default=True, description="Serve the operator console at /console.")
    console_password: SecretStr | None = Field(
        default=None,
        description="Operator password of the console: plain, or `pbkdf2_sha256$...` from "
        "`altinn-notifications console hash-password`; unset: only support-scope tokens sign in.",
    )
    console_session_secret: SecretStr | None = Field(
        default=None, description="Signs console session cookies; unset: generated once in the data dir."
    )
    console_session_hours: float = Field(default=8.0, gt=0, description="Lifetime of a console session.")
    console_password_failures_per_quarter: int = Field(
        default=20, ge=1, description="Wrong console passwords in 15 minutes before password sign-in pauses."
    )
    console_signin_link: bool | None = Field(
        default=None,
        description="`serve` prints a one-time sign-in link; unset: with the embedded defaults (dev key).",
    )

    # Workers
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    lease_seconds: float = Field(
        default=300.0, gt=0, description="How long a claimed order/notification is held."
    )
    maintenance_interval_seconds: float = Field(default=15.0, gt=0)
    processing_batch_size: int = Field(default=50, ge=1)
    processing_lookahead_seconds: float = Field(
        default=0.0, ge=0, description="Claim orders this early (the reference's cron claims 60 s early)."
    )
    processing_concurrency: int = Field(default=10, ge=1)
    dispatch_batch_size: int = Field(default=500, ge=1)
    dispatch_concurrency: int = Field(
        default=4000,
        ge=1,
        description="Sends in flight per channel per worker (vendors with a setting of their own use that).",
    )
    dispatch_flush_size: int = Field(
        default=50, ge=1, description="Send results written per transaction while a batch is still sending."
    )
    dispatch_flush_interval_seconds: float = Field(
        default=0.1, gt=0, description="Longest wait before a send result is written."
    )
    composed_email_batch_size: int = Field(default=50, ge=1, description="Composed emails claimed at a time.")
    composed_email_concurrency: int = Field(default=5, ge=1, description="Composed emails sent at a time.")
    attachment_download_concurrency: int = Field(
        default=5, ge=1, description="Attachment downloads at a time per composed email."
    )
    attachment_download_timeout_seconds: float = Field(default=30.0, gt=0)
    attachment_max_total_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="Largest total of one email's attachments."
    )
    completion_sweep_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often orders whose completion was missed are completed."
    )
    ttl_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often notifications past their expiry are terminated."
    )
    ttl_grace_seconds: float = Field(
        default=300.0, ge=0, description="How long past its expiry a pending notification becomes Failed_TTL."
    )
    retention_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often old status-feed entries and reservations are deleted."
    )
    status_feed_retention_days: float = Field(
        default=90.0, gt=0, description="Status-feed entries older than this are deleted."
    )
    instant_reservation_retention_seconds: float = Field(
        default=86400.0, ge=0, description="How long an abandoned instant-order reservation is kept."
    )
    condition_retry_seconds: float = Field(default=60.0, ge=0)
    dependency_retry_seconds: float = Field(default=60.0, ge=0)
    # Sender-chosen URLs (condition endpoints, attachment SAS URLs): public addresses only unless allowed here.
    outbound_allow_private: bool = Field(
        default=False, description="Let sender-chosen URLs reach non-public addresses (on-premises)."
    )
    outbound_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names or IP networks that sender-chosen URLs may reach although not public.",
    )
    # Fairness between senders, stored copies and retention, the durable simulated vendor (issue 11: 3, 7, 8)
    condition_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Longest wait for a send-condition endpoint's answer (then inconclusive).",
    )
    condition_concurrency: int = Field(
        default=20, ge=1, description="Send-condition calls at a time per worker."
    )
    condition_concurrency_per_creator: int = Field(
        default=4, ge=1, description="Send-condition calls at a time of one creator, per worker."
    )
    processing_claim_per_creator: int = Field(
        default=50, ge=1, description="Most due orders of one creator in one claim of a worker."
    )
    outbox_max_bytes: int | None = Field(
        default=50 * 1024 * 1024,
        ge=1,
        description="Outbox file size that makes the oldest entries go; unset: none.",
    )
    outbox_retention_days: float | None = Field(
        default=7.0, gt=0, description="Outbox entries older than this are deleted; unset: kept."
    )
    order_retention_days: float | None = Field(
        default=None, gt=0, description="Final orders older than this are deleted with their notifications."
    )
    order_retention_batch_size: int = Field(default=500, ge=1, description="Orders deleted per transaction.")
    # Vendor pace (issue 12): sends in flight per vendor, SMS batches, the channels' allowance
    email_max_sends_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Most emails sent per second by all workers together; unset: no limit.",
    )
    sms_max_sends_per_second: float | None = Field(
        default=None, gt=0, description="Most SMS sent per second by all workers together; unset: no limit."
    )
    send_allowance_burst_seconds: float = Field(
        default=1.0, gt=0, description="Sends of this many seconds' allowance may go out at once."
    )
    acs_max_in_flight: int = Field(
        default=500, ge=1, description="ACS send requests (and as many status polls) in flight per worker."
    )
    linkmobility_batch_size: int = Field(
        default=250, ge=1, le=1000, description="SMS per PSWin request (MSG elements in one SESSION)."
    )
    linkmobility_max_in_flight: int = Field(
        default=4000, ge=1, description="SMS in flight per worker (in requests of the batch size)."
    )
    stale_contact_orgs: list[str] = Field(
        default_factory=list,
        description=(
            "Orgs whose v2 person recipients always use stale KRR data, compared case-insensitively"
            " (the reference hard-codes skd)."
        ),
    )

    # --- Input limits, rate limits and slow clients (README "Limits"; docs/compatibility.md C23) ---
    max_request_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest request body; larger ones answer 413."
    )
    request_body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest time to receive a request body; slower ones answer 408."
    )
    request_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest time to receive a request's headers; then the connection closes.",
    )
    off_loop_body_bytes: int = Field(
        default=64 * 1024, ge=0, description="Bodies larger than this are parsed and bound in a thread."
    )
    max_recipients_per_order: int = Field(default=10_000, ge=1, description="Recipients of one v1 order.")
    max_reminders_per_order: int = Field(default=50, ge=0, description="Reminders of one v2 order chain.")
    http_timeout_keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="An idle keep-alive connection is closed after this long."
    )
    http_limit_concurrency: int | None = Field(
        default=None, ge=1, description="Connections and requests at a time per process; more answer 503."
    )
    http_max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Largest request line plus headers; larger ones answer 400."
    )
    forwarded_allow_ips: str | None = Field(
        default=None, description="Proxies trusted for X-Forwarded-For/-Proto (uvicorn); unset: 127.0.0.1."
    )
    rate_limits: RateLimits = Field(
        default_factory=lambda: RateLimits(), description="Default per-creator request/notification limits."
    )
    rate_limits_by_org: dict[str, RateLimits] = Field(
        default_factory=dict, description="JSON object: org -> its own limits (fields as rate_limits)."
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value or None

    @field_validator(
        "outbox_enabled", "outbox_max_bytes", "outbox_retention_days", "order_retention_days", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable means the setting's "unset" (no limit, kept for ever, the default per provider)."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("outbound_allowed_hosts")
    @classmethod
    def _hosts_or_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            text = entry.strip()
            if not text or (any(c in text for c in " :/@?#") and not _is_network(text)):
                raise ValueError(f"{entry!r} is neither a host name nor an IP network")
        return value

    @model_validator(mode="after")
    def _smtp_needs_host(self) -> Settings:
        if self.email_provider == "smtp" and not self.smtp_host:
            raise ValueError("NOTIFICATIONS_SMTP_HOST is required when NOTIFICATIONS_EMAIL_PROVIDER is smtp")
        return self

    @model_validator(mode="after")
    def _vendors_fully_configured(self) -> Settings:
        """A vendor without its credentials, or without its delivery-report webhook (every message would
        end `Failed_TTL`), is refused at start-up with the names of the missing settings."""
        problems: list[str] = []

        def missing(names: dict[str, object], when: str) -> None:
            absent = [
                n
                for n, v in names.items()
                if v is None or v == "" or (isinstance(v, SecretStr) and not v.get_secret_value())
            ]
            if absent:
                problems.append(
                    ", ".join(absent) + f" {'is' if len(absent) == 1 else 'are'} required when {when}"
                )

        if self.email_provider == "acs":
            missing(
                {
                    "NOTIFICATIONS_ACS_CONNECTION_STRING": self.acs_connection_string,
                    "NOTIFICATIONS_ACS_REPORTS_ACCESS_KEY": self.acs_reports_access_key,
                },
                "NOTIFICATIONS_EMAIL_PROVIDER is acs",
            )
            if self.acs_connection_string is not None:
                try:
                    parse_connection_string(self.acs_connection_string.get_secret_value())
                except ConnectionStringError as exc:
                    problems.append(f"NOTIFICATIONS_ACS_CONNECTION_STRING: {exc}")
        if self.sms_provider == "linkmobility":
            missing(
                {
                    "NOTIFICATIONS_LINKMOBILITY_URL": self.linkmobility_url,
                    "NOTIFICATIONS_LINKMOBILITY_USERNAME": self.linkmobility_username,
                    "NOTIFICATIONS_LINKMOBILITY_PASSWORD": self.linkmobility_password,
                    "NOTIFICATIONS_SMS_REPORTS_USERNAME": self.sms_reports_username,
                    "NOTIFICATIONS_SMS_REPORTS_PASSWORD": self.sms_reports_password,
                },
                "NOTIFICATIONS_SMS_PROVIDER is linkmobility",
            )
        if any(d < 0 for d in self.linkmobility_retry_schedule_seconds + self.report_retry_schedule_seconds):
            problems.append("retry schedules must not contain negative waits")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("platform_token_issuers")
    @classmethod
    def _issuer_locations(cls, value: dict[str, str]) -> dict[str, str]:
        for issuer, location in value.items():
            if not issuer.strip() or not location.strip():
                raise ValueError("issuers and their key locations must not be empty")
            if location.startswith(("http://", "https://")) and not urlsplit(location).netloc:
                raise ValueError(f"{issuer}: not a URL: {location}")
        return value

    @model_validator(mode="after")
    def _one_platform_token_source(self) -> Settings:
        if self.platform_access_token is not None and self.platform_access_token_key_file is not None:
            raise ValueError(
                "set NOTIFICATIONS_PLATFORM_ACCESS_TOKEN or NOTIFICATIONS_PLATFORM_ACCESS_TOKEN_KEY_FILE, not both"
            )
        return self

    @model_validator(mode="after")
    def _profile_needs_authorization(self) -> Settings:
        # Without a PDP every user with contact points for an org would be notified about any resource.
        if self.profile_url is not None and self.authorization_url is None:
            raise ValueError(
                "NOTIFICATIONS_AUTHORIZATION_URL is required when NOTIFICATIONS_PROFILE_URL is set"
            )
        return self

    @model_validator(mode="after")
    def _register_choices_configured(self) -> Settings:
        """A register chosen without the settings it needs stops the start, naming them all."""
        problems: list[str] = []

        def need(names: dict[str, object], when: str) -> None:
            absent = [n for n, v in names.items() if v is None or v == ""]
            if absent:
                verb = "is" if len(absent) == 1 else "are"
                problems.append(", ".join(absent) + f" {verb} required when {when}")

        if self.persons_source == "altinn" or self.organizations_source == "altinn":
            which = (
                "NOTIFICATIONS_PERSONS_SOURCE"
                if self.persons_source == "altinn"
                else "NOTIFICATIONS_ORGANIZATIONS_SOURCE"
            )
            need(
                {
                    "NOTIFICATIONS_PROFILE_URL": self.profile_url,
                    "NOTIFICATIONS_AUTHORIZATION_URL": self.authorization_url,
                },
                f"{which} is altinn",
            )
        if self.names_source == "altinn":
            need({"NOTIFICATIONS_REGISTER_URL": self.register_url}, "NOTIFICATIONS_NAMES_SOURCE is altinn")
        if self.persons_source == "krr":
            need(
                {"NOTIFICATIONS_KRR_URL": self.krr_url, **self.maskinporten_missing()},
                "NOTIFICATIONS_PERSONS_SOURCE is krr",
            )
        if self.altinn_token_exchange_url is not None:
            need(
                {
                    **self.maskinporten_missing(),
                    "NOTIFICATIONS_ALTINN_TOKEN_SCOPES": self.altinn_token_scopes or None,
                },
                "NOTIFICATIONS_ALTINN_TOKEN_EXCHANGE_URL is set",
            )
        if self.maskinporten_key_id and self.maskinporten_certificate_file:
            problems.append(
                "set NOTIFICATIONS_MASKINPORTEN_KEY_ID or NOTIFICATIONS_MASKINPORTEN_CERTIFICATE_FILE, not both"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def maskinporten_missing(self) -> dict[str, object]:
        """The outbound Maskinporten client's settings, by environment variable (a key id or a certificate)."""
        return {
            "NOTIFICATIONS_MASKINPORTEN_ISSUER": self.maskinporten_issuer,
            "NOTIFICATIONS_MASKINPORTEN_CLIENT_ID": self.maskinporten_client_id,
            "NOTIFICATIONS_MASKINPORTEN_KEY_FILE": self.maskinporten_key_file,
            "NOTIFICATIONS_MASKINPORTEN_KEY_ID or _CERTIFICATE_FILE": (
                self.maskinporten_key_id or self.maskinporten_certificate_file
            ),
        }

    @property
    def chosen_persons_source(self) -> str:
        if self.persons_source is not None:
            return self.persons_source
        return "altinn" if self.profile_url is not None else "local"

    @property
    def chosen_organizations_source(self) -> str:
        if self.organizations_source is not None:
            return self.organizations_source
        if self.persons_source in ("local", "altinn"):
            return self.persons_source
        return "altinn" if self.profile_url is not None else "local"

    @property
    def chosen_names_source(self) -> str:
        if self.names_source is not None:
            return self.names_source
        return "altinn" if self.register_url is not None else "local"

    @cached_property
    def base_uri_str(self) -> str:
        if self.base_uri is not None:
            return str(self.base_uri).rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def dev_key_path(self) -> Path:
        return self.data_dir / "dev-signing-key.pem"

    @property
    def uses_dev_key(self) -> bool:
        return self.jwks_url is None and self.jwks_file is None


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's error into one that names the environment variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if err["loc"]:
                name = "NOTIFICATIONS_" + "_".join(str(p) for p in err["loc"]).upper()
                problems.append(f"{name}: {err['msg']}")
            else:
                problems.append(str(err["msg"]).removeprefix("Value error, "))
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


# --- vendor connection strings (parsed here so that a malformed one stops the start) ---


class ConnectionStringError(ValueError):
    """The ACS connection string is malformed. The message never contains the key."""


@dataclass(frozen=True)
class AcsConnection:
    endpoint: str  # scheme://host[:port], no trailing slash
    access_key: bytes = field(repr=False)


def parse_connection_string(value: str) -> AcsConnection:
    """`endpoint=https://<resource>.communication.azure.com/;accesskey=<base64 key>` (keys case-insensitive)."""
    parts: dict[str, str] = {}
    for piece in value.split(";"):
        name, eq, item = piece.partition("=")
        if eq:
            parts[name.strip().lower()] = item.strip()
    endpoint = parts.get("endpoint", "")
    key = parts.get("accesskey", "")
    if not endpoint:
        raise ConnectionStringError("the connection string has no endpoint=")
    if not key:
        raise ConnectionStringError("the connection string has no accesskey=")
    url = urlsplit(endpoint)
    if url.scheme not in ("https", "http") or not url.netloc:
        raise ConnectionStringError("endpoint= must be an https:// URL")
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise ConnectionStringError("accesskey= is not base64") from None
    if not decoded:
        raise ConnectionStringError("accesskey= is empty")
    return AcsConnection(endpoint=f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}", access_key=decoded)
