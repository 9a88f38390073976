"""SQL of the statistics (docs/compatibility.md C17, `get_metrics_v2`, `get_sms_metrics`, `get_email_metrics`).

The reference serves the daily exports from materialized views (`sms_metrics_recent`,
`email_metrics_recent`: final results of the last two days) refreshed nightly by pg_cron. We have no
pg_cron dependency: the exports query the notification tables directly for the requested day, over the
`resulttime` indexes, streamed with a server-side cursor so that memory stays bounded. The rows are the
same (final results whose result time falls in the day), only fresher: a result set after the nightly
refresh is included too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from altinn_notifications.db.pool import Connection
from altinn_notifications.statistics.models import EmailMetricsRow, OrgMonthlyMetrics, SmsMetricsRow
from altinn_notifications.vocabulary import EMAIL_PENDING, SMS_PENDING, sql_list

# Orders by requested send time in [$1, $2). SMS are counted in segments (`smscount`, recorded by dispatch
# for every SMS handed to a provider; 0 for one never sent), as the reference's `sent_sms`. Orders deleted
# by the order retention are counted from `monthlystatistics` (kept when they were deleted).
_MONTHLY = """
WITH filtered_orders AS (
    SELECT o._id, o.creatorname FROM orders o
    WHERE o.requestedsendtime >= $1 AND o.requestedsendtime < $2
), email_per_order AS (
    SELECT e._orderid,
           count(*) AS created,
           count(*) FILTER (WHERE e.result IN ('Succeeded', 'Delivered')) AS succeeded
    FROM emailnotifications e JOIN filtered_orders fo ON fo._id = e._orderid
    GROUP BY e._orderid
), sms_per_order AS (
    SELECT s._orderid,
           sum(s.smscount) AS created,
           count(*) FILTER (WHERE s.result IN ('Accepted', 'Delivered')) AS succeeded
    FROM smsnotifications s JOIN filtered_orders fo ON fo._id = s._orderid
    GROUP BY s._orderid
), live AS (
    SELECT fo.creatorname AS org,
           count(*) AS placed_orders,
           COALESCE(sum(eo.created), 0)::bigint AS emails_created,
           COALESCE(sum(eo.succeeded), 0)::bigint AS emails_succeeded,
           COALESCE(sum(so.created), 0)::bigint AS sms_created,
           COALESCE(sum(so.succeeded), 0)::bigint AS sms_succeeded
    FROM filtered_orders fo
    LEFT JOIN email_per_order eo ON eo._orderid = fo._id
    LEFT JOIN sms_per_order so ON so._orderid = fo._id
    GROUP BY fo.creatorname
), deleted AS (
    -- what the order retention deleted of these months (queue/repository.py `_DELETE_OLD_ORDERS`)
    SELECT creatorname AS org, placedorders AS placed_orders, emailscreated AS emails_created,
           emailssucceeded AS emails_succeeded, smscreated AS sms_created, smssucceeded AS sms_succeeded
    FROM monthlystatistics
    WHERE month >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND month < ($2::timestamptz AT TIME ZONE 'UTC')::date
)
SELECT org, sum(placed_orders)::bigint AS placed_orders, sum(emails_created)::bigint AS emails_created,
       sum(emails_succeeded)::bigint AS emails_succeeded, sum(sms_created)::bigint AS sms_created,
       sum(sms_succeeded)::bigint AS sms_succeeded
FROM (SELECT * FROM live UNION ALL SELECT * FROM deleted) AS both_kinds
GROUP BY org
ORDER BY org
"""

# Final results whose result time is in [$1, $2), with their order's data.
_SMS_ROWS = f"""
SELECT s._id, o.alternateid, o.sendersreference, o.requestedsendtime, o.creatorname,
       o.notificationorder ->> 'resourceId' AS resourceid, s.result::text AS result, s.gatewayreference,
       s.mobilenumber, s.smscount,
       (SELECT length(t.body) FROM smstexts t WHERE t._orderid = o._id ORDER BY t._id LIMIT 1) AS body_length,
       length(s.customizedbody) AS custom_body_length
FROM smsnotifications s
JOIN orders o ON o._id = s._orderid
WHERE s.resulttime >= $1 AND s.resulttime < $2 AND s.result NOT IN {sql_list(SMS_PENDING)}
ORDER BY s._id
"""

_EMAIL_ROWS = f"""
SELECT e._id, o.alternateid, o.sendersreference, o.requestedsendtime, o.creatorname,
       o.notificationorder ->> 'resourceId' AS resourceid, e.result::text AS result, e.operationid
FROM emailnotifications e
JOIN orders o ON o._id = e._orderid
WHERE e.resulttime >= $1 AND e.resulttime < $2 AND e.result NOT IN {sql_list(EMAIL_PENDING)}
ORDER BY e._id
"""


class StatisticsRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def monthly(self, start: datetime, end: datetime) -> list[OrgMonthlyMetrics]:
        rows = await self.conn.fetch(_MONTHLY, start, end)
        return [
            OrgMonthlyMetrics(
                org=r["org"],
                placed_orders=r["placed_orders"],
                emails_created=r["emails_created"],
                emails_succeeded=r["emails_succeeded"],
                sms_created=r["sms_created"],
                sms_succeeded=r["sms_succeeded"],
            )
            for r in rows
        ]

    async def sms_rows(
        self, start: datetime, end: datetime, batch_size: int
    ) -> AsyncIterator[list[SmsMetricsRow]]:
        """Batches of final SMS results in the window; needs the caller's transaction (a cursor)."""
        cursor = await self.conn.cursor(_SMS_ROWS, start, end)
        while rows := await cursor.fetch(batch_size):
            yield [
                SmsMetricsRow(
                    sms_id=r["_id"],
                    shipment_id=r["alternateid"],
                    senders_reference=r["sendersreference"],
                    requested_send_time=r["requestedsendtime"],
                    creator_name=r["creatorname"],
                    resource_id=r["resourceid"],
                    result=r["result"],
                    gateway_reference=r["gatewayreference"],
                    mobile_number=r["mobilenumber"],
                    sms_count=r["smscount"],
                    body_length=r["body_length"],
                    custom_body_length=r["custom_body_length"],
                )
                for r in rows
            ]

    async def email_rows(
        self, start: datetime, end: datetime, batch_size: int
    ) -> AsyncIterator[list[EmailMetricsRow]]:
        """Batches of final email results in the window; needs the caller's transaction (a cursor)."""
        cursor = await self.conn.cursor(_EMAIL_ROWS, start, end)
        while rows := await cursor.fetch(batch_size):
            yield [
                EmailMetricsRow(
                    email_id=r["_id"],
                    shipment_id=r["alternateid"],
                    senders_reference=r["sendersreference"],
                    requested_send_time=r["requestedsendtime"],
                    creator_name=r["creatorname"],
                    resource_id=r["resourceid"],
                    result=r["result"],
                    operation_id=r["operationid"],
                )
                for r in rows
            ]
