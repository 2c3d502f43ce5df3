"""RFC 6455 conformance of `/v1/ws` on a real node, modelled on the Autobahn testsuite's sections
(which cannot run here: its package is Python 2 code). Each case upgrades a plain TCP socket with
a real handshake and token, then writes frames byte by byte as the test says: control frames
(Autobahn 2), reserved bits and opcodes (3, 4), fragmentation (5), UTF-8 (6), the closing
handshake (7). A violation fails the connection with the RFC's close code and the node closes
the socket; every other client is still served and the node logs no traceback.

The size limit (Autobahn 9, close 1009) is `test_websocket.py`'s."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson
import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer

from .test_websocket import ws_client

pytestmark = pytest.mark.xdist_group("e2e")

TEXT: Final = 0x1
BINARY: Final = 0x2
CONT: Final = 0x0
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA

PROTOCOL_ERROR: Final = 1002
INVALID_DATA: Final = 1007
WITHIN: Final = 10.0
PING_REQUEST: Final = b'{"id":1,"op":"ping"}'


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, masked: bool = True
) -> bytes:
    """One client frame as RFC 6455 section 5.2 lays it out; `rsv` is the 3 reserved bits."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
    return frame(CLOSE, b"" if code is None else struct.pack("!H", code) + reason)


@dataclass(frozen=True)
class Received:
    """A frame from the node (which never masks nor sets reserved bits: `recv` checks)."""

    fin: bool
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        assert self.opcode == CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if self.payload else None


class RawWebSocket:
    """A client that speaks frames, not messages: it writes whatever bytes a case needs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))
        await self.writer.drain()

    async def recv(self) -> Received:
        """The next frame, within WITHIN seconds."""
        async with asyncio.timeout(WITHIN):
            first, second = await self.reader.readexactly(2)
            assert not second & 0x80, "a server frame is masked (RFC 6455 5.1)"
            assert not first & 0x70, "reserved bits set with no extension (RFC 6455 5.2)"
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(size)
        return Received(bool(first & 0x80), first & 0x0F, payload)

    async def recv_json(self) -> dict[str, Any]:
        got = await self.recv()
        assert got.opcode == TEXT and got.fin, got
        decoded: dict[str, Any] = orjson.loads(got.payload)
        return decoded

    async def closed_with(self) -> int | None:
        """Read past data frames to the node's close frame; its code, once the node has also
        closed the TCP connection (RFC 6455 7.1.1: the server closes it first)."""
        while (got := await self.recv()).opcode != CLOSE:
            assert got.opcode in (TEXT, BINARY), f"unexpected frame before the close: {got}"
        async with asyncio.timeout(WITHIN):
            rest = await self.reader.read()
        assert rest == b"", f"bytes after the close frame: {rest!r}"
        return got.close_code


@contextlib.asynccontextmanager
async def raw_ws(node: HuddleNode, user: str = "raw") -> AsyncIterator[RawWebSocket]:
    """A connection past the upgrade (101, `huddle.v1.json`) and the node's `hello`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: huddle.v1.json\r\n"
                f"Authorization: {bearer(user)['Authorization']}\r\n\r\n"
            ).encode()
        )
        async with asyncio.timeout(WITHIN):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert b"sec-websocket-protocol: huddle.v1.json" in head.lower(), head
        client = RawWebSocket(reader, writer)
        hello = await client.recv_json()
        assert hello["op"] == "hello" and hello["user_id"] == user, hello
        yield client
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def assert_still_serving(node: HuddleNode) -> None:
    """Another client is answered, and nothing the case did left a traceback in the log."""
    async with ws_client(node, "bystander") as bystander:
        assert (await bystander.request("ping"))["result"] == {"pong": True}
    assert node.alive
    assert "Traceback" not in node.log(), node.log()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HuddleNode]:
    """One node for every case of the module: it must outlive them all, and 50 node starts
    would cost more than the cases. `assert_still_serving` shows its log when it fails."""
    factory = NodeFactory(tmp_path_factory.mktemp("conformance"))
    try:
        # No event loop runs during a module fixture's setup: start the node on one of its own.
        yield asyncio.run(factory.start("memory://", name="conformance"))
    finally:
        factory.close()


# --- Autobahn 2: pings and pongs ------------------------------------------------------------


@pytest.mark.parametrize(
    "payload", [b"", b"Hello, world!", bytes(range(256))[:125]], ids=["empty", "text", "125-bytes"]
)
async def test_a_ping_is_answered_with_a_pong_carrying_its_payload(
    node: HuddleNode, payload: bytes
) -> None:
    """RFC 6455 5.5.2: a Pong answers a Ping, with the same application data (up to 125)."""
    async with raw_ws(node) as ws:
        await ws.send(frame(PING, payload))
        pong = await ws.recv()
        assert (pong.opcode, pong.fin, pong.payload) == (PONG, True, payload)
    await assert_still_serving(node)


async def test_an_unsolicited_pong_is_ignored(node: HuddleNode) -> None:
    """RFC 6455 5.5.3: a Pong nobody asked for needs no answer and breaks nothing: the next
    request is answered as if it had not come."""
    async with raw_ws(node) as ws:
        await ws.send(frame(PONG, b"unsolicited"), frame(TEXT, PING_REQUEST))
        reply = await ws.recv_json()
        assert reply == {"id": 1, "ok": True, "result": {"pong": True}}
    await assert_still_serving(node)


# --- Autobahn 2-5 and 7: frames the node must refuse with 1002 ------------------------------

#: Codes a Close may not carry (RFC 6455 7.4.1, 7.4.2): unassigned, reserved for other uses,
#: or meaning "no code" / "no close" / "TLS failed", which never go on the wire.
INVALID_CLOSE_CODES: Final = (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)
PROTOCOL_ERRORS: Final = {
    "ping-payload-over-125": frame(PING, b"x" * 126),
    "rsv1-on-text": frame(TEXT, PING_REQUEST, rsv=1),
    "rsv2-on-text": frame(TEXT, PING_REQUEST, rsv=2),
    "rsv3-on-text": frame(TEXT, PING_REQUEST, rsv=4),
    "all-rsv-on-ping": frame(PING, b"p", rsv=7),
    "reserved-data-opcode-3": frame(0x3, b"x"),
    "reserved-data-opcode-7": frame(0x7, b"x"),
    "reserved-control-opcode-b": frame(0xB, b"x"),
    "reserved-control-opcode-f": frame(0xF, b"x"),
    "unmasked-text": frame(TEXT, PING_REQUEST, masked=False),
    "unmasked-ping": frame(PING, b"p", masked=False),
    "fragmented-ping": frame(PING, b"a", fin=False) + frame(CONT, b"b"),
    "fragmented-pong": frame(PONG, b"a", fin=False) + frame(CONT, b"b"),
    "continuation-without-start": frame(CONT, PING_REQUEST),
    "unfinished-continuation-without-start": frame(CONT, b"{", fin=False),
    "text-while-a-message-is-unfinished": frame(TEXT, b'{"id":1,', fin=False)
    + frame(TEXT, b'"op":"ping"}'),
    "close-with-1-byte-payload": frame(CLOSE, b"\x03"),
    **{f"close-with-invalid-code-{code}": close_frame(code) for code in INVALID_CLOSE_CODES},
}


@pytest.mark.parametrize("frames", PROTOCOL_ERRORS.values(), ids=PROTOCOL_ERRORS.keys())
async def test_a_protocol_violation_fails_the_connection_with_1002(
    node: HuddleNode, frames: bytes
) -> None:
    """RFC 6455 5.2, 5.4, 5.5, 7.4.1: a frame the RFC forbids fails the connection: close
    1002, then the node closes the socket; the request in it, if any, is not answered."""
    async with raw_ws(node) as ws:
        await ws.send(frames)
        assert await ws.closed_with() == PROTOCOL_ERROR
    await assert_still_serving(node)


# --- Autobahn 5: fragmentation ---------------------------------------------------------------


async def test_a_message_in_many_fragments_with_a_ping_between_is_one_request(
    node: HuddleNode,
) -> None:
    """RFC 6455 5.4: a text message split into fragments (an empty one among them), with a
    control frame injected between two, is one message: the Ping is answered at once, the
    request once, when its last fragment arrives."""
    parts = [PING_REQUEST[i : i + 3] for i in range(0, len(PING_REQUEST), 3)]
    parts.insert(2, b"")
    first, *middle, last = parts
    async with raw_ws(node) as ws:
        await ws.send(frame(TEXT, first, fin=False))
        await ws.send(*(frame(CONT, part, fin=False) for part in middle[:3]))
        await ws.send(frame(PING, b"between"))
        pong = await ws.recv()
        assert (pong.opcode, pong.payload) == (PONG, b"between")
        await ws.send(*(frame(CONT, part, fin=False) for part in middle[3:]))
        await ws.send(frame(CONT, last))
        assert await ws.recv_json() == {"id": 1, "ok": True, "result": {"pong": True}}
        await ws.send(frame(TEXT, b'{"id":2,"op":"ping"}'))
        assert (await ws.recv_json())["id"] == 2, "exactly one reply per message"
    await assert_still_serving(node)


# --- Autobahn 6: UTF-8 -------------------------------------------------------------------------

INVALID_UTF8: Final = {
    "single-frame": frame(TEXT, b'{"id":1,"op":"ping","x":"\xff"}'),
    "surrogate": frame(TEXT, b'{"id":1,"op":"ping","x":"\xed\xa0\x80"}'),
    "overlong": frame(TEXT, b'{"id":1,"op":"ping","x":"\xc0\xaf"}'),
    "truncated-at-the-end": frame(TEXT, b'{"id":1,"op":"ping"}\xce'),
    "split-across-fragments": frame(TEXT, b'{"id":1,"op":"ping","x":"\xce', fin=False)
    + frame(CONT, b'\xff"}'),
    "in-a-close-reason": close_frame(1000, b"bye \xff"),
}


@pytest.mark.parametrize("frames", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
async def test_invalid_utf8_text_fails_the_connection_with_1007(
    node: HuddleNode, frames: bytes
) -> None:
    """RFC 6455 8.1: text (a text message, or a close reason) that is not UTF-8 fails the
    connection with 1007; the request in it is not answered."""
    async with raw_ws(node) as ws:
        await ws.send(frames)
        assert await ws.closed_with() == INVALID_DATA
    await assert_still_serving(node)


async def test_valid_utf8_split_inside_a_character_is_one_message(node: HuddleNode) -> None:
    """RFC 6455 5.6: fragment boundaries may cut a UTF-8 sequence; the message is whole."""
    text = '{"id":1,"op":"ping","note":"κόσμε"}'.encode()
    cut = text.index("ό".encode()) + 1
    async with raw_ws(node) as ws:
        await ws.send(frame(TEXT, text[:cut], fin=False), frame(CONT, text[cut:]))
        assert (await ws.recv_json())["id"] == 1
    await assert_still_serving(node)


# --- Autobahn 7: the closing handshake -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [(None, b""), (1000, b""), (1000, b"bye"), (1001, b""), (1011, b""), (3000, b""),
     (3999, b""), (4000, b""), (4999, "κόσμε".encode())],
)  # fmt: skip
async def test_a_valid_close_is_echoed_and_the_node_closes_the_socket(
    node: HuddleNode, code: int | None, reason: bytes
) -> None:
    """RFC 6455 5.5.1, 7.4: a Close with a valid code (or none) gets a Close back, echoing
    the code; then the server closes the TCP connection."""
    async with raw_ws(node) as ws:
        await ws.send(close_frame(code, reason))
        assert await ws.closed_with() == code
    await assert_still_serving(node)


async def test_nothing_is_answered_after_the_close(node: HuddleNode) -> None:
    """RFC 6455 1.4, 5.5.1: frames after a Close are not processed: a request sent behind it
    gets no reply, only the echoed Close."""
    async with raw_ws(node) as ws:
        await ws.send(close_frame(1000), frame(TEXT, PING_REQUEST), frame(PING, b"late"))
        got = await ws.recv()
        assert got.opcode == CLOSE and got.close_code == 1000, got
        async with asyncio.timeout(WITHIN):
            assert await ws.reader.read() == b""
    await assert_still_serving(node)
