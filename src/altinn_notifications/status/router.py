"""v1 status and notification summary endpoints (docs/compatibility.md C9)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response

from altinn_notifications.api.deps import ContainerDep, CreatorDep
from altinn_notifications.api.responses import json_response
from altinn_notifications.orders import flows as order_flows
from altinn_notifications.orders.links import Links
from altinn_notifications.status import flows
from altinn_notifications.status.models import (
    EmailNotificationSummaryExt,
    NotificationOrderWithStatusExt,
    SmsNotificationSummaryExt,
)

router = APIRouter(tags=["Orders (v1)"])
_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "The id is not a GUID (ValidationProblemDetails)."},
    401: {"description": "Missing, invalid or expired token."},
    403: {"description": "Missing scope or no org."},
    404: {"description": "No such order for this creator."},
}


@router.get(
    "/orders/{id}/status", response_model=NotificationOrderWithStatusExt, responses=_ERRORS, deprecated=True
)
async def get_order_status(id: UUID, container: ContainerDep, caller: CreatorDep) -> Response:
    links = Links(container.settings.base_uri_str)
    return json_response(await order_flows.get_order_status(container.transaction, id, caller, links))


@router.get(
    "/orders/{id}/notifications/email",
    response_model=EmailNotificationSummaryExt,
    responses=_ERRORS,
    deprecated=True,
)
async def get_email_notifications(id: UUID, container: ContainerDep, caller: CreatorDep) -> Response:
    return json_response(await flows.email_summary(container.transaction, id, caller.org))


@router.get(
    "/orders/{id}/notifications/sms",
    response_model=SmsNotificationSummaryExt,
    responses=_ERRORS,
    deprecated=True,
)
async def get_sms_notifications(id: UUID, container: ContainerDep, caller: CreatorDep) -> Response:
    return json_response(await flows.sms_summary(container.transaction, id, caller.org))
