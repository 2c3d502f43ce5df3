"""What the app's route table says about a path: the methods it takes, for `Allow` headers.

Starlette answers a 405 (and would answer a preflight) with the methods of the first route
whose path matches; Huddle often serves one path with several routes (GET, POST and DELETE of
a lock), so the real set is the union over all of them. Each route is asked with its own
`matches`, so included routers answer for themselves; a mount (static files, here) takes any
method by its path, so it counts for GET and HEAD, the methods static files serve.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_STATIC: Final = ("GET", "HEAD")


def path_methods(routes: Iterable[BaseRoute], path: str) -> set[str]:
    """Every method some route serves at `path`; empty: no route has this path."""
    return {
        method
        for route in routes
        for method in (_STATIC if isinstance(route, Mount) else _METHODS)
        if route.matches(_scope(path, method))[0] == Match.FULL
    }


def allow_header(methods: set[str]) -> str:
    """The `Allow` value: the path's methods and OPTIONS, which the CORS layer answers."""
    return ", ".join(sorted(methods | {"OPTIONS"}))


def _scope(path: str, method: str) -> Scope:
    return {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
