"""The helpers: the status feed iterator across pages, waiting with a timeout, the Maskinporten token
provider against the loopback Maskinporten, and the recipient builders' rules."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from altinn_notifications.api.app import create_app
from altinn_notifications.auth.dev import dev_key_id, ensure_dev_key
from altinn_notifications.auth.service import build_authenticator
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_CREATE, Settings, TokenIssuer
from altinn_notifications.recipients import addresses
from altinn_notifications_client import (
    AsyncClient,
    Client,
    InvalidRecipientError,
    MaskinportenToken,
    WaitTimeoutError,
    recipients,
)
from altinn_notifications_client.maskinporten import MaskinportenConfig
from altinn_notifications_client.models import (
    EmailNotificationOrderRequest,
    NotificationChannel,
    NotificationOrderChainRequest,
    OrderBy,
    OrderProcessingStatus,
)
from tests.client.conftest import FAST_RETRIES, ORG_NUMBER
from tests.conftest import ContainerFactory
from tests.fakes.maskinporten import FakeMaskinporten, MaskinportenClientRegistration
from tests.loopback import serve
from tests.pipeline.conftest import RunWorkers


async def _age_feed(container: Container) -> None:
    """Make the feed's entries visible now (it hides entries younger than two seconds)."""
    async with container.pool.acquire() as conn:
        await conn.execute("UPDATE notifications.statusfeed SET created = created - interval '3 seconds'")


async def _completed_chains(client: AsyncClient, run_workers: RunWorkers, count: int) -> list[str]:
    references = [f"feed-{i}" for i in range(count)]
    receipts = [
        await client.create_order_chain(
            NotificationOrderChainRequest(
                senders_reference=reference,
                recipient=recipients.to_email("ola@example.no", recipients.email_settings("s", "b")),
            )
        )
        for reference in references
    ]
    async with run_workers():
        for receipt in receipts:
            await client.wait_for_shipment(receipt.notification.shipment_id, timeout=30, interval=0.1)
    return references


async def test_the_feed_iterator_crosses_pages_and_resumes(
    client: AsyncClient, run_workers: RunWorkers, container: Container
) -> None:
    references = await _completed_chains(client, run_workers, 3)
    await _age_feed(container)

    items = [item async for item in client.iter_status_feed(0, page_size=1)]  # one entry per page
    order = [i.entry.senders_reference for i in items]  # in the order the shipments completed
    assert sorted(o or "" for o in order) == references
    seqs = [i.next_seq for i in items]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(i.entry.sequence_number == i.next_seq for i in items)

    resumed = [item async for item in client.iter_status_feed(seqs[0], page_size=2)]
    assert [i.entry.senders_reference for i in resumed] == order[1:]
    assert [item async for item in client.iter_status_feed(seqs[-1])] == []
    newest_first = await client.get_status_feed(0, order_by=OrderBy.Desc)
    assert [e.sequence_number for e in newest_first] == seqs[::-1]

    def blocking() -> list[str]:
        with Client(client.endpoint.base_url, client.tokens, retry=FAST_RETRIES) as api:
            return [i.entry.senders_reference or "" for i in api.iter_status_feed(seqs[0], page_size=1)]

    assert await asyncio.to_thread(blocking) == order[1:]


async def test_waiting_stops_at_its_timeout(client: AsyncClient) -> None:
    placed = await client.create_email_order(
        EmailNotificationOrderRequest(
            subject="s", body="b", recipients=[recipients.v1_email("ola@example.no")]
        )
    )
    seen: list[str] = []
    with pytest.raises(WaitTimeoutError) as waited:  # no workers run: it stays registered
        await client.wait_for_order(
            placed.order_id,
            timeout=0.3,
            interval=0.1,
            on_progress=lambda s: seen.append(s.processing_status.status),
        )
    assert waited.value.last is not None
    assert seen and set(seen) == {OrderProcessingStatus.Registered}


async def test_the_maskinporten_provider_exchanges_for_an_altinn_token(
    service: str, settings: Settings, client_key: RSAPrivateKey
) -> None:
    dev_key = ensure_dev_key(settings.dev_key_path)  # the fake Altinn signs with the key the service trusts
    fake = FakeMaskinporten(
        altinn_key=dev_key, altinn_key_id=dev_key_id(dev_key), org_codes={ORG_NUMBER: "ttd"}
    )
    fake.register(
        MaskinportenClientRegistration(
            client_id="sender",
            org_number=ORG_NUMBER,
            scopes={SCOPE_CREATE},
            keys={"k1": client_key.public_key()},
        )
    )
    async with fake.running():
        config = MaskinportenConfig.with_key("sender", client_key, kid="k1", environment=fake.environment)
        provider = MaskinportenToken(config, exchange_for_altinn=True)
        async with AsyncClient(service, provider) as api:
            for _ in range(3):
                assert (await api.list_orders("x")).count == 0

        def blocking() -> int:
            with Client(service, provider) as api:
                return api.list_orders("x").count

        assert await asyncio.to_thread(blocking) == 0
        await provider.aclose()
        provider.close()
    # One grant and one exchange per client kind (each caches its own), not one per request.
    assert fake.grants_accepted == 2 and fake.exchanges == 2


EMAILS = [
    "ola@example.no",
    " ola.nordmann@sub.example.no ",
    "æøå@blåbær.no",
    "a@1.2.3.4",
    "",
    "ola",
    "a@b.no;c@d.no",
    "a@b",
    "a@-b.no",
    "a..b@c.no",
    "a@b.c",
]
NUMBERS = [
    "+4799999999",
    "004799999999",
    "+4741234567",
    "+47999",
    "4799999999",
    "++4799999999",
    "+47 9999 9999",
    "+0123456789",
]


@pytest.mark.parametrize("value", EMAILS)
def test_the_email_rule_is_the_services(value: str) -> None:
    assert recipients.is_valid_email(value) == addresses.is_valid_email(value)


@pytest.mark.parametrize("value", NUMBERS)
def test_the_mobile_rule_is_the_services(value: str) -> None:
    assert recipients.is_valid_mobile_number(value) == addresses.is_valid_mobile_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "12345678901",
        "1234567890",
        "123456789012",
        "1234567890a",
        "313441571",
        "urn:altinn:party:username:ola",
    ],
)
def test_the_identity_rules_are_the_services(value: str) -> None:
    assert recipients.is_national_identity_number(value) == addresses.is_national_identity_number(value)
    assert recipients.is_organization_number(value) == addresses.is_organization_number(value)
    assert recipients.is_external_identity(value) == addresses.is_external_identity(value)


def test_the_builders_refuse_what_the_service_refuses() -> None:
    settings = recipients.email_settings("s", "b")
    assert recipients.to_email(" ola@example.no ", settings).recipient_email is not None
    assert (
        recipients.to_sms("004799999999", recipients.sms_settings("b")).recipient_sms.phone_number
        == "+4799999999"
    )  # type: ignore[union-attr]
    for build in (
        lambda: recipients.to_email("ola", settings),
        lambda: recipients.to_sms("+47999", recipients.sms_settings("b")),
        lambda: recipients.to_person("123", email=settings),
        lambda: recipients.to_organization("12345678", email=settings),
        lambda: recipients.to_person(
            "12345678901", channel=NotificationChannel.EmailPreferred, email=settings
        ),
        lambda: recipients.to_external_identity("urn:altinn:person:idporten-email:ola"),
        lambda: recipients.email_settings(" ", "b"),
        lambda: recipients.v1_email("a@b.no;c@d.no"),
    ):
        with pytest.raises(InvalidRecipientError) as refused:
            build()
        assert "ola" not in str(refused.value) and "123" not in str(refused.value)
    person = recipients.to_person("12345678901", channel=NotificationChannel.Email, email=settings)
    assert person.to_wire()["recipientPerson"] == {
        "nationalIdentityNumber": "12345678901",
        "channelSchema": "Email",
        "emailSettings": {"subject": "s", "body": "b"},
    }


async def test_a_self_hosted_service_takes_the_providers_maskinporten_token_directly(
    make_container: ContainerFactory, settings: Settings, client_key: RSAPrivateKey, tmp_path: Path
) -> None:
    """Outside Altinn the service trusts Maskinporten itself: the provider's token, unexchanged, places orders."""
    fake = FakeMaskinporten()
    fake.register(
        MaskinportenClientRegistration(
            client_id="sender",
            org_number=ORG_NUMBER,
            scopes={SCOPE_CREATE},
            keys={"k1": client_key.public_key()},
        )
    )
    owners = tmp_path / "altinn-orgs.json"
    owners.write_text(
        json.dumps({"orgs": {"ttd": {"name": {"nb": "Testdepartementet"}, "orgnr": ORG_NUMBER}}})
    )
    async with fake.running():
        trusting = settings.model_copy(
            update={
                "token_issuers": [
                    TokenIssuer(
                        issuer=fake.issuer,
                        keys=fake.base_url + "/.well-known/oauth-authorization-server",
                        audience="https://notifications.example/",
                        claims="maskinporten",
                    )
                ],
                "service_owners_file": owners,
            }
        )
        authenticator = build_authenticator(trusting)
        try:
            async with serve(
                create_app(make_container(settings=trusting, authenticator=authenticator))
            ) as url:
                config = MaskinportenConfig.with_key(
                    "sender", client_key, kid="k1", environment=fake.environment
                )
                provider = MaskinportenToken(config, resource="https://notifications.example/")
                async with AsyncClient(url, provider, retry=FAST_RETRIES) as api:
                    placed = await api.create_email_order(
                        EmailNotificationOrderRequest(
                            subject="s", body="b", recipients=[recipients.v1_email("ola@example.no")]
                        )
                    )
                    assert (await api.get_order(placed.order_id)).creator == "ttd"
                await provider.aclose()
        finally:
            await authenticator.close()
    assert fake.grants_accepted == 1
