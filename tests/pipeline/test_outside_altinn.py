"""Acceptance: the service run outside Altinn, against the national registers (loopback fakes).

A sender's system obtains a Maskinporten token (the client distribution's client, the Maskinporten fake)
and places v2 orders with it; the worker obtains its own Maskinporten token from the settings, looks
persons up in KRR, fills `$recipientName$` of an organisation from Enhetsregisteret, and the emails reach
a real SMTP server (aiosmtpd); a reserved person ends `Failed_RecipientReserved`. Also: an order to more
persons than KRR takes in one request, with KRR failing first, is retried and completes.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import Envelope, Session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from altinn_notifications.auth.maskinporten import build_maskinporten_tokens
from altinn_notifications.auth.service import build_authenticator
from altinn_notifications.bootstrap import Container, build_registers
from altinn_notifications.config import SCOPE_CREATE, Settings, TokenIssuer
from altinn_notifications.providers.email.smtp import SmtpEmailProvider
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.registry import import_registry_document
from altinn_notifications_client.maskinporten import AsyncMaskinportenClient, MaskinportenConfig
from tests.api.helpers import V1
from tests.conftest import ClientFactory, ContainerFactory
from tests.fakes.brreg import FakeBrreg
from tests.fakes.krr import SCOPE as KRR_SCOPE
from tests.fakes.krr import FakeKrr, KrrPerson
from tests.fakes.maskinporten import FakeMaskinporten, MaskinportenClientRegistration
from tests.fakes.registers import CLIENT_ID, KEY_ID, OUR_ORG_NUMBER, worker_key
from tests.pipeline.conftest import FAST_PROCESSING, RunWorkers, eventually

AUDIENCE = "https://notifications.kommune.test"
SENDER = "sender-system"
SENDER_ORG_NUMBER = "974760673"
PERSON = "01017012345"
RESERVED = "02027012345"
ORGANISATION = "912345678"


@dataclass
class Mailbox:
    messages: list[MimeMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTPServerProtocol, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, MimeMessage)
        self.messages.append(message)
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[MimeMessage]:
        return [m for m in self.messages if m["To"] == address]


@dataclass
class Outside:
    container: Container
    mailbox: Mailbox
    maskinporten: FakeMaskinporten
    krr: FakeKrr
    brreg: FakeBrreg
    sender: AsyncMaskinportenClient


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def outside_settings(
    base: Settings, tmp: Path, maskinporten: FakeMaskinporten, krr: FakeKrr, brreg: FakeBrreg
) -> Settings:
    """What an operator outside Altinn configures (docs/self-hosting.md), pointing at the fakes."""
    key_file = tmp / "maskinporten-client.pem"
    key_file.write_bytes(_pem(worker_key()))
    owners = tmp / "altinn-orgs.json"
    owners.write_text(
        json.dumps({"orgs": {"brg": {"name": {"nb": "Brønnøysundregistrene"}, "orgnr": SENDER_ORG_NUMBER}}})
    )
    return base.model_copy(
        update={
            "token_issuers": [
                TokenIssuer(
                    issuer=maskinporten.issuer,
                    keys=maskinporten.base_url + "/.well-known/oauth-authorization-server",
                    audience=AUDIENCE,
                    claims="maskinporten",
                )
            ],
            "service_owners_file": owners,
            "persons_source": "krr",
            "organizations_source": "local",
            "names_source": "brreg",
            "krr_url": krr.url,
            "brreg_url": brreg.api_url,
            "maskinporten_issuer": maskinporten.issuer,
            "maskinporten_client_id": CLIENT_ID,
            "maskinporten_key_file": key_file,
            "maskinporten_key_id": KEY_ID,
            "krr_timeout_seconds": 2.0,
        }
    )


@pytest.fixture
async def outside(
    make_container: ContainerFactory, settings: Settings, tmp_path: Path
) -> AsyncIterator[Outside]:
    mailbox = Mailbox()
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SMTPServerProtocol(mailbox, hostname="smtp.test", loop=loop), "127.0.0.1", 0
    )
    provider = SmtpEmailProvider("127.0.0.1", smtp.sockets[0].getsockname()[1], local_hostname="worker.test")
    sender_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    maskinporten = FakeMaskinporten()
    maskinporten.register(
        MaskinportenClientRegistration(
            CLIENT_ID, OUR_ORG_NUMBER, {KRR_SCOPE}, keys={KEY_ID: worker_key().public_key()}
        )
    )
    maskinporten.register(
        MaskinportenClientRegistration(
            SENDER, SENDER_ORG_NUMBER, {SCOPE_CREATE}, keys={"sender-1": sender_key.public_key()}
        )
    )
    krr = FakeKrr(
        maskinporten,
        [
            KrrPerson(PERSON, "ola.nordmann@example.no", "98765432"),
            KrrPerson(RESERVED, "kari@example.no", reserved=True),
        ],
    )
    brreg = FakeBrreg()
    brreg.main_units[ORGANISATION] = "BYGDEBRUKET AS"
    async with maskinporten.running(), krr.running(), brreg.running():
        configured = outside_settings(settings, tmp_path, maskinporten, krr, brreg)
        registry = LocalRegistryContactPoints(make_container().pool)
        http = httpx.AsyncClient(timeout=5.0)
        tokens = build_maskinporten_tokens(configured, http)
        contact_points, names = build_registers(configured, http, registry, tokens)
        authenticator = build_authenticator(configured)
        container = make_container(
            settings=configured,
            authenticator=authenticator,
            contact_points=contact_points,
            party_names=names,
            email_provider=provider,
            maskinporten=tokens,
        )
        sender = AsyncMaskinportenClient(
            MaskinportenConfig.with_key(
                SENDER, sender_key, kid="sender-1", environment=maskinporten.environment
            )
        )
        try:
            yield Outside(container, mailbox, maskinporten, krr, brreg, sender)
        finally:
            await sender.aclose()
            await authenticator.close()
            await tokens.close()
            await http.aclose()
            await provider.close()
            smtp.close()
            await smtp.wait_closed()


async def _sender_headers(outside: Outside) -> dict[str, str]:
    token = await outside.sender.access_token(SCOPE_CREATE, resource=AUDIENCE)
    return {"Authorization": f"Bearer {token}"}


async def _place(
    client: httpx.AsyncClient, headers: dict[str, str], key: str, recipient: dict[str, Any]
) -> str:
    response = await client.post(
        f"{V1}/future/orders", json={"idempotencyId": key, "recipient": recipient}, headers=headers
    )
    assert response.status_code == 201, response.text
    shipment: str = response.json()["notification"]["shipmentId"]
    return shipment


async def _status(container: Container, order_id: str) -> str:
    async with container.pool.acquire() as conn:
        status: str = await conn.fetchval(
            "SELECT processedstatus::text FROM orders WHERE alternateid = $1", UUID(order_id)
        )
    return status


async def _results(container: Container, order_id: str) -> list[tuple[str, str]]:
    async with container.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT e.toaddress, e.result::text FROM emailnotifications e JOIN orders o ON o._id = e._orderid
               WHERE o.alternateid = $1 ORDER BY e.toaddress""",
            UUID(order_id),
        )
    return [(r["toaddress"], r["result"]) for r in rows]


def _person(nin: str) -> dict[str, Any]:
    return {
        "recipientPerson": {
            "nationalIdentityNumber": nin,
            "channelSchema": "Email",
            "emailSettings": {"subject": "Svar på søknad", "body": "Du har fått svar på søknaden din."},
        }
    }


async def test_a_notification_outside_altinn(
    outside: Outside, make_client: ClientFactory, run_workers: RunWorkers
) -> None:
    container = outside.container
    await import_registry_document(
        container.pool,
        {"organizations": [{"organizationNumber": ORGANISATION, "emails": ["post@bygdebruket.test"]}]},
    )
    client = make_client(container)
    headers = await _sender_headers(outside)
    person = await _place(client, headers, "person-1", _person(PERSON))
    reserved = await _place(client, headers, "reserved-1", _person(RESERVED))
    organisation = await _place(
        client,
        headers,
        "org-1",
        {
            "recipientOrganization": {
                "orgNumber": ORGANISATION,
                "channelSchema": "Email",
                "emailSettings": {"subject": "Til $recipientName$", "body": "Hei $recipientName$."},
            }
        },
    )
    # The sender's organisation, from the token's consumer through the service-owner list.
    async with container.pool.acquire() as conn:
        creators = await conn.fetch("SELECT DISTINCT creatorname FROM orders")
    assert [r["creatorname"] for r in creators] == ["brg"]

    async with run_workers(container=container):
        for order_id in (person, reserved, organisation):
            await eventually(lambda order_id=order_id: _completed(container, order_id), within=15)

    assert await _results(container, person) == [("ola.nordmann@example.no", "Delivered")]
    assert await _results(container, reserved) == [("", "Failed_RecipientReserved")]
    assert await _results(container, organisation) == [("post@bygdebruket.test", "Delivered")]
    [to_person] = outside.mailbox.to("ola.nordmann@example.no")
    assert to_person["Subject"] == "Svar på søknad"
    [to_org] = outside.mailbox.to("post@bygdebruket.test")
    assert to_org["Subject"] == "Til BYGDEBRUKET AS"
    assert to_org.get_content().strip() == "Hei BYGDEBRUKET AS."
    assert outside.mailbox.to("kari@example.no") == []
    # The worker asked KRR with its own Maskinporten token (the fake checks it), and Enhetsregisteret.
    assert outside.krr.requests and outside.krr.refused == []
    assert f"enheter/{ORGANISATION}" in outside.brreg.requests
    assert outside.maskinporten.grants_accepted >= 2  # the sender's grant and the worker's

    # A token the service does not trust is refused.
    forged = await client.get(
        f"{V1}/future/shipment/{person}",
        headers={"Authorization": "Bearer " + headers["Authorization"][7:-4] + "AAAA"},
    )
    assert forged.status_code == 401


async def _completed(container: Container, order_id: str) -> bool:
    return await _status(container, order_id) == "Completed"


async def test_an_order_to_more_persons_than_krr_takes_at_once_survives_krr_failing(
    outside: Outside, make_client: ClientFactory, run_workers: RunWorkers
) -> None:
    container = outside.container
    nins = [f"03{i:09d}" for i in range(1200)]
    outside.krr.persons |= {n: KrrPerson(n, f"p{n}@example.no") for n in nins[:1100]}
    client = make_client(container)
    token = await outside.sender.access_token(SCOPE_CREATE, resource=AUDIENCE)
    response = await client.post(
        f"{V1}/orders/email",
        json={"subject": "s", "body": "b", "recipients": [{"nationalIdentityNumber": n} for n in nins]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.text
    order_id = response.json()["orderId"]
    outside.krr.requests.clear()
    outside.krr.fail_next(1, 503)  # the first processing attempt fails: the order is retried, not dropped
    async with run_workers(container=container, processing=FAST_PROCESSING):
        await eventually(lambda: _completed(container, order_id), within=60)
    results = await _results(container, order_id)
    assert len(results) == 1200
    assert sum(1 for _, r in results if r == "Delivered") == 1100
    assert sum(1 for a, r in results if (a, r) == ("", "Failed_RecipientNotIdentified")) == 100
    # batches of KRR's limit; the failed attempt's, then the retry's
    assert set(outside.krr.requests) == {1000, 200}
    assert len(outside.krr.requests) >= 3
