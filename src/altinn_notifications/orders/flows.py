"""v1 order flows: each request's unit of work. Network calls (the registration-time contact lookup) run
before any connection is taken; every read or write holds its connection only for its statements."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from altinn_notifications.auth.models import Caller
from altinn_notifications.db.pool import Transaction
from altinn_notifications.metrics import ORDERS_REGISTERED
from altinn_notifications.orders import service
from altinn_notifications.orders.intake import IntakeDeps
from altinn_notifications.orders.links import Links
from altinn_notifications.orders.models import (
    NotificationOrderExt,
    NotificationOrderListExt,
    NotificationOrderRequestResponseExt,
    NotificationOrderWithStatusExt,
    V1OrderRequest,
)
from altinn_notifications.orders.order_status import get_order_with_status
from altinn_notifications.ratelimits import flows as ratelimits


async def register(
    deps: IntakeDeps, request: V1OrderRequest, caller: Caller
) -> NotificationOrderRequestResponseExt:
    """Validate and map (400), look the recipients up (informational in v1), store; the 202 body."""
    order = service.build_order(request, caller, deps.settings, deps.clock())
    take = ratelimits.prepare(deps.rate_limiter, caller.org, len(order.recipients))
    lookup = await service.lookup_for_registration(order, deps.contact_points)
    state = await service.store_order(deps.statements, order, take)
    if take is not None and state is not None:
        ratelimits.check(take, state, deps.clock())  # 429: nothing was stored
    ORDERS_REGISTERED.labels(channel=order.notification_channel.value).inc()
    return service.lookup_response(order, lookup)


async def get_order(
    transaction: Transaction,
    order_id: UUID,
    caller: Caller,
    links: Links,
) -> NotificationOrderExt:
    async with transaction() as conn:
        return await service.get_order(conn, order_id, caller, links)


async def list_orders(
    transaction: Transaction,
    senders_reference: str,
    caller: Caller,
    links: Links,
) -> NotificationOrderListExt:
    async with transaction() as conn:
        orders = await service.list_orders(conn, senders_reference, caller, links)
    return NotificationOrderListExt(count=len(orders), orders=orders)


async def get_order_status(
    transaction: Transaction,
    order_id: UUID,
    caller: Caller,
    links: Links,
) -> NotificationOrderWithStatusExt:
    async with transaction() as conn:
        return await get_order_with_status(conn, order_id, caller.org, links)


async def cancel_order(
    transaction: Transaction,
    order_id: UUID,
    caller: Caller,
    links: Links,
    now: datetime,
) -> NotificationOrderWithStatusExt:
    """Cancel and answer with the order as it now stands, in one transaction."""
    async with transaction() as conn:
        await service.cancel_order(conn, order_id, caller, now)
        return await get_order_with_status(conn, order_id, caller.org, links)
