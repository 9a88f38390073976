"""Metrics endpoints (docs/compatibility.md C17), hidden from OpenAPI.

`GET`/`POST /metrics` (the monthly page) are unauthenticated as in the reference (network-protected);
`POST /metrics/sms` and `/metrics/email` (the daily Parquet exports) need the `X-API-Key` header.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from altinn_notifications.api.deps import ContainerDep
from altinn_notifications.bootstrap import Container
from altinn_notifications.statistics import flows, service
from altinn_notifications.statistics.models import ParquetExport

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/metrics", include_in_schema=False)

ApiKeyHeader = Annotated[str | None, Header(alias="X-API-Key")]


def _refusal(container: Container, api_key: str | None) -> Response | None:
    reason = service.api_key_refusal(api_key, service.configured_api_key(container.settings))
    if reason is None:
        return None
    log.warning("metrics export refused", reason=reason)
    return JSONResponse({"error": reason}, status_code=401)


def _file(export: ParquetExport) -> Response:
    return Response(
        export.content, media_type="application/octet-stream", headers=service.export_headers(export)
    )


@router.get("", response_class=HTMLResponse)
async def metrics_page(container: ContainerDep) -> HTMLResponse:
    return HTMLResponse(service.render_metrics_page(None, container.clock().year))


@router.post("", response_class=HTMLResponse)
async def monthly_metrics(request: Request, container: ContainerDep) -> HTMLResponse:
    month, year = service.parse_month_form(await request.body())
    page = await flows.monthly_page(container.transaction, month, year, container.clock().year)
    return HTMLResponse(page)


@router.post("/sms")
async def daily_sms_metrics(container: ContainerDep, api_key: ApiKeyHeader = None) -> Response:
    if refused := _refusal(container, api_key):
        return refused
    environment = service.environment_name(container.settings)
    return _file(await flows.daily_export(container.transaction, "sms", container.clock(), environment))


@router.post("/email")
async def daily_email_metrics(container: ContainerDep, api_key: ApiKeyHeader = None) -> Response:
    if refused := _refusal(container, api_key):
        return refused
    environment = service.environment_name(container.settings)
    return _file(await flows.daily_export(container.transaction, "email", container.clock(), environment))
