"""A lean Socket.IO v5 / Engine.IO v4 client over `loadtests.wsclient.WsClient`.

The official clients wake a task per packet; this one handles each WebSocket frame inline in
`WsClient.on_message` with a prefix check and, for events, one `orjson.loads`. Only what the
harness needs: the WebSocket transport opened directly (`?EIO=4&transport=websocket`, no HTTP
long-polling, no upgrade), the default namespace `/`, JSON packets (no binary attachments).

Engine.IO v4 packets (one per WebSocket text frame): `0{json}` open (sid, pingInterval,
pingTimeout, maxPayload), `1` close, `2` ping -> answered `3` pong, `4<socket.io packet>`
message, `6` noop. Socket.IO v5 packets inside `4`: `0{json}` connect (sent `40`, answered
`40{"sid": ...}`), `1` disconnect, `2[<id>]["name",args...]` event, `3<id>[args...]` ack,
`4{json}` connect error.

    client = SioClient(on_event=lambda name, data: ...)
    await client.connect("ws://127.0.0.1:8001")          # open + namespace connect
    assert await client.call("join", "w1") == [True]      # an event with an ack
    client.emit("pub", {"room": "w1", "data": {...}})     # fire and forget
    client.close()
    await client.closed

`on_event(name, data)` gets the event's first argument (None when it had none); events with
more than one argument are delivered with `data` a list of all of them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import orjson

from loadtests.wsclient import WsClient

__all__ = ["EventCallback", "SioClient", "SioError", "engineio_url"]

EventCallback = Callable[[str, Any], None]

_EVENT: Final = b"42"
_ACK: Final = b"43"
_PING: Final = b"2"
_PONG: Final = "3"
_DIGITS: Final = frozenset(b"0123456789")


class SioError(Exception):
    """The Socket.IO session could not be opened, or the server refused the namespace."""


def engineio_url(url: str, path: str = "/socket.io/") -> str:
    """`ws://host:port/socket.io/?EIO=4&transport=websocket` for a base URL (http/ws/https/wss)."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise SioError(f"not an http(s):// or ws(s):// URL: {url!r}")
    base_path = parts.path if parts.path not in ("", "/") else path
    return urlunsplit((scheme, parts.netloc, base_path, "EIO=4&transport=websocket", ""))


def _ignore(name: str, data: Any) -> None:
    return None


class SioClient:
    """One Socket.IO connection on the default namespace."""

    __slots__ = (
        "_acks",
        "_connected",
        "_ids",
        "_opened",
        "closed",
        "events",
        "handshake",
        "namespace_sid",
        "on_event",
        "pings",
        "unexpected",
        "ws",
    )

    def __init__(self, on_event: EventCallback | None = None) -> None:
        self.on_event: EventCallback = on_event or _ignore
        self.ws = WsClient(self._on_frame)
        self.closed: asyncio.Future[int | None] = self.ws.closed
        """Resolves with the WebSocket close code (None: TCP ended without a close frame)."""
        loop = asyncio.get_running_loop()
        self._opened: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._connected: asyncio.Future[str] = loop.create_future()
        self._acks: dict[int, asyncio.Future[list[Any]]] = {}
        self._ids = itertools.count()
        self.handshake: dict[str, Any] = {}
        """The Engine.IO open packet: sid, upgrades, pingInterval, pingTimeout, maxPayload."""
        self.namespace_sid = ""
        self.events = 0
        self.pings = 0
        self.unexpected = 0
        """Frames this client does not handle (binary, other namespaces, unknown types)."""

    async def connect(
        self,
        url: str,
        *,
        auth: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        path: str = "/socket.io/",
    ) -> None:
        """Open the WebSocket, read the Engine.IO open packet and connect the namespace `/`.

        `url` is the server's base URL (`http://h:p` or `ws://h:p`), or a full Socket.IO path.
        Raises SioError when the server refuses; wrap it in `asyncio.timeout` to bound it (the
        WebSocket handshake alone is bounded by WsClient's 10 s)."""
        await self.ws.connect(engineio_url(url, path), headers=headers)
        done, _ = await asyncio.wait(
            (self._opened, self.closed), return_when=asyncio.FIRST_COMPLETED
        )
        if self._opened not in done:
            raise SioError(f"closed before the Engine.IO open packet ({self.closed.result()})")
        self.handshake = self._opened.result()
        self.ws.send_text("40" + (orjson.dumps(dict(auth)).decode() if auth else ""))
        done, _ = await asyncio.wait(
            (self._connected, self.closed), return_when=asyncio.FIRST_COMPLETED
        )
        if self._connected not in done:
            raise SioError(f"closed before the namespace connect ({self.closed.result()})")
        self.namespace_sid = self._connected.result()

    # --- sending ---------------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Send an event, no ack (`42["event",args...]`)."""
        self.ws.send_text("42" + orjson.dumps([event, *args]).decode())

    async def call(self, event: str, *args: Any) -> list[Any]:
        """Send an event with an ack id and return the ack's arguments (bound the wait with
        `asyncio.timeout`)."""
        ack_id = next(self._ids)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        self.ws.send_text(f"42{ack_id}" + orjson.dumps([event, *args]).decode())
        try:
            done, _ = await asyncio.wait((future, self.closed), return_when=asyncio.FIRST_COMPLETED)
            if future not in done:
                raise SioError(f"closed before the ack of {event!r}")
            return future.result()
        finally:
            self._acks.pop(ack_id, None)

    def close(self) -> None:
        """Disconnect the namespace (`41`), close Engine.IO (`1`), then the WebSocket."""
        if self.ws.open:
            self.ws.send_text("41")
            self.ws.send_text("1")
        self.ws.close()

    # --- receiving (inline, once per frame) ------------------------------------------------

    def _on_frame(self, payload: bytes, is_text: bool) -> None:
        if payload[:2] == _EVENT and is_text:
            self.events += 1
            body = payload[2:]
            if body[:1] != b"[":  # an ack id (the server wants an answer) or a namespace
                self.unexpected += 1
                return
            message = orjson.loads(body)
            if len(message) == 2:
                self.on_event(message[0], message[1])
            else:
                self.on_event(message[0], message[1:] if len(message) > 2 else None)
            return
        if payload == _PING:
            self.pings += 1
            self.ws.send_text(_PONG)
            return
        if not is_text:
            self.unexpected += 1
            return
        self._on_other(payload)

    def _on_other(self, payload: bytes) -> None:
        kind = payload[:1]
        if kind == b"0":
            if not self._opened.done():
                self._opened.set_result(orjson.loads(payload[1:]))
        elif kind == b"1":
            self.ws.close()
        elif kind == b"6":
            pass
        elif kind == b"4":
            self._on_socketio(payload[1:])
        else:
            self.unexpected += 1

    def _on_socketio(self, packet: bytes) -> None:
        kind = packet[:1]
        body = packet[1:]
        if kind == b"0":
            sid = orjson.loads(body).get("sid", "") if body else ""
            if not self._connected.done():
                self._connected.set_result(str(sid))
        elif kind == b"3":
            digits = 0
            while digits < len(body) and body[digits] in _DIGITS:
                digits += 1
            if digits == 0:
                self.unexpected += 1
                return
            future = self._acks.get(int(body[:digits]))
            if future is not None and not future.done():
                future.set_result(orjson.loads(body[digits:]))
        elif kind == b"4":
            reason = orjson.loads(body) if body else {}
            if not self._connected.done():
                self._connected.set_exception(SioError(f"namespace connect refused: {reason}"))
            self.ws.close()
        elif kind == b"1":
            self.ws.close()
        else:
            self.unexpected += 1
