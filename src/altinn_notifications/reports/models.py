"""Delivery reports waiting for their notification, dead reports, and what applying a batch did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from altinn_notifications.providers.base import DeliveryReport
from altinn_notifications.vocabulary import Channel

#: `deaddeliveryreports.channel` / `deliveryreportretries.channel` (docs/compatibility.md C18: 1 ACS, 2 LINK).
CHANNEL_CODE: dict[Channel, int] = {"email": 1, "sms": 2}

#: Dead-report reasons (docs/compatibility.md C14, C18).
RETRY_THRESHOLD_EXCEEDED = "RETRY_THRESHOLD_EXCEEDED"
NOTIFICATION_EXPIRED = "NOTIFICATION_EXPIRED"
UNRECOGNIZED_SEND_RESULT = "UNRECOGNIZED_SEND_RESULT"
INVALID_NOTIFICATION_IDENTIFIER = "INVALID_NOTIFICATION_IDENTIFIER"

#: Default waits (seconds) before retrying a report whose notification is not found: the reference's
#: cooldown (1, 5, 10 s) then scheduled retries (60, 120, 120 s); then the report is dead.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (1.0, 5.0, 10.0, 60.0, 120.0, 120.0)


def channel_of(code: int) -> Channel:
    return "email" if code == 1 else "sms"


@dataclass(frozen=True)
class RetryRow:
    """A report that found no notification yet (it may have overtaken the send result)."""

    channel: Channel
    reference: str
    result: str
    raw: dict[str, Any]
    first_seen: datetime
    attempts: int  # attempts made so far
    delay: float = 0.0  # when inserting: wait this long before the next attempt


@dataclass(frozen=True)
class PendingReport:
    """A report to apply: when it was first seen and how many attempts were already made."""

    report: DeliveryReport
    first_seen: datetime
    attempts: int = 0


@dataclass(frozen=True)
class DeadReport:
    id: int
    channel: Channel
    report: dict[str, Any]  # {"reference", "result", "report": vendor payload}
    first_seen: datetime
    last_attempt: datetime
    resolved: bool
    attempts: int
    reason: str | None
    message: str | None

    @property
    def reference(self) -> str | None:
        value = self.report.get("reference") if isinstance(self.report, dict) else None
        return str(value) if value else None

    @property
    def result(self) -> str | None:
        value = self.report.get("result") if isinstance(self.report, dict) else None
        return str(value) if value else None


@dataclass
class ApplySummary:
    """Counts of one batch: applied, late duplicates (notification already final), waiting for a retry,
    dead-lettered."""

    applied: int = 0
    duplicates: int = 0
    retrying: int = 0
    dead: int = 0

    def add(self, other: ApplySummary) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.retrying += other.retrying
        self.dead += other.dead


@dataclass(frozen=True)
class ReplayOutcome:
    """One dead report replayed: `applied`, `already_final` (both resolve it), `not_found`, `expired`,
    `unreplayable` (no reference or result to apply)."""

    id: int
    channel: Channel
    outcome: str


@dataclass
class ReplaySummary:
    outcomes: list[ReplayOutcome] = field(default_factory=list)

    @property
    def resolved(self) -> int:
        return sum(1 for o in self.outcomes if o.outcome in ("applied", "already_final"))
