"""Real HTTP servers on loopback for the Altinn adapters' tests (uvicorn inside the test's event loop).

`serve` runs any ASGI app on a free loopback port. `RegistryBackedAltinn` is Altinn Profile, Register and
the Authorization PDP over the local registry tables, answering in the reference's wire formats, so that
the processing-stage contract suite runs unchanged against the HTTP adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from altinn_notifications.db.pool import Pool
from altinn_notifications.recipients.altinn_http import (
    AltinnAuthorizationPdp,
    AltinnProfileContactPoints,
    AltinnRegisterNames,
)
from altinn_notifications.recipients.identifiers import sanitize_resource_id
from altinn_notifications.recipients.local import LocalRegistryContactPoints

PROFILE = "/profile/api/v1/"
REGISTER = "/register/api/v1/"
AUTHORIZATION = "/authorization/api/v1/"

SUBJECT_CATEGORY = "urn:oasis:names:tc:xacml:1.0:subject-category:access-subject"
RESOURCE_CATEGORY = "urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


@contextlib.asynccontextmanager
async def serve(app: Callable[..., Awaitable[None]]) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yields the base URL (`http://127.0.0.1:PORT`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", ws="none", log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("loopback server stopped before it started")
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Received:
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class RegistryBackedAltinn:
    """Profile, Register and PDP over the `registry_*` tables, in the reference's wire formats.

    Profile's `units/contactpoint/lookup` answers every user of the organisation (Profile does not
    authorise); the PDP permits a user on an organisation's party (party id = the organisation number
    as an integer) for any action when the user's resource list holds the resource.
    """

    def __init__(self, local: LocalRegistryContactPoints, pool: Pool) -> None:
        self.local = local
        self.pool = pool
        self.received: list[Received] = []
        self.app = Starlette(
            routes=[
                Route(PROFILE + "users/contactpoint/lookup", self.persons, methods=["POST"]),
                Route(
                    PROFILE + "organizations/notificationaddresses/lookup",
                    self.organizations,
                    methods=["POST"],
                ),
                Route(PROFILE + "units/contactpoint/lookup", self.org_users, methods=["POST"]),
                Route(PROFILE + "users/contactpoint/lookupsi", self.external_identities, methods=["POST"]),
                Route(REGISTER + "parties/nameslookup", self.names, methods=["POST"]),
                Route(AUTHORIZATION + "decision", self.decision, methods=["POST"]),
            ]
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, local: LocalRegistryContactPoints, pool: Pool
    ) -> AsyncIterator[tuple[RegistryBackedAltinn, str]]:
        fake = cls(local, pool)
        async with serve(fake.app) as base_url:
            yield fake, base_url

    async def _body(self, request: Request) -> Any:
        body = await request.json()
        self.received.append(Received(request.url.path, body, dict(request.headers)))
        return body

    async def persons(self, request: Request) -> Response:
        body = await self._body(request)
        found = await self.local.person_contact_points(
            body["nationalIdentityNumbers"], use_stale_contact_info=body["useStaleContactInfo"]
        )
        return JSONResponse(
            {
                "contactPointsList": [
                    {
                        "userId": 20000000 + i,
                        "nationalIdentityNumber": p.national_identity_number,
                        "isReserved": p.is_reserved,
                        "mobileNumber": p.mobile_number or "",
                        "email": p.email or "",
                    }
                    for i, p in enumerate(found)
                ]
            }
        )

    async def organizations(self, request: Request) -> Response:
        body = await self._body(request)
        found = await self.local.organization_contact_points(body["organizationNumbers"])
        return JSONResponse(
            {
                "contactPointsList": [
                    {
                        "organizationNumber": o.organization_number,
                        "partyId": int(o.organization_number),
                        "emailList": o.emails,
                        "mobileNumberList": o.mobile_numbers,
                        "userContactPoints": [],
                    }
                    for o in found
                ]
            }
        )

    async def org_users(self, request: Request) -> Response:
        body = await self._body(request)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT u.organizationnumber, u.userid, u.nationalidentitynumber, u.email, u.mobilenumber,
                       COALESCE(p.isreserved, false) AS isreserved
                FROM registry_org_users u
                LEFT JOIN registry_persons p ON p.nationalidentitynumber = u.nationalidentitynumber
                WHERE u.organizationnumber = ANY($1::text[])
                ORDER BY u.organizationnumber, u.userid
                """,
                body["organizationNumbers"],
            )
        by_org: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_org.setdefault(r["organizationnumber"], []).append(
                {
                    "userId": r["userid"],
                    "nationalIdentityNumber": r["nationalidentitynumber"] or "",
                    "isReserved": r["isreserved"],
                    "mobileNumber": r["mobilenumber"] or "",
                    "email": r["email"] or "",
                }
            )
        return JSONResponse(
            {
                "contactPointsList": [
                    {
                        "organizationNumber": org,
                        "partyId": int(org),
                        "emailList": [],
                        "mobileNumberList": [],
                        "userContactPoints": users,
                    }
                    for org, users in by_org.items()
                ]
            }
        )

    async def external_identities(self, request: Request) -> Response:
        body = await self._body(request)
        found = await self.local.external_identity_contact_points(body["externalIdentities"])
        return JSONResponse(
            {
                "contactPointsList": [
                    {
                        "externalIdentity": x.external_identity,
                        "email": x.email,
                        "mobileNumber": x.mobile_number,
                    }
                    for x in found
                ]
            }
        )

    async def names(self, request: Request) -> Response:
        body = await self._body(request)
        orgs = [p["orgNo"] for p in body["parties"] if "orgNo" in p]
        nins = [p["ssn"] for p in body["parties"] if "ssn" in p]
        found = await self.local.party_names(orgs, nins)
        # Unknown parties come back without a name (the adapter must leave them out).
        return JSONResponse(
            {
                "partyNames": [{"orgNo": o, "name": found.get(o, "")} for o in orgs]
                + [{"ssn": n, "name": found.get(n)} for n in nins]
            }
        )

    async def decision(self, request: Request) -> Response:
        body = await self._body(request)
        return JSONResponse(await self.decide(body))

    async def decide(self, body: dict[str, Any]) -> dict[str, Any]:
        req = body["Request"]

        def attributes(category: dict[str, Any]) -> dict[str, str]:
            return {a["AttributeId"]: a["Value"] for a in category["Attribute"]}

        subjects = {s["Id"]: attributes(s) for s in req["AccessSubject"]}
        resources = {r["Id"]: attributes(r) for r in req["Resource"]}
        orgs = sorted({f"{int(r['urn:altinn:partyid']):09d}" for r in resources.values()})
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT organizationnumber, userid, resources FROM registry_org_users "
                "WHERE organizationnumber = ANY($1::text[])",
                orgs,
            )
        held = {
            (r["organizationnumber"], r["userid"]): {sanitize_resource_id(x).lower() for x in r["resources"]}
            for r in rows
        }
        results = []
        for reference in req["MultiRequests"]["RequestReference"]:
            subject_id, _action_id, resource_id = reference["ReferenceId"]
            user = subjects[subject_id]["urn:altinn:userid"]
            resource = resources[resource_id]
            wanted = resource.get("urn:altinn:resource") or (
                f"app_{resource['urn:altinn:org']}_{resource['urn:altinn:app']}"
            )
            party = resource["urn:altinn:partyid"]
            permit = wanted.lower() in held.get((f"{int(party):09d}", int(user)), set())
            results.append(
                {
                    "Decision": "Permit" if permit else "NotApplicable",
                    "Status": {"StatusCode": {"Value": "urn:oasis:names:tc:xacml:1.0:status:ok"}},
                    "Category": [
                        {
                            "CategoryId": SUBJECT_CATEGORY,
                            "Attribute": [
                                {"AttributeId": "urn:altinn:userid", "Value": user, "DataType": XSD_STRING}
                            ],
                        },
                        {
                            "CategoryId": RESOURCE_CATEGORY,
                            "Attribute": [
                                {"AttributeId": "urn:altinn:partyid", "Value": party, "DataType": XSD_STRING}
                            ],
                        },
                    ],
                }
            )
        return {"Response": results}


@contextlib.asynccontextmanager
async def altinn_adapters(
    base_url: str, *, token: str | None = "platform-token"
) -> AsyncIterator[tuple[AltinnProfileContactPoints, AltinnRegisterNames]]:
    """The Altinn adapters wired as in production, against a loopback base URL."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        pdp = AltinnAuthorizationPdp(client, base_url + AUTHORIZATION)
        yield (
            AltinnProfileContactPoints(client, base_url + PROFILE, pdp),
            AltinnRegisterNames(client, base_url + REGISTER, token),
        )
