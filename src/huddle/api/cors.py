"""CORS for every HTTP route (REST, the SSE stream, static files), from an allow-list.

An allowed origin's preflight is answered here with the methods the path really takes (every
route of the path, not only the first one the router meets) and the request headers Huddle
reads; its actual requests get `Access-Control-Allow-Origin` and the headers a page may read.
An origin not on the list gets no CORS header at all, so the browser blocks the page; its
preflight is refused in the error envelope. Requests without `Origin` pass untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import Forbidden, NotFound
from .errors import error_response
from .origins import OriginPolicy
from .route_table import allow_header, path_methods

#: Request headers a page may send: credentials, bodies, resume, fencing, workspace choice.
ALLOWED_HEADERS: Final = (
    "Authorization",
    "Content-Type",
    "X-API-KEY",
    "Last-Event-ID",
    "If-Match",
    "X-Workspace-Id",
    "X-Request-Id",
)
#: Response headers a page may read besides the CORS-safelisted ones.
EXPOSED_HEADERS: Final = ("X-Request-Id", "Retry-After", "WWW-Authenticate")


class Cors:
    """The ASGI middleware; `routes` is read per preflight (the app's final route table)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: OriginPolicy,
        routes: Callable[[], Iterable[BaseRoute]],
        allow_credentials: bool,
        max_age: int,
    ) -> None:
        self.app = app
        self.policy = policy
        self.routes = routes
        self.allow_credentials = allow_credentials
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.policy.cors_enabled:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if preflight:
            await self._preflight(scope, receive, send, origin)
        elif self.policy.cors_allows(origin):
            await self.app(scope, receive, self._with_cors_headers(send, origin))
        else:
            await self.app(scope, receive, send)

    def _origin_headers(self, origin: str) -> dict[str, str]:
        headers = {"Vary": "Origin"}
        if self.policy.any_cors and not self.allow_credentials:
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            headers["Access-Control-Allow-Origin"] = origin
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        request = Request(scope)
        if not self.policy.cors_allows(origin):
            refused = Forbidden(
                f"Origin {origin[:100]!r} is not in HUDDLE_CORS_ORIGINS",
                details={"origin": origin[:100]},
            )
            await error_response(refused, request)(scope, receive, send)
            return
        methods = path_methods(self.routes(), scope["path"])
        if not methods:
            missing = NotFound("No such route", details={"path": scope["path"]})
            await error_response(missing, request)(scope, receive, send)
            return
        headers = {
            **self._origin_headers(origin),
            "Access-Control-Allow-Methods": allow_header(methods),
            "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
            "Access-Control-Max-Age": str(self.max_age),
            "Allow": allow_header(methods),
        }
        await send({"type": "http.response.start", "status": 204, "headers": _raw(headers)})
        await send({"type": "http.response.body", "body": b""})

    def _with_cors_headers(self, send: Send, origin: str) -> Send:
        added = self._origin_headers(origin)
        added["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "access-control-allow-origin" not in headers:  # a public asset's `*`
                    for name, value in added.items():
                        if name == "Vary":
                            headers.add_vary_header("Origin")
                        else:
                            headers[name] = value
            await send(message)

        return send_with_cors


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
