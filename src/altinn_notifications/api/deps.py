"""Request dependencies: the container, the authenticated creator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from altinn_notifications.auth.models import Caller
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_CREATE
from altinn_notifications.ratelimits import flows as ratelimits

# Declared as security schemes so the OpenAPI document describes them; checked by the authenticator.
_bearer = HTTPBearer(auto_error=False, description="Altinn token (RS256 JWT)")
_platform_token = APIKeyHeader(name="PlatformAccessToken", auto_error=False)


async def get_container(request: Request) -> Container:
    # async: FastAPI would run a plain function in its thread pool, a hand-off on every request.
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def require_creator(
    request: Request,
    container: ContainerDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    platform_token: Annotated[str | None, Depends(_platform_token)],
) -> Caller:
    """Policy `CreateScopeOrPlatfomAccessToken` plus creator extraction (docs/compatibility.md C2).

    Reads and cancels take one request from the creator's rate limit here; an order takes it, with its
    notifications, in its flow (one statement either way)."""
    caller = await container.authenticator.authenticate(
        bearer.credentials if bearer else None, platform_token, required_scope=SCOPE_CREATE
    )
    if request.method != "POST":
        await ratelimits.take(container.connection, container.rate_limiter, caller.org, 0, container.clock())
    return caller


CreatorDep = Annotated[Caller, Depends(require_creator)]
