"""SQL of the delivery manifest (spec 4.4, `get_shipment_tracking_v3`), scoped to the creator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from altinn_notifications.db.pool import Connection
from altinn_notifications.status.completion import SHIPMENT_RECIPIENTS_SQL


@dataclass(frozen=True)
class ShipmentRecipientRow:
    kind: str  # 'Email' | 'SMS'
    destination: str
    status: str  # lifecycle name of spec 9.4, computed in SQL (shared with the status feed)
    last_update: datetime


@dataclass(frozen=True)
class ShipmentRow:
    shipment_id: UUID
    senders_reference: str | None
    order_type: str
    order_status: str
    last_update: datetime
    recipients: list[ShipmentRecipientRow]


# One statement: the order and, laterally, its email then SMS notifications (same lifecycle SQL as the feed).
# GREATEST ignores a NULL `processed`.
_SHIPMENT = f"""
SELECT o.alternateid, o.sendersreference, o.type::text AS type, o.processedstatus::text AS status,
       GREATEST(o.created, o.processed) AS last_update,
       r.kind, r.destination, r.status AS recipient_status, r.resulttime
FROM orders o
LEFT JOIN LATERAL ({SHIPMENT_RECIPIENTS_SQL}) r ON true
WHERE o.alternateid = $1 AND o.creatorname = $2
ORDER BY r.kind, r._id
"""


class ShipmentRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, shipment_id: UUID, creator: str) -> ShipmentRow | None:
        """The order with its notifications; None when there is no such order for this creator."""
        rows = await self.conn.fetch(_SHIPMENT, shipment_id, creator)
        if not rows:
            return None
        first = rows[0]
        return ShipmentRow(
            shipment_id=first["alternateid"],
            senders_reference=first["sendersreference"],
            order_type=first["type"],
            order_status=first["status"],
            last_update=first["last_update"],
            recipients=[
                ShipmentRecipientRow(
                    kind=r["kind"],
                    destination=r["destination"],
                    status=r["recipient_status"],
                    last_update=r["resulttime"],
                )
                for r in rows
                # No notifications: one row of NULLs. Only SQL NULL destinations are skipped (spec 4.4).
                if r["kind"] is not None and r["destination"] is not None
            ],
        )
