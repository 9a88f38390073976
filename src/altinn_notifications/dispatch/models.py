"""Claimed work items of dispatch and the results written back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from altinn_notifications.providers.base import Attachment, EmailMessage


@dataclass(frozen=True)
class ClaimedEmail:
    id: UUID
    order_id: int
    attempts: int
    from_address: str
    to_address: str
    subject: str
    body: str
    content_type: Literal["Plain", "Html"]

    def message(self, attachments: tuple[Attachment, ...] = ()) -> EmailMessage:
        """What the provider is handed."""
        return EmailMessage(
            notification_id=self.id,
            from_address=self.from_address,
            to_address=self.to_address,
            subject=self.subject,
            body=self.body,
            content_type=self.content_type,
            attachments=attachments,
        )


@dataclass(frozen=True)
class AttachmentRef:
    """A file of a composed email as ordered (docs/compatibility.md C7). The SAS URL is a credential: it is kept out of
    `repr`, and must never be logged."""

    filename: str
    mime_type: str
    sas_url: str = field(repr=False)


@dataclass(frozen=True)
class ClaimedComposedEmail(ClaimedEmail):
    """An email of a `Composed` order: sent with the files its SAS URLs point to."""

    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True)
class ClaimedSms:
    id: UUID
    order_id: int
    attempts: int
    sender: str
    mobile_number: str
    body: str
    time_to_live_seconds: int | None = None  # instant SMS: what is left of the caller's time to live


@dataclass(frozen=True)
class ClaimedPoll:
    """A notification still `Sending` with a vendor reference (an ACS operation), due for a status poll."""

    id: UUID
    order_id: int
    attempts: int
    reference: str


@dataclass(frozen=True)
class SendResult:
    """What to write for one sent notification: a result (and vendor reference), a retry, or a poll."""

    id: UUID
    order_id: int
    result: str
    reference: str | None = None
    retry_in_seconds: float | None = None  # set: back to `New`, eligible again after this many seconds
    poll_in_seconds: float | None = None  # set: stays `Sending` with `reference`, polled after this long
    segments: int | None = None  # SMS: segments the text costs (`smscount`)
    attachment_bytes: int | None = None  # composed email: total size of the downloaded attachments
    #: A retry of a claim that was never handed to the vendor (the channel was paused meanwhile): the
    #: claim's attempt is given back, so vendor retry schedules count real attempts only.
    not_attempted: bool = False
