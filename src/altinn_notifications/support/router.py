"""The support dashboard's lookups (docs/compatibility.md C22): `GET /future/dashboard/recipients/
notifications/{nin|orgnumber|email}`, the identifier in a header, the window in `from` and `to`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from altinn_notifications.api.deps import ContainerDep, SupportDep
from altinn_notifications.chains.router import ensure_connected
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
_WINDOW_DOC = (
    " Query parameters `from` and `to` (ISO-8601, UTC; optional): the window over the orders' requested"
    " send time, `from` inclusive (default: 7 days ago), `to` exclusive (default: now)."
)


def _query_value(request: Request, name: str) -> str | None:
    """A query parameter by name, case-insensitively (as ASP.NET binds them)."""
    for key, value in request.query_params.multi_items():
        if key.lower() == name:
            return value
    return None


async def _lookup(
    request: Request, container: ContainerDep, kind: IdentifierKind, identifier: str | None
) -> Response:
    errors: dict[str, list[str]] = {}
    window = []
    for key, name in ((service.FROM_KEY, "from"), (service.TO_KEY, "to")):
        try:
            window.append(service.parse_instant(key, _query_value(request, name)))
        except RequestValidationFailed as failed:
            errors.update(failed.errors)
            window.append(None)
    if errors:
        raise RequestValidationFailed(errors)
    found = await flows.lookup_notifications(container.transaction, kind, identifier, window[0], window[1])
    await ensure_connected(request)
    return Response(_ANSWER.dump_json(found, by_alias=True), media_type="application/json")


@router.get(
    "/nin",
    responses=_RESPONSES,
    summary="Notifications to a person, by national identity number (header `NationalIdentityNumber`)."
    + _WINDOW_DOC,
)
async def by_national_identity_number(
    request: Request,
    container: ContainerDep,
    _caller: SupportDep,
    nin: Annotated[str | None, Header(alias="NationalIdentityNumber")] = None,
) -> Response:
    return await _lookup(request, container, IdentifierKind.nin, nin)


@router.get(
    "/orgnumber",
    responses=_RESPONSES,
    summary="Notifications to an organisation, by organisation number (header `OrganizationNumber`)."
    + _WINDOW_DOC,
)
async def by_organization_number(
    request: Request,
    container: ContainerDep,
    _caller: SupportDep,
    orgnumber: Annotated[str | None, Header(alias="OrganizationNumber")] = None,
) -> Response:
    return await _lookup(request, container, IdentifierKind.orgnumber, orgnumber)


@router.get(
    "/email",
    responses=_RESPONSES,
    summary="Notifications sent to an email address, case-insensitively (header `Email`)." + _WINDOW_DOC,
)
async def by_email_address(
    request: Request,
    container: ContainerDep,
    _caller: SupportDep,
    email: Annotated[str | None, Header(alias="Email")] = None,
) -> Response:
    return await _lookup(request, container, IdentifierKind.email, email)
