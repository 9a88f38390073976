"""The provider ports: what dispatch hands to an email or SMS vendor and what comes back.

Results are the database result names (spec 9.2, 9.3). A provider never touches the database: send
outcomes are returned, and later delivery reports are pushed to the `ReportSink` given at start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

Channel = Literal["email", "sms"]


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
    time_to_live_seconds: int = 48 * 3600


@dataclass(frozen=True)
class SendOutcome:
    """The immediate answer of a provider to one send.

    - `result`: the new result name, e.g. `Succeeded`/`Delivered`/`Failed_InvalidEmailFormat` (email) or
      `Accepted`/`Failed_InvalidRecipient` (SMS). Ignored when `transient` is true.
    - `reference`: the vendor's id (ACS operation id, LINK gateway reference) that later reports quote.
    - `transient`: the send failed for now; the notification goes back to `New` and is retried with back-off.
    - `retry_after`: seconds the whole channel must pause (vendor rate limit, spec 10.7.1).
    - `detail`: a short reason for logs; never an address, body or secret.
    """

    result: str
    reference: str | None = None
    transient: bool = False
    retry_after: float | None = None
    detail: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """A later outcome from the vendor, matched by `reference` (or by `notification_id` when known)."""

    channel: Channel
    result: str
    reference: str | None = None
    notification_id: UUID | None = None
    raw: dict[str, Any] = field(default_factory=dict)


ReportSink = Callable[[DeliveryReport], Awaitable[None]]


class EmailProvider(Protocol):
    name: str

    async def start(self, sink: ReportSink) -> None:
        """Begin work that produces delivery reports (polling, simulated reports); pushes them to `sink`."""
        ...

    async def send(self, message: EmailMessage) -> SendOutcome: ...

    async def close(self) -> None: ...


class SmsProvider(Protocol):
    name: str

    async def start(self, sink: ReportSink) -> None: ...

    async def send(self, message: SmsMessage) -> SendOutcome: ...

    async def close(self) -> None: ...
