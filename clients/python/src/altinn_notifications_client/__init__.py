"""A typed client for the Altinn Notifications sender API (Altinn's, or a self-hosted instance).

    from altinn_notifications_client import Client, recipients
    from altinn_notifications_client.models import NotificationOrderChainRequest

    with Client("https://platform.altinn.no", token) as client:
        receipt = client.create_order_chain(NotificationOrderChainRequest(
            recipient=recipients.to_email("ola@example.no", recipients.email_settings("Hi", "Hello")),
        ))
        client.wait_for_shipment(receipt.notification.shipment_id)

Depends on httpx and pydantic only; Maskinporten tokens need the `maskinporten` extra.
"""

from altinn_notifications_client import models, recipients
from altinn_notifications_client._core import API_PREFIX, NO_RETRIES, FeedItem, RetryPolicy
from altinn_notifications_client._version import __version__
from altinn_notifications_client.auth import (
    SCOPE_COMPOSED_EMAIL,
    SCOPE_CREATE,
    CallableToken,
    MaskinportenToken,
    StaticToken,
    TokenProvider,
)
from altinn_notifications_client.client import AsyncClient, Client
from altinn_notifications_client.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    InvalidRecipientError,
    NotFoundError,
    NotificationsError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnprocessableError,
    ValidationError,
    WaitTimeoutError,
)

__all__ = [
    "API_PREFIX",
    "NO_RETRIES",
    "SCOPE_COMPOSED_EMAIL",
    "SCOPE_CREATE",
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "CallableToken",
    "Client",
    "ConflictError",
    "FeedItem",
    "InvalidRecipientError",
    "MaskinportenToken",
    "NotFoundError",
    "NotificationsError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RetryPolicy",
    "ServerError",
    "StaticToken",
    "TokenProvider",
    "TransportError",
    "UnprocessableError",
    "ValidationError",
    "WaitTimeoutError",
    "__version__",
    "models",
    "recipients",
]
