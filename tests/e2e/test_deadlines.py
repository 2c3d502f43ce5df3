"""Slow and hostile clients cost bounded time and memory: sockets that send nothing, trickle a
request, send a huge header or promise a body they never send are closed within their
deadline; a reader that stops reading an SSE stream or a WebSocket is cut within the send
deadline and counted as a slow consumer. Everyone else is served meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Final

import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.waiting import wait_until

from .test_websocket import WS1, ws_client

pytestmark = pytest.mark.xdist_group("e2e")

FAST: Final = {"header_timeout": 1, "body_timeout": 1, "send_timeout": 2}
PUBLISH: Final = "/v1/orgs/acme/workspaces/ws1/events"


class RawClient:
    """A TCP client that sends what a test says, when it says, and sees the node close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = b""

    async def closed_within(self, seconds: float) -> bool:
        """Read until the node closes the connection (True) or `seconds` pass (False)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while chunk := await self.reader.read(65536):
                    self.received += chunk
                return True
        return False

    def send(self, data: bytes) -> None:
        self.writer.write(data)


@contextlib.asynccontextmanager
async def raw(node: HuddleNode, rcvbuf: int | None = None) -> AsyncIterator[RawClient]:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", node.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        yield RawClient(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def metric(node: HuddleNode, line_start: str) -> float:
    async with node.client() as http:
        text = (await http.get("/metrics")).text
    return float(next(x for x in text.splitlines() if x.startswith(line_start)).split()[-1])


async def test_a_socket_that_sends_nothing_or_part_of_a_request_is_closed(
    nodes: NodeFactory,
) -> None:
    a = await nodes.start("memory://", name="a", **FAST)
    async with raw(a) as idle, raw(a) as partial:
        partial.send(b"GET /healthz HT")
        started = time.monotonic()
        assert await idle.closed_within(5) and await partial.closed_within(5)
        assert time.monotonic() - started < 4
    assert idle.received == b""
    assert partial.received.startswith(b"HTTP/1.1 408 ")
    async with a.client() as http:
        assert (await http.get("/healthz")).status_code == 200, "others are served"


async def test_a_request_trickled_byte_by_byte_is_cut_at_the_header_deadline(
    nodes: NodeFactory,
) -> None:
    """A slowloris client sends a header byte every 0.2 s: progress does not extend the
    deadline, which runs from the connection's start."""
    a = await nodes.start("memory://", name="a", **FAST)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    async with raw(a) as slow:
        started = time.monotonic()
        for byte in request:
            slow.send(bytes([byte]))
            if await slow.closed_within(0.2):
                break
        took = time.monotonic() - started
    assert slow.received.startswith(b"HTTP/1.1 408 "), slow.received[:60]
    assert took < 3


async def test_a_huge_header_is_refused_before_it_is_read(nodes: NodeFactory) -> None:
    """Past `HUDDLE_MAX_HEADER_BYTES` of an unfinished head the node answers 431 and closes:
    what the client would send next is never read (nor buffered)."""
    a = await nodes.start("memory://", name="a", max_header_bytes=8192)
    async with raw(a) as big:
        big.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 12_000)
        assert await big.closed_within(5)
    assert big.received.startswith(b"HTTP/1.1 431 ")
    within = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 4000 + b"\r\n\r\n"
    async with raw(a) as fine:
        fine.send(within)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while b"\r\n\r\n" not in fine.received:
                    fine.received += await fine.reader.read(65536)
    assert fine.received.startswith(b"HTTP/1.1 200 ")


async def test_a_body_that_never_comes_is_not_waited_for(nodes: NodeFactory) -> None:
    a = await nodes.start("memory://", name="a", **FAST)
    token = bearer("svc", admin=True)["Authorization"]
    async with raw(a) as liar:
        liar.send(
            f"POST {PUBLISH} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"type":'.encode()
        )
        started = time.monotonic()
        assert await liar.closed_within(5)
        assert time.monotonic() - started < 4


async def test_an_sse_reader_that_stops_reading_is_cut_at_the_send_deadline(
    nodes: NodeFactory,
) -> None:
    a = await nodes.start("memory://", name="a", **FAST)
    token = bearer("stalled")["Authorization"]
    async with raw(a, rcvbuf=4096) as stalled:
        stalled.send(
            f"GET /v1/orgs/acme/workspaces/ws1/sync/stream?presence=false HTTP/1.1\r\n"
            f"Host: x\r\nAuthorization: {token}\r\n\r\n".encode()
        )

        async def streaming() -> bool:
            return await metric(a, 'huddle_connections{transport="sse"}') == 1

        await wait_until(streaming, within=10, what="the stream to open")
        blob = "x" * 30_000
        async with a.client(bearer("svc", admin=True)) as http:
            for _ in range(150):  # 4.5 MB: far more than the socket buffers hold
                answer = await http.post(PUBLISH, json={"type": "test.big", "data": {"b": blob}})
                assert answer.status_code == 201

        async def cut() -> bool:
            slow = await metric(a, 'huddle_slow_consumer_disconnects_total{transport="sse"}')
            return slow == 1 and await metric(a, 'huddle_connections{transport="sse"}') == 0

        await wait_until(cut, within=15, what="the stalled stream to be cut")


async def test_a_websocket_reader_that_stops_reading_is_cut_at_the_send_deadline(
    nodes: NodeFactory,
) -> None:
    """150 events of 30 KB: far below the outbox limit (so not the 4008 path), far above what
    the socket buffers hold: the send deadline cuts the reader, a bystander gets everything."""
    a = await nodes.start("memory://", name="a", **FAST)
    small = socket.socket()
    small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    small.connect(("127.0.0.1", a.port))
    async with (
        ws_client(a, "stalled", sock=small, max_queue=1) as stalled,
        ws_client(a, "bystander") as bystander,
    ):
        for client in (stalled, bystander):
            assert (await client.request("subscribe", **WS1))["ok"]
        blob = "x" * 30_000
        async with a.client(bearer("svc", admin=True)) as http:
            for _ in range(150):
                answer = await http.post(PUBLISH, json={"type": "test.big", "data": {"b": blob}})
                assert answer.status_code == 201
        await bystander.until(lambda c: len(c.events) >= 150, within=30)

        async def cut() -> bool:
            slow = await metric(a, 'huddle_slow_consumer_disconnects_total{transport="ws"}')
            return slow == 1 and await metric(a, 'huddle_connections{transport="ws"}') == 1

        await wait_until(cut, within=15, what="the stalled WebSocket to be cut")
