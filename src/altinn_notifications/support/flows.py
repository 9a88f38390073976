"""Support lookups in one read transaction: what the API's dashboard endpoints and the console call.

`lookup_notifications` takes typed inputs (the kind of identifier, the identifier as typed, the window
as datetimes or None for the defaults) and answers one element per order, newest first; a rule broken
raises `RequestValidationFailed` with the reference's messages (docs/compatibility.md C22).
"""

from __future__ import annotations

from datetime import UTC, datetime

from altinn_notifications.db.pool import Transaction
from altinn_notifications.support import service
from altinn_notifications.support.models import DashboardNotificationExt, IdentifierKind
from altinn_notifications.support.repository import SupportRepository


async def lookup_notifications(
    transaction: Transaction,
    kind: IdentifierKind,
    identifier: str | None,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    now: datetime | None = None,
) -> list[DashboardNotificationExt]:
    query = service.build_query(kind, identifier, start, end, now or datetime.now(UTC))
    async with transaction() as conn:
        rows = await SupportRepository(conn).attempts(query)
    return service.group_by_order(kind, rows)
