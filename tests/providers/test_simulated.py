"""Simulated email and SMS providers: every row of the table in docs/compatibility.md C13, reports through a real sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from altinn_notifications.providers.base import DeliveryReport, EmailMessage, SmsMessage
from altinn_notifications.providers.email.simulated import SimulatedEmailProvider
from altinn_notifications.providers.outbox import Outbox
from altinn_notifications.providers.sms.simulated import SimulatedSmsProvider

DELAY = 0.01


class Sink:
    """Collects reports; `wait_for(n)` returns once n have arrived (or fails after a timeout)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.reports: list[DeliveryReport] = []
        self.calls = 0
        self._fail_first = fail_first
        self._changed = asyncio.Event()

    async def __call__(self, report: DeliveryReport) -> None:
        self.calls += 1
        self._changed.set()
        if self.calls <= self._fail_first:
            raise RuntimeError("sink is down")
        self.reports.append(report)

    async def _until(self, done: Callable[[], bool], within: float) -> None:
        async with asyncio.timeout(within):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for(self, count: int, within: float = 2.0) -> list[DeliveryReport]:
        """All reports, once at least `count` have arrived."""
        await self._until(lambda: len(self.reports) >= count, within)
        return self.reports

    async def wait_calls(self, count: int, within: float = 2.0) -> None:
        await self._until(lambda: self.calls >= count, within)

    def for_id(self, notification_id: UUID) -> list[DeliveryReport]:
        return [r for r in self.reports if r.notification_id == notification_id]


def email(to: str, notification_id: UUID | None = None) -> EmailMessage:
    return EmailMessage(
        notification_id=notification_id or uuid4(),
        from_address="noreply@altinn.no",
        to_address=to,
        subject="Subject",
        body="Body",
    )


def sms(number: str, notification_id: UUID | None = None) -> SmsMessage:
    return SmsMessage(
        notification_id=notification_id or uuid4(), sender="Altinn", mobile_number=number, body="Hi"
    )


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path)
    yield box
    await box.close()


@pytest.fixture
async def sink() -> Sink:
    return Sink()


@pytest.fixture
async def email_provider(outbox: Outbox, sink: Sink) -> AsyncIterator[SimulatedEmailProvider]:
    provider = SimulatedEmailProvider(outbox, report_delay=DELAY)
    await provider.start(sink)
    yield provider
    await provider.close()


@pytest.fixture
async def sms_provider(outbox: Outbox, sink: Sink) -> AsyncIterator[SimulatedSmsProvider]:
    provider = SimulatedSmsProvider(outbox, report_delay=DELAY)
    await provider.start(sink)
    yield provider
    await provider.close()


# -- email --------------------------------------------------------------------------------------------


async def test_email_any_address_succeeds_then_is_delivered(
    email_provider: SimulatedEmailProvider, sink: Sink
) -> None:
    message = email("someone@example.com")
    outcome = await email_provider.send(message)
    assert outcome.result == "Succeeded"
    assert not outcome.transient
    assert outcome.reference is not None
    UUID(outcome.reference)  # looks like an ACS operation id
    [report] = await sink.wait_for(1)
    assert report == DeliveryReport(
        channel="email",
        result="Delivered",
        reference=outcome.reference,
        notification_id=message.notification_id,
        raw=report.raw,
    )
    assert report.raw["status"] == "Delivered"


async def test_email_references_are_unique(email_provider: SimulatedEmailProvider, sink: Sink) -> None:
    outcomes = [await email_provider.send(email(f"u{n}@example.com")) for n in range(20)]
    assert len({o.reference for o in outcomes}) == 20
    await sink.wait_for(20)


async def test_email_transient_fail_first_attempt_only(
    email_provider: SimulatedEmailProvider, sink: Sink
) -> None:
    notification_id = uuid4()
    first = await email_provider.send(email("transient-fail@test.com", notification_id))
    assert first.transient
    assert first.result == "Failed_TransientError"
    assert first.reference is None
    assert first.retry_after is None

    second = await email_provider.send(email("transient-fail@test.com", notification_id))
    assert not second.transient
    assert second.result == "Succeeded"
    [report] = await sink.wait_for(1)
    assert report.result == "Delivered"
    assert report.notification_id == notification_id

    # The memory is per notification: another notification fails once too.
    assert (await email_provider.send(email("transient-fail@test.com"))).transient


async def test_email_transient_retry_hint(outbox: Outbox, sink: Sink) -> None:
    provider = SimulatedEmailProvider(outbox, report_delay=DELAY, transient_retry_hint=1.5)
    await provider.start(sink)
    try:
        assert (await provider.send(email("transient-fail@test.com"))).retry_after == 1.5
    finally:
        await provider.close()


async def test_email_permanent_fail_is_final_without_report(
    email_provider: SimulatedEmailProvider, sink: Sink
) -> None:
    failing = email("permanent-fail@test.com")
    outcome = await email_provider.send(failing)
    assert outcome.result == "Failed"
    assert not outcome.transient
    assert outcome.reference is None
    await email_provider.send(email("other@example.com"))
    await sink.wait_for(1)
    await asyncio.sleep(DELAY * 3)
    assert sink.for_id(failing.notification_id) == []
    assert email_provider.pending_reports == 0


async def test_email_bounce_is_accepted_then_bounced(
    email_provider: SimulatedEmailProvider, sink: Sink
) -> None:
    outcome = await email_provider.send(email("bounce@test.com"))
    assert outcome.result == "Succeeded"
    [report] = await sink.wait_for(1)
    assert report.result == "Failed_Bounced"
    assert report.reference == outcome.reference
    assert report.raw["status"] == "Bounced"


async def test_email_slow_delivery_reports_after_three_intervals(outbox: Outbox, sink: Sink) -> None:
    delay = 0.05
    provider = SimulatedEmailProvider(outbox, report_delay=delay)
    await provider.start(sink)
    try:
        started = time.monotonic()
        outcome = await provider.send(email("slow-delivery@test.com"))
        assert outcome.result == "Succeeded"
        await asyncio.sleep(delay * 2)
        assert sink.reports == []  # "still sending" twice
        [report] = await sink.wait_for(1)
        assert time.monotonic() - started >= delay * 3 - 0.005
        assert report.result == "Delivered"
    finally:
        await provider.close()


async def test_email_addresses_are_trimmed_and_case_insensitive(
    email_provider: SimulatedEmailProvider, sink: Sink
) -> None:
    assert (await email_provider.send(email("  Permanent-Fail@TEST.com "))).result == "Failed"
    assert (await email_provider.send(email("\tTRANSIENT-FAIL@test.COM"))).transient
    await email_provider.send(email(" BOUNCE@Test.Com  "))
    [report] = await sink.wait_for(1)
    assert report.result == "Failed_Bounced"


async def test_email_outbox_lines(email_provider: SimulatedEmailProvider, outbox: Outbox, sink: Sink) -> None:
    await email_provider.send(email("someone@example.com"))
    await email_provider.send(email("permanent-fail@test.com"))
    await email_provider.send(email("transient-fail@test.com"))
    await outbox.flush()
    entries = Outbox(outbox.path).read(10)
    assert [(e["to"], e["result"]) for e in entries] == [
        ("someone@example.com", "Succeeded"),
        ("permanent-fail@test.com", "Failed"),
        ("transient-fail@test.com", "Failed_TransientError"),
    ]
    assert entries[0]["provider"] == "simulated"
    assert entries[0]["channel"] == "email"
    assert entries[0]["subject"] == "Subject"
    assert entries[0]["from"] == "noreply@altinn.no"
    assert entries[0]["reference"] is not None
    await sink.wait_for(1)


async def test_email_without_outbox(sink: Sink) -> None:
    provider = SimulatedEmailProvider(None, report_delay=DELAY)
    await provider.start(sink)
    try:
        assert (await provider.send(email("x@example.com"))).result == "Succeeded"
        await sink.wait_for(1)
    finally:
        await provider.close()


async def test_reports_sent_before_start_are_delivered_after_start(outbox: Outbox) -> None:
    provider = SimulatedEmailProvider(outbox, report_delay=DELAY)
    sink = Sink()
    try:
        outcome = await provider.send(email("a@example.com"))
        assert provider.pending_reports == 1
        await asyncio.sleep(DELAY * 2)
        await provider.start(sink)
        [report] = await sink.wait_for(1)
        assert report.reference == outcome.reference
    finally:
        await provider.close()


async def test_close_cancels_pending_reports(outbox: Outbox) -> None:
    provider = SimulatedEmailProvider(outbox, report_delay=10)
    sink = Sink()
    await provider.start(sink)
    for n in range(5):
        await provider.send(email(f"u{n}@example.com"))
    assert provider.pending_reports == 5
    await provider.close()
    assert provider.pending_reports == 0
    assert sink.calls == 0


async def test_failing_sink_does_not_stop_the_provider(outbox: Outbox) -> None:
    provider = SimulatedEmailProvider(outbox, report_delay=DELAY)
    sink = Sink(fail_first=1)
    await provider.start(sink)
    try:
        await provider.send(email("first@example.com"))
        await sink.wait_calls(1)
        second = await provider.send(email("second@example.com"))
        [report] = await sink.wait_for(1)
        assert report.reference == second.reference
    finally:
        await provider.close()


# -- SMS ----------------------------------------------------------------------------------------------


async def test_sms_any_number_is_accepted_then_delivered(
    sms_provider: SimulatedSmsProvider, sink: Sink
) -> None:
    message = sms("+4799999999")
    outcome = await sms_provider.send(message)
    assert outcome.result == "Accepted"
    assert not outcome.transient
    assert outcome.reference is not None
    [report] = await sink.wait_for(1)
    assert (report.channel, report.result, report.reference, report.notification_id) == (
        "sms",
        "Delivered",
        outcome.reference,
        message.notification_id,
    )
    assert report.raw["STATE"] == "DELIVRD"


async def test_sms_invalid_recipient_is_final(sms_provider: SimulatedSmsProvider, sink: Sink) -> None:
    outcome = await sms_provider.send(sms("+4741000001"))
    assert outcome.result == "Failed_InvalidRecipient"
    assert not outcome.transient
    assert outcome.reference is None
    assert sms_provider.pending_reports == 0


async def test_sms_transient_first_attempt_only(sms_provider: SimulatedSmsProvider, sink: Sink) -> None:
    notification_id = uuid4()
    assert (await sms_provider.send(sms("+4741000002", notification_id))).transient
    second = await sms_provider.send(sms("+4741000002", notification_id))
    assert not second.transient
    assert second.result == "Accepted"
    [report] = await sink.wait_for(1)
    assert report.result == "Delivered"
    assert (await sms_provider.send(sms("+4741000002"))).transient


async def test_sms_rejected_after_acceptance(sms_provider: SimulatedSmsProvider, sink: Sink) -> None:
    outcome = await sms_provider.send(sms("+4741000003"))
    assert outcome.result == "Accepted"
    [report] = await sink.wait_for(1)
    assert report.result == "Failed_Rejected"
    assert report.reference == outcome.reference


async def test_sms_numbers_compared_without_spaces(sms_provider: SimulatedSmsProvider, sink: Sink) -> None:
    assert (await sms_provider.send(sms("+47 410 00 001"))).result == "Failed_InvalidRecipient"
    assert (await sms_provider.send(sms(" 0047 41000001 "))).result == "Failed_InvalidRecipient"
    assert (await sms_provider.send(sms("+47 41 00 00 02"))).transient


async def test_sms_outbox_lines(sms_provider: SimulatedSmsProvider, outbox: Outbox, sink: Sink) -> None:
    await sms_provider.send(sms("+4799999999"))
    await sms_provider.send(sms("+4741000001"))
    entries = outbox.read(10, channel="sms")
    assert [(e["to"], e["from"], e["result"]) for e in entries] == [
        ("+4799999999", "Altinn", "Accepted"),
        ("+4741000001", "Altinn", "Failed_InvalidRecipient"),
    ]
    assert "subject" not in entries[0]
    assert outbox.read(10, channel="email") == []
    await sink.wait_for(1)


async def test_sms_close_cancels_pending_reports(outbox: Outbox) -> None:
    provider = SimulatedSmsProvider(outbox, report_delay=10)
    sink = Sink()
    await provider.start(sink)
    await provider.send(sms("+4799999999"))
    await provider.close()
    assert provider.pending_reports == 0
    assert sink.calls == 0
