"""A typed client for the Altinn Notifications sender API (Altinn's, or a self-hosted instance).

Depends on httpx and pydantic only; Maskinporten tokens need the `maskinporten` extra.
"""

from altinn_notifications_client._version import __version__

__all__ = ["__version__"]
