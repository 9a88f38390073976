"""Dispatch's domain steps, free of I/O: what a send or a status poll's outcome means for a notification.

The loop mechanics (claims, concurrency, result writes, lease keeping) are in `dispatch/worker.py`.
Transient failures go back to `New` with back-off (the provider's own `retry_schedule` when it has one,
e.g. LINK Mobility's 5/10/15/30 minutes, after which the notification fails); a vendor's rate-limit signal
pauses the whole channel for every worker until the reset time; an outcome with `poll_after` leaves the row
`Sending` with the vendor's operation id until a status poll settles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from altinn_notifications.dispatch.models import ClaimedEmail, ClaimedPoll, ClaimedSms, SendResult
from altinn_notifications.providers.base import RetrySchedule, SendOutcome
from altinn_notifications.providers.sms.segments import segment_count
from altinn_notifications.vocabulary import Channel, is_final


@dataclass(frozen=True)
class DispatchConfig:
    batch_size: int = 500
    concurrency: int = 50
    lease: timedelta = timedelta(minutes=5)
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 30 * 60.0
    default_pause_seconds: float = 60.0
    poll_retry_seconds: float = 8.0  # a status poll that failed transiently is asked again after this
    flush_size: int = 50  # results written per transaction while a batch is sending ...
    flush_interval: float = 0.1  # ... at the latest this long after the first of them arrived
    composed_batch_size: int = (
        50  # composed emails (docs/compatibility.md C20 `ComposedEmailPublishBatchSize`)
    )
    composed_concurrency: int = 5  # composed emails sent at a time (each downloads its attachments first)
    # Vendor pace: sends per second a channel may make, across every worker process (None: unlimited),
    # and the burst the shared token bucket allows (this many seconds' worth of sends at once).
    email_sends_per_second: float | None = None
    sms_sends_per_second: float | None = None
    allowance_burst_seconds: float = 1.0
    poll_batch_size: int = 1000  # vendor operations (ACS) claimed per status-poll batch

    def send_rate(self, channel: Channel) -> float | None:
        return self.email_sends_per_second if channel == "email" else self.sms_sends_per_second

    def retry_delay(self, attempts: int) -> float:
        return float(min(self.retry_base_seconds * (2 ** max(0, attempts - 1)), self.retry_max_seconds))


@dataclass(frozen=True)
class Sent:
    """What became of one claimed item: the provider's outcome, plus what dispatch knows besides.

    `kind`: `sent` (the provider was called), `download_failed` (a composed email whose attachments could
    not be fetched: the provider was not called, a transient failure uses dispatch's own back-off, never a
    vendor's retry schedule), `not_attempted` (the channel was paused before this send started: back to
    `New` until the pause ends, the claim's attempt given back).
    """

    outcome: SendOutcome
    kind: Literal["sent", "download_failed", "not_attempted"] = "sent"
    attachment_bytes: int | None = None


Claimed = ClaimedEmail | ClaimedSms


def send_result(
    item: Claimed, sent: Sent, config: DispatchConfig, schedule: RetrySchedule | None = None
) -> SendResult:
    outcome = sent.outcome
    if sent.kind == "not_attempted":
        return SendResult(
            item.id, item.order_id, "New", retry_in_seconds=outcome.retry_after or 0.0, not_attempted=True
        )
    if sent.kind == "download_failed":
        schedule = None
    segments = segment_count(item.body) if isinstance(item, ClaimedSms) else None
    size = sent.attachment_bytes
    if outcome.transient:
        if schedule is not None:
            planned = schedule.delay_after(item.attempts)
            if planned is None:  # the vendor's retries are used up
                return SendResult(
                    item.id, item.order_id, schedule.final_result, segments=segments, attachment_bytes=size
                )
            delay = max(planned, outcome.retry_after or 0.0)
        else:
            delay = max(config.retry_delay(item.attempts), outcome.retry_after or 0.0)
        return SendResult(item.id, item.order_id, "New", retry_in_seconds=delay)
    if outcome.poll_after is not None:
        return SendResult(
            item.id,
            item.order_id,
            "Sending",
            reference=outcome.reference,
            poll_in_seconds=outcome.poll_after,
            segments=segments,
            attachment_bytes=size,
        )
    return SendResult(
        item.id,
        item.order_id,
        outcome.result,
        reference=outcome.reference,
        segments=segments,
        attachment_bytes=size,
    )


def poll_result(item: ClaimedPoll, outcome: SendOutcome | None, config: DispatchConfig) -> SendResult:
    """What a status poll's answer means: a final result, or `Sending` polled again (after the vendor's
    `poll_after`, or `poll_retry_seconds` when the poll failed transiently or not at all)."""
    if outcome is None or outcome.transient:
        retry_after = outcome.retry_after if outcome is not None else None
        delay = max(config.poll_retry_seconds, retry_after or 0.0)
        return SendResult(item.id, item.order_id, "Sending", reference=item.reference, poll_in_seconds=delay)
    if outcome.poll_after is not None:
        return SendResult(
            item.id, item.order_id, "Sending", reference=item.reference, poll_in_seconds=outcome.poll_after
        )
    return SendResult(item.id, item.order_id, outcome.result, reference=item.reference)


def orders_to_complete(channel: Channel, results: Sequence[SendResult], still_open: set[int]) -> list[int]:
    """Orders that a final result of this group may complete (not those with results still to come)."""
    return sorted(
        {
            r.order_id
            for r in results
            if r.retry_in_seconds is None
            and r.poll_in_seconds is None
            and is_final(channel, r.result)
            and r.order_id not in still_open
        }
    )
