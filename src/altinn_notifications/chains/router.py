"""v2 ("future") order endpoints (spec 4.1-4.3) and the chain receipt (`GET /orders/chain/{id}`).

Thin: parse, call the service, own the transaction, answer. Every create answers 201 with the receipt and
`Location: {base}/notifications/api/v1/orders/chain/{chainId}` (a route that exists here, unlike in the
reference), or 200 with the original receipt when the `idempotencyId` was seen before.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from altinn_notifications.api.deps import ContainerDep, CreatorDep
from altinn_notifications.api.responses import json_response
from altinn_notifications.auth.models import Caller
from altinn_notifications.bootstrap import Container
from altinn_notifications.chains import service
from altinn_notifications.chains.models import (
    ChainType,
    ComposedEmailRequestExt,
    InstantEmailNotificationOrderRequestExt,
    InstantNotificationOrderRequestExt,
    InstantSmsNotificationOrderRequestExt,
    NotificationOrderChainRequestExt,
    NotificationOrderChainResponseExt,
)
from altinn_notifications.config import SCOPE_COMPOSED_EMAIL
from altinn_notifications.errors import CodedProblem
from altinn_notifications.metrics import ORDERS_REGISTERED

router = APIRouter(tags=["Orders (v2)"])

PATH_PREFIX = "/notifications/api/v1"

_bearer = HTTPBearer(auto_error=False, description="Altinn token (RS256 JWT)")


async def require_composed_email_creator(
    container: ContainerDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Policy `ComposedEmailCreateScope` (spec 2.3): the bearer token must hold the composed-email scope.

    Unlike the other order endpoints, a Platform Access Token does not satisfy this policy, so it is not
    consulted: the creator is the token's `urn:altinn:org`.
    """
    return await container.authenticator.authenticate(
        bearer.credentials if bearer else None, None, required_scope=SCOPE_COMPOSED_EMAIL
    )


ComposedEmailCreatorDep = Annotated[Caller, Depends(require_composed_email_creator)]

_INSTANT_POLL_SECONDS = 0.05  # first pause of a duplicate instant request looking for the outcome
_RECEIPT: dict[int | str, dict[str, Any]] = {
    201: {"model": NotificationOrderChainResponseExt, "description": "The order was created."},
    200: {"model": NotificationOrderChainResponseExt, "description": "Repeated idempotencyId: the original."},
    400: {"description": "Validation failed (ValidationProblemDetails)."},
    401: {"description": "Missing, invalid or expired token."},
    403: {"description": "Missing scope or no org."},
    499: {"description": "`NOT-00002`: the client disconnected before the request completed."},
}
_ORDER_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "`NOT-00001`: missing contact information for recipient(s)."}
}
_INSTANT_ERRORS: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "`NOT-00004`: the email/SMS service could not take the message (or a request with "
        "the same idempotencyId has been handing off for over 120 s)."
    }
}


async def ensure_connected(request: Request) -> None:
    """499 `NOT-00002` when the client has gone (spec 2.4); checked before committing, so nothing is kept."""
    if await request.is_disconnected():
        raise service.client_disconnected()


def _location(container: Container, chain_id: UUID) -> str:
    return f"{container.settings.base_uri_str}{PATH_PREFIX}/orders/chain/{chain_id}"


def _answer(container: Container, stored: service.StoredChain) -> Response:
    if not stored.created:
        return json_response(stored.receipt)
    chain_id = stored.receipt.notification_order_id
    return json_response(
        stored.receipt, status_code=201, headers={"Location": _location(container, chain_id)}
    )


async def _replay(
    container: Container, caller: Caller, idempotency_id: str, chain_type: ChainType
) -> Response | None:
    """Spec 4.1.2 step 3: a repeated idempotency id answers 200 with the original receipt."""
    async with container.transaction() as conn:
        receipt = await service.find_receipt(conn, caller.org, idempotency_id, chain_type)
    return json_response(receipt) if receipt is not None else None


async def _store(container: Container, request: Request, plan: service.ChainPlan) -> Response:
    async with container.transaction() as conn:
        stored = await service.store_chain(conn, plan)
        if stored.created:
            await ensure_connected(request)
    if stored.created:
        for order in plan.orders:
            ORDERS_REGISTERED.labels(channel=order.notification_channel.value).inc()
    return _answer(container, stored)


async def _instant_turn(container: Container, plan: service.InstantPlan) -> service.InstantTurn:
    """Wait while another request with the same idempotency id hands off; 503 if it never finishes."""
    deadline = time.monotonic() + service.INSTANT_RESERVATION.total_seconds()
    pause = _INSTANT_POLL_SECONDS
    while True:
        async with container.connection() as conn:
            turn = await service.take_instant_turn(conn, plan)
        if turn.receipt is not None or turn.reserved:
            return turn
        if time.monotonic() > deadline:
            raise service.temporary_failure()
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 1.0)


async def _instant(container: Container, request: Request, plan: service.InstantPlan) -> Response:
    turn = await _instant_turn(container, plan)
    if turn.receipt is not None:
        return json_response(turn.receipt)
    try:
        await ensure_connected(request)  # before the hand-off: once sent, the outcome is always stored
        outcome = await service.send_instant(plan, container.email_provider, container.sms_provider)
    except CodedProblem:  # 499 before the hand-off, or 503: the provider refused or failed
        async with container.connection() as conn:
            await service.release_instant(conn, plan)
        raise
    # Cancelled mid-send (shutdown): whether the message went is unknown, so the reservation is left to
    # expire rather than inviting a second send at once.
    async with container.transaction() as conn:
        stored = await service.store_instant(conn, plan, outcome)
    if stored.created:
        ORDERS_REGISTERED.labels(channel=plan.order.notification_channel.value).inc()
    return _answer(container, stored)


@router.post(
    "/future/orders",
    status_code=201,
    response_model=NotificationOrderChainResponseExt,
    responses={**_RECEIPT, **_ORDER_ERRORS},
)
async def post_order_chain(
    body: NotificationOrderChainRequestExt, request: Request, container: ContainerDep, caller: CreatorDep
) -> Response:
    """A notification order to one recipient, with optional reminders (spec 4.1)."""
    plan = service.build_order_chain(body, caller, container.settings, container.clock())
    if service.needs_contact_lookup(plan):
        # A repeat is answered before the registers are asked: it must not fail on today's contact data.
        replay = await _replay(container, caller, body.idempotency_id, ChainType.Notification)
        if replay is not None:
            return replay
        await service.ensure_contact_points(plan, container.contact_points)
    return await _store(container, request, plan)  # a repeat is a no-op answering the original receipt


@router.post(
    "/future/orders/composed-email",
    status_code=201,
    response_model=NotificationOrderChainResponseExt,
    responses=_RECEIPT,
)
async def post_composed_email(
    body: ComposedEmailRequestExt, request: Request, container: ContainerDep, caller: ComposedEmailCreatorDep
) -> Response:
    """A single email with SAS-referenced attachments (spec 4.2)."""
    plan = service.build_composed_email(body, caller, container.settings, container.clock())
    return await _store(container, request, plan)  # a repeat is a no-op answering the original receipt


@router.post(
    "/future/orders/instant/sms",
    status_code=201,
    response_model=NotificationOrderChainResponseExt,
    responses={**_RECEIPT, **_INSTANT_ERRORS},
)
async def post_instant_sms(
    body: InstantSmsNotificationOrderRequestExt, request: Request, container: ContainerDep, caller: CreatorDep
) -> Response:
    """An SMS handed to the gateway synchronously (spec 4.3)."""
    plan = service.build_instant_sms(body, caller, container.settings, container.clock())
    return await _instant(container, request, plan)


@router.post(
    "/future/orders/instant/email",
    status_code=201,
    response_model=NotificationOrderChainResponseExt,
    responses={**_RECEIPT, **_INSTANT_ERRORS},
)
async def post_instant_email(
    body: InstantEmailNotificationOrderRequestExt,
    request: Request,
    container: ContainerDep,
    caller: CreatorDep,
) -> Response:
    """An email handed to the email service synchronously (spec 4.3)."""
    plan = service.build_instant_email(body, caller, container.settings, container.clock())
    return await _instant(container, request, plan)


@router.post(
    "/future/orders/instant",
    status_code=201,
    response_model=NotificationOrderChainResponseExt,
    responses={**_RECEIPT, **_INSTANT_ERRORS},
    deprecated=True,
    description="Deprecated: use `/future/orders/instant/sms`.",
)
async def post_instant(
    body: InstantNotificationOrderRequestExt, request: Request, container: ContainerDep, caller: CreatorDep
) -> Response:
    plan = service.build_instant(body, caller, container.settings, container.clock())
    return await _instant(container, request, plan)


@router.get(
    "/orders/chain/{id}",
    response_model=NotificationOrderChainResponseExt,
    responses={
        400: {"description": "The id is not a UUID (ValidationProblemDetails)."},
        404: {"description": "No such order chain for this creator."},
        401: {"description": "Missing, invalid or expired token."},
        403: {"description": "Missing scope or no org."},
    },
)
async def get_order_chain(id: UUID, container: ContainerDep, caller: CreatorDep) -> Response:
    """The receipt of an order chain: the target of the `Location` of every v2 create."""
    async with container.transaction() as conn:
        receipt = await service.get_chain_receipt(conn, id, caller)
    return json_response(receipt)
