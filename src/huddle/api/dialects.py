"""Which error envelope answers a request: each API dialect is registered with its routers.

A dialect turns what went wrong — a `HuddleError`, a request that failed validation, routing's
404/405, an unexpected exception — into the envelope its clients parse. `app.py` registers
every router with the dialect of the seed it serves. A request answered by one of a router's
routes gets that router's dialect; a request no route took (404, 405), or one refused before
routing (CORS, body size), gets the dialect that claims its path (by default the router's
prefix); anything else gets the default, Huddle's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute

from ..errors import HuddleError, Problem


class ErrorDialect(Protocol):
    """One API's error envelope."""

    def error(self, request: Request, exc: HuddleError) -> JSONResponse:
        """A Huddle error (validation problems included, as `InvalidInput`)."""
        ...

    def invalid(self, request: Request, problems: Sequence[Problem]) -> JSONResponse:
        """A request that failed validation before reaching its endpoint (422)."""
        ...

    def routing(
        self,
        request: Request,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any],
        headers: dict[str, str],
    ) -> JSONResponse:
        """An answer of routing itself: no such route (404), or method (405)."""
        ...

    def unexpected(self, request: Request) -> JSONResponse:
        """A bug: a 500 that tells nothing of it."""
        ...


class Dialects:
    """The routers' dialects of one app (kept in `app.state.dialects`)."""

    def __init__(self, default: ErrorDialect) -> None:
        self.default = default
        # by id(): routes are not hashable; the route is kept so its id stays its own
        self._by_route: dict[int, tuple[BaseRoute, ErrorDialect]] = {}
        self._by_path: list[tuple[str, ErrorDialect]] = []

    def register(self, router: APIRouter, dialect: ErrorDialect) -> None:
        """`router`'s routes answer in `dialect`; so do unrouted requests under its prefix."""
        for route in router.routes:
            self._by_route[id(route)] = (route, dialect)
        if router.prefix and "{" not in router.prefix:
            self.claim(router.prefix, dialect)

    def claim(self, path_prefix: str, dialect: ErrorDialect) -> None:
        """Unrouted requests whose path starts with `path_prefix` answer in `dialect` (the
        longest claim wins)."""
        self._by_path.append((path_prefix, dialect))
        self._by_path.sort(key=lambda claim: len(claim[0]), reverse=True)

    def of(self, request: Request) -> ErrorDialect:
        route = request.scope.get("route")
        if route is not None and (found := self._by_route.get(id(route))) is not None:
            return found[1]
        path = request.url.path
        return next((d for claim, d in self._by_path if path.startswith(claim)), self.default)
