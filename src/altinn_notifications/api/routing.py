"""The API's path prefix, and `PathFilteredRouter`: a router that turns away, cheaply, the paths none of
its routes can match.

FastAPI tries the app's routers in order and, inside each, every route in full: a route that does not
match costs about as much CPU as a small endpoint (FastAPI 0.16x keeps per-route context in the request
scope for each one it tries). The routers ahead of the order intake are tried for every order, so they
use this class: before trying its routes, it checks that the request path ends with the literal end of
at least one of them (for `/orders/{id}/cancel`, `/cancel`), a condition every match meets. Paths that
pass are matched by FastAPI as always. The check is sharpest when the router carries its own prefix
(`APIRouter(prefix=...)`): a literal route's end is then its whole path.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope

API_PREFIX = "/notifications/api/v1"


class PathFilteredRouter(APIRouter):
    """An `APIRouter` that answers "no match" at once for a path that no route of it ends like."""

    _tails: tuple[str, ...] = ()
    _tails_count = -1  # how many routes `_tails` was made from

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if not any(path.endswith(tail) for tail in self._route_tails()):
            return Match.NONE, {}
        return super().matches(scope)

    def _route_tails(self) -> tuple[str, ...]:
        """Each route's path after its last parameter (all of it when it has none); kept until the routes
        change (the decorators add them after the router is made; none is ever removed)."""
        if len(self.routes) != self._tails_count:
            self._tails = tuple(literal_tail(getattr(route, "path", "")) for route in self.routes)
            self._tails_count = len(self.routes)
        return self._tails


def literal_tail(path: str) -> str:
    """What every path this route matches ends with: its path after the last `{param}` ("" if it ends
    with one, which any path ends with)."""
    return path.rsplit("}", 1)[-1]
