"""The authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who is calling: the service-owner org (the order 'creator') and the scopes the token granted."""

    org: str
    scopes: frozenset[str]
    via_platform_token: bool = False


@dataclass(frozen=True)
class SupportCaller:
    """Support staff: a bearer token with the support scope. Not scoped to an org (they may have none)."""

    org: str | None
    scopes: frozenset[str]
