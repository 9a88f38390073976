"""SQL of dispatch: batch claims with leases, send results and vendor polls, channel pauses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from altinn_notifications.db.pool import Connection
from altinn_notifications.dispatch.models import (
    AttachmentRef,
    ClaimedComposedEmail,
    ClaimedEmail,
    ClaimedPoll,
    ClaimedSms,
    SendResult,
)
from altinn_notifications.queue.repository import NOTIFICATION_TABLE, RESULT_TYPE, VENDOR_REFERENCE
from altinn_notifications.vocabulary import Channel

# Ordinary and composed emails are claimed separately (docs/compatibility.md C12: composed emails have their own queue, so
# that slow attachment downloads never hold up ordinary email).
#
# `{direction}`: dispatchers alternate between the oldest and the newest end of the queue (by `_id`).
# Oldest first alone would hold every order generated after a large one until the large one is sent
# (100,000 notifications: minutes at a vendor's pace); every other claim from the newest end serves what
# just became due within a batch or two, and the others keep everything else moving.
_CLAIM_EMAIL = """
WITH c AS (
    SELECT e._id FROM emailnotifications e
    JOIN orders o ON o._id = e._orderid
    WHERE e.result = 'New' AND e.expirytime >= COALESCE($3::timestamptz, now())
      AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= COALESCE($3::timestamptz, now()))
      AND o.type {kind}
    ORDER BY e._id{direction}
    FOR UPDATE OF e SKIP LOCKED
    LIMIT $1
)
UPDATE emailnotifications e
SET result = 'Sending', resulttime = now(), claimed_until = COALESCE($3::timestamptz, now()) + $2::interval,
    attempts = e.attempts + 1
FROM c, emailtexts t{join}
WHERE e._id = c._id AND t._orderid = e._orderid{join_on}
RETURNING e.alternateid, e._orderid, e.attempts, t.fromaddress, e.toaddress,
          COALESCE(NULLIF(e.customizedsubject, ''), t.subject, '') AS subject,
          COALESCE(NULLIF(e.customizedbody, ''), t.body) AS body, t.contenttype{extra}
"""
_DIRECTIONS = {False: "", True: " DESC"}  # newest first?
_CLAIM_STANDARD_EMAIL = {
    newest: _CLAIM_EMAIL.format(kind="<> 'Composed'", join="", join_on="", extra="", direction=d)
    for newest, d in _DIRECTIONS.items()
}
# (`processedstatus`: an order with a `New` notification is always `Processed`; saying so lets a partial index
# `orders (_id) WHERE type = 'Composed' AND processedstatus = 'Processed'` serve this claim.)
_CLAIM_COMPOSED_EMAIL = {
    newest: _CLAIM_EMAIL.format(
        kind="= 'Composed' AND o.processedstatus = 'Processed'",
        join=", orders o",
        join_on=" AND o._id = e._orderid",
        extra=",\n          o.notificationorder -> 'emailAttachments' AS attachments",
        direction=d,
    )
    for newest, d in _DIRECTIONS.items()
}

_CLAIM_SMS_TEMPLATE = """
WITH c AS (
    SELECT s._id FROM smsnotifications s
    JOIN orders o ON o._id = s._orderid
    WHERE s.result = 'New' AND s.expirytime >= COALESCE($4::timestamptz, now())
      AND (s.next_attempt_at IS NULL OR s.next_attempt_at <= COALESCE($4::timestamptz, now()))
      AND (o.sendingtimepolicy = 1 OR $3::boolean)
    ORDER BY s._id{direction}
    FOR UPDATE OF s SKIP LOCKED
    LIMIT $1
)
UPDATE smsnotifications s
SET result = 'Sending', resulttime = now(), claimed_until = COALESCE($4::timestamptz, now()) + $2::interval,
    attempts = s.attempts + 1
FROM c, smstexts t, orders o
WHERE s._id = c._id AND t._orderid = s._orderid AND o._id = s._orderid
RETURNING s.alternateid, s._orderid, s.attempts, t.sendernumber, s.mobilenumber,
          COALESCE(NULLIF(s.customizedbody, ''), t.body) AS body,
          CASE WHEN o.type = 'Instant'
               THEN GREATEST(60, ceil(EXTRACT(EPOCH FROM s.expirytime - now())))::int END AS ttl
"""
_CLAIM_SMS = {newest: _CLAIM_SMS_TEMPLATE.format(direction=d) for newest, d in _DIRECTIONS.items()}

# Rows still `Sending` with a vendor reference whose next status poll is due (ACS operations). The claim
# moves `next_attempt_at` a lease ahead: a poller that dies is replaced when that time comes.
_CLAIM_POLLS = """
WITH c AS (
    SELECT _id FROM {table}
    WHERE result = 'Sending' AND {ref} IS NOT NULL
      AND (next_attempt_at IS NULL OR next_attempt_at <= COALESCE($3::timestamptz, now()))
    ORDER BY next_attempt_at NULLS FIRST
    FOR UPDATE SKIP LOCKED
    LIMIT $1
)
UPDATE {table} n SET claimed_until = COALESCE($3::timestamptz, now()) + $2::interval,
    next_attempt_at = COALESCE($3::timestamptz, now()) + $2::interval
FROM c WHERE n._id = c._id
RETURNING n.alternateid, n._orderid, n.attempts, n.{ref} AS ref
"""


def _email_fields(r: Any) -> dict[str, Any]:
    """The fields of a `ClaimedEmail` from a claim's row (ordinary and composed claims alike)."""
    return {
        "id": r["alternateid"],
        "order_id": r["_orderid"],
        "attempts": r["attempts"],
        "from_address": r["fromaddress"],
        "to_address": r["toaddress"],
        "subject": r["subject"],
        "body": r["body"],
        "content_type": "Html" if r["contenttype"] == "Html" else "Plain",
    }


class DispatchRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def claim_emails(
        self, limit: int, lease: timedelta, *, newest_first: bool = False, now: datetime | None = None
    ) -> list[ClaimedEmail]:
        """Emails of every order type but `Composed`. `now`: the database's clock unless a test moves it."""
        rows = await self.conn.fetch(_CLAIM_STANDARD_EMAIL[newest_first], limit, lease, now)
        return [ClaimedEmail(**_email_fields(r)) for r in rows]

    async def claim_composed_emails(
        self, limit: int, lease: timedelta, *, newest_first: bool = False, now: datetime | None = None
    ) -> list[ClaimedComposedEmail]:
        """Emails of `Composed` orders, with the attachments stored in the order (docs/compatibility.md C7)."""
        rows = await self.conn.fetch(_CLAIM_COMPOSED_EMAIL[newest_first], limit, lease, now)
        return [
            ClaimedComposedEmail(
                **_email_fields(r),
                attachments=tuple(
                    AttachmentRef(
                        filename=str(a.get("filename") or ""),
                        mime_type=str(a.get("mimeType") or ""),
                        sas_url=str(a.get("sasUrl") or ""),
                    )
                    for a in (r["attachments"] or ())
                    if isinstance(a, dict)
                ),
            )
            for r in rows
        ]

    async def claim_sms(
        self,
        limit: int,
        lease: timedelta,
        *,
        daytime_open: bool,
        newest_first: bool = False,
        now: datetime | None = None,
    ) -> list[ClaimedSms]:
        """Anytime SMS always; Daytime (or unset policy, v1) only while the daytime window is open."""
        rows = await self.conn.fetch(_CLAIM_SMS[newest_first], limit, lease, daytime_open, now)
        return [
            ClaimedSms(
                id=r["alternateid"],
                order_id=r["_orderid"],
                attempts=r["attempts"],
                sender=r["sendernumber"],
                mobile_number=r["mobilenumber"],
                body=r["body"],
                time_to_live_seconds=r["ttl"],
            )
            for r in rows
        ]

    async def claim_polls(
        self, channel: Channel, limit: int, lease: timedelta, now: datetime | None = None
    ) -> list[ClaimedPoll]:
        rows = await self.conn.fetch(
            _CLAIM_POLLS.format(table=NOTIFICATION_TABLE[channel], ref=VENDOR_REFERENCE[channel]),
            limit,
            lease,
            now,
        )
        return [
            ClaimedPoll(
                id=r["alternateid"], order_id=r["_orderid"], attempts=r["attempts"], reference=r["ref"]
            )
            for r in rows
        ]

    async def seconds_until_next_poll(self, channel: Channel) -> float | None:
        value: float | None = await self.conn.fetchval(
            f"""SELECT EXTRACT(EPOCH FROM min(COALESCE(next_attempt_at, now())) - now())::float8
                FROM {NOTIFICATION_TABLE[channel]} WHERE result = 'Sending' AND {VENDOR_REFERENCE[channel]} IS NOT NULL"""
        )
        return value

    async def write_send_results(self, channel: Channel, results: Sequence[SendResult]) -> None:
        """Results of our own sends and polls: only rows still `Sending` change (a report may have overtaken
        us). A poll result keeps the row `Sending` with its reference and sets the next poll time."""
        done = [r for r in results if r.retry_in_seconds is None and r.poll_in_seconds is None]
        retry = [r for r in results if r.retry_in_seconds is not None]
        poll = [r for r in results if r.retry_in_seconds is None and r.poll_in_seconds is not None]
        table, ref, rtype = NOTIFICATION_TABLE[channel], VENDOR_REFERENCE[channel], RESULT_TYPE[channel]
        # The SMS segment count, or the email's total attachment size (composed email), in `i.extra`.
        extra = (
            ", smscount = COALESCE(i.extra, n.smscount)"
            if channel == "sms"
            else ", total_attachment_size_bytes = COALESCE(i.extra, n.total_attachment_size_bytes)"
        )

        def extras(rows: Sequence[SendResult]) -> list[int | None]:
            return [r.segments if channel == "sms" else r.attachment_bytes for r in rows]

        if done:
            await self.conn.execute(
                f"""UPDATE {table} n SET result = i.result::{rtype}, resulttime = now(), claimed_until = NULL,
                           {ref} = COALESCE(i.ref, n.{ref}){extra}
                    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[]) AS i(id, result, ref, extra)
                    WHERE n.alternateid = i.id AND n.result = 'Sending'""",
                [r.id for r in done],
                [r.result for r in done],
                [r.reference for r in done],
                extras(done),
            )
        if poll:
            await self.conn.execute(
                f"""UPDATE {table} n SET claimed_until = NULL, {ref} = COALESCE(i.ref, n.{ref}),
                           next_attempt_at = now() + make_interval(secs => i.delay){extra}
                    FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::int8[]) AS i(id, ref, delay, extra)
                    WHERE n.alternateid = i.id AND n.result = 'Sending'""",
                [r.id for r in poll],
                [r.reference for r in poll],
                [r.poll_in_seconds for r in poll],
                extras(poll),
            )
        if retry:
            # A claim that never reached the vendor (`not_attempted`) gives its attempt back.
            await self.conn.execute(
                f"""UPDATE {table} n SET result = 'New', resulttime = now(), claimed_until = NULL,
                           next_attempt_at = now() + make_interval(secs => i.delay),
                           attempts = GREATEST(0, n.attempts - i.refund)
                    FROM unnest($1::uuid[], $2::float8[], $3::int[]) AS i(id, delay, refund)
                    WHERE n.alternateid = i.id AND n.result = 'Sending'""",
                [r.id for r in retry],
                [r.retry_in_seconds for r in retry],
                [1 if r.not_attempted else 0 for r in retry],
            )

    async def paused_seconds(self, channel: Channel) -> float:
        """Seconds left of the channel's rate-limit pause (0 when not paused), in one statement."""
        value: float = await self.conn.fetchval(
            """SELECT coalesce(max(EXTRACT(EPOCH FROM emaillimittimeout - now())), 0)::float8
               FROM resourcelimitlog WHERE channel = $1 AND emaillimittimeout > now()""",
            channel,
        )
        return value

    async def pause(self, channel: Channel, seconds: float) -> None:
        """The vendor asked us to wait: pause the channel for every worker (docs/compatibility.md C12)."""
        await self.conn.execute(
            """INSERT INTO resourcelimitlog (channel, emaillimittimeout)
               VALUES ($1, now() + make_interval(secs => $2))
               ON CONFLICT (channel) DO UPDATE
               SET emaillimittimeout = GREATEST(resourcelimitlog.emaillimittimeout, EXCLUDED.emaillimittimeout)""",
            channel,
            seconds,
        )

    async def take_allowance(
        self, channel: Channel, wanted: int, *, rate: float, capacity: float, least: int
    ) -> tuple[int, float]:
        """Take up to `wanted` send tokens of the channel's bucket, shared by every worker process: it
        refills at `rate` per second up to `capacity`. Nothing is granted while fewer than `least` are
        there (claims of one or two rows would cost more than they send). Returns (granted, tokens there
        before). The row stays locked until the caller's transaction ends: claims of a rate-limited
        channel take turns across processes, so no two grant the same tokens."""
        await self.conn.execute(
            """INSERT INTO sendallowance (channel, tokens, refilled_at) VALUES ($1, $2, clock_timestamp())
               ON CONFLICT (channel) DO NOTHING""",
            channel,
            capacity,
        )
        row = await self.conn.fetchrow(
            """WITH t AS (SELECT clock_timestamp() AS at),
               b AS (SELECT s.channel,
                            LEAST($2::float8, s.tokens + $3::float8
                                  * GREATEST(0, EXTRACT(EPOCH FROM t.at - s.refilled_at))) AS avail
                     FROM sendallowance s, t WHERE s.channel = $1 FOR UPDATE OF s),
               g AS (SELECT channel, avail,
                            CASE WHEN avail >= $4 THEN LEAST(floor(avail), $5)::int ELSE 0 END AS granted
                     FROM b)
               UPDATE sendallowance s SET tokens = g.avail - g.granted, refilled_at = t.at
               FROM g, t WHERE s.channel = g.channel
               RETURNING g.granted, g.avail""",
            channel,
            capacity,
            rate,
            float(least),
            wanted,
        )
        return int(row["granted"]), float(row["avail"])

    async def give_back_allowance(self, channel: Channel, tokens: int, capacity: float) -> None:
        """Tokens taken for rows the claim did not find go back to the bucket."""
        await self.conn.execute(
            "UPDATE sendallowance SET tokens = LEAST($3::float8, tokens + $2) WHERE channel = $1",
            channel,
            tokens,
            capacity,
        )
