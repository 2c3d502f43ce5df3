"""One WebSocket connection of the client: decoding server frames, matching replies to
requests, and remembering why it ended."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import msgpack
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..ids import WorkspaceKey
from ..protocol.ws import Codec, Command, encode_command, is_binary
from .errors import ConnectionLost, ServerProtocolError, error_from

log = logging.getLogger("huddle.client")

PATH: Final = "/v1/ws"


def ws_url(base_url: str) -> str:
    """`http(s)://host/prefix` -> `ws(s)://host/prefix/v1/ws`."""
    parts = urlsplit(base_url)
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"{base_url!r}: expected an http(s):// or ws(s):// URL")
    return urlunsplit((schemes[parts.scheme], parts.netloc, parts.path.rstrip("/") + PATH, "", ""))


def decode_frame(message: str | bytes, codec: Codec) -> dict[str, Any]:
    """One server frame as a dict; ServerProtocolError when it is not a map."""
    try:
        if isinstance(message, bytes) and codec == "msgpack":
            raw = msgpack.unpackb(message, raw=False)
        else:
            raw = orjson.loads(message)
    except (ValueError, msgpack.UnpackException) as exc:
        raise ServerProtocolError(f"undecodable {codec} frame: {exc}") from None
    if not isinstance(raw, dict):
        raise ServerProtocolError(f"a frame must be a map, got {type(raw).__name__}")
    return raw


class ClosedBeforeHello(Exception):
    """The server accepted the handshake, then closed before `hello` (how it refuses)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code} ({reason})")
        self.code = code
        self.reason = reason


def close_of(exc: ConnectionClosed) -> tuple[int, str]:
    if exc.rcvd is None:
        return 1006, "connection lost"
    return exc.rcvd.code, exc.rcvd.reason


class Connection:
    """One open WebSocket: the replies awaited on it and the workspaces subscribed on it."""

    def __init__(self, socket: ClientConnection, codec: Codec, hello: dict[str, Any]) -> None:
        self.socket = socket
        self.codec = codec
        self.hello = hello
        self.opened = time.monotonic()
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.subscribed: set[WorkspaceKey] = set()
        self.group: asyncio.TaskGroup | None = None
        self.dropped: tuple[int, str] | None = None
        """Set when this side closed: the code to act on, as if the server had sent it."""

    async def call(self, command: Command) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[command.id] = future
        try:
            frame = encode_command(command, self.codec)
            try:
                await self.socket.send(frame if is_binary(self.codec) else frame.decode())
            except ConnectionClosed as exc:
                raise ConnectionLost(f"connection closed before {command.op} was sent") from exc
            return await future
        finally:
            self.pending.pop(command.id, None)

    def answer(self, frame: dict[str, Any]) -> None:
        request_id = frame.get("id")
        future = self.pending.get(request_id) if isinstance(request_id, int) else None
        if future is None or future.done():
            if frame.get("ok") is False:  # e.g. a frame the server could not read at all
                log.warning("error frame for no pending request: %r", frame.get("error"))
            return
        if frame.get("ok") is True:
            result = frame.get("result")
            future.set_result(result if isinstance(result, dict) else {})
        else:
            future.set_exception(error_from(frame.get("error")))

    def end(self) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionLost("the connection closed before the reply"))

    async def close(self, code: int, reason: str) -> tuple[int, str]:
        """Close from this side; the reader then acts as if the server sent `code`."""
        if self.dropped is None:
            self.dropped = (code, reason)
        await self.socket.close(1000, reason[:120])
        return self.dropped
