"""v1 order endpoints (docs/compatibility.md C4): parse, call one flow, answer."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from altinn_notifications.api.deps import ContainerDep, CreatorDep
from altinn_notifications.api.direct import DirectRoute
from altinn_notifications.api.responses import json_response
from altinn_notifications.api.routing import API_PREFIX, PathFilteredRouter
from altinn_notifications.bootstrap import Container
from altinn_notifications.orders import flows
from altinn_notifications.orders.links import Links
from altinn_notifications.orders.models import (
    EmailNotificationOrderRequestExt,
    NotificationOrderExt,
    NotificationOrderListExt,
    NotificationOrderRequestExt,
    NotificationOrderRequestResponseExt,
    NotificationOrderWithStatusExt,
    SmsNotificationOrderRequestExt,
    storable_text,
)

# Two routers, because FastAPI tries routes one by one and a rejected route costs about as much as a
# small endpoint: the order intake (`intake_router`) is tried right before the v2 intake, and turns the
# v2 paths away at once (api/routing.py); the reads (`router`) are tried after both (api/app.py).
intake_router = PathFilteredRouter(prefix=API_PREFIX, tags=["Orders (v1)"], route_class=DirectRoute)
router = APIRouter(tags=["Orders (v1)"], route_class=DirectRoute)

_LEGACY = "Legacy endpoint. Still supported, but going forward please use '/future/' endpoints instead."
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": NotificationOrderRequestResponseExt, "description": "The order was accepted."}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Validation failed (ValidationProblemDetails)."},
    401: {"description": "Missing, invalid or expired token."},
    403: {"description": "Missing scope or no org."},
}


def _storable_query(value: str) -> str:
    if not storable_text(value):
        raise PydanticCustomError("string_unstorable", "The value is not valid.")
    return value


def _links(container: Container) -> Links:
    return Links(container.settings.base_uri_str)


def _accepted(container: Container, receipt: NotificationOrderRequestResponseExt) -> Response:
    return json_response(
        receipt, status_code=202, headers={"Location": _links(container).order(receipt.order_id)}
    )


@intake_router.post(
    "/orders/email", status_code=202, responses={**_ACCEPTED, **_ERRORS}, deprecated=True, description=_LEGACY
)
async def post_email_order(
    body: EmailNotificationOrderRequestExt, container: ContainerDep, caller: CreatorDep
) -> Response:
    return _accepted(container, await flows.register(container, body, caller))


@intake_router.post(
    "/orders/sms", status_code=202, responses={**_ACCEPTED, **_ERRORS}, deprecated=True, description=_LEGACY
)
async def post_sms_order(
    body: SmsNotificationOrderRequestExt, container: ContainerDep, caller: CreatorDep
) -> Response:
    return _accepted(container, await flows.register(container, body, caller))


@intake_router.post(
    "/orders", status_code=202, responses={**_ACCEPTED, **_ERRORS}, deprecated=True, description=_LEGACY
)
async def post_order(
    body: NotificationOrderRequestExt, container: ContainerDep, caller: CreatorDep
) -> Response:
    return _accepted(container, await flows.register(container, body, caller))


@router.get(
    "/orders/{id}",
    response_model=NotificationOrderExt,
    responses={404: {"description": "No such order for this creator."}, **_ERRORS},
    deprecated=True,
)
async def get_order(id: UUID, container: ContainerDep, caller: CreatorDep) -> Response:
    return json_response(await flows.get_order(container.transaction, id, caller, _links(container)))


@router.get("/orders", response_model=NotificationOrderListExt, responses=_ERRORS, deprecated=True)
async def get_orders_by_senders_reference(
    senders_reference: Annotated[str, Query(alias="sendersReference"), AfterValidator(_storable_query)],
    container: ContainerDep,
    caller: CreatorDep,
) -> Response:
    orders = await flows.list_orders(container.transaction, senders_reference, caller, _links(container))
    return json_response(orders)


@router.put(
    "/orders/{id}/cancel",
    response_model=NotificationOrderWithStatusExt,
    responses={
        404: {"description": "No such order."},
        409: {"description": "Too late to cancel."},
        **_ERRORS,
    },
    deprecated=True,
)
async def cancel_order(id: UUID, container: ContainerDep, caller: CreatorDep) -> Response:
    result = await flows.cancel_order(container.transaction, id, caller, _links(container), container.clock())
    return json_response(result)
