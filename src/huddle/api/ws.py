"""The WebSocket endpoint `/v1/ws`: the handshake (subprotocol, Origin, credentials, limits).

Refusals are sent as close codes after accepting, so that a client can read why: a browser
cannot see the status of a refused handshake. The conversation itself is `ws_connection`.
"""

from __future__ import annotations

from starlette.websockets import WebSocket

from ..errors import BackendUnavailable, TokenExpired, TooManyConnections, Unauthenticated
from ..protocol.close_codes import CloseCode
from ..protocol.ws import SUBPROTOCOLS, choose_subprotocol, token_from_subprotocols
from .deps import authenticate, origin_allowed, runtime
from .ws_connection import Connection

PATH = "/v1/ws"


async def websocket_endpoint(websocket: WebSocket) -> None:
    """Mounted as a plain Starlette route (`app.py`): FastAPI's WebSocket route adds two exit
    stacks and a dependency solve to every connection, about 3 KiB each, for nothing here."""
    rt = runtime(websocket)
    offered = list(websocket.scope.get("subprotocols") or [])
    subprotocol = choose_subprotocol(offered)
    await websocket.accept(subprotocol=subprotocol)

    async def refuse(code: CloseCode, reason: str | None = None) -> None:
        await websocket.close(code, (reason or code.reason)[:120])

    if subprotocol is None:
        await refuse(CloseCode.UNSUPPORTED_SUBPROTOCOL, f"offer one of {', '.join(SUBPROTOCOLS)}")
        return
    if not origin_allowed(websocket, rt.settings):
        await refuse(CloseCode.FORBIDDEN_ORIGIN)
        return
    scheme, _, header_token = websocket.headers.get("authorization", "").partition(" ")
    credential = (
        (header_token.strip() if scheme.lower() == "bearer" else None)
        or token_from_subprotocols(offered)
        or websocket.query_params.get("access_token")
    )
    if not credential:
        await refuse(CloseCode.AUTH_REQUIRED)
        return
    try:
        principal = await authenticate(rt, credential)
    except TokenExpired:
        await refuse(CloseCode.AUTH_EXPIRED)
        return
    except Unauthenticated as exc:
        await refuse(CloseCode.INVALID_TOKEN, exc.message)
        return
    except BackendUnavailable:
        rt.services.node.metrics.backend_error("ws")
        await refuse(CloseCode.BACKEND_UNAVAILABLE)
        return
    try:
        slot = rt.services.node.limits.admit("ws", (principal.org_id, principal.user_id))
    except TooManyConnections as exc:
        await refuse(CloseCode.TOO_MANY_CONNECTIONS, exc.message)
        return
    with slot:
        await Connection(websocket, rt, principal, SUBPROTOCOLS[subprotocol]).run()
