"""A v1 order with its processing status and notification counts, as `GET /orders/{id}/status`
and `PUT /orders/{id}/cancel` answer it. Reads run on the caller's connection."""

from __future__ import annotations

from uuid import UUID

from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import NotFoundError
from altinn_notifications.orders.links import Links
from altinn_notifications.orders.models import (
    ChannelStatusSummaryExt,
    NotificationOrderWithStatusExt,
    NotificationsStatusSummaryExt,
    SelfLinkExt,
    StatusExt,
)
from altinn_notifications.orders.repository import OrderRepository, OrderWithCounts
from altinn_notifications.vocabulary import OrderStatus

ORDER_STATUS_DESCRIPTIONS = {
    OrderStatus.Registered: "Order has been registered and is awaiting requested send time before processing.",
    OrderStatus.Processing: "Order processing is ongoing. Notifications are being generated.",
    OrderStatus.Processed: "Order processing is done. Notifications have been successfully generated.",
    OrderStatus.Completed: "Order processing is completed. All notifications have a final status.",
    OrderStatus.SendConditionNotMet: "Order processing was stopped due to send condition not being met.",
    OrderStatus.Cancelled: "Order processing was stopped due to order being cancelled.",
}


def v1_order_status_name(status: OrderStatus) -> str:
    """Backward compatibility: v1 reports `Processed` as `Completed` (the description stays `Processed`'s)."""
    return OrderStatus.Completed.value if status is OrderStatus.Processed else status.value


def order_with_status(found: OrderWithCounts, links: Links) -> NotificationOrderWithStatusExt:
    order = found.stored.order
    summary = NotificationsStatusSummaryExt(
        email=_channel_summary(
            found.email.generated, found.email.succeeded, links.notifications(order.id, "email")
        ),
        sms=_channel_summary(found.sms.generated, found.sms.succeeded, links.notifications(order.id, "sms")),
    )
    return NotificationOrderWithStatusExt(
        **NotificationOrderWithStatusExt.base_fields(order),
        processing_status=StatusExt(
            status=v1_order_status_name(found.stored.status),
            description=ORDER_STATUS_DESCRIPTIONS[found.stored.status],
            last_update=found.stored.last_update,
        ),
        notifications_status_summary=summary if (summary.email or summary.sms) else None,
    )


def _channel_summary(generated: int, succeeded: int, link: str) -> ChannelStatusSummaryExt | None:
    if generated == 0:
        return None
    return ChannelStatusSummaryExt(links=SelfLinkExt(self=link), generated=generated, succeeded=succeeded)


async def get_order_with_status(
    conn: Connection, order_id: UUID, creator: str, links: Links
) -> NotificationOrderWithStatusExt:
    found = await OrderRepository(conn).get_with_counts(order_id, creator)
    if found is None:
        raise NotFoundError()
    return order_with_status(found, links)
