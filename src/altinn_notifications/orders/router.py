"""v1 order endpoints (spec 3.2-3.7, 3.9): parse, call the service, answer."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from altinn_notifications.api.deps import ContainerDep, CreatorDep
from altinn_notifications.api.responses import json_response
from altinn_notifications.bootstrap import Container
from altinn_notifications.metrics import ORDERS_REGISTERED
from altinn_notifications.orders import service
from altinn_notifications.orders.models import (
    EmailNotificationOrderRequestExt,
    NotificationOrder,
    NotificationOrderExt,
    NotificationOrderListExt,
    NotificationOrderRequestExt,
    NotificationOrderRequestResponseExt,
    SmsNotificationOrderRequestExt,
    storable_text,
)
from altinn_notifications.orders.repository import OrderRepository
from altinn_notifications.status.models import NotificationOrderWithStatusExt
from altinn_notifications.status.service import Links

router = APIRouter(tags=["Orders (v1)"])

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


async def _register(container: Container, order: NotificationOrder) -> Response:
    lookup = await service.lookup_for_registration(order, container.contact_points, container.settings)
    async with container.connection() as conn:  # one statement (order, texts, wake-up): atomic by itself
        await OrderRepository(conn).insert(order)
    ORDERS_REGISTERED.labels(channel=order.notification_channel.value).inc()
    return json_response(
        service.lookup_response(order, lookup),
        status_code=202,
        headers={"Location": _links(container).order(order.id)},
    )


@router.post(
    "/orders/email", status_code=202, responses={**_ACCEPTED, **_ERRORS}, deprecated=True, description=_LEGACY
)
async def post_email_order(
    body: EmailNotificationOrderRequestExt, container: ContainerDep, caller: CreatorDep
) -> Response:
    return await _register(
        container, service.build_email_order(body, caller, container.settings, container.clock())
    )


@router.post(
    "/orders/sms", status_code=202, responses={**_ACCEPTED, **_ERRORS}, deprecated=True, description=_LEGACY
)
async def post_sms_order(
    body: SmsNotificationOrderRequestExt, container: ContainerDep, caller: CreatorDep
) -> Response:
    return await _register(
        container, service.build_sms_order(body, caller, container.settings, container.clock())
    )


@router.post(
    "/orders", status_code=202, responses={**_ACCEPTED, **_ERRORS}, deprecated=True, description=_LEGACY
)
async def post_order(
    body: NotificationOrderRequestExt, container: ContainerDep, caller: CreatorDep
) -> Response:
    return await _register(
        container, service.build_generic_order(body, caller, container.settings, container.clock())
    )


@router.get(
    "/orders/{id}",
    response_model=NotificationOrderExt,
    responses={404: {"description": "No such order for this creator."}, **_ERRORS},
    deprecated=True,
)
async def get_order(id: UUID, container: ContainerDep, caller: CreatorDep) -> Response:
    async with container.transaction() as conn:
        order = await service.get_order(conn, id, caller, _links(container))
    return json_response(order)


@router.get("/orders", response_model=NotificationOrderListExt, responses=_ERRORS, deprecated=True)
async def get_orders_by_senders_reference(
    senders_reference: Annotated[str, Query(alias="sendersReference"), AfterValidator(_storable_query)],
    container: ContainerDep,
    caller: CreatorDep,
) -> Response:
    async with container.transaction() as conn:
        orders = await service.list_orders(conn, senders_reference, caller, _links(container))
    return json_response(NotificationOrderListExt(count=len(orders), orders=orders))


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
    async with container.transaction() as conn:
        result = await service.cancel_order(conn, id, caller, _links(container), container.clock())
    return json_response(result)
