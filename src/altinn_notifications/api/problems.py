"""Error bodies of the reference (docs/compatibility.md C3): ValidationProblemDetails, ProblemDetails, coded problems."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from altinn_notifications.api.tracing import current_trace_id
from altinn_notifications.errors import (
    AppError,
    CodedProblem,
    ExplainedForbiddenError,
    ForbiddenError,
    RequestValidationFailed,
    TooManyRequestsError,
    UnauthorizedError,
)

log = structlog.get_logger(__name__)

RFC_TYPES = {
    400: "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    401: "https://tools.ietf.org/html/rfc9110#section-15.5.2",
    403: "https://tools.ietf.org/html/rfc9110#section-15.5.4",
    404: "https://tools.ietf.org/html/rfc9110#section-15.5.5",
    405: "https://tools.ietf.org/html/rfc9110#section-15.5.6",
    408: "https://tools.ietf.org/html/rfc9110#section-15.5.9",
    409: "https://tools.ietf.org/html/rfc9110#section-15.5.10",
    413: "https://tools.ietf.org/html/rfc9110#section-15.5.14",
    415: "https://tools.ietf.org/html/rfc9110#section-15.5.16",
    422: "https://tools.ietf.org/html/rfc4918#section-11.2",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    503: "https://tools.ietf.org/html/rfc9110#section-15.6.4",
}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "An error occurred while processing your request.",
}
PROBLEM_JSON = "application/problem+json"


def problem(status: int, headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": RFC_TYPES.get(status), "title": TITLES.get(status), "status": status}
    body.update(extra)
    body["traceId"] = current_trace_id()
    return JSONResponse(
        {k: v for k, v in body.items() if v is not None}, status, headers=headers, media_type=PROBLEM_JSON
    )


#: Our own limits (413, 408, 429) say which limit was met; the framework's other errors have no detail.
_DETAILED = frozenset({408, 413, 429})


def http_problem(exc: StarletteHTTPException) -> Response:
    """ProblemDetails of an HTTP error (a limit, or the framework's 404/405/...)."""
    if exc.status_code < 400:
        return Response(status_code=exc.status_code)
    if exc.status_code == 400:  # e.g. a body that cannot be read: ASP.NET answers ValidationProblemDetails
        return validation_problem({"$": [str(exc.detail)]})
    detail = str(exc.detail) if exc.status_code in _DETAILED else None
    return problem(exc.status_code, headers=exc.headers, detail=detail)


def validation_problem(errors: dict[str, list[str]]) -> JSONResponse:
    return problem(400, title=RequestValidationFailed.title, errors=errors)


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _binding_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    """Map pydantic's errors to the keys and messages ASP.NET model binding produces."""
    errors: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = list(err["loc"])
        if loc and loc[0] in ("body", "path", "query", "header"):
            loc = loc[1:]
        if err["type"] == "json_invalid" or (not loc and err["type"] != "missing"):
            key, msg = "$", "The JSON value could not be parsed."
        elif err["type"] == "missing" and not loc:
            key, msg = "", "A non-empty request body is required."
        elif err["type"] in ("missing", "string_too_short") and loc:
            prop = _pascal(str(loc[-1]))
            key, msg = _path_key(loc, pascal=True), f"The {prop} field is required."
        else:
            path = _path_key(loc, pascal=False)
            key, msg = "$." + path, f"The JSON value could not be converted. Path: $.{path}."
            if err["type"] == "enum_value":
                msg = f"{err['msg']} Path: $.{path}."
        errors.setdefault(key, []).append(msg)
    return errors


def _path_key(loc: list[Any], *, pascal: bool) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = _pascal(str(part)) if pascal else str(part)
            out += ("." if out else "") + name
    return re.sub(r"^\.", "", out)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _binding(_: Request, exc: RequestValidationError) -> Response:
        return validation_problem(_binding_errors(exc))

    @app.exception_handler(RequestValidationFailed)
    async def _validation(_: Request, exc: RequestValidationFailed) -> Response:
        return validation_problem(exc.errors)

    @app.exception_handler(CodedProblem)
    async def _coded(_: Request, exc: CodedProblem) -> Response:
        return problem(exc.status_code, title=None, type=None, detail=exc.detail, code=exc.code)

    @app.exception_handler(TooManyRequestsError)
    async def _too_many(_: Request, exc: TooManyRequestsError) -> Response:
        headers = {"Retry-After": str(exc.retry_after_seconds)}
        return problem(429, headers=headers, detail=exc.detail)

    @app.exception_handler(ExplainedForbiddenError)
    async def _explained(_: Request, exc: AppError) -> Response:
        return problem(exc.status_code, detail=exc.detail)

    @app.exception_handler(UnauthorizedError)
    @app.exception_handler(ForbiddenError)
    async def _empty(_: Request, exc: AppError) -> Response:
        # The reference's framework answers 401/403 with an empty body; its controllers' bare client errors
        # (404, the cancel 409) are ProblemDetails (`_app`).
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return Response(status_code=exc.status_code, headers=headers)

    @app.exception_handler(AppError)
    async def _app(_: Request, exc: AppError) -> Response:
        return problem(exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return http_problem(exc)

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, exc: Exception) -> Response:
        log.error("unhandled error", error_type=type(exc).__name__, exc_info=exc)
        return problem(500)


VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblemDetails",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "traceId": {"type": "string"},
    },
    "required": ["title", "status", "errors"],
}


def document_validation_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Our binding errors are 400 ValidationProblemDetails (as the reference), not FastAPI's 422: say so."""
    schema.setdefault("components", {}).setdefault("schemas", {})["ValidationProblemDetails"] = (
        VALIDATION_PROBLEM_SCHEMA
    )
    ref = {"$ref": "#/components/schemas/ValidationProblemDetails"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            default_422 = (
                responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            )
            if default_422.get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
                described = responses.get("400", {}).get("description", "Validation failed.")
                responses["400"] = {"description": described, "content": {PROBLEM_JSON: {"schema": ref}}}
    schemas = schema["components"]["schemas"]
    still_used = "HTTPValidationError" in str(schema.get("paths"))
    if not still_used:
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return schema
