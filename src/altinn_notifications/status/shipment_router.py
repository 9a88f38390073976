"""v2 shipment endpoints: delivery manifest (docs/compatibility.md C9) and status feed (docs/compatibility.md C9)."""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response

from altinn_notifications.api.deps import ContainerDep, CreatorDep
from altinn_notifications.api.responses import json_response
from altinn_notifications.status import flows, shipment
from altinn_notifications.status.shipment import NotificationDeliveryManifestExt, StatusFeedExt

router = APIRouter(prefix="/future/shipment", tags=["Shipment"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Caller is unauthorized"},
    403: {"description": "Caller is not authorized to access the requested resource"},
}
_MAX_INT64 = 2**63 - 1
_INT32 = 2**31


# Declared before `/{id}`, which in any case only matches a UUID (the reference's `{id:guid}`).
@router.get(
    "/feed",
    response_model=list[StatusFeedExt],
    summary="Retrieve an array of order status change history.",
    responses={400: {"description": "The request is invalid (ValidationProblemDetails)."}, **_AUTH},
)
async def get_status_feed(
    container: ContainerDep,
    caller: CreatorDep,
    seq: Annotated[
        int, Query(le=_MAX_INT64, description="Exclusive cursor: the last sequence number seen.")
    ] = 0,
    page_size: Annotated[
        int,
        Query(alias="pageSize", ge=-_INT32, lt=_INT32, description="Clamped into [1, 500]."),
    ] = shipment.STATUS_FEED_MAX_PAGE_SIZE,
    order_by: Annotated[
        str,
        Query(alias="orderBy", description="Case-insensitive.", json_schema_extra={"enum": ["Asc", "Desc"]}),
    ] = "Asc",
) -> Response:
    query = shipment.feed_query(seq, page_size, order_by)
    entries = await flows.read_status_feed(container.transaction, caller.org, query)
    return Response(json.dumps(entries, ensure_ascii=False), media_type="application/json")


@router.get(
    "/{id:uuid}",
    response_model=NotificationDeliveryManifestExt,
    summary="Retrieve the delivery manifest of a notification order (shipment) of any type.",
    responses={
        404: {"description": "No shipment with the provided identifier was found (NOT-00003)."},
        **_AUTH,
    },
)
async def get_shipment(id: UUID, container: ContainerDep, caller: CreatorDep) -> Response:
    return json_response(await flows.read_shipment(container.transaction, id, caller.org))
