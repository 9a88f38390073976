"""JSON responses in the reference's conventions: camelCase, nulls omitted, UTC ISO-8601 times."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import Response
from pydantic import BaseModel


def json_response(
    model: BaseModel, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    body = model.model_dump_json(by_alias=True, exclude_none=True)
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")
