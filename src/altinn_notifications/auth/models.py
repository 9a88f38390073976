"""The authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who is calling: the service-owner org (the order 'creator') and the scopes the token granted."""

    org: str
    scopes: frozenset[str]
    via_platform_token: bool = False
