"""The provider ports: what dispatch hands to an email or SMS vendor and what comes back.

Results are the database result names (docs/compatibility.md C9). A provider never touches the database: send
outcomes are returned, and later delivery reports are pushed to the `ReportSink` given at start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

from altinn_notifications.vocabulary import Channel

#: Validity of an SMS at the gateway: 48 hours (instant SMS: the caller's time to live).
DEFAULT_SMS_TTL_SECONDS = 48 * 3600


@dataclass(frozen=True)
class Attachment:
    filename: str
    mime_type: str
    content: bytes


@dataclass(frozen=True)
class EmailMessage:
    notification_id: UUID
    from_address: str
    to_address: str
    subject: str
    body: str
    content_type: Literal["Plain", "Html"] = "Plain"
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class SmsMessage:
    notification_id: UUID
    sender: str
    mobile_number: str
    body: str
    time_to_live_seconds: int = DEFAULT_SMS_TTL_SECONDS


@dataclass(frozen=True)
class SendOutcome:
    """The immediate answer of a provider to one send.

    - `result`: the new result name, e.g. `Succeeded`/`Delivered`/`Failed_InvalidEmailFormat` (email) or
      `Accepted`/`Failed_InvalidRecipient` (SMS). Ignored when `transient` is true.
    - `reference`: the vendor's id (ACS operation id, LINK gateway reference) that later reports quote.
    - `transient`: the send failed for now; the notification goes back to `New` and is retried with back-off.
    - `retry_after`: seconds the whole channel must pause (vendor rate limit, docs/compatibility.md C12).
    - `detail`: a short reason for logs; never an address, body or secret.
    - `poll_after`: the vendor accepted the work but its outcome is not known yet (ACS operations): the
      notification stays `Sending` with `reference`, and a worker asks `poll(reference)` after this many
      seconds. Only providers with a `poll` method answer this.
    """

    result: str
    reference: str | None = None
    transient: bool = False
    retry_after: float | None = None
    detail: str | None = None
    poll_after: float | None = None


@dataclass(frozen=True)
class RetrySchedule:
    """A vendor's own retry policy for transient send failures, instead of dispatch's exponential back-off.

    `delays[n]` is the wait (seconds) after the (n+1)-th failed attempt; once the delays are used up the
    notification gets `final_result`. LINK Mobility: 5, 10, 15, 30 minutes, then `Failed` (docs/compatibility.md C12), so
    the gateway is never hammered.
    """

    delays: tuple[float, ...]
    final_result: str = "Failed"

    def delay_after(self, attempts: int) -> float | None:
        """Wait before the next attempt after `attempts` failed ones (1-based), or None: give up."""
        if 1 <= attempts <= len(self.delays):
            return self.delays[attempts - 1]
        return None


@dataclass(frozen=True)
class DeliveryReport:
    """A later outcome from the vendor, matched by `reference` (or by `notification_id` when known)."""

    channel: Channel
    result: str
    reference: str | None = None
    notification_id: UUID | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedReport:
    """A vendor report that cannot be applied (docs/compatibility.md C14): kept as a dead delivery report with `reason`
    (`UNRECOGNIZED_SEND_RESULT` for an unknown status, `INVALID_NOTIFICATION_IDENTIFIER` without a reference)."""

    channel: Channel
    reason: str
    message: str
    raw: dict[str, Any] = field(default_factory=dict)


ReportSink = Callable[[DeliveryReport], Awaitable[None]]


class ScheduledReports(Protocol):
    """Where a simulated vendor keeps the delivery reports it will deliver later (`reports.worker`:
    in the database, delivered by any worker through the report path of real vendors, so that a
    restart loses none)."""

    async def schedule(self, delay: float, report: DeliveryReport) -> None:
        """Keep `report` (durably, when this returns) for delivery in `delay` seconds."""
        ...


class EmailProvider(Protocol):
    """An email vendor. Optional members, looked up with `getattr`: `retry_schedule: RetrySchedule | None`
    (see `RetrySchedule`) and `async def poll(reference) -> SendOutcome | None` (see `PollingProvider`)."""

    name: str

    async def start(self, sink: ReportSink) -> None:
        """Begin work that produces delivery reports (polling, simulated reports); pushes them to `sink`."""
        ...

    async def send(self, message: EmailMessage) -> SendOutcome: ...

    async def close(self) -> None: ...


class SmsProvider(Protocol):
    """An SMS vendor; the same optional members as `EmailProvider`."""

    name: str

    async def start(self, sink: ReportSink) -> None: ...

    async def send(self, message: SmsMessage) -> SendOutcome: ...

    async def close(self) -> None: ...


class PollingProvider(Protocol):
    """A provider whose sends are long-running operations (ACS): `send` answers `poll_after`, and a worker
    later asks for the outcome. `poll` returns a `SendOutcome` (`poll_after` set: still running; `transient`:
    the status could not be read now, ask again) or None when the reference is not one of this provider's.
    """

    async def poll(self, reference: str) -> SendOutcome | None: ...


def retry_schedule_of(provider: object) -> RetrySchedule | None:
    schedule = getattr(provider, "retry_schedule", None)
    return schedule if isinstance(schedule, RetrySchedule) else None


def poller_of(provider: object) -> PollingProvider | None:
    return provider if callable(getattr(provider, "poll", None)) else None  # type: ignore[return-value]
