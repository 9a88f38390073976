"""Which allowance a sender has (settings: defaults and per-org overrides), and why a request was refused."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from altinn_notifications.config import RateLimits, Settings
from altinn_notifications.ratelimits.models import Allowance, BucketState, LimitKind, Refusal


def allowance_of(limits: RateLimits) -> Allowance | None:
    """None when nothing is limited; a burst left out is one second's worth (at least 1)."""
    if not limits.enabled:
        return None

    def burst(rate: float | None, given: int | None) -> float | None:
        if rate is None:
            return None
        return float(given if given is not None else max(1, math.ceil(rate)))

    return Allowance(
        request_rate=limits.requests_per_second,
        request_burst=burst(limits.requests_per_second, limits.requests_burst),
        notification_rate=limits.notifications_per_second,
        notification_burst=burst(limits.notifications_per_second, limits.notifications_burst),
        daily_notifications=limits.daily_notifications,
    )


@dataclass(frozen=True)
class RateLimiter:
    """The allowances of this deployment: an org's own entry replaces the default entirely."""

    default: Allowance | None = None
    by_org: dict[str, Allowance | None] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> RateLimiter:
        return cls(
            allowance_of(settings.rate_limits),
            {org.lower(): allowance_of(limits) for org, limits in settings.rate_limits_by_org.items()},
        )

    def allowance_for(self, org: str) -> Allowance | None:
        key = org.lower()
        return self.by_org.get(key, self.default)


def refusal(allowance: Allowance, state: BucketState, notifications: int, now: datetime) -> Refusal:
    """Which limit refused the request, and when it will have room (the longest wait of those met)."""
    found: list[Refusal] = []
    rate, tokens = allowance.request_rate, state.request_tokens
    if rate is not None and tokens < 1:
        found.append(
            Refusal(
                LimitKind.REQUESTS, _seconds((1 - tokens) / rate), f"At most {rate:g} requests per second."
            )
        )
    rate, tokens = allowance.notification_rate, state.notification_tokens
    if rate is not None and allowance.notification_burst is not None:
        needed = min(float(notifications), allowance.notification_burst)
        if tokens < needed:
            found.append(
                Refusal(
                    LimitKind.NOTIFICATIONS,
                    _seconds((needed - tokens) / rate),
                    f"At most {rate:g} notifications per second.",
                )
            )
    quota = allowance.daily_notifications
    if quota is not None and state.notifications_today + notifications > quota:
        midnight = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
        found.append(
            Refusal(
                LimitKind.DAILY_QUOTA,
                _seconds((midnight - now).total_seconds()),
                f"The daily quota of {quota} notifications is used up until midnight UTC.",
            )
        )
    if not found:  # the row changed between the decision and now: try again at once
        return Refusal(LimitKind.REQUESTS, 1, "Too many requests.")
    return max(found, key=lambda r: r.retry_after_seconds)


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))
