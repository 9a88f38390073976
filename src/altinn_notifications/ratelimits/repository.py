"""SQL of the senders' buckets: one row per creator, taken from in one atomic statement."""

from __future__ import annotations

from altinn_notifications.db.pool import Connection
from altinn_notifications.ratelimits.models import Allowance, BucketState

# $1 creator, $2/$3 request rate/burst, $4/$5 notification rate/burst, $6 notifications of this request,
# $7 daily quota. A NULL rate or quota is unlimited. The buckets refill continuously (rate × seconds since
# the last take, up to the burst). A request needing more notifications than the burst passes on a full
# bucket and leaves it in debt, so a large order waits for its refill instead of never passing.
_TODAY = "(now() AT TIME ZONE 'UTC')::date"
_REQ = "LEAST($3::float8, a.requesttokens + EXTRACT(EPOCH FROM now() - a.refilledat)::float8 * $2::float8)"
_NTF = (
    "LEAST($5::float8, a.notificationtokens + EXTRACT(EPOCH FROM now() - a.refilledat)::float8 * $4::float8)"
)
_USED = f"(CASE WHEN a.quotaday = {_TODAY} THEN a.quotaused ELSE 0 END)"
_OK = (
    f"(($2::float8 IS NULL OR {_REQ} >= 1)"
    f" AND ($4::float8 IS NULL OR {_NTF} >= LEAST($6::float8, $5::float8))"
    f" AND ($7::bigint IS NULL OR {_USED} + $6 <= $7::bigint))"
)
_FIRST_OK = "($7::bigint IS NULL OR $6 <= $7::bigint)"

_TAKE = f"""
INSERT INTO senderallowances AS a
    (creatorname, requesttokens, notificationtokens, refilledat, quotaday, quotaused, allowed)
VALUES ($1,
        COALESCE($3::float8, 0) - CASE WHEN {_FIRST_OK} THEN 1 ELSE 0 END,
        COALESCE($5::float8, 0) - CASE WHEN {_FIRST_OK} THEN $6 ELSE 0 END,
        now(), {_TODAY}, CASE WHEN {_FIRST_OK} THEN $6 ELSE 0 END, {_FIRST_OK})
ON CONFLICT (creatorname) DO UPDATE SET
    requesttokens = COALESCE({_REQ}, 0) - CASE WHEN {_OK} THEN 1 ELSE 0 END,
    notificationtokens = COALESCE({_NTF}, 0) - CASE WHEN {_OK} THEN $6 ELSE 0 END,
    refilledat = now(),
    quotaday = {_TODAY},
    quotaused = {_USED} + CASE WHEN {_OK} THEN $6 ELSE 0 END,
    allowed = {_OK}
RETURNING allowed, requesttokens, notificationtokens, quotaused
"""


class AllowanceRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def take(self, creator: str, allowance: Allowance, notifications: int) -> BucketState:
        """One request with `notifications` notifications, when the buckets and the quota allow it."""
        row = await self.conn.fetchrow(
            _TAKE,
            creator,
            allowance.request_rate,
            allowance.request_burst,
            allowance.notification_rate,
            allowance.notification_burst,
            notifications,
            allowance.daily_notifications,
        )
        assert row is not None
        return BucketState(
            allowed=row["allowed"],
            request_tokens=row["requesttokens"],
            notification_tokens=row["notificationtokens"],
            notifications_today=row["quotaused"],
        )
