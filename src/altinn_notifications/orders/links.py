"""Resource links of a v1 order."""

from __future__ import annotations

from typing import Literal
from uuid import UUID


class Links:
    """Resource links prefixed by the configured base URI (docs/compatibility.md C1)."""

    def __init__(self, base_uri: str) -> None:
        self.orders = f"{base_uri}/notifications/api/v1/orders"

    def order(self, order_id: UUID) -> str:
        return f"{self.orders}/{order_id}"

    def status(self, order_id: UUID) -> str:
        return f"{self.orders}/{order_id}/status"

    def notifications(self, order_id: UUID, channel: Literal["email", "sms"]) -> str:
        return f"{self.orders}/{order_id}/notifications/{channel}"
