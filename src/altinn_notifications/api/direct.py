"""`DirectRoute`: the order intake endpoints reached without FastAPI's per-request machinery.

FastAPI spends more of an accepted order's CPU on its generic request handling (telemetry hooks, endpoint
context, a MIME parse of the content type, the dependency solver's caching and scope bookkeeping) than on
the order itself. For an endpoint whose parameters are one JSON body, the `Request` and dependencies that
take only the `Request`, this route does the same work directly: parse and bind the body to its model
in one pass, call the dependencies, call the endpoint.

Only a request that succeeds takes this path. Anything else (a body that is not JSON, does not parse or
does not bind, an oversized one, dependency overrides in tests) goes to FastAPI's handler, which then
answers exactly as it always does: the 400 bodies are FastAPI's own. A dependency's exception (401, 403)
propagates just as it would from FastAPI's solver: for a body that parses and binds, FastAPI too would
have called the dependencies and answered with their exception.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from starlette.requests import Request
from starlette.responses import Response

from altinn_notifications.api.limits import OffLoopRoute, is_json, settings_of_app

RequestDependency = Callable[[Request], Awaitable[Any]]


@dataclass(frozen=True)
class _Plan:
    """How to call one endpoint directly: its body parameter, its `Request` parameter, its dependencies."""

    endpoint: Callable[..., Awaitable[Response]]
    body_name: str
    request_name: str | None
    dependencies: tuple[tuple[str, RequestDependency], ...]


class DirectRoute(OffLoopRoute):
    """An `OffLoopRoute` whose successful requests skip FastAPI's dependency solver (module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        plan = _plan_of(self.dependant)
        field = self.body_field
        annotation = field.field_info.annotation if field is not None else None
        if plan is None or annotation is None:
            return handler
        body: TypeAdapter[Any] = TypeAdapter(annotation)

        async def handle(request: Request) -> Response:
            if request.app.dependency_overrides or not is_json(request):
                return await handler(request)
            raw = await request.body()
            if not raw or len(raw) > settings_of_app(request.scope).off_loop_body_bytes:
                return await handler(request)
            try:  # parsed and bound in one pass (pydantic's JSON parser): no dict in between
                bound = body.validate_json(raw)
            except (ValidationError, RecursionError):
                return await handler(request)
            arguments = {name: await dependency(request) for name, dependency in plan.dependencies}
            arguments[plan.body_name] = bound
            if plan.request_name is not None:
                arguments[plan.request_name] = request
            return await plan.endpoint(**arguments)

        return handle


def _plan_of(dependant: Dependant) -> _Plan | None:
    """The direct call of an endpoint, or None when it has parameters this route does not bind."""
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call) or not _returns_response(call):
        return None
    if _binds_from_the_request(dependant) or len(dependant.body_params) != 1:
        return None
    if not _plain_model_body(dependant.body_params[0].field_info):
        return None
    dependencies = []
    for sub in dependant.dependencies:
        if not _takes_only_the_request(sub) or sub.name is None or sub.call is None:
            return None
        dependencies.append((sub.name, typing.cast(RequestDependency, sub.call)))
    body_name = dependant.body_params[0].name
    return _Plan(call, body_name, dependant.request_param_name, tuple(dependencies))


def _takes_only_the_request(dependant: Dependant) -> bool:
    call = dependant.call
    return (
        call is not None
        and inspect.iscoroutinefunction(call)
        and dependant.request_param_name is not None
        and len(inspect.signature(call).parameters) == 1
        and not dependant.dependencies
        and not dependant.body_params
        and not _binds_from_the_request(dependant)
    )


def _binds_from_the_request(dependant: Dependant) -> bool:
    """Parameters FastAPI fills from the request (path, query, headers, cookies) or special ones this
    route does not provide (websocket, response, background tasks, security scopes)."""
    return bool(
        dependant.path_params or dependant.query_params or dependant.header_params or dependant.cookie_params
    ) or any(
        name is not None
        for name in (
            dependant.websocket_param_name,
            dependant.http_connection_param_name,
            dependant.response_param_name,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
        )
    )


def _returns_response(call: Callable[..., Any]) -> bool:
    """Only endpoints that build their own `Response` (FastAPI would otherwise serialise the result)."""
    try:
        returned = typing.get_type_hints(call).get("return")
    except (NameError, TypeError):
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def _plain_model_body(info: FieldInfo) -> bool:
    """The body is one pydantic model, bound as it is: not embedded under its name (FastAPI would bind a
    generated wrapper), and without metadata (validators, constraints) that only FastAPI's adapter has."""
    annotation = info.annotation
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and not info.metadata
        and not getattr(info, "embed", False)
    )
