"""The KRR and Enhetsregisteret adapters against their loopback fakes, with real Maskinporten tokens from
the Maskinporten fake: mapping of KRR's answers, batching, failures; unit names, sub-units, deletions, cache."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from structlog.testing import capture_logs

from altinn_notifications.auth.maskinporten import MaskinportenTokens
from altinn_notifications.bootstrap import Container
from altinn_notifications.errors import DependencyError
from altinn_notifications.recipients.altinn_http import AltinnRegisterNames
from altinn_notifications.recipients.brreg import BrregNames
from altinn_notifications.recipients.krr import KrrPersonContactPoints
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.models import PersonContactPoints
from altinn_notifications_client.maskinporten import AsyncMaskinportenClient, MaskinportenConfig
from tests.fakes.krr import KrrPerson
from tests.fakes.maskinporten import FakeMaskinporten, MaskinportenClientRegistration
from tests.fakes.registers import CLIENT_ID, KEY_ID, OUR_ORG_NUMBER, Registers, running_registers, worker_key
from tests.recipients.altinn_fake import REGISTER, RegistryBackedAltinn

ACTIVE = "01010000001"
RESERVED = "01010000002"
OUTDATED = "01010000003"
DELETED = "01010000004"
UNREGISTERED = "01010000005"
RESERVED_OUTDATED = "01010000006"


@pytest.fixture
async def registers() -> AsyncIterator[Registers]:
    async with running_registers() as running:
        running.krr.persons = {
            p.nin: p
            for p in [
                KrrPerson(ACTIVE, "ola@example.no", "98765432"),
                KrrPerson(RESERVED, "res@example.no", "+4741234567", reserved=True),
                KrrPerson(OUTDATED, "old@example.no", "0047 91234567", outdated=True),
                KrrPerson(DELETED, status="SLETTET"),
                KrrPerson(RESERVED_OUTDATED, "ro@example.no", reserved=True, outdated=True),
            ]
        }
        yield running


@pytest.fixture
def krr(registers: Registers) -> KrrPersonContactPoints:
    return registers.krr_adapter()


async def test_krr_answers_are_mapped_as_profiles(krr: KrrPersonContactPoints) -> None:
    nins = [ACTIVE, RESERVED, OUTDATED, DELETED, UNREGISTERED, RESERVED_OUTDATED]
    found = {
        p.national_identity_number: p
        for p in await krr.person_contact_points(nins, use_stale_contact_info=False)
    }
    assert found == {
        ACTIVE: PersonContactPoints(ACTIVE, "ola@example.no", "+4798765432"),  # E.164
        RESERVED: PersonContactPoints(RESERVED, "res@example.no", "+4741234567", is_reserved=True),
        OUTDATED: PersonContactPoints(OUTDATED),  # contact details too old to be used
        RESERVED_OUTDATED: PersonContactPoints(RESERVED_OUTDATED, "ro@example.no", is_reserved=True),
    }  # deleted and not registered: unknown
    [stale] = await krr.person_contact_points([OUTDATED], use_stale_contact_info=True)
    assert stale == PersonContactPoints(OUTDATED, "old@example.no", "+4791234567")


async def test_identifiers_go_in_batches_of_krrs_limit_in_parallel(registers: Registers) -> None:
    krr = registers.krr_adapter(concurrency=3)
    many = [f"02{i:09d}" for i in range(2500)]
    registers.krr.persons |= {n: KrrPerson(n, f"p{n}@example.no") for n in many[::7]}
    registers.krr.stall_next(3, 0.3)  # all three batches are in the register at once
    found = await krr.person_contact_points([*many, *many[:10]], use_stale_contact_info=False)
    assert sorted(registers.krr.requests) == [500, 1000, 1000]
    assert registers.krr.max_in_flight == 3
    assert sorted(p.national_identity_number for p in found) == sorted(many[::7])
    assert registers.maskinporten.grants_accepted == 1  # one token for the whole lookup


async def test_the_batch_size_is_capped_at_krrs_limit(registers: Registers) -> None:
    with pytest.raises(ValueError, match="1000"):
        registers.krr_adapter(batch_size=1001)


@pytest.mark.parametrize("status", [500, 502, 503, 429, 400])
async def test_failing_answers_are_dependency_errors(
    krr: KrrPersonContactPoints, registers: Registers, status: int
) -> None:
    registers.krr.fail_next(1, status)
    with pytest.raises(DependencyError, match=str(status)) as failed:
        await krr.person_contact_points([ACTIVE], use_stale_contact_info=False)
    assert ACTIVE not in str(failed.value)
    # the pipeline's retry finds the register back
    assert len(await krr.person_contact_points([ACTIVE], use_stale_contact_info=False)) == 1


async def test_a_timeout_is_a_dependency_error(registers: Registers) -> None:
    krr = registers.krr_adapter(timeout=0.2)
    registers.krr.stall_next(1, 1.0)
    with pytest.raises(DependencyError, match="Timeout"):
        await krr.person_contact_points([ACTIVE], use_stale_contact_info=False)


async def test_a_token_without_the_krr_scope_is_refused_by_krr(registers: Registers) -> None:
    krr = KrrPersonContactPoints(registers.http, registers.krr.url, registers.tokens, scope="other:scope")
    registers.maskinporten.clients["notifications-worker"].scopes.add("other:scope")
    with pytest.raises(DependencyError, match="403"):
        await krr.person_contact_points([ACTIVE], use_stale_contact_info=False)
    assert registers.krr.refused == [403]


async def test_maskinporten_refusals_are_dependency_errors(registers: Registers) -> None:
    krr = KrrPersonContactPoints(registers.http, registers.krr.url, registers.tokens, scope="not:granted")
    with capture_logs() as logs, pytest.raises(DependencyError, match="invalid_scope"):
        await krr.person_contact_points([ACTIVE], use_stale_contact_info=False)
    [refusal] = [entry for entry in logs if entry["event"] == "maskinporten refused"]
    assert refusal["error"] == "invalid_scope" and refusal["error_description"]
    registers.maskinporten.fail_next(1, 503)
    with pytest.raises(DependencyError, match="Maskinporten"):
        await registers.krr_adapter().person_contact_points([ACTIVE], use_stale_contact_info=False)
    assert registers.krr.requests == []


async def test_unasked_persons_are_ignored(registers: Registers) -> None:
    async def extra(nins: list[str]) -> list[KrrPerson]:
        return [KrrPerson("09090909090", "intruder@example.no")]

    registers.krr.source = extra
    krr = registers.krr_adapter()
    found = await krr.person_contact_points([ACTIVE], use_stale_contact_info=False)
    assert [p.national_identity_number for p in found] == [ACTIVE]


# --- Enhetsregisteret ---

MAIN = "910000001"
SUB = "910000002"
GONE = "910000003"
DELETED_200 = "910000004"
UNKNOWN = "910000005"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def brreg_units(registers: Registers) -> Registers:
    registers.brreg.main_units |= {MAIN: "FIRMA AS", DELETED_200: "NEDLAGT AS"}
    registers.brreg.sub_units |= {SUB: "FIRMA AS AVD BERGEN"}
    registers.brreg.deleted |= {GONE}
    registers.brreg.deleted_as_200 |= {DELETED_200}
    return registers


async def test_unit_names(brreg_units: Registers) -> None:
    names = BrregNames(brreg_units.http, brreg_units.brreg.api_url)
    assert await names.party_names(
        [MAIN, SUB, GONE, DELETED_200, UNKNOWN, "not-a-number"], ["01010000001"]
    ) == {
        MAIN: "FIRMA AS",
        SUB: "FIRMA AS AVD BERGEN",
    }
    assert sorted(brreg_units.brreg.requests) == sorted(
        [
            f"enheter/{MAIN}",
            f"enheter/{SUB}",
            f"underenheter/{SUB}",
            f"enheter/{GONE}",
            f"enheter/{DELETED_200}",
            f"enheter/{UNKNOWN}",
            f"underenheter/{UNKNOWN}",
        ]
    )


async def test_unit_names_are_cached_for_their_ttl(brreg_units: Registers) -> None:
    clock = Clock()
    names = BrregNames(brreg_units.http, brreg_units.brreg.api_url, cache_seconds=60, clock=clock)
    assert await names.party_names([MAIN, UNKNOWN], []) == {MAIN: "FIRMA AS"}
    asked = len(brreg_units.brreg.requests)
    brreg_units.brreg.main_units[MAIN] = "NYTT NAVN AS"
    assert await names.party_names([MAIN, UNKNOWN], []) == {MAIN: "FIRMA AS"}
    assert len(brreg_units.brreg.requests) == asked  # names and absences remembered
    clock.now += 61
    assert await names.party_names([MAIN], []) == {MAIN: "NYTT NAVN AS"}


async def test_unit_name_failures_are_dependency_errors(brreg_units: Registers) -> None:
    names = BrregNames(brreg_units.http, brreg_units.brreg.api_url)
    brreg_units.brreg.fail_next(1, 503)
    with pytest.raises(DependencyError, match="503"):
        await names.party_names([MAIN], [])
    assert await names.party_names([MAIN], []) == {MAIN: "FIRMA AS"}  # not cached as absent
    async with httpx.AsyncClient() as client:
        refused = BrregNames(client, "http://127.0.0.1:9/enhetsregisteret/api/")
        with pytest.raises(DependencyError, match="ConnectError"):
            await refused.party_names([MAIN], [])


# --- Altinn's registers from outside Altinn: a Maskinporten token exchanged for an Altinn one ---


async def test_altinn_adapters_send_an_exchanged_token(container: Container) -> None:
    altinn_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    maskinporten = FakeMaskinporten(altinn_key=altinn_key, org_codes={OUR_ORG_NUMBER: "digdir"})
    maskinporten.register(
        MaskinportenClientRegistration(
            CLIENT_ID,
            OUR_ORG_NUMBER,
            {"altinn:register/partylookup.admin"},
            keys={KEY_ID: worker_key().public_key()},
        )
    )
    local = LocalRegistryContactPoints(container.pool)
    async with (
        maskinporten.running(),
        RegistryBackedAltinn.running(local, container.pool) as (altinn, base_url),
        httpx.AsyncClient(timeout=5.0) as http,
    ):
        config = MaskinportenConfig.with_key(
            CLIENT_ID, worker_key(), kid=KEY_ID, environment=maskinporten.environment
        )
        tokens = MaskinportenTokens(
            AsyncMaskinportenClient(config, http), altinn_scopes=["altinn:register/partylookup.admin"]
        )
        names = AltinnRegisterNames(http, base_url + REGISTER, bearer=tokens.altinn_token)
        assert await names.party_names(["910000001"], []) == {}
        assert await names.party_names(["910000002"], []) == {}
    scheme, _, token = altinn.received[0].headers["authorization"].partition(" ")
    claims = jwt.decode(token, altinn_key.public_key(), algorithms=["RS256"])
    assert scheme == "Bearer" and claims["urn:altinn:org"] == "digdir"
    assert maskinporten.exchanges == 1  # the exchanged token is reused
