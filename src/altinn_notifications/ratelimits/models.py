"""A sender's allowance and what one request found in its bucket row."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class Allowance:
    """Token buckets (rate per second, burst = bucket size) and a daily quota; None: unlimited."""

    request_rate: float | None = None
    request_burst: float | None = None
    notification_rate: float | None = None
    notification_burst: float | None = None
    daily_notifications: int | None = None


@dataclass(frozen=True)
class BucketState:
    """The sender's row after a take: `allowed`, and the refilled balances (after the deduction when it
    was allowed, before it when not)."""

    allowed: bool
    request_tokens: float
    notification_tokens: float
    notifications_today: int


class LimitKind(enum.StrEnum):
    REQUESTS = "requests"
    NOTIFICATIONS = "notifications"
    DAILY_QUOTA = "daily quota"


@dataclass(frozen=True)
class Refusal:
    kind: LimitKind
    retry_after_seconds: int
    detail: str
