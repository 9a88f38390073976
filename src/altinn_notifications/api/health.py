"""`GET /health`: unauthenticated; answers `Healthy` when the database answers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from altinn_notifications.api.deps import ContainerDep

router = APIRouter(tags=["Health"])


@router.get("/health", response_class=PlainTextResponse)
async def health(container: ContainerDep) -> PlainTextResponse:
    try:
        async with container.pool.acquire(timeout=5) as conn:
            await conn.fetchval("SELECT 1")
    except Exception:  # any failure of the database means unhealthy
        return PlainTextResponse("Unhealthy", status_code=503)
    return PlainTextResponse("Healthy")
