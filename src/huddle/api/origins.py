"""Which web origins may use the node, and how: CORS for REST and SSE, Origin checks for
WebSockets and cookie-authenticated streams.

Two lists, one rule each:

* `HUDDLE_CORS_ORIGINS`: pages of these origins may call the REST API and open SSE streams
  with a credential they hold (a bearer token, a ticket). `*` means any page.
* `HUDDLE_ALLOWED_ORIGINS`: further origins that may open WebSockets and use the
  `huddle_token` cookie, without being CORS origins.

A WebSocket or a cookie travels with the browser's ambient authority, so those checks accept
the node's own origin, both lists' named origins, and no `Origin` at all (not a browser). A
`*` in the CORS list does not extend to cookies: a cookie must never answer any site's page.
WebSockets carry no cookie credential here (a token in a subprotocol or the URL), so `*` does
open them to any page, as it opens the REST API.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from ..config import Settings


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    cors: frozenset[str]
    any_cors: bool
    extra: frozenset[str]

    @classmethod
    def of(cls, settings: Settings) -> OriginPolicy:
        named = frozenset(o for o in settings.cors_origins if o != "*")
        return cls(named, "*" in settings.cors_origins, frozenset(settings.allowed_origins))

    @property
    def cors_enabled(self) -> bool:
        return self.any_cors or bool(self.cors)

    def cors_allows(self, origin: str) -> bool:
        return self.any_cors or origin in self.cors

    def websocket_allows(self, connection: HTTPConnection) -> bool:
        origin = connection.headers.get("origin")
        return (
            origin is None
            or origin == own_origin(connection)
            or origin in self.extra
            or self.cors_allows(origin)
        )

    def cookie_allows(self, connection: HTTPConnection) -> bool:
        origin = connection.headers.get("origin")
        return (
            origin is None
            or origin == own_origin(connection)
            or origin in self.extra
            or origin in self.cors
        )


def own_origin(connection: HTTPConnection) -> str:
    scheme = {"ws": "http", "wss": "https"}.get(connection.url.scheme, connection.url.scheme)
    return f"{scheme}://{connection.url.netloc}"
