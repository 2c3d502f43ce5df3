"""What the client workers of scenarios 2-4 share: a lean request/reply WebSocket client for
Huddle's ops (`WsRpc`, on `wsclient.WsClient`: replies resolve futures by id, pushed events
go to a callback inline) and a token for every workspace of the org. The JSON-lines plumbing
(spec line, commands on stdin, reports on stdout) is `fanout_worker`'s.

Not a worker itself: `workspaces_worker`, `presence_churn_worker` and `lock_contention_worker`
import it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final

import jwt
import msgpack
import orjson

from ..wsclient import WsClient
from .worker_common import ORG

__all__ = ["ORG", "CallError", "WsRpc", "org_token"]


REPLY_TIMEOUT: Final = 30.0

OnEvent = Callable[[dict[str, Any], int], None]  # event, frame size


def org_token(secret: str, user: str, *, admin: bool = False, ttl: int = 86_400) -> str:
    """A HS256 token of `user` for every workspace of the bench org (`workspaces: "*"`)."""
    now = int(time.time())
    claims = {
        "sub": user,
        "org": ORG,
        "workspaces": "*",
        "roles": ["admin", "member"] if admin else ["member"],
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


class CallError(Exception):
    """An `ok: false` reply: `code` is the error code (LOCK_HELD, LOCK_NOT_HELD ...)."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.details = details


class WsRpc:
    """One connection to a node's `/v1/ws`; `await call(op, **args)` answers the `result` or
    raises `CallError`. `on_event(event, size)` is called inline for every pushed event."""

    def __init__(self, url: str, token: str, *, binary: bool = False) -> None:
        self.url = url.replace("http://", "ws://") + "/v1/ws"
        self.token = token
        self.binary = binary
        self.on_event: OnEvent | None = None
        self.ws = WsClient(on_message=self._message)
        self._next_id = 1
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._loads: Callable[[bytes], Any] = (
            (lambda b: msgpack.unpackb(b, raw=False)) if binary else orjson.loads
        )

    async def connect(self) -> None:
        proto = "huddle.v1.msgpack" if self.binary else "huddle.v1.json"
        self.ws.on_close = self._closed
        await asyncio.wait_for(
            self.ws.connect(
                self.url,
                subprotocols=(proto,),
                headers={"Authorization": f"Bearer {self.token}"},
            ),
            REPLY_TIMEOUT,
        )

    def _message(self, data: bytes, is_text: bool) -> None:
        msg = self._loads(data)
        if msg.get("op") == "event":
            if self.on_event is not None:
                self.on_event(msg["event"], len(data))
            return
        fut = self._waiting.pop(msg.get("id"), None) if msg.get("id") is not None else None
        if fut is None or fut.done():
            return
        if msg.get("ok"):
            fut.set_result(msg.get("result"))
        else:
            err = msg.get("error") or {}
            fut.set_exception(
                CallError(str(err.get("code")), str(err.get("message")), err.get("details"))
            )

    def _closed(self, code: int | None) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection closed ({code})"))
        self._waiting.clear()

    def send(self, op: str, **args: Any) -> asyncio.Future[Any]:
        """Send one request; its future resolves with the reply's `result`."""
        request_id = self._next_id
        self._next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.ws.closed.done():
            fut.set_exception(ConnectionError("connection closed"))
            return fut
        self._waiting[request_id] = fut
        message = {"id": request_id, "op": op, **args}
        if self.binary:
            self.ws.send_bytes(msgpack.packb(message))
        else:
            self.ws.send_text(orjson.dumps(message).decode())
        return fut

    async def call(self, op: str, **args: Any) -> Any:
        return await asyncio.wait_for(self.send(op, **args), REPLY_TIMEOUT)

    @property
    def closed_by_server(self) -> int | None:
        """The close code when the server closed this connection, else None."""
        return self.ws.close_code if self.ws.closed_by_server else None

    def close(self) -> None:
        self.ws.close()

    def abort(self) -> None:
        """Cut the TCP connection without a closing handshake."""
        self.ws.abort()
