"""`GET /future/notification-log`: the caller's notification-log entries by dialog, shipment or
transmission (docs/compatibility.md C22)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import TypeAdapter

from altinn_notifications.api.deps import ContainerDep, CreatorDep
from altinn_notifications.status import flows
from altinn_notifications.status.notification_log import NotificationLogEntryExt

router = APIRouter(tags=["Notification log"])

_ANSWER = TypeAdapter(list[NotificationLogEntryExt])
_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "No filter given, or `shipmentId` is not a GUID (ValidationProblemDetails)."},
    401: {"description": "Missing, invalid or expired token."},
    403: {"description": "Missing scope or no org."},
}


@router.get(
    "/future/notification-log",
    response_model=list[NotificationLogEntryExt],
    responses=_RESPONSES,
    summary="The final result of each notification of the caller's orders, by Dialogporten dialog, "
    "shipment or transmission (every filter given must match).",
)
async def get_notification_log(
    container: ContainerDep,
    caller: CreatorDep,
    dialog_id: Annotated[str | None, Query(alias="dialogId")] = None,
    shipment_id: Annotated[UUID | None, Query(alias="shipmentId")] = None,
    transmission_id: Annotated[str | None, Query(alias="transmissionId")] = None,
) -> Response:
    entries = await flows.read_notification_log(
        container.transaction,
        caller.org,
        dialog_id=dialog_id,
        shipment_id=shipment_id,
        transmission_id=transmission_id,
    )
    return Response(
        _ANSWER.dump_json(entries, by_alias=True, exclude_none=True), media_type="application/json"
    )
