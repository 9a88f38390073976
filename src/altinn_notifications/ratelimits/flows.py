"""Taking from a sender's allowance: one statement on its own connection (atomic by itself)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import TooManyRequestsError
from altinn_notifications.metrics import RATE_LIMITED
from altinn_notifications.ratelimits.repository import AllowanceRepository
from altinn_notifications.ratelimits.service import RateLimiter, refusal


async def take(
    connection: Callable[[], AbstractAsyncContextManager[Connection]],
    limiter: RateLimiter,
    creator: str,
    notifications: int,
    now: datetime,
) -> None:
    """One request (with `notifications` notifications) of `creator`; 429 when its allowance is used up.
    Costs nothing when the creator is not limited (the default)."""
    allowance = limiter.allowance_for(creator)
    if allowance is None:
        return
    async with connection() as conn:
        state = await AllowanceRepository(conn).take(creator, allowance, notifications)
    if state.allowed:
        return
    refused = refusal(allowance, state, notifications, now)
    RATE_LIMITED.labels(limit=refused.kind.value).inc()
    raise TooManyRequestsError(refused.detail, refused.retry_after_seconds)
