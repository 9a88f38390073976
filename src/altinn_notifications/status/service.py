"""Notification summaries with the reference's texts and counting rules (docs/compatibility.md C9, 9.7).

The order with its status is composed in `orders.order_status`: orders is the lower layer.
"""

from __future__ import annotations

from uuid import UUID

from altinn_notifications.db.pool import Connection
from altinn_notifications.errors import NotFoundError
from altinn_notifications.status.models import (
    EmailNotificationSummaryExt,
    EmailNotificationWithResultExt,
    EmailRecipientExt,
    SmsNotificationSummaryExt,
    SmsNotificationWithResultExt,
    SmsRecipientExt,
    StatusExt,
)
from altinn_notifications.status.repository import NotificationRow, SummaryRepository

EMAIL_RESULT_DESCRIPTIONS = {
    "New": "The email has been created, but has not been picked up for processing yet.",
    "Sending": "The email is being processed and will be attempted sent shortly.",
    "Succeeded": "The email has been accepted by the third party email service and will be sent shortly.",
    "Delivered": "The email was delivered to the recipient. No errors reported, making it likely it was "
    "received by the recipient.",
    "Failed": "The email was not sent due to an unspecified failure.",
    "Failed_RecipientReserved": "The email was not sent because the recipient has reserved themselves from "
    "electronic communication.",
    "Failed_RecipientNotIdentified": "The email was not sent because the recipient's email address was not found.",
    "Failed_InvalidEmailFormat": "The email was not sent because the recipient’s email address is in an "
    "invalid format.",
    "Failed_SupressedRecipient": "The email was not sent because the recipient’s email address is suppressed "
    "by the third party email service.",
    "Failed_TransientError": "The email was not sent due to a transient error. We will retry sending the email.",
    "Failed_Bounced": "The email hard bounced, which may have happened because the email address does not "
    "exist or the domain is invalid.",
    "Failed_FilteredSpam": "The email was identified as spam, and was rejected or blocked (not quarantined).",
    "Failed_Quarantined": "The email was quarantined (as spam, bulk mail, or phising).",
    "Failed_TTL": "The email was in indefinite state Succeeded for too long (TTL), and was subsequently set "
    "to failed.",
    "Failed_InvalidSasUrl": "The email was not sent because one or more attachment SAS URLs are invalid, "
    "expired, or inaccessible.",
    "Failed_PayloadTooLarge": "The email was not sent because the total size of the attachments exceeds the "
    "allowed limit.",
}

SMS_RESULT_DESCRIPTIONS = {
    "New": "The SMS has been created, but has not been picked up for processing yet.",
    "Sending": "The SMS is being processed and will be attempted sent shortly.",
    "Accepted": "The SMS has been accepted by the gateway service and will be sent shortly.",
    "Delivered": "The SMS was successfully delivered to its destination.",
    "Failed": "The SMS was not delivered due to an unspecified failure.",
    "Failed_InvalidRecipient": "The SMS was not delivered because the recipient's mobile number was invalid.",
    "Failed_RecipientReserved": "The SMS was not sent because the recipient has reserved themselves from "
    "electronic communication.",
    "Failed_BarredReceiver": "The SMS was not delivered because the recipient's number is barred, blocked or "
    "not in use.",
    "Failed_Deleted": "The SMS was not delivered because the message has been deleted.",
    "Failed_Expired": "The SMS was not delivered because it has expired.",
    "Failed_Undelivered": "The SMS was not delivered due to invalid number or no available route to destination.",
    "Failed_RecipientNotIdentified": "The SMS was not delivered because the recipient's mobile number was not "
    "found.",
    "Failed_Rejected": "The SMS was not delivered because it was rejected.",
    "Failed_TTL": "The SMS was in indefinite state Accepted for too long (TTL), and was subsequently set to failed.",
}

# Legacy database spellings of SMS results, presented under their current names.
_SMS_LEGACY = {
    "Failed_InvalidReceiver": "Failed_InvalidRecipient",
    "Failed_Recipientreserved": "Failed_RecipientReserved",
}

EMAIL_SUCCEEDED = frozenset({"Succeeded", "Delivered"})
SMS_SUCCEEDED = frozenset({"Accepted", "Delivered"})


def v1_result_name(result: str) -> str:
    """v1 presents `Failed_TTL` as `Failed`."""
    return "Failed" if result == "Failed_TTL" else result


async def email_summary(conn: Connection, order_id: UUID, creator: str) -> EmailNotificationSummaryExt:
    found = await SummaryRepository(conn).notifications("email", order_id, creator)
    if found is None:
        raise NotFoundError()
    notifications = [
        EmailNotificationWithResultExt(
            id=row.id,
            succeeded=row.result in EMAIL_SUCCEEDED,
            recipient=EmailRecipientExt(
                email_address=row.address or None,
                organization_number=row.organization_number,
                national_identity_number=row.national_identity_number,
            ),
            send_status=_send_status(row, EMAIL_RESULT_DESCRIPTIONS),
        )
        for row in found.rows
    ]
    return EmailNotificationSummaryExt(
        order_id=order_id,
        senders_reference=found.senders_reference,
        generated=len(notifications),
        succeeded=sum(n.succeeded for n in notifications),
        notifications=notifications,
    )


async def sms_summary(conn: Connection, order_id: UUID, creator: str) -> SmsNotificationSummaryExt:
    found = await SummaryRepository(conn).notifications("sms", order_id, creator)
    if found is None:
        raise NotFoundError()
    notifications = [
        SmsNotificationWithResultExt(
            id=row.id,
            succeeded=_SMS_LEGACY.get(row.result, row.result) in SMS_SUCCEEDED,
            recipient=SmsRecipientExt(
                mobile_number=row.address or None,
                organization_number=row.organization_number,
                national_identity_number=row.national_identity_number,
            ),
            send_status=_send_status(row, SMS_RESULT_DESCRIPTIONS, _SMS_LEGACY),
        )
        for row in found.rows
    ]
    return SmsNotificationSummaryExt(
        order_id=order_id,
        senders_reference=found.senders_reference,
        generated=len(notifications),
        succeeded=sum(n.succeeded for n in notifications),
        notifications=notifications,
    )


def _send_status(
    row: NotificationRow, descriptions: dict[str, str], legacy: dict[str, str] | None = None
) -> StatusExt:
    result = (legacy or {}).get(row.result, row.result)
    return StatusExt(
        status=v1_result_name(result), description=descriptions.get(result), last_update=row.result_time
    )
