"""Request dependencies: the container, the authenticated creator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import BaseRoute

from altinn_notifications.api.tracing import note_caller_org
from altinn_notifications.auth.models import Caller, SupportCaller
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_CREATE, SCOPE_SUPPORT
from altinn_notifications.ratelimits import flows as ratelimits

# Declared as security schemes so the OpenAPI document describes them; checked by the authenticator.
_bearer = HTTPBearer(auto_error=False, description="Altinn token (RS256 JWT)")
_platform_token = APIKeyHeader(name="PlatformAccessToken", auto_error=False)


async def get_container(request: Request) -> Container:
    # async: FastAPI would run a plain function in its thread pool, a hand-off on every request.
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def require_creator(request: Request) -> Caller:
    """Policy `CreateScopeOrPlatfomAccessToken` plus creator extraction (docs/compatibility.md C2).

    The security schemes are called directly rather than as sub-dependencies: each dependency costs
    FastAPI's resolution on every request, and this one runs on every authenticated request. The OpenAPI
    document still lists them for each route that uses this (`document_creator_security`).

    Reads and cancels take one request from the creator's rate limit here; an order takes it, with its
    notifications, in its flow (one statement either way)."""
    container: Container = request.app.state.container
    bearer = await _bearer(request)
    caller = await container.authenticator.authenticate(
        bearer.credentials if bearer else None, await _platform_token(request), required_scope=SCOPE_CREATE
    )
    note_caller_org(caller.org)
    if request.method != "POST":
        await ratelimits.take(container.connection, container.rate_limiter, caller.org, 0, container.clock())
    return caller


CreatorDep = Annotated[Caller, Depends(require_creator)]


async def require_support(
    container: ContainerDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> SupportCaller:
    """Policy `SupportDashboardAccess`: a bearer token with the support scope (docs/compatibility.md C22)."""
    caller = await container.authenticator.authenticate_support(
        bearer.credentials if bearer else None, required_scope=SCOPE_SUPPORT
    )
    note_caller_org(caller.org)
    return caller


SupportDep = Annotated[SupportCaller, Depends(require_support)]


def document_creator_security(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """List the bearer and platform-token schemes on every operation that uses `require_creator`, as
    FastAPI would for sub-dependencies (see `require_creator`)."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    for scheme in (_bearer, _platform_token):
        schemes.setdefault(
            scheme.scheme_name, scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
    security: list[dict[str, list[str]]] = [{_bearer.scheme_name: []}, {_platform_token.scheme_name: []}]
    for context in iter_route_contexts(list(routes)):
        route = context.original_route
        if isinstance(route, APIRoute) and _uses(route.dependant, require_creator):
            operations = schema.get("paths", {}).get(context.path_format, {})
            for method in route.methods or ():
                if method.lower() in operations:
                    operations[method.lower()]["security"] = security
    return schema


def _uses(dependant: Dependant, call: Any) -> bool:
    return any(d.call is call or _uses(d, call) for d in dependant.dependencies)
