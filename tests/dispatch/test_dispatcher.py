"""Dispatch of a claimed batch against the real database: results written while the batch is still
sending (small groups), leases kept alive for a batch that outlives them, sends not started once the vendor
asks for a pause, and the separate claims of ordinary and composed emails."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from altinn_notifications.bootstrap import Container
from altinn_notifications.dispatch.attachments import Downloaded
from altinn_notifications.dispatch.models import AttachmentRef
from altinn_notifications.dispatch.repository import DispatchRepository
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.dispatch.worker import (
    ComposedEmailDispatcher,
    EmailDispatcher,
    SmsDispatcher,
)
from altinn_notifications.orders.models import (
    EmailAttachment,
    EmailTemplate,
    NotificationChannel,
    NotificationOrder,
    OrderType,
    Recipient,
    SmsTemplate,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.processing.models import NewEmailNotification, NewSmsNotification
from altinn_notifications.processing.repository import ProcessingRepository
from altinn_notifications.providers.base import Attachment, EmailMessage, ReportSink, SendOutcome, SmsMessage
from altinn_notifications.queue.maintenance import LeaseRescue, MaintenanceSettings
from altinn_notifications.queue.repository import QueueRepository
from altinn_notifications.vocabulary import OrderStatus
from tests.pipeline.conftest import eventually


class GatedProvider:
    """Accepts every email (final at once, as SMTP). Addresses in `held` wait until `release` is set;
    `latency` delays every send (`latencies` some addresses' sends); `answers` gives the outcome of the
    n-th call (1-based) instead."""

    name = "gated"

    def __init__(
        self,
        held: Iterable[str] = (),
        latency: float = 0.0,
        answers: dict[int, SendOutcome] | None = None,
        latencies: dict[str, float] | None = None,
    ) -> None:
        self.held = set(held)
        self.latency = latency
        self.latencies = latencies or {}
        self.answers = answers or {}
        self.release = asyncio.Event()
        self.calls: list[EmailMessage] = []

    @property
    def sent(self) -> Counter[UUID]:
        return Counter(m.notification_id for m in self.calls)

    async def start(self, sink: ReportSink) -> None:
        return None

    async def send(self, message: EmailMessage) -> SendOutcome:
        self.calls.append(message)
        latency = self.latencies.get(message.to_address, self.latency)
        if latency:
            await asyncio.sleep(latency)
        if message.to_address in self.held:
            await self.release.wait()
        answer = self.answers.get(len(self.calls))
        return answer or SendOutcome(result="Delivered", reference=f"ref-{message.notification_id}")

    async def close(self) -> None:
        return None


async def _order(
    container: Container,
    addresses: list[str],
    *,
    composed: bool = False,
    attachments: list[EmailAttachment] | None = None,
) -> int:
    """A `Processed` order with a `New` notification per address (as processing leaves it)."""
    now = datetime.now(UTC)
    order = NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=now,
        requested_send_time=now,
        notification_channel=NotificationChannel.Email,
        type=OrderType.Composed if composed else OrderType.Notification,
        email_template=EmailTemplate(from_address="noreply@altinn.no", subject="s", body="b"),
        recipients=[Recipient(email_address=a) for a in addresses],
        email_attachments=attachments,
    )
    async with container.transaction() as conn:
        order_id = await OrderRepository(conn).insert(order, status=OrderStatus.Processed)
        await ProcessingRepository(conn).insert_emails(
            order_id,
            [
                NewEmailNotification(
                    id=uuid.uuid4(), to_address=a, result="New", expiry_time=now + timedelta(hours=48)
                )
                for a in addresses
            ],
        )
    return order_id


async def _rows(container: Container, sql_filter: str = "TRUE", *args: Any) -> list[dict[str, Any]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT alternateid, toaddress, result::text AS result, attempts, claimed_until,
                       next_attempt_at, total_attachment_size_bytes AS size,
                       EXTRACT(EPOCH FROM next_attempt_at - now()) AS wait
                FROM emailnotifications WHERE {sql_filter} ORDER BY _id""",
            *args,
        )
    return [dict(r) for r in rows]


def _results(rows: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["result"] for r in rows)


async def _order_status(container: Container, order_id: int) -> str:
    async with container.pool.acquire() as conn:
        status: str = await conn.fetchval("SELECT processedstatus::text FROM orders WHERE _id = $1", order_id)
    return status


async def test_results_are_written_in_small_groups_while_the_batch_is_still_sending(
    container: Container,
) -> None:
    quick = [f"quick{i}@example.no" for i in range(10)]
    held = [f"held{i}@example.no" for i in range(10)]
    order_id = await _order(container, quick + held)
    # The quick ones answer one after another, 50 ms apart.
    provider = GatedProvider(held=held, latencies={a: 0.05 * (i + 1) for i, a in enumerate(quick)})
    # A group is written when it has `flush_size` results; the rest wait for the interval (long here).
    config = DispatchConfig(batch_size=20, concurrency=20, flush_size=3, flush_interval=30.0)
    dispatcher = EmailDispatcher(container.transaction, provider, config)
    batch = asyncio.create_task(dispatcher.run_once())
    try:

        async def three_groups_written() -> bool:
            return _results(await _rows(container))["Delivered"] == 9

        await eventually(three_groups_written, within=5)
        await asyncio.sleep(0.3)  # the tenth result is in by now
        rows = await _rows(container)
        assert _results(rows) == Counter({"Delivered": 9, "Sending": 11})  # the tenth waits for its group
        assert all(r["toaddress"] in quick for r in rows if r["result"] == "Delivered")
        assert not batch.done()
    finally:
        provider.release.set()
    assert await asyncio.wait_for(batch, 40) == 20
    assert _results(await _rows(container)) == Counter({"Delivered": 20})
    assert await _order_status(container, order_id) == "Completed"


async def test_a_result_waits_at_most_the_flush_interval(container: Container) -> None:
    held = [f"held{i}@example.no" for i in range(5)]
    await _order(container, ["a@example.no", "b@example.no", *held])
    provider = GatedProvider(held=held)
    config = DispatchConfig(batch_size=10, concurrency=10, flush_size=50, flush_interval=0.1)
    batch = asyncio.create_task(EmailDispatcher(container.transaction, provider, config).run_once())
    try:

        async def quick_ones_written() -> bool:
            return _results(await _rows(container))["Delivered"] == 2

        await eventually(quick_ones_written, within=2)
        assert not batch.done()
    finally:
        provider.release.set()
    assert await asyncio.wait_for(batch, 5) == 7


async def test_a_batch_that_outlives_its_lease_is_not_rescued_while_it_sends(container: Container) -> None:
    addresses = [f"slow{i}@example.no" for i in range(8)]
    order_id = await _order(container, addresses)
    provider = GatedProvider(latency=0.25)
    lease = timedelta(seconds=0.6)
    # One at a time: the batch takes 2 s, more than three leases.
    config = DispatchConfig(batch_size=8, concurrency=1, lease=lease, flush_interval=0.05)
    dispatcher = EmailDispatcher(container.transaction, provider, config)
    maintenance = LeaseRescue(container.transaction, MaintenanceSettings())
    batch = asyncio.create_task(dispatcher.run_once())
    rescued = 0
    while not batch.done():  # the lease rescue of every other worker, running all the time
        rescued += await maintenance.run()
        await asyncio.sleep(0.05)
    assert await batch == 8
    assert rescued == 0
    assert set(provider.sent.values()) == {1} and len(provider.sent) == 8
    rows = await _rows(container)
    assert {(r["result"], r["attempts"]) for r in rows} == {("Delivered", 1)}
    assert await _order_status(container, order_id) == "Completed"


async def test_a_dead_batch_is_still_rescued_after_its_lease(container: Container) -> None:
    """The lease extension lives with the batch: a batch whose worker is gone stops being extended."""
    await _order(container, ["gone@example.no"])
    provider = GatedProvider(held=["gone@example.no"])
    config = DispatchConfig(lease=timedelta(seconds=0.3))
    batch = asyncio.create_task(EmailDispatcher(container.transaction, provider, config).run_once())
    await eventually(lambda: _true(bool(provider.calls)), within=2)
    batch.cancel()  # the worker dies (its tasks end with it)
    await asyncio.gather(batch, return_exceptions=True)
    maintenance = LeaseRescue(container.transaction, MaintenanceSettings())

    async def rescued() -> bool:
        return await maintenance.run() == 1

    await eventually(rescued, within=3)
    [row] = await _rows(container)
    assert (row["result"], row["attempts"]) == ("New", 1)


async def _true(value: bool) -> bool:
    return value


async def test_lease_extension_touches_only_its_own_claims(container: Container) -> None:
    await _order(container, ["x@example.no", "y@example.no"])
    async with container.transaction() as conn:
        claimed = await DispatchRepository(conn).claim_emails(10, timedelta(seconds=5))
        assert len(claimed) == 2
        mine, other = claimed
        # The other row's claim is a later one (as after a rescue and a new claim by another worker).
        await conn.execute("UPDATE emailnotifications SET attempts = 2 WHERE alternateid = $1", other.id)
        extended = await QueueRepository(conn).extend_notification_leases(
            "email", [(mine.id, mine.attempts), (other.id, other.attempts)], timedelta(minutes=10)
        )
    assert extended == 1
    rows = {r["alternateid"]: r for r in await _rows(container)}
    now = datetime.now(UTC)
    assert rows[mine.id]["claimed_until"] > now + timedelta(minutes=9)
    assert rows[other.id]["claimed_until"] < now + timedelta(seconds=6)


async def test_sends_not_started_when_the_vendor_asks_for_a_pause_wait_for_it(container: Container) -> None:
    await _order(container, [f"r{i}@example.no" for i in range(5)])
    limited = SendOutcome(result="Failed_TransientError", transient=True, retry_after=30.0, detail="429")
    provider = GatedProvider(answers={1: limited})
    config = DispatchConfig(batch_size=5, concurrency=1)
    dispatcher = EmailDispatcher(container.transaction, provider, config)
    assert await dispatcher.run_once() == 5
    assert len(provider.calls) == 1  # the other four were never handed to the vendor
    rows = await _rows(container)
    assert _results(rows) == Counter({"New": 5})
    first = next(r for r in rows if r["alternateid"] == provider.calls[0].notification_id)
    others = [r for r in rows if r is not first]
    assert first["attempts"] == 1 and 29 < first["wait"] <= 30
    assert {r["attempts"] for r in others} == {0}  # their claim's attempt was given back
    assert all(28 < r["wait"] <= 30 for r in others)
    assert await dispatcher.paused_for() > 28
    # Due again, but the channel's pause still holds: nothing is claimed.
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE notifications.emailnotifications SET next_attempt_at = now()")
    assert await dispatcher.run_once() == 0
    assert len(provider.calls) == 1
    # The pause over, the batch goes out.
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE notifications.resourcelimitlog SET emaillimittimeout = now()")
    assert await dispatcher.paused_for() == 0
    assert await dispatcher.run_once() == 5
    assert len(provider.calls) == 6


class FakeAttachments:
    """An `AttachmentSource` that serves fixed bytes per SAS URL and records what it was asked."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.asked: list[tuple[AttachmentRef, ...]] = []

    async def download(self, attachments: Any) -> Downloaded:
        self.asked.append(tuple(attachments))
        files = tuple(Attachment(a.filename, a.mime_type, self.files[a.sas_url]) for a in attachments)
        return Downloaded(files, sum(len(f.content) for f in files))

    async def close(self) -> None:
        return None


async def test_ordinary_and_composed_emails_are_claimed_separately(container: Container) -> None:
    url = "https://account.blob.core.windows.net/c/a.pdf?se=2099-01-01&sp=r&sr=b&sig=s"
    ordinary = await _order(container, ["plain@example.no"])
    composed = await _order(
        container,
        ["composed@example.no"],
        composed=True,
        attachments=[EmailAttachment(sas_url=url, filename="a.pdf", mime_type="application/pdf")],
    )
    async with container.transaction() as conn:
        repo = DispatchRepository(conn)
        plain = await repo.claim_emails(10, timedelta(minutes=1))
        with_files = await repo.claim_composed_emails(10, timedelta(minutes=1))
        assert await repo.claim_emails(10, timedelta(minutes=1)) == []
        assert await repo.claim_composed_emails(10, timedelta(minutes=1)) == []
        await conn.execute("UPDATE emailnotifications SET result = 'New', claimed_until = NULL, attempts = 0")
    assert [(e.order_id, e.to_address) for e in plain] == [(ordinary, "plain@example.no")]
    [item] = with_files
    assert (item.order_id, item.to_address, item.attempts) == (composed, "composed@example.no", 1)
    assert item.attachments == (AttachmentRef(filename="a.pdf", mime_type="application/pdf", sas_url=url),)
    assert "sig=" not in repr(item)

    # The composed dispatcher sends it with its files and records their size; the ordinary one is left.
    provider = GatedProvider()
    attachments = FakeAttachments({url: b"%PDF-1.4 hello"})
    dispatcher = ComposedEmailDispatcher(container.transaction, provider, attachments, DispatchConfig())
    assert await dispatcher.run_once() == 1
    [message] = provider.calls
    assert message.to_address == "composed@example.no"
    assert message.attachments == (Attachment("a.pdf", "application/pdf", b"%PDF-1.4 hello"),)
    rows = {r["toaddress"]: r for r in await _rows(container)}
    assert (rows["composed@example.no"]["result"], rows["composed@example.no"]["size"]) == ("Delivered", 14)
    assert (rows["plain@example.no"]["result"], rows["plain@example.no"]["size"]) == ("New", 0)
    assert await _order_status(container, composed) == "Completed"
    assert await _order_status(container, ordinary) == "Processed"


async def test_an_order_generated_after_a_large_one_is_not_held_up_behind_it(container: Container) -> None:
    """Claims alternate between the oldest and the newest end of the queue: the small order goes in the
    second batch, while the large one still goes from its oldest notification on."""
    large = [f"large{i:02}@example.no" for i in range(40)]
    await _order(container, large)
    await _order(container, ["small@example.no"])
    provider = GatedProvider()
    dispatcher = EmailDispatcher(container.transaction, provider, DispatchConfig(batch_size=4, concurrency=1))

    assert await dispatcher.run_once() == 4
    assert {m.to_address for m in provider.calls} == {f"large{i:02}@example.no" for i in range(4)}
    assert await dispatcher.run_once() == 4
    assert "small@example.no" in {m.to_address for m in provider.calls[4:]}

    while await dispatcher.run_once():
        pass
    assert sorted(provider.sent.values()) == [1] * 41  # everything sent, once


async def test_a_claim_smaller_than_the_queue_takes_each_row_once(container: Container) -> None:
    await _order(container, ["a@example.no", "b@example.no", "c@example.no"])
    provider = GatedProvider()
    dispatcher = EmailDispatcher(container.transaction, provider, DispatchConfig(batch_size=10))
    assert await dispatcher.run_once() == 3
    assert sorted(provider.sent.values()) == [1, 1, 1]
    assert await dispatcher.run_once() == 0


class RecordingSms:
    """Accepts every SMS at once and records the numbers it was handed, in order."""

    name = "recording"

    def __init__(self) -> None:
        self.numbers: list[str] = []

    async def start(self, sink: ReportSink) -> None:
        return None

    async def send(self, message: SmsMessage) -> SendOutcome:
        self.numbers.append(message.mobile_number)
        return SendOutcome(result="Accepted", reference=f"gw-{message.notification_id}")

    async def close(self) -> None:
        return None


async def _sms_order(container: Container, numbers: list[str]) -> None:
    now = datetime.now(UTC)
    order = NotificationOrder(
        id=uuid.uuid4(),
        creator="ttd",
        created=now,
        requested_send_time=now,
        notification_channel=NotificationChannel.Sms,
        sms_template=SmsTemplate(sender_number="Altinn", body="b"),
        recipients=[Recipient(mobile_number=n) for n in numbers],
    )
    async with container.transaction() as conn:
        order_id = await OrderRepository(conn).insert(order, status=OrderStatus.Processed)
        await ProcessingRepository(conn).insert_sms(
            order_id,
            [
                NewSmsNotification(
                    id=uuid.uuid4(), mobile_number=n, result="New", expiry_time=now + timedelta(hours=48)
                )
                for n in numbers
            ],
        )


async def test_sms_claims_alternate_ends_too(container: Container) -> None:
    large = [f"+47410{i:05d}" for i in range(20)]
    await _sms_order(container, large)
    await _sms_order(container, ["+4799999999"])
    provider = RecordingSms()
    noon = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # 12:00 in Oslo: daytime, every SMS may go
    dispatcher = SmsDispatcher(container.transaction, provider, DispatchConfig(batch_size=3), lambda: noon)

    assert await dispatcher.run_once() == 3
    assert provider.numbers == large[:3]
    assert await dispatcher.run_once() == 3
    assert "+4799999999" in provider.numbers[3:]
    while await dispatcher.run_once():
        pass
    assert sorted(provider.numbers) == sorted([*large, "+4799999999"])  # each sent once
