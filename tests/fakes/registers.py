"""The national registers wired as in production against their loopback fakes: Maskinporten, KRR and
Enhetsregisteret, with the adapters built over the client distribution's Maskinporten client."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from altinn_notifications.auth.maskinporten import MaskinportenTokens
from altinn_notifications.recipients.brreg import BrregNames
from altinn_notifications.recipients.combined import CombinedContactPoints
from altinn_notifications.recipients.krr import KrrPersonContactPoints
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications_client.maskinporten import AsyncMaskinportenClient, MaskinportenConfig
from tests.fakes.brreg import FakeBrreg
from tests.fakes.krr import SCOPE, FakeKrr, KrrPerson
from tests.fakes.maskinporten import FakeMaskinporten, MaskinportenClientRegistration

CLIENT_ID = "notifications-worker"
KEY_ID = "worker-key-1"
OUR_ORG_NUMBER = "991825827"


@functools.cache
def worker_key() -> RSAPrivateKey:
    """The worker's Maskinporten client key (generated once per test process)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def registry_source(local: LocalRegistryContactPoints) -> object:
    """KRR persons from the local registry: outdated when the registry hides their addresses as stale."""

    async def persons(nins: list[str]) -> list[KrrPerson]:
        everything = await local.person_contact_points(nins, use_stale_contact_info=True)
        current = {
            p.national_identity_number: p
            for p in await local.person_contact_points(nins, use_stale_contact_info=False)
        }
        found = []
        for p in everything:
            fresh = current.get(p.national_identity_number)
            has = bool(p.email or p.mobile_number)
            outdated = has and not (fresh is not None and (fresh.email or fresh.mobile_number))
            found.append(
                KrrPerson(
                    p.national_identity_number,
                    p.email,
                    p.mobile_number,
                    reserved=p.is_reserved,
                    outdated=outdated,
                )
            )
        return found

    return persons


@dataclass
class Registers:
    maskinporten: FakeMaskinporten
    krr: FakeKrr
    brreg: FakeBrreg
    tokens: MaskinportenTokens
    http: httpx.AsyncClient

    def krr_adapter(self, **options: object) -> KrrPersonContactPoints:
        return KrrPersonContactPoints(self.http, self.krr.url, self.tokens, **options)  # type: ignore[arg-type]


@asynccontextmanager
async def running_registers(local: LocalRegistryContactPoints | None = None) -> AsyncIterator[Registers]:
    """Maskinporten, KRR and Enhetsregisteret fakes running (KRR and the unit names over `local` if given)."""
    maskinporten = FakeMaskinporten()
    maskinporten.register(
        MaskinportenClientRegistration(
            client_id=CLIENT_ID,
            org_number=OUR_ORG_NUMBER,
            scopes={SCOPE},
            keys={KEY_ID: worker_key().public_key()},
        )
    )
    krr = FakeKrr(maskinporten, source=registry_source(local) if local is not None else None)  # type: ignore[arg-type]

    async def unit_name(orgnr: str) -> str | None:
        assert local is not None
        return (await local.party_names([orgnr], [])).get(orgnr)

    brreg = FakeBrreg(names=unit_name if local is not None else None)
    async with (
        maskinporten.running(),
        krr.running(),
        brreg.running(),
        httpx.AsyncClient(timeout=5.0) as http,
    ):
        config = MaskinportenConfig.with_key(
            CLIENT_ID, worker_key(), kid=KEY_ID, environment=maskinporten.environment
        )
        tokens = MaskinportenTokens(AsyncMaskinportenClient(config, http))
        yield Registers(maskinporten, krr, brreg, tokens, http)


def national_adapters(
    registers: Registers, local: LocalRegistryContactPoints
) -> tuple[CombinedContactPoints, BrregNames]:
    """Persons from KRR, organisations from the local registry; organisation names from Enhetsregisteret,
    person names from the local registry."""
    return (
        CombinedContactPoints(registers.krr_adapter(), local),
        BrregNames(registers.http, registers.brreg.api_url, local),
    )
