"""The load-test baselines, each a real child process on a free port, spoken to by the lean
clients the harness uses: every payload a publisher sends reaches each subscriber of its room
once, in order, and nothing reaches another room. No child outlives its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgpack
import orjson
import pytest

from loadtests import baselines, payload
from loadtests.baselines import (
    MAX_FRAME,
    READY_PREFIX,
    BadPublish,
    decode_publish,
    encode_publish,
)
from loadtests.baselines.engineio_client import SioClient, engineio_url
from loadtests.sseclient import SseClient
from loadtests.wsclient import WsClient, WsHandshakeError
from tests.support.redis_server import RedisServer, free_port, unique_prefix
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
EVENTS = 200
PAD = 200
STARTUP = 20.0
DELIVERY = 15.0

process_tests = pytest.mark.xdist_group("loadtests")


# --- child processes ---------------------------------------------------------------------------


@dataclass
class Baseline:
    proc: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@contextlib.asynccontextmanager
async def baseline(module: str, tmp_path: Path, *args: str) -> AsyncIterator[Baseline]:
    """`python -m loadtests.baselines.<module> --port P`, ready once it printed its READY line
    and answers /healthz; stopped by pid (SIGTERM, then SIGKILL) whatever happens."""
    port = free_port()
    log = tmp_path / f"{module}.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", f"loadtests.baselines.{module}", "--port", str(port), *args),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Baseline(proc, port, log)
    try:

        async def ready() -> bool:
            if proc.returncode is not None:
                raise AssertionError(f"{module} exited with {proc.returncode}:\n{server.output()}")
            return f"{READY_PREFIX}http://127.0.0.1:{port}" in server.output()

        await wait_until(ready, within=STARTUP, what=f"{module} to print its ready line")
        async with httpx.AsyncClient(timeout=5.0) as http:
            answer = await http.get(f"{server.http}/healthz")
        assert answer.status_code == 200, answer.text
        assert answer.text == "ok\n"
        yield server
    finally:
        hung = False
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                hung = True
                proc.kill()
                await proc.wait()
        assert _gone(proc.pid), f"{module} (pid {proc.pid}) outlived its test"
        assert not hung, f"{module} ignored SIGTERM for 10 s:\n{server.output()}"
        # uvicorn re-raises the SIGTERM it handled once it has shut down: -15, not 0
        assert proc.returncode in (0, -signal.SIGTERM), f"{module} exited {proc.returncode}"


# --- receivers ---------------------------------------------------------------------------------


@dataclass
class Received:
    """Sequence numbers of one publisher's payloads, as one subscriber got them."""

    last: int
    seqs: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, data: Any) -> None:
        _, seq, _ = payload.parse(data)
        self.seqs.append(seq)
        if seq == self.last:
            self.done.set()

    async def complete(self) -> list[int]:
        async with asyncio.timeout(DELIVERY):
            await self.done.wait()
        return self.seqs


def ws_receiver(received: Received, *, binary: bool = False) -> Callable[[bytes, bool], None]:
    def on_message(frame: bytes, is_text: bool) -> None:
        assert is_text is not binary, f"frame type: text={is_text}"
        received.add(msgpack.unpackb(frame, raw=False) if binary else orjson.loads(frame))

    return on_message


def payloads(pub: str, count: int = EVENTS) -> list[dict[str, Any]]:
    return [payload.make(pub, seq, PAD) for seq in range(1, count + 1)]


EXPECTED = list(range(1, EVENTS + 1))


# --- the shared publish frames -----------------------------------------------------------------


def test_publish_frames_round_trip_and_encode_data_once_in_the_frames_codec() -> None:
    data = payload.make("p1", 7, PAD)
    text = encode_publish("w1", data)
    assert isinstance(text, str)
    assert decode_publish(text, True) == ("w1", orjson.dumps(data))
    binary = encode_publish("w1", data, binary=True)
    assert isinstance(binary, bytes)
    assert decode_publish(binary, False) == ("w1", msgpack.packb(data, use_bin_type=True))
    assert len(orjson.dumps(data)) == PAD
    bad_frames: list[tuple[str | bytes, bool]] = [
        ("{", True),
        ("[1]", True),
        ('{"data": 1}', True),
        (b"\xc1", False),
    ]
    for bad, is_text in bad_frames:
        with pytest.raises(BadPublish):
            decode_publish(bad, is_text)


def test_baselines_copy_huddles_defaults() -> None:
    from huddle.config import Settings

    fields = Settings.model_fields
    assert fields["max_body_bytes"].default == baselines.MAX_FRAME
    assert fields["log_level"].default == baselines.LOG_LEVEL
    assert fields["event_log_length"].default == baselines.EVENT_LOG_LENGTH
    assert fields["sse_heartbeat"].default == baselines.SSE_HEARTBEAT
    assert fields["sse_retry"].default == baselines.SSE_RETRY


def test_engineio_url_points_at_the_websocket_transport() -> None:
    want = "ws://127.0.0.1:9/socket.io/?EIO=4&transport=websocket"
    assert engineio_url("http://127.0.0.1:9") == want
    assert engineio_url("ws://127.0.0.1:9/") == want
    assert engineio_url("https://h/x/") == "wss://h/x/?EIO=4&transport=websocket"


class _FakeWs:
    """Stands in for the WebSocket under a SioClient: records what the client sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closes = 0
        self.open = True
        self.answers: dict[str, bytes] = {}
        self.feed: Callable[[bytes, bool], None] | None = None

    def send_text(self, text: str) -> None:
        self.sent.append(text)
        answer = self.answers.get(text)
        if answer is not None and self.feed is not None:
            self.feed(answer, True)  # the server's answer, as if it came back at once

    def close(self) -> None:
        self.closes += 1


async def test_sio_client_parses_each_packet_inline() -> None:
    events: list[tuple[str, Any]] = []
    client = SioClient(lambda name, data: events.append((name, data)))
    fake = _FakeWs()
    client.ws = fake  # type: ignore[assignment]
    feed = client._on_frame

    feed(b'0{"sid":"e1","upgrades":[],"pingInterval":20000,"pingTimeout":20000}', True)
    assert client._opened.result()["sid"] == "e1"
    feed(b'40{"sid":"s1"}', True)
    assert client._connected.result() == "s1"
    feed(b"2", True)
    assert fake.sent == ["3"]  # pong
    feed(b'42["event",{"p":"a","s":1}]', True)
    feed(b'42["bare"]', True)
    feed(b'42["many",1,2]', True)
    assert events == [("event", {"p": "a", "s": 1}), ("bare", None), ("many", [1, 2])]
    assert client.events == 3 and client.pings == 1

    fake.feed = feed
    fake.answers['420["join","w1"]'] = b"430[true]"
    async with asyncio.timeout(1):
        assert await client.call("join", "w1") == [True]
    assert fake.sent[-1] == '420["join","w1"]'

    client.emit("pub", {"room": "w1"})
    assert fake.sent[-1] == '42["pub",{"room":"w1"}]'
    feed(b"6", True)  # noop
    feed(b"\x00\x01", False)  # binary attachments: not handled, counted
    feed(b'42/admin,["x",1]', True)  # another namespace: counted
    assert client.unexpected == 2
    feed(b"41", True)  # the server disconnected the namespace
    assert fake.closes == 1


# --- raw websockets ----------------------------------------------------------------------------


@process_tests
async def test_raw_ws_broadcasts_each_payload_once_in_order_to_its_room_only(
    tmp_path: Path,
) -> None:
    async with baseline("raw_ws", tmp_path) as server:
        json_sub = Received(EVENTS)
        msgpack_sub = Received(EVENTS)
        other = Received(EVENTS)
        clients = [
            WsClient(ws_receiver(json_sub)),
            WsClient(ws_receiver(msgpack_sub, binary=True)),
            WsClient(ws_receiver(other)),
        ]
        await clients[0].connect(f"{server.ws}/sub/w1")
        await clients[1].connect(f"{server.ws}/sub/w2")
        await clients[2].connect(f"{server.ws}/sub/w3")
        publisher = WsClient()
        await publisher.connect(f"{server.ws}/pub")
        for data in payloads("p1"):
            frame = encode_publish("w1", data)
            assert isinstance(frame, str)
            publisher.send_text(frame)
        for data in payloads("p2"):
            frame = encode_publish("w2", data, binary=True)
            assert isinstance(frame, bytes)
            publisher.send_bytes(frame)

        assert await json_sub.complete() == EXPECTED
        assert await msgpack_sub.complete() == EXPECTED
        assert other.seqs == []
        assert clients[0].messages == EVENTS  # nothing but the payloads

        publisher.send_text("not json")
        async with asyncio.timeout(DELIVERY):
            assert await publisher.closed == 1003
        for client in clients:
            client.close()
        async with asyncio.timeout(DELIVERY):
            await asyncio.gather(*(client.closed for client in clients))


@process_tests
async def test_raw_ws_refuses_unknown_paths_and_keeps_huddles_frame_limit(tmp_path: Path) -> None:
    async with baseline("raw_ws", tmp_path) as server:
        with pytest.raises(WsHandshakeError) as refused:
            await WsClient().connect(f"{server.ws}/elsewhere")
        assert refused.value.status == 404
        sub = WsClient()
        await sub.connect(f"{server.ws}/sub/w1")
        big = WsClient()
        await big.connect(f"{server.ws}/pub")
        big.send_text(orjson.dumps({"room": "w1", "data": "x" * MAX_FRAME}).decode())
        async with asyncio.timeout(DELIVERY):
            assert await big.closed == 1009
        assert sub.messages == 0
        sub.close()
        async with asyncio.timeout(DELIVERY):
            await sub.closed


# --- bare Starlette ----------------------------------------------------------------------------


@process_tests
async def test_bare_starlette_fans_out_over_ws_json_ws_msgpack_and_sse(tmp_path: Path) -> None:
    async with baseline("bare_starlette", tmp_path) as server:
        json_sub, msgpack_sub, other = Received(EVENTS), Received(EVENTS), Received(EVENTS)
        sse_sub = Received(EVENTS)
        sse_ids: list[str | None] = []

        def on_event(event_id: str | None, event: str, data: str) -> None:
            assert event == "message"
            sse_ids.append(event_id)
            sse_sub.add(data)

        ws_clients = [
            WsClient(ws_receiver(json_sub)),
            WsClient(ws_receiver(msgpack_sub, binary=True)),
            WsClient(ws_receiver(other)),
        ]
        await ws_clients[0].connect(f"{server.ws}/ws/w1")
        await ws_clients[1].connect(f"{server.ws}/ws/w1?codec=msgpack")
        await ws_clients[2].connect(f"{server.ws}/ws/w2")
        sse = SseClient(on_event)
        await sse.connect(f"{server.http}/sse/w1")
        publisher = WsClient()
        await publisher.connect(f"{server.ws}/pub")
        for data in payloads("p1"):
            # JSON and msgpack publish frames alike; subscribers get their own codec
            publisher.send_bytes(msgpack.packb({"room": "w1", "data": data}))
            publisher.send_text(orjson.dumps({"room": "w9", "data": data}).decode())

        assert await json_sub.complete() == EXPECTED
        assert await msgpack_sub.complete() == EXPECTED
        assert await sse_sub.complete() == EXPECTED
        assert sse_ids == [str(n) for n in EXPECTED]
        assert other.seqs == []
        assert ws_clients[0].messages == EVENTS

        # the stream and the sockets stay open: SIGTERM must end them (checked on the way out)
    async with asyncio.timeout(DELIVERY):
        codes = await asyncio.gather(publisher.closed, *(c.closed for c in ws_clients))
        await sse.closed
    assert set(codes) <= {1001, 1012}, codes  # going away / service restart


@process_tests
async def test_bare_starlette_rest_publish_and_polls_after_an_id(tmp_path: Path) -> None:
    async with baseline("bare_starlette", tmp_path) as server:
        sub = Received(EVENTS)
        client = WsClient(ws_receiver(sub))
        await client.connect(f"{server.ws}/ws/w1")
        async with httpx.AsyncClient(base_url=server.http, timeout=10.0) as http:
            sent = payloads("p1")
            for n, data in enumerate(sent, start=1):
                answer = await http.post("/pub/w1", content=orjson.dumps(data))
                assert answer.status_code == 200
                assert answer.json() == {"id": n}
            assert await sub.complete() == EXPECTED

            page = (await http.get("/events/w1", params={"after": 0, "limit": 1000})).json()
            assert [e["id"] for e in page["events"]] == EXPECTED
            assert [e["data"] for e in page["events"]] == sent
            assert page["next"] == EVENTS and page["reset"] is False
            page = (await http.get("/events/w1", params={"after": EVENTS - 2})).json()
            assert [e["id"] for e in page["events"]] == [EVENTS - 1, EVENTS]

            # a poll at the head waits, then answers nothing new
            page = (await http.get("/events/w1", params={"after": EVENTS, "wait": 0.05})).json()
            assert page == {"events": [], "next": EVENTS, "reset": False}
            # a long poll at the head is answered by the next publish (whether it was parked
            # before the publish or came after it, it gets exactly that event)
            poll = asyncio.create_task(http.get("/events/w1", params={"after": EVENTS, "wait": 10}))
            extra = payload.make("p2", 1, PAD)
            answer = await http.post(
                "/pub/w1",
                content=msgpack.packb(extra),
                headers={"content-type": "application/msgpack"},
            )
            assert answer.json() == {"id": EVENTS + 1}
            async with asyncio.timeout(DELIVERY):
                page = (await poll).json()
            assert page["events"] == [{"id": EVENTS + 1, "data": extra}]
            assert page["next"] == EVENTS + 1

            assert (await http.post("/pub/w1", content=b"{")).status_code == 400
            assert (await http.get("/events/w1", params={"after": "x"})).status_code == 400
        client.close()
        async with asyncio.timeout(DELIVERY):
            await client.closed


# --- python-socketio ---------------------------------------------------------------------------


@process_tests
async def test_socketio_emits_each_payload_once_in_order_to_room_members(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    channel = f"sio-{unique_prefix()}"
    async with baseline(
        "socketio_server", tmp_path, "--redis", redis_server.url(), "--channel", channel
    ) as server:
        member, other = Received(EVENTS), Received(EVENTS)
        names: set[str] = set()

        def receiver(into: Received) -> Callable[[str, Any], None]:
            def on_event(name: str, data: Any) -> None:
                names.add(name)
                into.add(data)

            return on_event

        sub, outsider, publisher = (
            SioClient(receiver(member)),
            SioClient(receiver(other)),
            SioClient(),
        )
        async with asyncio.timeout(DELIVERY):
            for client in (sub, outsider, publisher):
                await client.connect(server.http)
            assert sub.handshake["pingInterval"] == 20_000
            assert sub.namespace_sid
            assert await sub.call("join", "w1") == [True]
            assert await outsider.call("join", "w2") == [True]
        sent = payloads("p1")
        for data in sent[:-1]:
            publisher.emit("pub", {"room": "w1", "data": data})
        async with asyncio.timeout(DELIVERY):
            assert await publisher.call("pub", {"room": "w1", "data": sent[-1]}) == [True]
        assert await member.complete() == EXPECTED
        assert names == {"event"}
        assert other.seqs == []
        assert sub.unexpected == 0

        for client in (sub, outsider, publisher):
            client.close()
        async with asyncio.timeout(DELIVERY):
            await asyncio.gather(*(c.closed for c in (sub, outsider, publisher)))


@process_tests
async def test_socketio_baseline_refuses_to_start_without_redis(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "loadtests.baselines.socketio_server", "--port", "1"),
        *("--redis", dead),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode != 0
    assert b"does not answer PING" in err
