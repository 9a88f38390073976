"""Send-condition check (docs/compatibility.md C10): GET the order's endpoint; `{"sendNotification": bool}` decides.

The endpoint is the sender's choice: it is called with the outbound client (`processing/outbound.py`), never
with the one that calls the Altinn platform. Logs name the status or the reason, never the response body.
"""

from __future__ import annotations

from typing import Protocol

import httpx
import structlog

from altinn_notifications.processing.outbound import OutboundRefused

log = structlog.get_logger(__name__)


class ConditionPort(Protocol):
    async def check(self, endpoint: str) -> bool | None:
        """True/False from the endpoint; None when inconclusive (error, bad body, timeout)."""
        ...


class HttpConditionClient:
    """Asks the sender's condition endpoint. No token is attached (the reference uses Maskinporten).

    `client` is meant to be `outbound_client(...)`: vetted targets, no cookies, no redirects."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def check(self, endpoint: str) -> bool | None:
        # Any failure of the call is inconclusive (a URL httpx refuses, an answer nested too deep to
        # parse, ...): the reference's rule, ask once more then send, must apply to every order.
        try:
            return await self._ask(endpoint)
        except Exception as exc:
            log.warning("send condition inconclusive", reason=type(exc).__name__)
            return None

    async def _ask(self, endpoint: str) -> bool | None:
        try:
            response = await self.client.get(endpoint)
        except OutboundRefused as exc:
            log.warning("send condition inconclusive", reason="target refused", refused=exc.reason)
            return None
        except httpx.HTTPError as exc:
            log.warning("send condition inconclusive", reason=type(exc).__name__)
            return None
        if not response.is_success:
            log.warning("send condition inconclusive", status=response.status_code)
            return None
        try:
            decision = response.json().get("sendNotification")
        except (ValueError, AttributeError):
            decision = None
        if not isinstance(decision, bool):
            log.warning(
                "send condition inconclusive", status=response.status_code, reason="no boolean answer"
            )
            return None
        return decision
