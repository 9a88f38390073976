"""v2 ("future") order endpoints (docs/compatibility.md C6, C7, C8) and the chain receipt (`GET /orders/chain/{id}`).

Thin: parse, call one flow (`chains.flows`), answer. Every create answers 201 with the receipt and
`Location: {base}/notifications/api/v1/orders/chain/{chainId}` (a route that exists here, unlike in the
reference), or 200 with the original receipt when the `idempotencyId` was seen before.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from altinn_notifications.api.deps import ContainerDep, CreatorDep
from altinn_notifications.api.direct import DirectRoute
from altinn_notifications.api.disconnect import client_gone
from altinn_notifications.api.responses import json_response
from altinn_notifications.api.routing import API_PREFIX
from altinn_notifications.api.tracing import note_caller_org
from altinn_notifications.auth.models import Caller
from altinn_notifications.bootstrap import Container
from altinn_notifications.chains import flows
from altinn_notifications.chains.models import (
    ComposedEmailRequestExt,
    InstantEmailNotificationOrderRequestExt,
    InstantNotificationOrderRequestExt,
    InstantSmsNotificationOrderRequestExt,
    NotificationOrderChainRequestExt,
    NotificationOrderChainResponseExt,
)
from altinn_notifications.chains.service import StoredChain, client_disconnected
from altinn_notifications.config import SCOPE_COMPOSED_EMAIL

router = APIRouter(tags=["Orders (v2)"], route_class=DirectRoute)

_bearer = HTTPBearer(auto_error=False, description="Altinn token (RS256 JWT)")


async def require_composed_email_creator(
    container: ContainerDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Policy `ComposedEmailCreateScope` (docs/compatibility.md C2): the bearer token must hold the composed-email scope.

    Unlike the other order endpoints, a Platform Access Token does not satisfy this policy, so it is not
    consulted: the creator is the token's `urn:altinn:org`.
    """
    caller = await container.authenticator.authenticate(
        bearer.credentials if bearer else None, None, required_scope=SCOPE_COMPOSED_EMAIL
    )
    note_caller_org(caller.org)
    return caller


ComposedEmailCreatorDep = Annotated[Caller, Depends(require_composed_email_creator)]

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
    """499 `NOT-00002` when the client has gone (docs/compatibility.md C3); checked before committing, so nothing is kept."""
    if await client_gone(request):
        raise client_disconnected()


def _location(container: Container, chain_id: UUID) -> str:
    return f"{container.settings.base_uri_str}{API_PREFIX}/orders/chain/{chain_id}"


def _answer(container: Container, stored: StoredChain) -> Response:
    if not stored.created:
        return json_response(stored.receipt)
    chain_id = stored.receipt.notification_order_id
    return json_response(
        stored.receipt, status_code=201, headers={"Location": _location(container, chain_id)}
    )


def _connected(request: Request) -> flows.EnsureConnected:
    return lambda: ensure_connected(request)


@router.post(
    "/future/orders",
    status_code=201,
    response_model=NotificationOrderChainResponseExt,
    responses={**_RECEIPT, **_ORDER_ERRORS},
)
async def post_order_chain(
    body: NotificationOrderChainRequestExt, request: Request, container: ContainerDep, caller: CreatorDep
) -> Response:
    """A notification order to one recipient, with optional reminders (docs/compatibility.md C6)."""
    return _answer(container, await flows.place_chain(container, body, caller, _connected(request)))


@router.post(
    "/future/orders/composed-email",
    status_code=201,
    response_model=NotificationOrderChainResponseExt,
    responses=_RECEIPT,
)
async def post_composed_email(
    body: ComposedEmailRequestExt, request: Request, container: ContainerDep, caller: ComposedEmailCreatorDep
) -> Response:
    """A single email with SAS-referenced attachments (docs/compatibility.md C7)."""
    return _answer(container, await flows.place_composed_email(container, body, caller, _connected(request)))


@router.post(
    "/future/orders/instant/sms",
    status_code=201,
    response_model=NotificationOrderChainResponseExt,
    responses={**_RECEIPT, **_INSTANT_ERRORS},
)
async def post_instant_sms(
    body: InstantSmsNotificationOrderRequestExt, request: Request, container: ContainerDep, caller: CreatorDep
) -> Response:
    """An SMS handed to the gateway synchronously (docs/compatibility.md C8)."""
    return _answer(container, await flows.place_instant(container, body, caller, _connected(request)))


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
    """An email handed to the email service synchronously (docs/compatibility.md C8)."""
    return _answer(container, await flows.place_instant(container, body, caller, _connected(request)))


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
    return _answer(container, await flows.place_instant(container, body, caller, _connected(request)))


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
    return json_response(await flows.chain_receipt(container.transaction, id, caller))
