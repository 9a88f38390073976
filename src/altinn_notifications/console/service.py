"""The console's domain steps: masking, timelines, rendering of messages. No transactions, no SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import nh3

from altinn_notifications.console.models import NotificationRow, OrderDetail, TimelineEvent
from altinn_notifications.providers.masking import mask_email, mask_phone
from altinn_notifications.providers.sms.segments import encoding_of, segment_count

#: Tags an email may keep when shown (nh3's defaults, which drop scripts, styles, forms and event handlers).
_ALLOWED_SCHEMES = {"http", "https", "mailto", "cid"}


def mask_address(channel: str, address: str | None) -> str:
    return mask_email(address) if channel == "email" else mask_phone(address)


def mask_identifier(value: str | None) -> str:
    """A national identity number or organisation number as shown: the first digits only."""
    if not value:
        return ""
    compact = value.strip()
    keep = 6 if len(compact) == 11 else 3
    return compact[:keep] + "*" * max(len(compact) - keep, 0)


def sanitize_html(html: str) -> str:
    """An email's HTML without scripts, event handlers, forms or foreign schemes (the Ammonia sanitiser).

    Shown inside a sandboxed iframe without scripts, under the console's content security policy (no
    remote images or styles are loaded)."""
    return nh3.clean(html, url_schemes=_ALLOWED_SCHEMES, link_rel="noopener noreferrer nofollow")


def looks_like_html(body: str) -> bool:
    text = body.lstrip().lower()
    return text.startswith("<") and ("</" in text or "<br" in text)


def sms_view(body: str) -> dict[str, Any]:
    """What a phone shows: the text and how many SMS segments (and which encoding) it takes."""
    return {"body": body, "segments": segment_count(body), "encoding": str(encoding_of(body))}


def timeline(detail: OrderDetail) -> list[TimelineEvent]:
    """The order's life, oldest first: registered, its send time, each notification's result, completion."""
    order = detail.order
    events = [TimelineEvent(order.created, "Registered", f"{order.type} order by {order.creator}")]
    if order.requested_send_time > order.created:
        events.append(TimelineEvent(order.requested_send_time, "Requested send time"))
    if order.status not in ("Registered", "Completed") and order.last_update is not None:
        events.append(TimelineEvent(order.last_update, order.status))
    events.extend(_notification_event(n) for n in detail.notifications)
    if detail.completed_at is not None:
        events.append(TimelineEvent(detail.completed_at, "Completed", "status-feed entry written"))
    elif order.status == "Completed" and order.last_update is not None:
        events.append(TimelineEvent(order.last_update, "Completed"))
    return sorted(events, key=lambda e: e.at)


def _notification_event(n: NotificationRow) -> TimelineEvent:
    return TimelineEvent(n.result_time, f"{n.channel.upper()} {n.result}", mask_address(n.channel, n.address))


def is_final(status: str) -> bool:
    return status in ("Completed", "Cancelled", "SendConditionNotMet")


def can_cancel(status: str, requested_send_time: datetime, now: datetime) -> bool:
    """The cancel rule of the API (docs/compatibility.md C4), to offer the button only when it applies."""
    return status == "Registered" and (requested_send_time - now).total_seconds() > 300


def parse_time(value: str | None) -> datetime | None:
    """A form's `datetime-local` value (taken as UTC) or an ISO-8601 time; None when empty or malformed."""
    if not value or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
