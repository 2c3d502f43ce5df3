"""The WebSocket endpoint `/v1/ws`: the handshake (subprotocol, Origin, credentials, limits).

Refusals are sent as close codes after accepting, so that a client can read why: a browser
cannot see the status of a refused handshake. The conversation itself is `ws_connection`.
"""

from __future__ import annotations

import logging

from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from ..auth import Principal
from ..errors import BackendUnavailable, TokenExpired, TooManyConnections, Unauthenticated
from ..protocol.close_codes import CloseCode
from ..protocol.ws import SUBPROTOCOLS, choose_subprotocol, token_from_subprotocols
from .deps import Runtime, authenticate, runtime
from .ws_connection import Connection

PATH = "/v1/ws"

log = logging.getLogger("huddle.ws")


async def websocket_endpoint(websocket: WebSocket) -> None:
    """Mounted as a plain Starlette route (`app.py`): FastAPI's WebSocket route adds two exit
    stacks and a dependency solve to every connection, about 3 KiB each, for nothing here."""
    rt = runtime(websocket)
    offered = list(websocket.scope.get("subprotocols") or [])
    subprotocol = choose_subprotocol(offered)
    await websocket.accept(subprotocol=subprotocol)
    if subprotocol is None:
        await refuse(
            websocket, CloseCode.UNSUPPORTED_SUBPROTOCOL, f"offer one of {', '.join(SUBPROTOCOLS)}"
        )
        return
    if rt.services.node.sessions.draining:
        await refuse(websocket, CloseCode.GOING_AWAY)
        return
    principal = await admit(websocket, rt, offered)
    if principal is None:
        return
    try:
        slot = rt.services.node.limits.admit("ws", (principal.org_id, principal.user_id))
    except TooManyConnections as exc:
        await refuse(websocket, CloseCode.TOO_MANY_CONNECTIONS, exc.message)
        return
    with slot:
        await Connection(websocket, rt, principal, SUBPROTOCOLS[subprotocol]).run()


async def refuse(websocket: WebSocket, code: CloseCode, reason: str | None = None) -> None:
    await websocket.close(code, (reason or code.reason)[:120])


async def admit(websocket: WebSocket, rt: Runtime, offered: list[str]) -> Principal | None:
    """The caller, once its origin and credential pass; None once refused with a close code.

    A function of its own so that what the checks read (the token, parsed headers) is
    dropped when it returns instead of living in the endpoint's frame as long as the
    connection (about 800 bytes, memory_probe)."""
    handshake = HTTPConnection(websocket.scope)
    if not rt.origins.websocket_allows(handshake):
        await refuse(websocket, CloseCode.FORBIDDEN_ORIGIN)
        return None
    credential = offered_credential(handshake, offered)
    if not credential:
        await refuse(websocket, CloseCode.AUTH_REQUIRED)
        return None
    try:
        return await authenticate(rt, credential)
    except TokenExpired as exc:
        log.info("WebSocket handshake: %s (%s)", exc.code, exc.reason)
        await refuse(websocket, CloseCode.AUTH_EXPIRED)
    except Unauthenticated as exc:
        log.info("WebSocket handshake: %s (%s)", exc.code, exc.reason)
        await refuse(websocket, CloseCode.INVALID_TOKEN, exc.message)
    except BackendUnavailable:
        rt.services.node.metrics.backend_error("ws")
        await refuse(websocket, CloseCode.BACKEND_UNAVAILABLE)
    return None


def offered_credential(handshake: HTTPConnection, offered: list[str]) -> str | None:
    """The credential of a handshake: a bearer header, `X-API-KEY` (an API key or a
    WorkDrive access token), a subprotocol or `access_token`. Read from a view of the scope,
    not the WebSocket, which would cache the parsed headers and query for the connection's
    whole life."""
    scheme, _, header_token = handshake.headers.get("authorization", "").partition(" ")
    return (
        (header_token.strip() if scheme.lower() == "bearer" else None)
        or handshake.headers.get("x-api-key", "").strip()
        or token_from_subprotocols(offered)
        or handshake.query_params.get("access_token")
    )
