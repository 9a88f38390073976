"""What order processing produces: notification rows to insert (docs/compatibility.md C10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

EMAIL_GENERATION_FAILURES = frozenset({"Failed_RecipientNotIdentified", "Failed_RecipientReserved"})
SMS_GENERATION_FAILURES = EMAIL_GENERATION_FAILURES


@dataclass(frozen=True)
class NewEmailNotification:
    id: UUID
    to_address: str
    result: str
    expiry_time: datetime
    recipient_org_no: str | None = None
    recipient_nin: str | None = None
    customized_subject: str | None = None
    customized_body: str | None = None


@dataclass(frozen=True)
class NewSmsNotification:
    id: UUID
    mobile_number: str
    result: str
    expiry_time: datetime
    recipient_org_no: str | None = None
    recipient_nin: str | None = None
    customized_body: str | None = None


@dataclass(frozen=True)
class ClaimedOrder:
    internal_id: int
    attempts: int
    order_json: dict[str, object]
    #: The sender (`creatorname`): condition calls and claims are shared fairly among creators.
    creator: str = ""


@dataclass
class GeneratedNotifications:
    emails: list[NewEmailNotification]
    sms: list[NewSmsNotification]

    @property
    def all_failed_at_generation(self) -> bool:
        """docs/compatibility.md C10: every row failed at generation (vacuously true when none) → straight to Completed."""
        return all(e.result in EMAIL_GENERATION_FAILURES for e in self.emails) and all(
            s.result in SMS_GENERATION_FAILURES for s in self.sms
        )
