"""SQL of the senders' buckets: one row per creator, taken from in one atomic statement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from altinn_notifications.db.pool import Connection
from altinn_notifications.ratelimits.models import Allowance, BucketState

# Parameters (numbered from `first`, $1 when alone): creator, request rate/burst, notification rate/burst,
# notifications of this request, daily quota. A NULL rate or quota is unlimited. The buckets refill
# continuously (rate × seconds since the last take, up to the burst). A request needing more notifications
# than the burst passes on a full bucket and leaves it in debt, so a large order waits for its refill
# instead of never passing. The row keeps the last decision (`allowed`), which is what the statement returns.
_TODAY = "(now() AT TIME ZONE 'UTC')::date"


def take_statement(first: int = 1) -> str:
    """The upsert taking from a creator's buckets; it returns `allowed` and the balances (usable as a CTE)."""
    p = {name: f"${first + i}" for i, name in enumerate(("who", "rr", "rb", "nr", "nb", "n", "q"))}
    rr, rb, nr, nb = (f"{p[k]}::float8" for k in ("rr", "rb", "nr", "nb"))
    n, q = f"{p['n']}::int", f"{p['q']}::bigint"
    # now() is the transaction's start: a batch (db/batching.py) or a lock wait can meet a row refilled
    # later than that. Time never runs backwards for a bucket.
    elapsed = "GREATEST(EXTRACT(EPOCH FROM now() - a.refilledat)::float8, 0)"
    req = f"LEAST({rb}, a.requesttokens + {elapsed} * {rr})"
    ntf = f"LEAST({nb}, a.notificationtokens + {elapsed} * {nr})"
    used = f"(CASE WHEN a.quotaday = {_TODAY} THEN a.quotaused ELSE 0 END)"
    ok = f"(({rr} IS NULL OR {req} >= 1) AND ({nr} IS NULL OR {ntf} >= LEAST({n}, {nb})) AND ({q} IS NULL OR {used} + {n} <= {q}))"
    first_ok = f"({q} IS NULL OR {n} <= {q})"
    return f"""
INSERT INTO senderallowances AS a
    (creatorname, requesttokens, notificationtokens, refilledat, quotaday, quotaused, allowed)
VALUES ({p["who"]}::text,
        COALESCE({rb}, 0) - CASE WHEN {first_ok} THEN 1 ELSE 0 END,
        COALESCE({nb}, 0) - CASE WHEN {first_ok} THEN {n} ELSE 0 END,
        now(), {_TODAY}, CASE WHEN {first_ok} THEN {n} ELSE 0 END, {first_ok})
ON CONFLICT (creatorname) DO UPDATE SET
    requesttokens = COALESCE({req}, 0) - CASE WHEN {ok} THEN 1 ELSE 0 END,
    notificationtokens = COALESCE({ntf}, 0) - CASE WHEN {ok} THEN {n} ELSE 0 END,
    refilledat = GREATEST(a.refilledat, now()),
    quotaday = {_TODAY},
    quotaused = {used} + CASE WHEN {ok} THEN {n} ELSE 0 END,
    allowed = {ok}
RETURNING allowed, requesttokens, notificationtokens, quotaused
"""


_TAKE = take_statement()


@dataclass(frozen=True)
class Take:
    """One request's take from a creator's allowance: the statement's parameters."""

    creator: str
    allowance: Allowance
    notifications: int

    def parameters(self) -> tuple[object, ...]:
        a = self.allowance
        return (
            self.creator,
            a.request_rate,
            a.request_burst,
            a.notification_rate,
            a.notification_burst,
            self.notifications,
            a.daily_notifications,
        )


def bucket_state(row: Any) -> BucketState:
    return BucketState(
        allowed=row["allowed"],
        request_tokens=row["requesttokens"],
        notification_tokens=row["notificationtokens"],
        notifications_today=row["quotaused"],
    )


class AllowanceRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def take(self, take: Take) -> BucketState:
        """One request with its notifications, when the buckets and the quota allow it."""
        row = await self.conn.fetchrow(_TAKE, *take.parameters())
        assert row is not None
        return bucket_state(row)
