"""Taking from a sender's allowance: one statement on its own connection (atomic by itself)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import TooManyRequestsError
from altinn_notifications.metrics import RATE_LIMITED
from altinn_notifications.ratelimits.models import BucketState
from altinn_notifications.ratelimits.repository import AllowanceRepository, Take
from altinn_notifications.ratelimits.service import RateLimiter, refusal


def prepare(limiter: RateLimiter, creator: str, notifications: int) -> Take | None:
    """The take of this request, or None when the creator is not limited (the default: no statement)."""
    allowance = limiter.allowance_for(creator)
    return None if allowance is None else Take(creator, allowance, notifications)


def check(take: Take, state: BucketState, now: datetime) -> None:
    """429 when the take was refused."""
    if state.allowed:
        return
    refused = refusal(take.allowance, state, take.notifications, now)
    RATE_LIMITED.labels(limit=refused.kind.value).inc()
    raise TooManyRequestsError(refused.detail, refused.retry_after_seconds)


async def take(
    connection: Callable[[], AbstractAsyncContextManager[Connection]],
    limiter: RateLimiter,
    creator: str,
    notifications: int,
    now: datetime,
) -> None:
    """One request (with `notifications` notifications) of `creator` on its own statement; 429 when its
    allowance is used up. Costs nothing when the creator is not limited."""
    prepared = prepare(limiter, creator, notifications)
    if prepared is None:
        return
    async with connection() as conn:
        state = await AllowanceRepository(conn).take(prepared)
    check(prepared, state, now)
