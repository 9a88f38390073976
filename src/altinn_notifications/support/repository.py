"""SQL of the support lookups: one recipient's notifications across every sender, with their orders.

Each lookup starts from the recipient's notifications through an index on the identifier (national
identity number, organisation number, lowercased email address), then reads each order by its primary
key and keeps those whose requested send time falls in the window. One recipient has few notifications
even over years, so the cost follows what that recipient was sent, never the size of the tables
(tests/support/test_lookup_plan.py checks the plan).
"""

from __future__ import annotations

import json
from typing import Any

from altinn_notifications.db.pool import Connection
from altinn_notifications.status.repository import EMAIL_LIFECYCLE_SQL, SMS_LIFECYCLE_SQL
from altinn_notifications.support.models import AttemptRow, IdentifierKind, LookupQuery

_EMAIL_PART = f"""
    SELECT 'email' AS channel, n._orderid, n._id, n.recipientnin, n.recipientorgno, n.toaddress AS address,
           {EMAIL_LIFECYCLE_SQL} AS status, n.resulttime
    FROM emailnotifications n WHERE {{match}}"""
_SMS_PART = f"""
    SELECT 'sms', n._orderid, n._id, n.recipientnin, n.recipientorgno, n.mobilenumber,
           {SMS_LIFECYCLE_SQL}, n.resulttime
    FROM smsnotifications n WHERE {{match}}"""

_LOOKUP = """
SELECT o._id AS order_id, o.alternateid, o.creatorname, o.notificationorder ->> 'resourceId' AS resourceid,
       o.sendersreference, o.requestedsendtime, o.notificationorder ->> 'notificationChannel' AS scheme,
       o.type::text AS type, x.channel, x.recipientnin, x.recipientorgno, x.address, x.status, x.resulttime
FROM ({parts}) x
JOIN orders o ON o._id = x._orderid
WHERE o.requestedsendtime >= $2 AND o.requestedsendtime < $3
ORDER BY o.requestedsendtime DESC, o._id DESC, x.channel, x._id
"""

# The email lookup matches the address a notification was sent to, case-insensitively (so only emails).
_STATEMENTS = {
    IdentifierKind.nin: _LOOKUP.format(
        parts=_EMAIL_PART.format(match="n.recipientnin = $1")
        + "\n    UNION ALL"
        + _SMS_PART.format(match="n.recipientnin = $1")
    ),
    IdentifierKind.orgnumber: _LOOKUP.format(
        parts=_EMAIL_PART.format(match="n.recipientorgno = $1")
        + "\n    UNION ALL"
        + _SMS_PART.format(match="n.recipientorgno = $1")
    ),
    IdentifierKind.email: _LOOKUP.format(parts=_EMAIL_PART.format(match="lower(n.toaddress) = lower($1)")),
}


class SupportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def attempts(self, query: LookupQuery) -> list[AttemptRow]:
        """The recipient's notifications of orders in the window, newest order first."""
        rows = await self.conn.fetch(_STATEMENTS[query.kind], query.identifier, query.start, query.end)
        return [
            AttemptRow(
                order_id=r["order_id"],
                shipment_id=r["alternateid"],
                creator=r["creatorname"],
                resource_id=r["resourceid"],
                senders_reference=r["sendersreference"],
                requested_send_time=r["requestedsendtime"],
                notification_channel=r["scheme"],
                order_type=r["type"],
                channel=r["channel"],
                national_identity_number=r["recipientnin"],
                organization_number=r["recipientorgno"],
                address=r["address"],
                result=r["status"],
                result_time=r["resulttime"],
            )
            for r in rows
        ]

    async def plan(self, query: LookupQuery) -> dict[str, Any]:
        """The planner's plan of the lookup (`EXPLAIN`, JSON), to show which indexes it uses."""
        raw = await self.conn.fetchval(
            f"EXPLAIN (FORMAT JSON) {_STATEMENTS[query.kind]}", query.identifier, query.start, query.end
        )
        document = json.loads(raw) if isinstance(raw, str) else raw
        plan: dict[str, Any] = document[0]["Plan"]
        return plan
