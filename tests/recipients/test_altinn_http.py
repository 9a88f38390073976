"""The Altinn platform adapters (docs/compatibility.md C10, C11) against real HTTP servers on loopback.

A scripted server records every request (path, JSON body, headers) and answers what each test tells it
to, in the reference's formats. No database needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from altinn_notifications.errors import DependencyError
from altinn_notifications.recipients.altinn_http import (
    AltinnAuthorizationPdp,
    AltinnProfileContactPoints,
    AltinnRegisterNames,
    build_recipient_ports,
)
from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
    UserContactPoints,
)
from tests.recipients.altinn_fake import RESOURCE_CATEGORY, SUBJECT_CATEGORY, XSD_STRING, Received, serve

NIN = "16069412345"
NIN_2 = "01017012345"
ORG = "810419652"
ORG_2 = "910000001"
PARTY = 50001234
PARTY_2 = 50005678

Handler = Callable[[Any], Awaitable[Response]]


class Scripted:
    """A loopback server answering POSTs by path suffix; unknown paths get 404."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.handlers: dict[str, Handler] = {}
        self.release = asyncio.Event()  # lets held requests finish at teardown
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    def on(self, suffix: str, handler: Handler) -> None:
        self.handlers[suffix] = handler

    def answer(self, suffix: str, data: Any, status: int = 200) -> None:
        async def handler(_: Any) -> Response:
            return JSONResponse(data, status_code=status)

        self.on(suffix, handler)

    def bodies(self, suffix: str) -> list[Any]:
        return [r.body for r in self.received if r.path.endswith(suffix)]

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.received.append(Received(request.url.path, body, dict(request.headers)))
        for suffix, handler in self.handlers.items():
            if request.url.path.endswith(suffix):
                return await handler(body)
        return PlainTextResponse("not found", status_code=404)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, str]]:
    scripted = Scripted()
    async with serve(scripted.app) as base_url:
        try:
            yield scripted, base_url
        finally:
            scripted.release.set()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


@pytest.fixture
def scripted(server: tuple[Scripted, str]) -> Scripted:
    return server[0]


@pytest.fixture
def base(server: tuple[Scripted, str]) -> str:
    return server[1]


def profile(client: httpx.AsyncClient, base: str, pdp: Any = None, **kw: Any) -> AltinnProfileContactPoints:
    return AltinnProfileContactPoints(client, base + "/profile/api/v1/", pdp, **kw)


def pdp_of(client: httpx.AsyncClient, base: str, **kw: Any) -> AltinnAuthorizationPdp:
    return AltinnAuthorizationPdp(client, base + "/authorization/api/v1", **kw)


def xacml_result(decision: str, user: int | str | None, party: int | str | None) -> dict[str, Any]:
    categories = []
    if user is not None:
        categories.append(
            {
                "CategoryId": SUBJECT_CATEGORY,
                "Attribute": [
                    {"AttributeId": "urn:altinn:userid", "Value": str(user), "DataType": XSD_STRING}
                ],
            }
        )
    if party is not None:
        categories.append(
            {
                "CategoryId": RESOURCE_CATEGORY,
                "Attribute": [
                    {"AttributeId": "urn:altinn:partyid", "Value": str(party), "DataType": XSD_STRING}
                ],
            }
        )
    return {"Decision": decision, "Category": categories}


def permit_users(*users: int) -> Handler:
    """A PDP that permits the listed users on every party asked about, and denies the others."""

    async def handler(body: Any) -> Response:
        req = body["Request"]
        subjects = {s["Id"]: s["Attribute"][0]["Value"] for s in req["AccessSubject"]}
        parties = {
            r["Id"]: next(a["Value"] for a in r["Attribute"] if a["AttributeId"] == "urn:altinn:partyid")
            for r in req["Resource"]
        }
        results = []
        for reference in req["MultiRequests"]["RequestReference"]:
            subject, _, resource = reference["ReferenceId"]
            user = subjects[subject]
            results.append(xacml_result("Permit" if int(user) in users else "Deny", user, parties[resource]))
        return JSONResponse({"Response": results})

    return handler


# --- Profile: persons ---


async def test_person_lookup(scripted: Scripted, base: str, client: httpx.AsyncClient) -> None:
    scripted.answer(
        "users/contactpoint/lookup",
        {
            "contactPointsList": [
                {
                    "userId": 20012345,
                    "nationalIdentityNumber": NIN,
                    "isReserved": False,
                    "mobileNumber": "99999999",
                    "email": "ola@example.no",
                },
                {"userId": 0, "nationalIdentityNumber": NIN_2, "isReserved": True, "mobileNumber": None},
            ]
        },
    )
    found = await profile(client, base).person_contact_points([NIN, NIN_2, NIN], use_stale_contact_info=False)
    assert found == [
        PersonContactPoints(
            national_identity_number=NIN,
            email="ola@example.no",
            mobile_number="99999999",  # normalising is the lookup service's job
            is_reserved=False,
            user_id=20012345,
        ),
        PersonContactPoints(national_identity_number=NIN_2, is_reserved=True, user_id=0),
    ]
    [request] = scripted.received
    assert request.path == "/profile/api/v1/users/contactpoint/lookup"
    assert request.body == {"nationalIdentityNumbers": [NIN, NIN_2], "useStaleContactInfo": False}
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers and "platformaccesstoken" not in request.headers

    await profile(client, base).person_contact_points([NIN], use_stale_contact_info=True)
    assert scripted.received[-1].body == {"nationalIdentityNumbers": [NIN], "useStaleContactInfo": True}


async def test_person_lookup_accepts_pascal_case_and_empty_answers(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    scripted.answer(
        "users/contactpoint/lookup",
        {"ContactPointsList": [{"NationalIdentityNumber": NIN, "Email": "a@b.no", "IsReserved": True}]},
    )
    found = await profile(client, base).person_contact_points([NIN], use_stale_contact_info=False)
    assert found == [PersonContactPoints(national_identity_number=NIN, email="a@b.no", is_reserved=True)]
    empty_answers: list[dict[str, Any]] = [{"contactPointsList": []}, {"contactPointsList": None}, {}]
    for empty in empty_answers:
        scripted.answer("users/contactpoint/lookup", empty)
        assert await profile(client, base).person_contact_points([NIN], use_stale_contact_info=False) == []


async def test_no_request_without_identifiers(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    port = profile(client, base, pdp_of(client, base))
    assert await port.person_contact_points([], use_stale_contact_info=False) == []
    assert await port.person_contact_points(["  "], use_stale_contact_info=False) == []
    assert await port.organization_contact_points([]) == []
    assert await port.organization_user_contact_points([ORG], "") == []
    assert await port.organization_user_contact_points([ORG], "urn:altinn:resource:") == []
    assert await port.organization_user_contact_points([], "ttd_example") == []
    assert await port.external_identity_contact_points([]) == []
    assert await AltinnRegisterNames(client, base + "/register/api/v1/").party_names([], []) == {}
    assert await pdp_of(client, base).authorized_users([], "ttd_example") == set()
    assert scripted.received == []


# --- Profile: organisations ---


async def test_official_organisation_addresses(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    scripted.answer(
        "organizations/notificationaddresses/lookup",
        {
            "contactPointsList": [
                {
                    "organizationNumber": ORG,
                    "partyId": PARTY,
                    "emailList": ["post@firma.no"],
                    "mobileNumberList": ["+4799999999"],
                    "userContactPoints": [],
                },
                {"organizationNumber": ORG_2, "partyId": None, "emailList": None},
            ]
        },
    )
    found = await profile(client, base).organization_contact_points([ORG, ORG_2])
    assert found == [
        OrganizationContactPoints(
            organization_number=ORG, party_id=PARTY, emails=["post@firma.no"], mobile_numbers=["+4799999999"]
        ),
        OrganizationContactPoints(organization_number=ORG_2),
    ]
    [request] = scripted.received
    assert request.path == "/profile/api/v1/organizations/notificationaddresses/lookup"
    assert request.body == {"organizationNumbers": [ORG, ORG_2]}


def units_answer() -> dict[str, Any]:
    return {
        "contactPointsList": [
            {
                "organizationNumber": ORG,
                "partyId": PARTY,
                "emailList": [],
                "mobileNumberList": [],
                "userContactPoints": [
                    {
                        "userId": 1,
                        "nationalIdentityNumber": NIN,
                        "isReserved": False,
                        "mobileNumber": "41111111",
                        "email": "ola@firma.no",
                    },
                    {
                        "userId": 2,
                        "nationalIdentityNumber": NIN_2,
                        "isReserved": True,
                        "email": "kari@firma.no",
                    },
                ],
            },
            {
                "organizationNumber": ORG_2,
                "partyId": PARTY_2,
                "userContactPoints": [
                    {"userId": 1, "email": "ola@annet.no"},
                    {"userId": 3, "email": "x@y.no"},
                ],
            },
            {  # without a party id its users cannot be authorised
                "organizationNumber": "920000000",
                "userContactPoints": [{"userId": 1, "email": "ola@tredje.no"}],
            },
            {"organizationNumber": "930000000", "partyId": 3, "userContactPoints": []},
        ]
    }


async def test_user_contact_points_are_filtered_by_the_pdp(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    scripted.answer("units/contactpoint/lookup", units_answer())
    scripted.on("decision", permit_users(1))
    port = profile(client, base, pdp_of(client, base))
    found = await port.organization_user_contact_points(
        [ORG, ORG_2, "920000000", "930000000"], " urn:altinn:resource:ttd_example ", action=" write "
    )
    assert found == [
        OrganizationContactPoints(
            organization_number=ORG,
            party_id=PARTY,
            user_contact_points=[
                UserContactPoints(
                    user_id=1, national_identity_number=NIN, email="ola@firma.no", mobile_number="41111111"
                )
            ],
        ),
        OrganizationContactPoints(
            organization_number=ORG_2,
            party_id=PARTY_2,
            user_contact_points=[UserContactPoints(user_id=1, email="ola@annet.no")],
        ),
    ]
    assert scripted.bodies("units/contactpoint/lookup") == [
        {"organizationNumbers": [ORG, ORG_2, "920000000", "930000000"], "resourceId": "ttd_example"}
    ]
    [decision] = scripted.bodies("decision")
    request = decision["Request"]
    assert request["Action"] == [
        {
            "Id": "action",
            "Attribute": [
                {
                    "AttributeId": "urn:oasis:names:tc:xacml:1.0:action:action-id",
                    "Value": "write",
                    "DataType": "string",
                    "Issuer": "Altinn",
                }
            ],
        }
    ]
    assert [s["Id"] for s in request["AccessSubject"]] == ["subject1", "subject2", "subject3"]
    assert [r["Id"] for r in request["Resource"]] == [f"resource{PARTY}", f"resource{PARTY_2}"]
    assert request["MultiRequests"]["RequestReference"] == [
        {"ReferenceId": ["subject1", "action", f"resource{PARTY}"]},
        {"ReferenceId": ["subject2", "action", f"resource{PARTY}"]},
        {"ReferenceId": ["subject1", "action", f"resource{PARTY_2}"]},
        {"ReferenceId": ["subject3", "action", f"resource{PARTY_2}"]},
    ]


async def test_user_contact_points_without_pdp_are_kept(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    scripted.answer("units/contactpoint/lookup", units_answer())
    found = await profile(client, base).organization_user_contact_points([ORG], "ttd_example")
    assert [(o.organization_number, [u.user_id for u in o.user_contact_points]) for o in found] == [
        (ORG, [1, 2]),
        (ORG_2, [1, 3]),
        ("920000000", [1]),
    ]
    assert scripted.bodies("decision") == []


async def test_no_pdp_call_without_users(scripted: Scripted, base: str, client: httpx.AsyncClient) -> None:
    scripted.answer(
        "units/contactpoint/lookup",
        {"contactPointsList": [{"organizationNumber": ORG, "partyId": PARTY, "userContactPoints": []}]},
    )
    port = profile(client, base, pdp_of(client, base))
    assert await port.organization_user_contact_points([ORG], "ttd_example") == []
    assert scripted.bodies("decision") == []


# --- Profile: external identities ---


async def test_external_identity_lookup(scripted: Scripted, base: str, client: httpx.AsyncClient) -> None:
    identity = "urn:altinn:person:idporten-email:ola@example.no"
    scripted.answer(
        "users/contactpoint/lookupsi",
        {
            "contactPointsList": [
                {"externalIdentity": identity, "email": "ola@example.no", "mobileNumber": ""}
            ]
        },
    )
    found = await profile(client, base).external_identity_contact_points([identity])
    assert found == [ExternalIdentityContactPoints(identity, email="ola@example.no", mobile_number="")]
    [request] = scripted.received
    assert request.path == "/profile/api/v1/users/contactpoint/lookupsi"
    assert request.body == {"externalIdentities": [identity]}


# --- Register ---


async def test_party_names(scripted: Scripted, base: str, client: httpx.AsyncClient) -> None:
    scripted.answer(
        "parties/nameslookup",
        {
            "partyNames": [
                {"orgNo": ORG, "name": "Firma AS"},
                {"orgNo": ORG_2, "name": ""},
                {"ssn": NIN, "name": "Ola Nordmann"},
                {"ssn": NIN_2},
                {"ssn": "99999999999", "name": "Not asked for"},
            ]
        },
    )
    names = AltinnRegisterNames(client, base + "/register/api/v1/", "the-token")
    assert await names.party_names([ORG, ORG_2], [NIN, NIN_2]) == {ORG: "Firma AS", NIN: "Ola Nordmann"}
    [request] = scripted.received
    assert request.path == "/register/api/v1/parties/nameslookup"
    assert request.body == {
        "organizationNumbers": [ORG, ORG_2],
        "socialSecurityNumbers": [NIN, NIN_2],
        "parties": [{"orgNo": ORG}, {"orgNo": ORG_2}, {"ssn": NIN}, {"ssn": NIN_2}],
    }
    assert request.headers["platformaccesstoken"] == "the-token"

    await AltinnRegisterNames(client, base + "/register/api/v1/").party_names([ORG], [])
    assert "platformaccesstoken" not in scripted.received[-1].headers
    await AltinnRegisterNames(client, base + "/register/api/v1/", lambda: "fresh").party_names([], [NIN])
    assert scripted.received[-1].headers["platformaccesstoken"] == "fresh"
    assert scripted.received[-1].body == {
        "organizationNumbers": [],
        "socialSecurityNumbers": [NIN],
        "parties": [{"ssn": NIN}],
    }


async def test_party_names_empty_answer(scripted: Scripted, base: str, client: httpx.AsyncClient) -> None:
    scripted.answer("parties/nameslookup", {"partyNames": []})
    assert await AltinnRegisterNames(client, base + "/register/api/v1/").party_names([ORG], [NIN]) == {}


# --- Authorization PDP ---


async def test_pdp_request_matches_the_reference(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    scripted.on("decision", permit_users(20012345))
    permitted = await pdp_of(client, base).authorized_users([(20012345, 50001234)], "ttd_example")
    assert permitted == {(20012345, 50001234)}
    [request] = scripted.received
    assert request.path == "/authorization/api/v1/decision"
    assert request.body == {  # docs/compatibility.md C11, verbatim
        "Request": {
            "AccessSubject": [
                {
                    "Id": "subject20012345",
                    "Attribute": [
                        {
                            "AttributeId": "urn:altinn:userid",
                            "Value": "20012345",
                            "DataType": "http://www.w3.org/2001/XMLSchema#string",
                            "Issuer": "Altinn",
                            "IncludeInResult": True,
                        }
                    ],
                }
            ],
            "Action": [
                {
                    "Id": "action",
                    "Attribute": [
                        {
                            "AttributeId": "urn:oasis:names:tc:xacml:1.0:action:action-id",
                            "Value": "read",
                            "DataType": "string",
                            "Issuer": "Altinn",
                        }
                    ],
                }
            ],
            "Resource": [
                {
                    "Id": "resource50001234",
                    "Attribute": [
                        {
                            "AttributeId": "urn:altinn:resource",
                            "Value": "ttd_example",
                            "DataType": "http://www.w3.org/2001/XMLSchema#string",
                            "Issuer": "Altinn",
                        },
                        {
                            "AttributeId": "urn:altinn:partyid",
                            "Value": "50001234",
                            "DataType": "http://www.w3.org/2001/XMLSchema#string",
                            "Issuer": "Altinn",
                            "IncludeInResult": True,
                        },
                    ],
                }
            ],
            "MultiRequests": {
                "RequestReference": [{"ReferenceId": ["subject20012345", "action", "resource50001234"]}]
            },
        }
    }


@pytest.mark.parametrize(
    ("action", "expected"), [(None, "read"), ("", "read"), ("  ", "read"), (" sign ", "sign")]
)
async def test_pdp_action(
    scripted: Scripted, base: str, client: httpx.AsyncClient, action: str | None, expected: str
) -> None:
    scripted.on("decision", permit_users(1))
    await pdp_of(client, base).authorized_users([(1, PARTY)], "ttd_example", action)
    [body] = scripted.bodies("decision")
    assert body["Request"]["Action"][0]["Attribute"][0]["Value"] == expected


async def test_pdp_app_resource_attributes(scripted: Scripted, base: str, client: httpx.AsyncClient) -> None:
    scripted.on("decision", permit_users(1))
    await pdp_of(client, base).authorized_users([(1, PARTY)], "urn:altinn:resource:app_ttd_my-app")
    [body] = scripted.bodies("decision")
    assert body["Request"]["Resource"] == [
        {
            "Id": f"resource{PARTY}",
            "Attribute": [
                {"AttributeId": "urn:altinn:org", "Value": "ttd", "DataType": XSD_STRING, "Issuer": "Altinn"},
                {
                    "AttributeId": "urn:altinn:app",
                    "Value": "my-app",
                    "DataType": XSD_STRING,
                    "Issuer": "Altinn",
                },
                {
                    "AttributeId": "urn:altinn:partyid",
                    "Value": str(PARTY),
                    "DataType": XSD_STRING,
                    "Issuer": "Altinn",
                    "IncludeInResult": True,
                },
            ],
        }
    ]


async def test_pdp_keeps_only_permits_with_attributes(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    scripted.answer(
        "decision",
        {
            "Response": [
                xacml_result("Permit", 1, PARTY),
                xacml_result("Deny", 2, PARTY),
                xacml_result("NotApplicable", 3, PARTY),
                xacml_result("Indeterminate", 4, PARTY),
                xacml_result("Permit", 5, None),  # no party attribute: cannot be attributed
                xacml_result("Permit", None, PARTY),
                xacml_result("Permit", 6, PARTY_2),
                xacml_result("Permit", 99, PARTY),  # never asked about: ignored
                xacml_result("Permit", "not-a-number", PARTY),
            ]
        },
    )
    pairs = [(1, PARTY), (2, PARTY), (3, PARTY), (4, PARTY), (5, PARTY), (6, PARTY), (6, PARTY_2)]
    assert await pdp_of(client, base).authorized_users(pairs, "ttd_example") == {(1, PARTY), (6, PARTY_2)}


async def test_pdp_batches_of_500_in_parallel(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    all_arrived = asyncio.Event()
    in_flight = 0
    max_in_flight = 0
    permit = permit_users(*range(0, 1200, 7))

    async def handler(body: Any) -> Response:
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        if len(scripted.bodies("decision")) == 3:
            all_arrived.set()
        with contextlib.suppress(TimeoutError):  # sequential calls: the max_in_flight assertion says so
            await asyncio.wait_for(all_arrived.wait(), timeout=2)
        in_flight -= 1
        return await permit(body)

    scripted.on("decision", handler)
    pairs = [(user, PARTY + user % 3) for user in range(1200)]
    permitted = await pdp_of(client, base).authorized_users(pairs, "ttd_example")
    bodies = scripted.bodies("decision")
    assert len(bodies) == 3
    assert sorted(len(b["Request"]["MultiRequests"]["RequestReference"]) for b in bodies) == [200, 500, 500]
    assert max_in_flight == 3
    assert permitted == {(user, PARTY + user % 3) for user in range(0, 1200, 7)}


async def test_pdp_calls_in_flight_are_capped(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    in_flight = 0
    max_in_flight = 0
    permit = permit_users(*range(0, 1000, 3))

    async def handler(body: Any) -> Response:
        nonlocal in_flight, max_in_flight
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        await asyncio.sleep(0.05)  # long enough for every uncapped call to be in flight together
        in_flight -= 1
        return await permit(body)

    scripted.on("decision", handler)
    pairs = [(user, PARTY) for user in range(1000)]
    permitted = await pdp_of(client, base, batch_size=100, concurrency=3).authorized_users(
        pairs, "ttd_example"
    )
    assert len(scripted.bodies("decision")) == 10
    assert max_in_flight == 3
    assert permitted == {(user, PARTY) for user in range(0, 1000, 3)}


async def test_pdp_batch_size_and_duplicate_pairs(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    scripted.on("decision", permit_users(1, 2))
    pdp = pdp_of(client, base, batch_size=2)
    pairs = [(1, PARTY), (1, PARTY), (2, PARTY), (2, PARTY_2), (3, PARTY)]
    assert await pdp.authorized_users(pairs, "ttd_example") == {(1, PARTY), (2, PARTY), (2, PARTY_2)}
    sizes = [len(b["Request"]["MultiRequests"]["RequestReference"]) for b in scripted.bodies("decision")]
    assert sizes == [2, 2]
    with pytest.raises(ValueError):
        pdp_of(client, base, batch_size=0)


# --- failures ---

OPERATIONS: list[tuple[str, Callable[[httpx.AsyncClient, str], Awaitable[Any]]]] = [
    (
        "users/contactpoint/lookup",
        lambda c, b: profile(c, b).person_contact_points([NIN], use_stale_contact_info=False),
    ),
    (
        "organizations/notificationaddresses/lookup",
        lambda c, b: profile(c, b).organization_contact_points([ORG]),
    ),
    (
        "units/contactpoint/lookup",
        lambda c, b: profile(c, b).organization_user_contact_points([ORG], "ttd_example"),
    ),
    (
        "users/contactpoint/lookupsi",
        lambda c, b: profile(c, b).external_identity_contact_points(["urn:altinn:party:username:ola"]),
    ),
    (
        "parties/nameslookup",
        lambda c, b: AltinnRegisterNames(c, b + "/register/api/v1/").party_names([ORG], [NIN]),
    ),
    ("decision", lambda c, b: pdp_of(c, b).authorized_users([(1, PARTY)], "ttd_example")),
]
OPERATION_IDS = [path for path, _ in OPERATIONS]


@pytest.mark.parametrize(("path", "call"), OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("status", [500, 503, 404, 401])
async def test_error_status_is_a_dependency_error(
    scripted: Scripted,
    base: str,
    client: httpx.AsyncClient,
    path: str,
    call: Callable[[httpx.AsyncClient, str], Awaitable[Any]],
    status: int,
) -> None:
    scripted.answer(path, {"title": f"failure mentioning {NIN}"}, status=status)
    with pytest.raises(DependencyError) as caught:
        await call(client, base)
    assert str(status) in str(caught.value)
    assert NIN not in str(caught.value) and ORG not in str(caught.value)


@pytest.mark.parametrize(("path", "call"), OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("answer", ["not json", '{"truncated": ', "[1, 2]", "wrong shape"])
async def test_malformed_answers_are_dependency_errors(
    scripted: Scripted,
    base: str,
    client: httpx.AsyncClient,
    path: str,
    call: Callable[[httpx.AsyncClient, str], Awaitable[Any]],
    answer: str,
) -> None:
    if answer == "wrong shape":  # the answer's list is not a list
        key = {"parties/nameslookup": "partyNames", "decision": "Response"}.get(path, "contactPointsList")
        answer = json.dumps({key: "x"})

    async def handler(_: Any) -> Response:
        return Response(answer, media_type="application/json")

    scripted.on(path, handler)
    with pytest.raises(DependencyError):
        await call(client, base)


@pytest.mark.parametrize(("path", "call"), OPERATIONS, ids=OPERATION_IDS)
async def test_timeouts_are_dependency_errors(
    scripted: Scripted, base: str, path: str, call: Callable[[httpx.AsyncClient, str], Awaitable[Any]]
) -> None:
    async def hold(_: Any) -> Response:
        await scripted.release.wait()
        return JSONResponse({})

    scripted.on(path, hold)
    async with httpx.AsyncClient(timeout=0.2) as slow_client:
        with pytest.raises(DependencyError) as caught:
            await call(slow_client, base)
    assert "Timeout" in str(caught.value)


async def test_adapter_timeout_overrides_the_client_default(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    async def hold(_: Any) -> Response:
        await scripted.release.wait()
        return JSONResponse({})

    scripted.on("users/contactpoint/lookup", hold)
    port = profile(client, base, timeout=0.2)  # the client itself waits 5 s
    with pytest.raises(DependencyError):
        await port.person_contact_points([NIN], use_stale_contact_info=False)


@pytest.mark.parametrize(("path", "call"), OPERATIONS, ids=OPERATION_IDS)
async def test_connection_refused_is_a_dependency_error(
    client: httpx.AsyncClient, path: str, call: Callable[[httpx.AsyncClient, str], Awaitable[Any]]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(DependencyError) as caught:
        await call(client, closed)
    assert "ConnectError" in str(caught.value)


async def test_a_failing_pdp_batch_fails_the_lookup(
    scripted: Scripted, base: str, client: httpx.AsyncClient
) -> None:
    calls = 0
    permit = permit_users(1)

    async def flaky(body: Any) -> Response:
        nonlocal calls
        calls += 1
        if calls == 2:
            return PlainTextResponse("boom", status_code=502)
        return await permit(body)

    scripted.on("decision", flaky)
    with pytest.raises(DependencyError):
        await pdp_of(client, base, batch_size=1).authorized_users([(1, PARTY), (2, PARTY), (3, PARTY)], "x")


def test_base_url_must_be_given(client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError):
        AltinnProfileContactPoints(client, " ", None)


async def test_build_recipient_ports(scripted: Scripted, base: str, client: httpx.AsyncClient) -> None:
    local_contact_points: Any = object()
    local_names: Any = object()
    assert build_recipient_ports(
        client, local_contact_points=local_contact_points, local_party_names=local_names
    ) == (local_contact_points, local_names)

    contact_points, names = build_recipient_ports(
        client,
        local_contact_points=local_contact_points,
        local_party_names=local_names,
        profile_url=base + "/profile/api/v1/",
        register_url=base + "/register/api/v1/",
        authorization_url=base + "/authorization/api/v1/",
        platform_access_token="tok",
        timeout=3.0,
    )
    assert isinstance(contact_points, AltinnProfileContactPoints)
    assert isinstance(names, AltinnRegisterNames)
    scripted.answer("units/contactpoint/lookup", units_answer())
    scripted.on("decision", permit_users(3))
    found = await contact_points.organization_user_contact_points([ORG_2], "ttd_example")
    assert [[u.user_id for u in o.user_contact_points] for o in found] == [[3]]
    [decision] = [r for r in scripted.received if r.path.endswith("decision")]
    assert decision.headers["platformaccesstoken"] == "tok"

    only_register = build_recipient_ports(
        client,
        local_contact_points=local_contact_points,
        local_party_names=local_names,
        register_url=base + "/register/api/v1/",
    )
    assert only_register[0] is local_contact_points
    assert isinstance(only_register[1], AltinnRegisterNames)
