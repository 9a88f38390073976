"""Status reads, each in one short read transaction: shipment tracking, the status feed, the v1
notification summaries and the notification log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from altinn_notifications.db.pool import Transaction
from altinn_notifications.status import notification_log, service, shipment
from altinn_notifications.status.models import EmailNotificationSummaryExt, SmsNotificationSummaryExt
from altinn_notifications.status.notification_log import NotificationLogEntryExt
from altinn_notifications.status.shipment import FeedQuery, NotificationDeliveryManifestExt


async def read_shipment(
    transaction: Transaction, shipment_id: UUID, creator: str
) -> NotificationDeliveryManifestExt:
    async with transaction() as conn:
        return await shipment.get_shipment(conn, shipment_id, creator)


async def read_status_feed(transaction: Transaction, creator: str, query: FeedQuery) -> list[dict[str, Any]]:
    async with transaction() as conn:
        return await shipment.get_status_feed(conn, creator, query)


async def email_summary(
    transaction: Transaction, order_id: UUID, creator: str
) -> EmailNotificationSummaryExt:
    async with transaction() as conn:
        return await service.email_summary(conn, order_id, creator)


async def sms_summary(transaction: Transaction, order_id: UUID, creator: str) -> SmsNotificationSummaryExt:
    async with transaction() as conn:
        return await service.sms_summary(conn, order_id, creator)


async def read_notification_log(
    transaction: Transaction,
    creator: str,
    *,
    dialog_id: str | None,
    shipment_id: UUID | None,
    transmission_id: str | None,
) -> list[NotificationLogEntryExt]:
    async with transaction() as conn:
        return await notification_log.read_log(
            conn, creator, dialog_id=dialog_id, shipment_id=shipment_id, transmission_id=transmission_id
        )
