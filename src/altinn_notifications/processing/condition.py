"""Send-condition check (docs/compatibility.md C10): GET the order's endpoint; `{"sendNotification": bool}` decides."""

from __future__ import annotations

from typing import Protocol

import httpx
import structlog

log = structlog.get_logger(__name__)


class ConditionPort(Protocol):
    async def check(self, endpoint: str) -> bool | None:
        """True/False from the endpoint; None when inconclusive (error, bad body, timeout)."""
        ...


class HttpConditionClient:
    """Asks the sender's condition endpoint. No token is attached (the reference uses Maskinporten)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def check(self, endpoint: str) -> bool | None:
        try:
            response = await self.client.get(endpoint)
        except httpx.HTTPError as exc:
            log.warning("send condition inconclusive", reason=type(exc).__name__)
            return None
        if not response.is_success:
            log.warning("send condition inconclusive", status=response.status_code, body=response.text[:50])
            return None
        try:
            decision = response.json().get("sendNotification")
        except (ValueError, AttributeError):
            decision = None
        if not isinstance(decision, bool):
            log.warning("send condition inconclusive", status=response.status_code, body=response.text[:50])
            return None
        return decision
