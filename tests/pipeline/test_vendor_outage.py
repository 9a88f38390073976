"""A vendor outage loses nothing, and the backlog drains afterwards at the allowed rate: the real LINK
Mobility and ACS adapters against their loopback fakes, the fake answering 503 (LINK) or not answering
in time (ACS) for a stretch, then recovering, with the channel's maximum send rate set."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from altinn_notifications.bootstrap import Container
from altinn_notifications.dispatch.service import DispatchConfig
from altinn_notifications.orders.models import (
    NotificationChannel,
    Recipient,
    SendingTimePolicy,
    SmsTemplate,
)
from altinn_notifications.providers.email.acs import AcsEmailProvider
from altinn_notifications.providers.sms.linkmobility import LinkMobilitySmsProvider
from tests.conftest import ContainerFactory
from tests.factories import email_order, insert_orders
from tests.loopback import serve
from tests.pipeline.conftest import RunWorkers, eventually
from tests.pipeline.test_send_allowance import most_in_any_window
from tests.providers.fake_acs import FakeAcs, connection_string
from tests.providers.fake_linkmobility import PASSWORD, USERNAME, FakeGateway

RATE = 25.0
#: Counting tolerance at the vendor: the bucket's one-second burst plus 10 % for scheduling jitter.
JITTER = 0.10


def within_allowance(times: Sequence[float], rate: float) -> None:
    for window in (1.0, 2.0):
        assert most_in_any_window(list(times), window) <= rate * window * (1 + JITTER) + rate, window


async def _results(container: Container, table: str) -> Counter[str]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT result::text AS r FROM {table}")
    return Counter(r["r"] for r in rows)


async def test_an_sms_gateway_outage_loses_nothing_and_the_backlog_drains_at_the_allowed_rate(
    make_container: ContainerFactory, run_workers: RunWorkers
) -> None:
    count = 60
    fake = FakeGateway(outage=503)
    async with serve(fake.app) as url:
        # The vendor's schedule, shortened: a retry every 0.3 s, many times (the outage is shorter).
        link = LinkMobilitySmsProvider(url + "/", USERNAME, PASSWORD, timeout=5.0, retry_delays=(0.3,) * 40)
        container = make_container(sms_provider=link)
        numbers = [f"+479911{i:04d}" for i in range(count)]
        await insert_orders(
            container,
            [
                email_order(
                    [],
                    notification_channel=NotificationChannel.Sms,
                    sending_time_policy=SendingTimePolicy.Anytime,
                    email_template=None,
                    sms_template=SmsTemplate(sender_number="Altinn", body="Hei"),
                    recipients=[Recipient(mobile_number=n) for n in numbers],
                )
            ],
        )
        config = DispatchConfig(retry_base_seconds=0.2, sms_sends_per_second=RATE)
        try:
            async with run_workers(container=container, dispatch=config):

                async def every_message_tried_during_the_outage() -> bool:
                    return len(fake.raw) >= 3 * count // link.batch_size + 3

                await eventually(every_message_tried_during_the_outage, within=30)
                assert fake.accepted_times == []
                assert await _results(container, "smsnotifications") <= Counter(
                    {"New": count, "Sending": count}
                ), "nothing failed for good during the outage"
                fake.outage = None  # the gateway is back
                recovered = time.time()

                async def drained() -> bool:
                    return (await _results(container, "smsnotifications"))["Accepted"] == count

                await eventually(drained, within=30)
        finally:
            await link.close()
    assert sorted(fake.calls.values()) == [1] * count, "each SMS accepted once, none lost"
    assert min(fake.accepted_times) >= recovered
    within_allowance(fake.accepted_times, RATE)


async def test_an_email_vendor_that_stops_answering_loses_nothing_and_sends_each_email_once(
    make_container: ContainerFactory, run_workers: RunWorkers
) -> None:
    """ACS accepts but does not answer in time (the client gives up after 0.3 s): an ambiguous failure.
    The resend names the same operation (`Operation-Id` = notification id), so no email goes twice."""
    count = 30
    fake = FakeAcs(running_polls=0, delay=1.0)
    async with serve(fake.app) as url:
        acs = AcsEmailProvider(connection_string(url), timeout=0.3, poll_interval=0.1)
        container = make_container(email_provider=acs)
        await insert_orders(container, [email_order([f"r{i}@example.no" for i in range(count)])])
        config = DispatchConfig(retry_base_seconds=0.2, retry_max_seconds=0.5, email_sends_per_second=RATE)
        try:
            async with run_workers(container=container, dispatch=config):

                async def every_email_timed_out_once() -> bool:
                    return len(fake.sends) >= count

                await eventually(every_email_timed_out_once, within=30)
                fake.delay = 0.0  # answering again
                recovered = time.time()

                async def drained() -> bool:
                    return (await _results(container, "emailnotifications"))["Succeeded"] == count

                await eventually(drained, within=30)
        finally:
            await acs.close()
    assert len(fake.operations) == count, "one ACS operation per email, however often it was sent"
    assert len(fake.sends) > count  # the timed-out attempts did reach the vendor
    within_allowance([t for t in fake.arrival_times if t >= recovered], RATE)
