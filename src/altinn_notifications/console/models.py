"""What the console's pages show: read models of its own queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from altinn_notifications.vocabulary import Channel


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str


@dataclass(frozen=True)
class OrderSearch:
    """The order search form: every field optional; times bound the requested send time."""

    order_id: UUID | None = None
    senders_reference: str | None = None
    creator: str | None = None
    status: str | None = None
    sent_from: datetime | None = None
    sent_to: datetime | None = None
    limit: int = 50


@dataclass(frozen=True)
class OrderRow:
    id: UUID
    creator: str
    senders_reference: str | None
    type: str
    status: str
    created: datetime
    requested_send_time: datetime
    last_update: datetime | None


@dataclass(frozen=True)
class NotificationRow:
    id: UUID
    channel: Channel
    address: str
    result: str
    result_time: datetime
    nin: str | None
    org_number: str | None


@dataclass(frozen=True)
class OrderTexts:
    email_from: str | None = None
    email_subject: str | None = None
    email_body: str | None = None
    email_content_type: str | None = None
    sms_sender: str | None = None
    sms_body: str | None = None


@dataclass(frozen=True)
class OrderDetail:
    order: OrderRow
    channel: str | None
    texts: OrderTexts
    chain_id: UUID | None
    idempotency_id: str | None
    chain_orders: list[OrderRow]
    notifications: list[NotificationRow]
    completed_at: datetime | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    what: str
    detail: str = ""


@dataclass
class Overview:
    orders: dict[str, int] = field(default_factory=dict)
    notifications: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (minute, email count, sms count), oldest first.
    rates: list[tuple[datetime, int, int]] = field(default_factory=list)
    queues: dict[str, int] = field(default_factory=dict)
    paused: list[tuple[str, datetime]] = field(default_factory=list)
    dead_reports: int = 0
    #: (worker, loop, last step, last found work)
    workers: list[tuple[str, str, datetime, datetime | None]] = field(default_factory=list)
    configuration: dict[str, str] = field(default_factory=dict)
