"""The support dashboard's lookups (docs/compatibility.md C22): `GET /future/dashboard/recipients/
notifications/{nin|orgnumber|email}`, the identifier in a header, the window in `from` and `to`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from altinn_notifications.api.deps import ContainerDep, SupportDep
from altinn_notifications.api.disconnect import client_gone
from altinn_notifications.chains.service import client_disconnected
from altinn_notifications.errors import RequestValidationFailed
from altinn_notifications.support import flows, service
from altinn_notifications.support.models import DashboardNotificationExt, IdentifierKind

router = APIRouter(prefix="/future/dashboard/recipients/notifications", tags=["Dashboard"])

_ANSWER = TypeAdapter(list[DashboardNotificationExt])
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": list[DashboardNotificationExt], "description": "One element per order, newest first."},
    400: {"description": "The identifier or the window is invalid (ValidationProblemDetails)."},
    401: {"description": "Missing, invalid or expired token."},
    403: {"description": "The token lacks the support scope."},
    499: {"description": "`NOT-00002`: the client disconnected before the request completed."},
}
FromQuery = Annotated[
    str | None,
    Query(
        alias="from",
        description="ISO-8601, UTC: the earliest requested send time, inclusive (default: 7 days ago).",
    ),
]
ToQuery = Annotated[
    str | None,
    Query(alias="to", description="ISO-8601, UTC: requested send times before this (default: now)."),
]


def _query_value(request: Request, name: str) -> str | None:
    """A query parameter by name, case-insensitively (as ASP.NET binds them)."""
    for key, value in request.query_params.multi_items():
        if key.lower() == name:
            return value
    return None


def _window(request: Request, start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """`from` and `to` as given (by any casing of their names); 400 when either is not a date and time."""
    errors: dict[str, list[str]] = {}
    parsed: list[datetime | None] = []
    for key, name, given in ((service.FROM_KEY, "from", start), (service.TO_KEY, "to", end)):
        try:
            parsed.append(
                service.parse_instant(key, given if given is not None else _query_value(request, name))
            )
        except RequestValidationFailed as failed:
            errors.update(failed.errors)
    if errors:
        raise RequestValidationFailed(errors)
    return parsed[0], parsed[1]


async def _lookup(
    request: Request,
    container: ContainerDep,
    kind: IdentifierKind,
    identifier: str | None,
    window: tuple[datetime | None, datetime | None],
) -> Response:
    found = await flows.lookup_notifications(container.transaction, kind, identifier, *window)
    if await client_gone(request):  # 499 NOT-00002, as the reference's other v2 reads
        raise client_disconnected()
    return Response(_ANSWER.dump_json(found, by_alias=True), media_type="application/json")


@router.get(
    "/nin",
    responses=_RESPONSES,
    summary="Notifications to a person, by national identity number (header `NationalIdentityNumber`).",
)
async def by_national_identity_number(
    request: Request,
    container: ContainerDep,
    _caller: SupportDep,
    nin: Annotated[str | None, Header(alias="NationalIdentityNumber")] = None,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    return await _lookup(request, container, IdentifierKind.nin, nin, _window(request, start, end))


@router.get(
    "/orgnumber",
    responses=_RESPONSES,
    summary="Notifications to an organisation, by organisation number (header `OrganizationNumber`).",
)
async def by_organization_number(
    request: Request,
    container: ContainerDep,
    _caller: SupportDep,
    orgnumber: Annotated[str | None, Header(alias="OrganizationNumber")] = None,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    return await _lookup(
        request, container, IdentifierKind.orgnumber, orgnumber, _window(request, start, end)
    )


@router.get(
    "/email",
    responses=_RESPONSES,
    summary="Notifications sent to an email address, case-insensitively (header `Email`).",
)
async def by_email_address(
    request: Request,
    container: ContainerDep,
    _caller: SupportDep,
    email: Annotated[str | None, Header(alias="Email")] = None,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    return await _lookup(request, container, IdentifierKind.email, email, _window(request, start, end))
