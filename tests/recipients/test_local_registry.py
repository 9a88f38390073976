"""The local registry: import/export of the registry file, and the `ContactPointsPort` over it."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from altinn_notifications.bootstrap import Container
from altinn_notifications.recipients import repository
from altinn_notifications.recipients.cli import registry_app
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from altinn_notifications.recipients.registry import (
    ImportProgress,
    RegistryFileError,
    RegistryFormat,
    export_registry,
    import_registry,
    import_registry_document,
    import_registry_file,
)
from altinn_notifications.recipients.registry.json_cursor import JsonCursor

NIN_OLA = "01017012345"
NIN_KARI = "02028054321"
NIN_RESERVED = "03039098765"
ORG = "810419652"
ORG_2 = "910000001"
RESOURCE = "urn:altinn:resource:ttd_example"

DOCUMENT: dict[str, Any] = {
    "persons": [
        {
            "nationalIdentityNumber": NIN_OLA,
            "name": "Ola Nordmann",
            "email": "ola@example.no",
            "mobileNumber": "98765432",
            "isReserved": False,
            "lastVerified": "2026-01-15T10:00:00+00:00",
        },
        {"nationalIdentityNumber": NIN_KARI, "email": "kari@example.no", "mobileNumber": "+4799999999"},
        {"nationalIdentityNumber": NIN_RESERVED, "email": "reserved@example.no", "isReserved": True},
    ],
    "organizations": [
        {
            "organizationNumber": ORG,
            "name": "Firma AS",
            "emails": ["post@firma.no"],
            "mobileNumbers": ["+4740000000"],
            "users": [
                {
                    "userId": 20012345,
                    "nationalIdentityNumber": NIN_OLA,
                    "email": "ola@firma.no",
                    "mobileNumber": "+4741111111",
                    "resources": [RESOURCE],
                },
                {
                    "userId": 20012346,
                    "email": "other@firma.no",
                    "resources": ["urn:altinn:resource:ttd_other"],
                },
            ],
        },
        {"organizationNumber": ORG_2, "name": "Tomt AS", "emails": [], "mobileNumbers": [], "users": []},
    ],
    "externalIdentities": [
        {"externalIdentity": "urn:altinn:person:idporten-email:ola@example.no", "email": "ola@example.no"},
        {"externalIdentity": "urn:altinn:party:username:kari", "mobileNumber": "+4791234567"},
    ],
}


def _bytes(document: Any) -> io.BytesIO:
    return io.BytesIO(json.dumps(document).encode())


async def _export(container: Container, file_format: RegistryFormat = RegistryFormat.json) -> str:
    out = io.StringIO()
    await export_registry(container.pool, out, file_format=file_format)
    return out.getvalue()


# --- import: JSON ---


async def test_import_json_valid_document(container: Container) -> None:
    summary = await import_registry_document(container.pool, DOCUMENT)

    assert (summary.persons, summary.organizations, summary.users, summary.external_identities) == (
        3,
        2,
        2,
        2,
    )
    assert summary.skipped == 0 and summary.errors == []
    async with container.pool.acquire() as conn:
        assert await repository.count_entries(conn) == {
            "persons": 3,
            "organizations": 2,
            "users": 2,
            "external_identities": 2,
        }
        row = await conn.fetchrow("SELECT * FROM registry_persons WHERE nationalidentitynumber = $1", NIN_OLA)
    assert row["mobilenumber"] == "98765432"  # stored as given; normalised at lookup
    assert row["lastverified"] == datetime(2026, 1, 15, 10, tzinfo=UTC)


async def test_import_json_reports_and_skips_invalid_rows(container: Container) -> None:
    document = {
        "persons": [
            {"nationalIdentityNumber": NIN_OLA, "email": "ola@example.no"},
            {"nationalIdentityNumber": "1234567890", "email": "short@example.no"},
            {"nationalIdentityNumber": NIN_KARI, "email": "not-an-email", "mobileNumber": "12"},
            {"name": "no nin"},
            {"nationalIdentityNumber": "05059012345", "isReserved": "yes", "lastVerified": "yesterday"},
            "not an object",
        ],
        "organizations": [
            {
                "organizationNumber": "12345",
                "emails": ["post@firma.no"],
                "users": [{"userId": 1, "email": "a@firma.no"}, {"userId": 2}],
            },
            {
                "organizationNumber": ORG,
                "emails": ["post@firma.no", "bad"],
                "mobileNumbers": ["+4740000000"],
            },
            {
                "organizationNumber": ORG_2,
                "users": [
                    {"userId": 7, "email": "seven@firma.no", "resources": [RESOURCE]},
                    {"userId": "eight"},
                    {"userId": 9, "nationalIdentityNumber": "999", "resources": [""]},
                ],
            },
        ],
        "externalIdentities": [
            {"externalIdentity": "urn:altinn:person:idporten-email:ola@example.no"},
            {"externalIdentity": "mailto:ola@example.no"},
            {"externalIdentity": "urn:altinn:person:idporten-email:not-an-email"},
        ],
    }
    summary = await import_registry_document(container.pool, document)

    assert (summary.persons, summary.organizations, summary.users, summary.external_identities) == (
        1,
        1,
        1,
        1,
    )
    assert summary.errors == [
        "persons[1].nationalIdentityNumber: must be 11 digits",
        "persons[2].email: not a valid email address",
        "persons[2].mobileNumber: not a valid mobile number",
        "persons[3].nationalIdentityNumber: is required",
        "persons[4].isReserved: must be true or false",
        "persons[4].lastVerified: must be an ISO 8601 date or date-time",
        "persons[5]: must be an object",
        "organizations[0].organizationNumber: must be 9 digits",
        "organizations[0].users: 2 skipped with the organization",
        "organizations[1].emails[1]: not a valid email address",
        "organizations[2].users[1].userId: must be a positive integer",
        "organizations[2].users[2].nationalIdentityNumber: must be 11 digits",
        "organizations[2].users[2].resources[0]: must be a non-empty string",
        "externalIdentities[1].externalIdentity: not a valid external identity URN",
        "externalIdentities[2].externalIdentity: not a valid external identity URN",
    ]
    # rows skipped: 5 persons + (org 0 and its 2 users) + org 1 + 2 users + 2 external identities
    assert summary.skipped == 5 + 3 + 1 + 2 + 2
    assert summary.error_count == len(summary.errors)
    # Values never appear in messages (no NIN, address or name).
    text = "\n".join(summary.errors)
    for secret in ("1234567890", NIN_KARI, "not-an-email", "ola@example.no", "12345", "999"):
        assert secret not in text


async def test_import_users_listed_before_organization_number(container: Container) -> None:
    document = {
        "organizations": [
            {
                "users": [{"userId": 1, "email": "a@firma.no", "resources": [RESOURCE]}],
                "organizationNumber": ORG,
                "emails": ["post@firma.no"],
            },
            {
                "organizationNumber": ORG_2,
                "users": [{"userId": 2, "email": "b@firma.no"}],
                "emails": ["late@firma.no"],  # after the users: the complete row is written
            },
        ]
    }
    summary = await import_registry_document(container.pool, document)
    assert (summary.organizations, summary.users, summary.errors) == (2, 2, [])
    async with container.pool.acquire() as conn:
        rows = await conn.fetch("SELECT organizationnumber, emails FROM registry_organizations ORDER BY 1")
        users = await conn.fetch("SELECT organizationnumber, userid FROM registry_org_users ORDER BY 1")
    assert [(r["organizationnumber"], r["emails"]) for r in rows] == [
        (ORG, ["post@firma.no"]),
        (ORG_2, ["late@firma.no"]),
    ]
    assert [(r["organizationnumber"], r["userid"]) for r in users] == [(ORG, 1), (ORG_2, 2)]


async def test_malformed_json_imports_nothing(container: Container) -> None:
    data = json.dumps(DOCUMENT)[:-30].encode()  # truncated
    with pytest.raises(RegistryFileError, match="invalid JSON"):
        await import_registry(container.pool, io.BytesIO(data), batch_size=1)
    with pytest.raises(RegistryFileError, match="must be an object"):
        await import_registry(container.pool, io.BytesIO(b"[1, 2]"))
    async with container.pool.acquire() as conn:
        assert set((await repository.count_entries(conn)).values()) == {0}


def test_json_stream_handles_values_split_across_chunks() -> None:
    document = {"persons": [{"n": 1234567, "s": "æøå" * 5, "t": True, "x": None}] * 3, "z": [1.5e10, -2]}
    data = json.dumps(document, ensure_ascii=False).encode()
    for chunk_size in (1, 2, 3, 7):
        stream = JsonCursor(io.BytesIO(data), buf_size=chunk_size)
        parsed: dict[str, Any] = {}
        for key in stream.object():
            parsed[key] = [stream.value() for _ in stream.array()]
        stream.end()
        assert parsed == document


# --- import: CSV ---

CSV_TEXT = (
    "nationalIdentityNumber,name,email,mobileNumber,isReserved,lastVerified\n"
    f"{NIN_OLA},Ola Nordmann,ola@example.no,98765432,false,2026-01-15\n"
    f"{NIN_KARI},,kari@example.no,,,\n"
    f'{NIN_RESERVED},"Reservert, Rita",,+4799999999,TRUE,2025-06-01T08:00:00Z\n'
    "0101,bad,bad@,1,maybe,\n"
    f"{NIN_KARI[:-1]}9,,x@example.no,,false,not-a-date\n"
)


async def test_import_csv_with_valid_and_invalid_rows(container: Container, tmp_path: Path) -> None:
    path = tmp_path / "persons.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")

    summary = await import_registry_file(container.pool, path)  # format from the file name

    assert summary.persons == 3
    assert summary.errors == [
        "line 5.isReserved: must be true or false",
        "line 6.lastVerified: must be an ISO 8601 date or date-time",
    ]
    async with container.pool.acquire() as conn:
        rows = {
            r["nationalidentitynumber"]: r
            for r in await conn.fetch("SELECT * FROM registry_persons ORDER BY nationalidentitynumber")
        }
    assert rows[NIN_OLA]["lastverified"] == datetime(2026, 1, 15, tzinfo=UTC)
    assert rows[NIN_KARI]["name"] is None and rows[NIN_KARI]["isreserved"] is False
    assert rows[NIN_RESERVED]["name"] == "Reservert, Rita" and rows[NIN_RESERVED]["isreserved"] is True


async def test_import_csv_field_errors_and_bad_header(container: Container) -> None:
    data = b"nationalIdentityNumber,email,mobileNumber\n0101,bad@,1\n"
    summary = await import_registry(container.pool, io.BytesIO(data), file_format=RegistryFormat.csv)
    assert summary.errors == [
        "line 2.nationalIdentityNumber: must be 11 digits",
        "line 2.email: not a valid email address",
        "line 2.mobileNumber: not a valid mobile number",
    ]
    with pytest.raises(RegistryFileError, match="CSV header"):
        await import_registry(container.pool, io.BytesIO(b"nin,email\n1,2\n"), file_format=RegistryFormat.csv)


# --- upsert semantics, replace ---


async def test_reimport_upserts_and_keeps_rows_not_in_the_file(container: Container) -> None:
    await import_registry_document(container.pool, DOCUMENT)
    update = {
        "persons": [
            {"nationalIdentityNumber": NIN_OLA, "email": "ny@example.no", "isReserved": True},
            {"nationalIdentityNumber": NIN_OLA, "email": "last@example.no", "isReserved": True},  # last wins
        ],
        "organizations": [
            {
                "organizationNumber": ORG,
                "emails": ["ny@firma.no"],
                "users": [{"userId": 20012345, "email": "ny-bruker@firma.no", "resources": []}],
            }
        ],
        "externalIdentities": [
            {"externalIdentity": "urn:altinn:party:username:kari", "email": "k@example.no"}
        ],
    }
    summary = await import_registry_document(container.pool, update)
    assert summary.errors == []

    async with container.pool.acquire() as conn:
        ola = await conn.fetchrow("SELECT * FROM registry_persons WHERE nationalidentitynumber = $1", NIN_OLA)
        org = await conn.fetchrow("SELECT * FROM registry_organizations WHERE organizationnumber = $1", ORG)
        users = await conn.fetch("SELECT * FROM registry_org_users ORDER BY userid")
        kari = await conn.fetchrow(
            "SELECT * FROM registry_external_identities WHERE externalidentity = $1",
            "urn:altinn:party:username:kari",
        )
        counts = await repository.count_entries(conn)
    # The whole row is replaced (fields missing from the file become empty) ...
    assert (ola["email"], ola["isreserved"], ola["mobilenumber"], ola["name"]) == (
        "last@example.no",
        True,
        None,
        None,
    )
    assert (org["emails"], org["mobilenumbers"]) == (["ny@firma.no"], [])
    assert [(u["userid"], u["email"], u["resources"]) for u in users] == [
        (20012345, "ny-bruker@firma.no", []),
        (20012346, "other@firma.no", ["urn:altinn:resource:ttd_other"]),
    ]
    assert (kari["email"], kari["mobilenumber"]) == ("k@example.no", None)
    # ... and rows not in the file are kept.
    assert counts == {"persons": 3, "organizations": 2, "users": 2, "external_identities": 2}


async def test_import_with_replace_empties_the_registry_first(container: Container) -> None:
    await import_registry_document(container.pool, DOCUMENT)
    await import_registry_document(
        container.pool, {"persons": [{"nationalIdentityNumber": NIN_KARI}]}, replace=True
    )
    async with container.pool.acquire() as conn:
        assert await repository.count_entries(conn) == {
            "persons": 1,
            "organizations": 0,
            "users": 0,
            "external_identities": 0,
        }


async def test_large_import_in_batches_reports_progress(container: Container) -> None:
    users = [
        {"userId": n, "email": f"user{n}@firma.no", "resources": [RESOURCE] if n % 2 else []}
        for n in range(1, 10_001)
    ]
    persons = [{"nationalIdentityNumber": f"{n:011d}", "mobileNumber": "+4799999999"} for n in range(2_500)]
    document = {"persons": persons, "organizations": [{"organizationNumber": ORG, "users": users}]}
    data = json.dumps(document).encode()
    steps: list[ImportProgress] = []

    summary = await import_registry(
        container.pool, io.BytesIO(data), batch_size=1000, total_bytes=len(data), progress=steps.append
    )

    assert (summary.persons, summary.organizations, summary.users, summary.skipped) == (2_500, 1, 10_000, 0)
    assert len(steps) >= 12
    assert steps[-1] == ImportProgress(bytes_read=len(data), total_bytes=len(data), rows=12_501)
    assert all(a.rows <= b.rows for a, b in itertools.pairwise(steps))
    port = LocalRegistryContactPoints(container.pool)
    [org] = await port.organization_user_contact_points([ORG], "ttd_example")
    assert len(org.user_contact_points) == 5_000


# --- export ---


async def test_export_json_round_trip(container: Container) -> None:
    await import_registry_document(container.pool, DOCUMENT)
    exported = await _export(container)
    parsed = json.loads(exported)

    assert [p["nationalIdentityNumber"] for p in parsed["persons"]] == sorted(
        [NIN_OLA, NIN_KARI, NIN_RESERVED]
    )
    ola = next(p for p in parsed["persons"] if p["nationalIdentityNumber"] == NIN_OLA)
    assert ola == {
        "nationalIdentityNumber": NIN_OLA,
        "name": "Ola Nordmann",
        "email": "ola@example.no",
        "mobileNumber": "98765432",
        "isReserved": False,
        "lastVerified": "2026-01-15T10:00:00+00:00",
    }
    org = parsed["organizations"][0]
    assert org["organizationNumber"] == ORG and [u["userId"] for u in org["users"]] == [20012345, 20012346]
    assert parsed["organizations"][1]["users"] == []
    assert len(parsed["externalIdentities"]) == 2

    # Importing the export into an empty registry reproduces it exactly.
    summary = await import_registry(container.pool, io.BytesIO(exported.encode()), replace=True)
    assert summary.errors == [] and summary.users == 2
    assert await _export(container) == exported


async def test_export_of_an_empty_registry_is_valid_json(container: Container) -> None:
    assert json.loads(await _export(container)) == {
        "persons": [],
        "organizations": [],
        "externalIdentities": [],
    }
    assert await _export(container, RegistryFormat.csv) == (
        "nationalIdentityNumber,name,email,mobileNumber,isReserved,lastVerified\n"
    )


async def test_export_csv_round_trip(container: Container) -> None:
    await import_registry(container.pool, io.BytesIO(CSV_TEXT.encode()), file_format=RegistryFormat.csv)
    exported = await _export(container, RegistryFormat.csv)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["nationalIdentityNumber"] for r in rows] == sorted([NIN_OLA, NIN_KARI, NIN_RESERVED])
    assert rows[-1]["name"] == "Reservert, Rita" and rows[-1]["isReserved"] == "true"
    assert rows[-1]["lastVerified"] == "2025-06-01T08:00:00+00:00"

    summary = await import_registry(
        container.pool, io.BytesIO(exported.encode()), file_format=RegistryFormat.csv, replace=True
    )
    assert summary.errors == [] and summary.persons == 3
    assert await _export(container, RegistryFormat.csv) == exported


# --- the ContactPointsPort over the registry ---


async def test_person_contact_points_as_stored_with_reservation(container: Container) -> None:
    await import_registry_document(container.pool, DOCUMENT)
    port = LocalRegistryContactPoints(container.pool)

    found = await port.person_contact_points(
        [NIN_OLA, NIN_RESERVED, "99999999999", NIN_OLA], use_stale_contact_info=False
    )

    by_nin = {p.national_identity_number: p for p in found}
    assert set(by_nin) == {NIN_OLA, NIN_RESERVED}  # unknown persons are absent
    assert (by_nin[NIN_OLA].email, by_nin[NIN_OLA].mobile_number, by_nin[NIN_OLA].is_reserved) == (
        "ola@example.no",
        "98765432",  # returned as stored
        False,
    )
    assert by_nin[NIN_RESERVED].is_reserved is True
    assert by_nin[NIN_RESERVED].email == "reserved@example.no"
    assert await port.person_contact_points([], use_stale_contact_info=False) == []


async def test_stale_contact_information(container: Container) -> None:
    now = datetime(2026, 6, 30, 12, tzinfo=UTC)
    persons: list[dict[str, Any]] = [
        {
            "nationalIdentityNumber": "11111111111",
            "email": "old@example.no",
            "mobileNumber": "+4799999991",
            "lastVerified": (now - timedelta(days=19 * 31)).isoformat(),
            "isReserved": True,
        },
        {
            "nationalIdentityNumber": "22222222222",
            "email": "recent@example.no",
            "lastVerified": (now - timedelta(days=17 * 30)).isoformat(),
        },
        {"nationalIdentityNumber": "33333333333", "email": "undated@example.no"},
        # exactly 18 months before `now`
        {
            "nationalIdentityNumber": "44444444444",
            "email": "edge@example.no",
            "lastVerified": "2024-12-30T12:00Z",
        },
    ]
    await import_registry_document(container.pool, {"persons": persons})
    port = LocalRegistryContactPoints(container.pool, clock=lambda: now)
    nins = [p["nationalIdentityNumber"] for p in persons]

    current = {
        p.national_identity_number: p
        for p in await port.person_contact_points(nins, use_stale_contact_info=False)
    }
    assert (current["11111111111"].email, current["11111111111"].mobile_number) == (None, None)
    assert current["11111111111"].is_reserved is True  # the reservation is still reported
    assert current["22222222222"].email == "recent@example.no"
    assert current["33333333333"].email == "undated@example.no"  # NULL lastVerified counts as current
    assert current["44444444444"].email == "edge@example.no"  # exactly 18 months: not yet stale

    stale_ok = {
        p.national_identity_number: p
        for p in await port.person_contact_points(nins, use_stale_contact_info=True)
    }
    assert (stale_ok["11111111111"].email, stale_ok["11111111111"].mobile_number) == (
        "old@example.no",
        "+4799999991",
    )


async def test_organization_contact_points_are_official_addresses_only(container: Container) -> None:
    await import_registry_document(container.pool, DOCUMENT)
    port = LocalRegistryContactPoints(container.pool)

    found = await port.organization_contact_points([ORG, ORG_2, "999999999"])

    by_org = {o.organization_number: o for o in found}
    assert set(by_org) == {ORG, ORG_2}
    assert (by_org[ORG].emails, by_org[ORG].mobile_numbers, by_org[ORG].user_contact_points) == (
        ["post@firma.no"],
        ["+4740000000"],
        [],
    )
    assert (by_org[ORG_2].emails, by_org[ORG_2].mobile_numbers) == ([], [])


@pytest.mark.parametrize(
    "resource_id",
    ["urn:altinn:resource:ttd_example", "ttd_example", "  TTD_Example ", "URN:ALTINN:RESOURCE:ttd_example"],
)
async def test_user_contact_points_filtered_by_resource(container: Container, resource_id: str) -> None:
    document = json.loads(json.dumps(DOCUMENT))
    document["organizations"][0]["users"].append(
        {
            "userId": 20012347,
            "nationalIdentityNumber": NIN_RESERVED,
            "email": "r@firma.no",
            "resources": ["ttd_example"],
        }
    )
    document["organizations"][1]["users"].append(
        {"userId": 1, "email": "x@tomt.no", "resources": ["ttd_other"]}
    )
    await import_registry_document(container.pool, document)
    port = LocalRegistryContactPoints(container.pool)

    found = await port.organization_user_contact_points([ORG, ORG_2], resource_id)

    assert [o.organization_number for o in found] == [ORG]  # an org without a permitted user is absent
    [org] = found
    assert (org.emails, org.mobile_numbers) == ([], [])
    users = {u.user_id: u for u in org.user_contact_points}
    assert set(users) == {20012345, 20012347}  # 20012346 only holds ttd_other
    assert (users[20012345].email, users[20012345].mobile_number) == ("ola@firma.no", "+4741111111")
    assert users[20012345].national_identity_number == NIN_OLA and users[20012345].is_reserved is False
    assert users[20012347].is_reserved is True  # the user's KRR reservation


async def test_user_contact_points_without_resource_are_empty(container: Container) -> None:
    await import_registry_document(container.pool, DOCUMENT)
    port = LocalRegistryContactPoints(container.pool)
    assert await port.organization_user_contact_points([ORG], "") == []
    assert await port.organization_user_contact_points([ORG], "urn:altinn:resource:") == []
    assert await port.organization_user_contact_points([ORG], "ttd_unknown") == []


async def test_external_identities_match_case_insensitively(container: Container) -> None:
    await import_registry_document(container.pool, DOCUMENT)
    port = LocalRegistryContactPoints(container.pool)

    found = await port.external_identity_contact_points(
        [
            "URN:ALTINN:PERSON:IDPORTEN-EMAIL:OLA@EXAMPLE.NO",
            "urn:altinn:party:username:kari",
            "urn:altinn:party:username:x",
        ]
    )

    assert sorted((e.external_identity, e.email, e.mobile_number) for e in found) == [
        ("urn:altinn:party:username:kari", None, "+4791234567"),
        ("urn:altinn:person:idporten-email:ola@example.no", "ola@example.no", None),
    ]


# --- CLI ---


def _invoke(args: list[str], database_url: str) -> Any:
    runner = CliRunner()
    return runner.invoke(
        registry_app, args, env={"NOTIFICATIONS_DATABASE_URL": database_url}, catch_exceptions=False
    )


async def test_cli_import_and_export(container: Container, database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "registry.json"
    source.write_text(json.dumps(DOCUMENT), encoding="utf-8")

    result = await asyncio.to_thread(_invoke, ["import", str(source)], database_url)
    assert result.exit_code == 0, result.output
    assert "imported 3 persons, 2 organizations, 2 users, 2 external identities" in result.output

    target = tmp_path / "export.json"
    result = await asyncio.to_thread(_invoke, ["export", str(target)], database_url)
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(await _export(container))
    assert not (tmp_path / "export.json.partial").exists()

    result = await asyncio.to_thread(_invoke, ["export", "--format", "csv"], database_url)
    assert result.exit_code == 0
    assert (
        result.stdout.splitlines()[0]
        == "nationalIdentityNumber,name,email,mobileNumber,isReserved,lastVerified"
    )
    assert len(result.stdout.splitlines()) == 4


async def test_cli_import_reports_invalid_rows_with_exit_code_1(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "persons.txt"
    source.write_text(CSV_TEXT, encoding="utf-8")

    result = await asyncio.to_thread(_invoke, ["import", str(source), "--format", "csv"], database_url)

    assert result.exit_code == 1
    assert "imported 3 persons" in result.output and "skipped 2 invalid rows" in result.output
    assert "line 5.isReserved: must be true or false" in result.output
    assert NIN_OLA not in result.output

    result = await asyncio.to_thread(_invoke, ["import", str(tmp_path / "missing.json")], database_url)
    assert result.exit_code == 2

    broken = tmp_path / "broken.json"
    broken.write_text('{"persons": [', encoding="utf-8")
    result = await asyncio.to_thread(_invoke, ["import", str(broken)], database_url)
    assert result.exit_code == 1 and "nothing imported" in result.output
