"""The harness's lean WebSocket and SSE clients, against a tiny `websockets` server, a raw TCP
server that dribbles frames byte by byte, and a real Huddle node (JSON, msgpack and SSE)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import orjson
import pytest
import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from loadtests import payload
from loadtests.counters import Tally
from loadtests.sseclient import SseClient, SseError
from loadtests.wsclient import WsClient, WsHandshakeError, accept_for
from tests.support.nodes import HuddleNode, NodeFactory, bearer

pytestmark = pytest.mark.xdist_group("e2e")

WITHIN = 5.0
WS1 = {"org_id": "acme", "workspace_id": "ws1"}
PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"
STREAM = "/v1/orgs/acme/workspaces/ws1/sync/stream"


class Inbox:
    """Messages of one client, and a way to wait for them without sleeping."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    def on_message(self, data: bytes, is_text: bool) -> None:
        self.add((data, is_text))

    async def until(self, done: Callable[[list[Any]], bool], within: float = WITHIN) -> None:
        async with asyncio.timeout(within):
            while not done(self.items):
                self._changed.clear()
                await self._changed.wait()


# --- a tiny `websockets` server -------------------------------------------------------------

BIG = b"\x07" * 70_000  # 64-bit payload length
MEDIUM = "m" * 300  # 16-bit payload length


async def _script(conn: ServerConnection) -> None:
    """What the test server does on every connection."""
    await conn.send("hello")
    await conn.send(b"\x00\x01")
    await conn.send(MEDIUM)
    await conn.send(BIG)
    await conn.send(["frag", "men", "ted"])  # one text message in three frames
    pong = await conn.ping(b"are you there")
    async with asyncio.timeout(WITHIN):
        await pong
    await conn.send("pong seen")
    async for message in conn:  # echo until "bye"
        if message == "bye":
            await conn.close(4008, "slow consumer")
            return
        await conn.send(message)


def _needs_auth(conn: ServerConnection, request: Request) -> Response | None:
    if request.headers.get("Authorization") != "Bearer sesame":
        return conn.respond(401, "no\n")
    return None


@asynccontextmanager
async def ws_server() -> AsyncIterator[str]:
    async with serve(
        _script,
        "127.0.0.1",
        0,
        subprotocols=["huddle.v1.msgpack"],  # type: ignore[list-item]
        process_request=_needs_auth,
        compression=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/ws?x=1"


async def test_handshake_messages_of_every_length_fragments_ping_echo_and_close_code() -> None:
    await _exchange()


def test_the_same_exchange_on_uvloop() -> None:
    """The harness runs its clients on uvloop, whose transports are not asyncio classes."""
    uvloop.run(_exchange())


async def _exchange() -> None:
    inbox = Inbox()
    client = WsClient(inbox.on_message)
    async with ws_server() as url, asyncio.timeout(WITHIN):
        await client.connect(
            url,
            subprotocols=("huddle.v1.msgpack", "huddle.v1.json"),
            headers={"Authorization": "Bearer sesame"},
        )
        assert client.subprotocol == "huddle.v1.msgpack"
        assert client.open
        await inbox.until(lambda items: (b"pong seen", True) in items)
        client.send_text("échange")  # masked frames: the server refuses unmasked ones
        client.send_bytes(BIG)
        client.send_text("bye")
        code = await client.closed
    assert inbox.items == [
        (b"hello", True),
        (b"\x00\x01", False),
        (MEDIUM.encode(), True),
        (BIG, False),
        (b"fragmented", True),
        (b"pong seen", True),
        ("échange".encode(), True),
        (BIG, False),
    ]
    assert code == 4008
    assert (client.close_code, client.close_reason, client.closed_by_server) == (
        4008,
        "slow consumer",
        True,
    )
    assert client.messages == 8


async def test_a_refused_upgrade_raises_with_the_status() -> None:
    async with ws_server() as url, asyncio.timeout(WITHIN):
        client = WsClient()
        with pytest.raises(WsHandshakeError) as refused:
            await client.connect(url)
        assert refused.value.status == 401


async def test_a_client_close_is_answered_and_recorded_as_ours() -> None:
    inbox = Inbox()
    client = WsClient(inbox.on_message)
    async with ws_server() as url, asyncio.timeout(WITHIN):
        await client.connect(
            url, subprotocols=("huddle.v1.msgpack",), headers={"Authorization": "Bearer sesame"}
        )
        await inbox.until(lambda items: len(items) >= 1)
        client.close(1000)
        assert await client.closed == 1000
    assert not client.closed_by_server


# --- a raw server: frames split at every byte -----------------------------------------------


def _server_frame(opcode: int, data: bytes, fin: bool = True) -> bytes:
    n = len(data)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((first, n)) + data
    if n < 65536:
        return bytes((first, 126)) + struct.pack("!H", n) + data
    return bytes((first, 127)) + struct.pack("!Q", n) + data


class _Transport(asyncio.Transport):
    """Collects what a protocol writes; records that it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing


def _unmask(frame: bytes) -> tuple[int, bytes]:
    """Opcode and payload of one masked client frame with a short payload."""
    assert frame[1] & 0x80, "client frames are masked"
    n = frame[1] & 0x7F
    mask = frame[2:6]
    return frame[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(frame[6 : 6 + n]))


@pytest.mark.parametrize("split", [1, 2, 7, 100_000])
async def test_frames_split_anywhere_with_a_ping_inside_a_fragmented_message(split: int) -> None:
    """Any split point of the answer head, frame headers and payloads; a ping between two
    fragments is answered with a masked pong carrying its payload; the close is answered."""
    inbox = Inbox()
    client = WsClient(inbox.on_message)
    transport = _Transport()
    client.connection_made(transport)
    request = client.handshake_request("ws://[::1]:8080/p?q=1", headers={"X": "y"})
    assert request.startswith(b"GET /p?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\n")
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in request.split(b"\r\n")
        if line.startswith(b"Sec-WebSocket-Key:")
    )
    stream = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode()
        + _server_frame(0x1, b"a")
        + _server_frame(0x2, bytes(200), fin=False)
        + _server_frame(0x9, b"p!")
        + _server_frame(0x0, bytes(70_000))
        + _server_frame(0x1, b"z" * 126)
        + _server_frame(0x8, struct.pack("!H", 4001) + b"bye")
        + _server_frame(0x1, b"after the close: ignored")
    )
    for i in range(0, len(stream), split):
        client.data_received(stream[i : i + split])
    assert inbox.items == [(b"a", True), (bytes(70_200), False), (b"z" * 126, True)]
    assert (client.close_code, client.close_reason, client.closed_by_server) == (4001, "bye", True)
    pong = bytes(transport.written)
    assert _unmask(pong) == (0xA, b"p!")
    assert _unmask(pong[8:]) == (0x8, struct.pack("!H", 4001))
    client.connection_lost(None)
    assert client.closed.result() == 4001


async def test_a_masked_server_frame_is_a_protocol_error() -> None:
    client = WsClient()
    transport = _Transport()
    client.connection_made(transport)
    key = client.handshake_request("ws://h/").split(b"Sec-WebSocket-Key: ")[1].split(b"\r")[0]
    client.data_received(
        b"HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n"
        + b"sec-websocket-accept: "
        + accept_for(key.decode()).encode()
        + b"\r\n\r\n"
        + bytes((0x81, 0x81, 1, 2, 3, 4, 5))
    )
    assert client.close_code == 1002
    assert transport.closing
    assert _unmask(bytes(transport.written))[0] == 0x8


def test_accept_matches_rfc_6455_example() -> None:
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    key = base64.b64encode(b"0123456789abcdef").decode()
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    assert accept_for(key) == base64.b64encode(digest).decode()


# --- a real Huddle node ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HuddleNode]:
    """One `huddle serve` on memory:// for the module (started once: it takes a second)."""
    factory = NodeFactory(tmp_path_factory.mktemp("nodes"))
    try:
        started = factory.create("memory://", name="clients")
        started.launch()
        asyncio.run(started.wait_ready())
        yield started
    finally:
        factory.close()


@asynccontextmanager
async def _aborted(client: WsClient | SseClient) -> AsyncIterator[None]:
    """Drop the client's connection whatever happens (a failed test leaves no socket)."""
    try:
        yield
    finally:
        if client.transport is not None:
            client.transport.abort()


def ws_url(node: HuddleNode) -> str:
    return node.url.replace("http://", "ws://") + "/v1/ws"


async def _publish(node: HuddleNode, count: int, pub: str) -> list[str]:
    ids = []
    async with node.client(bearer("writer", admin=True)) as http:
        for seq in range(1, count + 1):
            body = {"type": "test.load", "data": payload.make(pub, seq, 200)}
            answer = await http.post(PUBLISH, json=body)
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    return ids


@pytest.mark.parametrize(
    ("subprotocol", "encode", "decode"),
    [
        ("huddle.v1.json", lambda f: orjson.dumps(f).decode(), orjson.loads),
        ("huddle.v1.msgpack", msgpack.packb, msgpack.unpackb),
    ],
)
async def test_subscribe_and_count_events_from_a_huddle_node(
    node: HuddleNode,
    subprotocol: str,
    encode: Callable[[dict[str, Any]], Any],
    decode: Callable[[bytes], Any],
) -> None:
    inbox = Inbox()
    tally = Tally()
    pub = f"pub-{subprotocol}"

    def on_message(data: bytes, is_text: bool) -> None:
        assert is_text == (subprotocol == "huddle.v1.json")
        frame = decode(data)
        if frame.get("op") == "event" and payload.is_payload(frame["event"]["data"]):
            event = frame["event"]
            p, s, t = payload.parse(event["data"])
            if p == pub:
                tally.record(p, s, "acme/ws1", event["id"], t)
        inbox.add(frame)

    client = WsClient(on_message)
    send = client.send_text if subprotocol.endswith("json") else client.send_bytes
    async with asyncio.timeout(WITHIN), _aborted(client):
        await client.connect(ws_url(node), subprotocols=(subprotocol,), headers=bearer("reader"))
        assert client.subprotocol == subprotocol
        await inbox.until(lambda items: any(f.get("op") == "hello" for f in items))
        send(encode({"id": 1, "op": "subscribe", **WS1}))
        await inbox.until(lambda items: any(f.get("id") == 1 for f in items))
        ids = await _publish(node, 20, pub)
        await inbox.until(lambda _: tally.received >= 20)
        client.close()
        assert await client.closed == 1000
    assert tally.finish({pub: 20}) == {
        "received": 20,
        "lost": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "id_regressions": 0,
        "epoch_changes": 0,
        "missed_on_close": 0,
        "server_closes": 0,
    }
    assert len(ids) == 20
    assert tally.percentiles()["p50"] > 0


async def test_a_huddle_refusal_is_a_recorded_server_close(node: HuddleNode) -> None:
    client = WsClient()
    async with asyncio.timeout(WITHIN):
        await client.connect(ws_url(node), subprotocols=("huddle.v1.json",))  # no credential
        assert await client.closed == 4504
    assert client.closed_by_server


async def test_sse_client_reads_a_huddle_stream(node: HuddleNode) -> None:
    inbox = Inbox()
    reader = SseClient(lambda event_id, event, data: inbox.add((event_id, event, data)))
    pub = "pub-sse"
    async with asyncio.timeout(WITHIN), _aborted(reader):
        await reader.connect(node.url + STREAM, headers=bearer("sse-reader"))
        assert reader.status == 200
        assert reader.headers["content-type"].startswith("text/event-stream")
        ids = await _publish(node, 10, pub)
        await inbox.until(lambda items: sum(e[1] == "test.load" for e in items) >= 10)
        assert reader.retry is not None  # the `retry:` hint came first
        reader.close()
        await reader.closed
    mine = [(i, orjson.loads(d)) for i, e, d in inbox.items if e == "test.load"]
    mine = [(i, d) for i, d in mine if d["data"]["p"] == pub]
    assert [i for i, _ in mine] == ids
    assert [d["id"] for _, d in mine] == ids
    assert [d["data"]["s"] for _, d in mine] == list(range(1, 11))


async def test_sse_client_raises_on_a_refusal(node: HuddleNode) -> None:
    async with asyncio.timeout(WITHIN):
        with pytest.raises(SseError) as refused:
            await SseClient().connect(node.url + STREAM)  # no credential
    assert refused.value.status == 401
    assert b"error" in refused.value.body


# --- SSE parsing details, fed straight to the protocol --------------------------------------


def _chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        part = body[i : i + size]
        out += f"{len(part):x};ext=1\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


@pytest.mark.parametrize("split", [1, 3, 1000])
async def test_sse_parsing_follows_the_spec_across_any_split(split: int) -> None:
    body = (
        b"\xef\xbb\xbfretry: 2500\n\n"
        b": heartbeat\r\n"
        b"id: 1:1\r\nevent: x.y\r\ndata: first\r\ndata:  two spaces\r\n\r\n"
        b"data:no space\rid\r\r"  # CR line ends; a bare `id` empties the last id
        b"id: bad\0id\ndata\n\n"  # NUL id ignored; a bare `data` is one empty line
        b'event: x\ndata: {"a": 1}\nunknown: field\nretry: soon\n\n'
        b"data: never dispatched"
    )
    raw = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + _chunked(body, 5)
    )
    events: list[tuple[str | None, str, str]] = []
    reader = SseClient(lambda i, e, d: events.append((i, e, d)))
    transport = _Transport()
    reader.connection_made(transport)
    for i in range(0, len(raw), split):
        reader.data_received(raw[i : i + split])
    assert events == [
        ("1:1", "x.y", "first\n two spaces"),
        ("", "message", "no space"),
        (None, "message", ""),
        (None, "x", '{"a": 1}'),
    ]
    assert reader.retry == 2500
    assert reader.comments == 1
    assert reader.last_event_id == ""
    assert transport.closing  # the last chunk ends the body
