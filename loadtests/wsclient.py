"""A lean WebSocket client (RFC 6455) on `asyncio.Protocol`, for thousands of receivers per process.

The `websockets` client and aiohttp saturate before the servers they measure: every frame costs
them a task wake-up and several awaits. Here `data_received` parses every complete frame in
the buffer and calls `on_message(payload, is_text)` inline: no task, no future, no await per
frame. What the harness needs and nothing more:

- the HTTP/1.1 upgrade (random `Sec-WebSocket-Key`, `Sec-WebSocket-Accept` checked, offered
  subprotocols, extra headers such as `Authorization`), `ws://` and `wss://`;
- masked client frames (`send_text`, `send_bytes`, synchronous writes to the transport);
- text, binary and fragmented messages, 7/16/64-bit payload lengths, ping answered with a
  pong, close recorded (`close_code`, `close_reason`, `closed_by_server`) and answered.

Not done, on purpose: UTF-8 validation of text frames and per-message compression (the
harness never offers it). `closed` resolves with the close code once the TCP connection is
gone (`None` when it ended without a close frame).

    client = WsClient(on_message=lambda payload, is_text: ...)
    await client.connect("ws://127.0.0.1:8000/v1/ws", subprotocols=("huddle.v1.json",),
                         headers={"Authorization": f"Bearer {token}"})
    client.send_text('{"id": 1, "op": "ping"}')
    client.close()
    code = await client.closed
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import ssl
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Final, cast
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask as _apply_mask  # C, from the websockets wheel
except ImportError:  # pragma: no cover - a build without the C extension
    from websockets.utils import apply_mask as _apply_mask


__all__ = ["MessageCallback", "WsClient", "WsError", "WsHandshakeError"]

MessageCallback = Callable[[bytes, bool], None]
"""`on_message(payload, is_text)`: called inline from `data_received`, once per whole message."""

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
_U16: Final = struct.Struct("!H")
_U64: Final = struct.Struct("!Q")
_MAX_HEAD: Final = 64 * 1024
CLOSE_TIMEOUT: Final = 5.0
"""Seconds to wait for the server to end TCP after the close handshake before aborting."""


class WsError(Exception):
    """The connection could not be opened or broke the protocol."""


class WsHandshakeError(WsError):
    """The server did not upgrade the connection (`status`, `headers` of its answer)."""

    def __init__(self, message: str, status: int = 0, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


def _ignore(payload: bytes, is_text: bool) -> None:
    return None


def accept_for(key: str) -> str:
    """The `Sec-WebSocket-Accept` a server must answer to `key`."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def _frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    mask = random.randbytes(4)  # masking defeats proxy cache poisoning, not an attacker here
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + _U16.pack(n)
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + _U64.pack(n)
    return head + mask + _apply_mask(payload, mask) if n else head + mask


class WsClient(asyncio.Protocol):
    """One WebSocket connection. Create it, set `on_message`, `await connect(url)`."""

    __slots__ = (
        "_buf",
        "_close_sent",
        "_close_timer",
        "_frag_parts",
        "_frag_text",
        "_handshake",
        "_key",
        "_loop",
        "_max_size",
        "_need",
        "_offered",
        "_open",
        "_paused",
        "_resumed",
        "close_code",
        "close_reason",
        "closed",
        "closed_by_server",
        "messages",
        "on_close",
        "on_message",
        "on_pong",
        "response_headers",
        "subprotocol",
        "transport",
    )

    def __init__(
        self,
        on_message: MessageCallback | None = None,
        *,
        on_close: Callable[[int | None], None] | None = None,
        max_size: int = 16 * 1024 * 1024,
    ) -> None:
        self.on_message: MessageCallback = on_message or _ignore
        self.on_close = on_close
        """Called once, with the close code (or None), when the TCP connection is gone."""
        self.on_pong: Callable[[bytes], None] | None = None
        self.transport: asyncio.Transport | None = None
        self.subprotocol: str | None = None
        self.response_headers: dict[str, str] = {}
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed_by_server = False
        """True when the server sent its close frame first (a server-initiated close)."""
        self.messages = 0
        """Whole messages delivered to `on_message`."""
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[int | None] = self._loop.create_future()
        self._handshake: asyncio.Future[None] = self._loop.create_future()
        self._buf = bytearray()
        self._need = 2
        self._open = False
        self._close_sent = False
        self._close_timer: asyncio.TimerHandle | None = None
        self._frag_parts: list[bytes] | None = None
        self._frag_text = False
        self._max_size = max_size
        self._key = ""
        self._offered: tuple[str, ...] = ()
        self._paused = False
        self._resumed: asyncio.Future[None] | None = None

    # --- opening ---------------------------------------------------------------------------

    async def connect(
        self,
        url: str,
        *,
        subprotocols: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Open the TCP connection and upgrade it; returns once the server answered 101.

        Raises `WsHandshakeError` for any other answer, `WsError` when the connection ends
        first. Bound the wait with `asyncio.timeout`."""
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise WsError(f"not a ws:// or wss:// URL: {url!r}")
        secure = parts.scheme == "wss"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        request = self.handshake_request(url, subprotocols=subprotocols, headers=headers)
        ctx = (ssl_context or ssl.create_default_context()) if secure else None
        await self._loop.create_connection(lambda: self, host, port, ssl=ctx)
        assert self.transport is not None
        self.transport.write(request)
        await self._handshake

    def handshake_request(
        self,
        url: str,
        *,
        subprotocols: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """The upgrade request for `url`, with a fresh key that the answer is checked against
        (`connect` sends it; a test may write it to a transport of its own)."""
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_name = f"[{host}]" if ":" in host else host
        host_header = host_name if port == (443 if secure else 80) else f"{host_name}:{port}"
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._offered = tuple(subprotocols)
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host_header}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self._offered:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(self._offered)}")
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    @property
    def open(self) -> bool:
        """Upgraded, and no close frame sent or received yet."""
        return self._open and not self._close_sent and self.close_code is None

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        if not self._open:
            if self._handshake.done():
                return  # closing or failed: nothing more is read
            buf += data
            if not self._read_handshake() or not buf:
                return
            data = bytes(buf)
            buf.clear()
        elif buf:
            buf += data
            if len(buf) < self._need:
                return  # the frame in progress is still incomplete
            data = bytes(buf)
            buf.clear()
        pos = self._parse(data)
        if pos < len(data):
            buf += memoryview(data)[pos:]

    def eof_received(self) -> bool | None:
        return False  # close the transport: a WebSocket has no half-closed state

    def connection_lost(self, exc: Exception | None) -> None:
        self._open = False
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if not self._handshake.done():
            self._handshake.set_exception(
                WsError(f"connection lost during the handshake: {exc or 'closed by the server'}")
            )
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)
        if not self.closed.done():
            self.closed.set_result(self.close_code)
            if self.on_close is not None:
                self.on_close(self.close_code)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    # --- handshake -------------------------------------------------------------------------

    def _read_handshake(self) -> bool:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEAD:
                self._fail_handshake(WsHandshakeError("response head too large"))
            return False
        head = bytes(buf[:end]).decode("latin-1")
        del buf[: end + 4]
        status_line, *header_lines = head.split("\r\n")
        fields = status_line.split(" ", 2)
        status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.response_headers = headers
        problem = ""
        if status != 101:
            problem = f"server answered {status_line!r}, not 101"
        elif headers.get("upgrade", "").lower() != "websocket":
            problem = "no `Upgrade: websocket` in the answer"
        elif "upgrade" not in headers.get("connection", "").lower():
            problem = "no `Connection: Upgrade` in the answer"
        elif headers.get("sec-websocket-accept") != accept_for(self._key):
            problem = "wrong Sec-WebSocket-Accept"
        else:
            chosen = headers.get("sec-websocket-protocol")
            if chosen is not None and chosen not in self._offered:
                problem = f"server selected subprotocol {chosen!r}, not offered"
            self.subprotocol = chosen
        if problem:
            self._fail_handshake(WsHandshakeError(problem, status, headers))
            return False
        self._open = True
        self._handshake.set_result(None)
        return True

    def _fail_handshake(self, exc: WsError) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    # --- frames ----------------------------------------------------------------------------

    def _parse(self, data: bytes) -> int:
        """Handle every complete frame in `data`; the offset where the incomplete tail starts
        (`len(data)` when reading must stop). Sets `_need`, the bytes the tail needs."""
        size = len(data)
        pos = 0
        on_message = self.on_message
        while size - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            n = b1 & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    self._need = 4
                    return pos
                n = (data[start] << 8) | data[start + 1]
                start += 2
            elif n == 127:
                if size - pos < 10:
                    self._need = 10
                    return pos
                (n,) = _U64.unpack_from(data, start)
                start += 8
            if b1 & 0x80:
                return self._protocol_error(1002, "masked server frame", size)
            if n > self._max_size:
                return self._protocol_error(1009, "frame too big", size)
            end = start + n
            if end > size:
                self._need = end - pos
                return pos
            payload = data[start:end]
            pos = end
            opcode = b0 & 0x0F
            if b0 & 0x70:
                return self._protocol_error(1002, "reserved bits set", size)
            if 0 < opcode < 3:  # OP_TEXT, OP_BINARY
                if self._frag_parts is not None:
                    return self._protocol_error(1002, "new message inside a fragmented one", size)
                if b0 & 0x80:
                    self.messages += 1
                    on_message(payload, opcode == OP_TEXT)
                else:
                    self._frag_parts = [payload]
                    self._frag_text = opcode == OP_TEXT
            elif opcode == OP_CONT:
                parts = self._frag_parts
                if parts is None:
                    return self._protocol_error(1002, "continuation without a message", size)
                parts.append(payload)
                if b0 & 0x80:
                    self._frag_parts = None
                    self.messages += 1
                    on_message(b"".join(parts), self._frag_text)
                elif sum(map(len, parts)) > self._max_size:
                    return self._protocol_error(1009, "message too big", size)
            elif not self._control(b0, opcode, payload):
                return size
        self._need = 2
        return pos

    def _control(self, b0: int, opcode: int, payload: bytes) -> bool:
        """A control frame; False when reading must stop."""
        if not b0 & 0x80 or len(payload) > 125:
            self._protocol_error(1002, "fragmented or long control frame")
            return False
        if opcode == OP_PING:
            if not self._close_sent:
                self._write(_frame(OP_PONG, payload))
        elif opcode == OP_PONG:
            if self.on_pong is not None:
                self.on_pong(payload)
        elif opcode == OP_CLOSE:
            code = _U16.unpack_from(payload)[0] if len(payload) >= 2 else 1005
            self.close_reason = payload[2:].decode("utf-8", "replace")
            if self.close_code is None:
                self.close_code = code
            if not self._close_sent:
                self.closed_by_server = True
                self._send_close(code if code != 1005 else None)
            self._open = False
            # The server ends TCP after the close handshake; abort if it does not.
            self._arm_close_timer()
            return False
        else:
            self._protocol_error(1002, f"unknown opcode {opcode}")
            return False
        return True

    def _protocol_error(self, code: int, reason: str, stop: int = 0) -> int:
        """Fail the connection with `code` (a close frame, then TCP closed); returns `stop`."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self._send_close(code, reason)
        self._open = False
        if self.transport is not None:
            self.transport.close()
        return stop

    # --- sending ---------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def send_text(self, text: str) -> None:
        """Send one text message (written to the transport at once)."""
        if self._open and not self._close_sent:
            self._write(_frame(OP_TEXT, text.encode()))

    def send_bytes(self, data: bytes) -> None:
        """Send one binary message (written to the transport at once)."""
        if self._open and not self._close_sent:
            self._write(_frame(OP_BINARY, data))

    def ping(self, data: bytes = b"") -> None:
        """Send a ping; its pong goes to `on_pong`."""
        if self._open and not self._close_sent:
            self._write(_frame(OP_PING, data))

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        if self._paused and self.transport is not None and not self.transport.is_closing():
            if self._resumed is None or self._resumed.done():
                self._resumed = self._loop.create_future()
            await self._resumed

    def _send_close(self, code: int | None, reason: str = "") -> None:
        if self._close_sent:
            return
        self._close_sent = True
        body = b"" if code is None else _U16.pack(code) + reason.encode()[:123]
        self._write(_frame(OP_CLOSE, body))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (synchronous); `await closed` for its end."""
        if self.transport is None or self.closed.done():
            return
        if not self._open and not self._handshake.done():
            self.transport.abort()
            return
        self._send_close(code, reason)
        self._arm_close_timer()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a cut connection)."""
        if self.transport is not None:
            self.transport.abort()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and self.transport is not None:
            self._close_timer = self._loop.call_later(CLOSE_TIMEOUT, self.transport.abort)
