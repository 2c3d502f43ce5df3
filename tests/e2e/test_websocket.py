"""The WebSocket protocol on real nodes: delivery across nodes in order and exactly once,
resume from the last id, bad frames answered without disturbing anyone, slow consumers cut."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import orjson
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"
WS1 = {"org_id": "acme", "workspace_id": "ws1"}


def token(user: str = "reader", **kwargs: Any) -> str:
    return bearer(user, **kwargs)["Authorization"].split()[1]


class Client:
    """A raw protocol client: requests with ids, replies matched, events collected."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.replies: dict[int, dict[str, Any]] = {}
        self.hello_id = ""

    async def send(self, op: str, **args: Any) -> int:
        self.next_id += 1
        await self.conn.send(orjson.dumps({"id": self.next_id, "op": op, **args}).decode())
        return self.next_id

    async def read(self) -> dict[str, Any]:
        frame = orjson.loads(await self.conn.recv())
        if frame.get("op") == "event":
            self.events.append(frame["event"])
        elif "id" in frame and frame["id"] is not None:
            self.replies[frame["id"]] = frame
        return frame

    async def request(self, op: str, **args: Any) -> dict[str, Any]:
        request_id = await self.send(op, **args)
        async with asyncio.timeout(10):
            while request_id not in self.replies:
                await self.read()
        return self.replies[request_id]

    async def until(self, done: Any, within: float = 30) -> None:
        async with asyncio.timeout(within):
            while not done(self):
                await self.read()

    def custom(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"].startswith("test.")]


@asynccontextmanager
async def ws_client(node: HuddleNode, user: str = "reader", **kwargs: Any) -> AsyncIterator[Client]:
    url = node.url.replace("http://", "ws://") + "/v1/ws"
    async with connect(
        url,
        subprotocols=["huddle.v1.json"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {token(user)}"},
        **kwargs,
    ) as conn:
        client = Client(conn)
        hello = await client.read()
        assert hello["op"] == "hello" and hello["user_id"] == user
        client.hello_id = hello["connection_id"]
        yield client


async def rest_publish(node: HuddleNode, numbers: range) -> list[str]:
    ids = []
    async with node.client(bearer("svc", admin=True)) as http:
        for n in numbers:
            answer = await http.post(PUBLISH, json={"type": "test.rest", "data": {"n": n}})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    return ids


async def ws_publish(node: HuddleNode, numbers: range) -> list[str]:
    ids = []
    async with ws_client(node, "wspub") as pub:
        for n in numbers:
            reply = await pub.request("publish", **WS1, type="test.ws", data={"n": n})
            assert reply["ok"], reply
            ids.append(reply["result"]["event"]["id"])
    return ids


def assert_in_order_once(received: list[dict[str, Any]], published: list[str]) -> None:
    ids = [e["id"] for e in received]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    seqs = [e["seq"] for e in received]
    assert seqs == sorted(seqs), "events out of order"
    assert set(ids) == set(published), f"missing {len(set(published) - set(ids))} events"


async def test_a_subscriber_on_a_gets_1000_events_published_through_b_in_order_once(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """REST and WebSocket publishers on B, a WebSocket subscriber on A: every event, once, in
    log order; the subscribe reply comes before the workspace's first event."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"),
        nodes.start(redis_server.url(), name="b", publish_rate=10_000),
    )
    async with ws_client(a) as sub:
        reply = await sub.request("subscribe", **WS1)
        assert reply["ok"] and reply["result"]["workspace"] == "acme/ws1"
        assert not sub.events
        published = await asyncio.gather(
            rest_publish(b, range(0, 500)), ws_publish(b, range(500, 1000))
        )
        await sub.until(lambda c: len(c.custom()) >= 1000, within=60)
    assert_in_order_once(sub.custom(), published[0] + published[1])


async def test_a_websocket_client_resumes_with_exactly_what_it_missed(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Dropped mid-stream while events keep flowing, `subscribe` with `since` = its last id
    delivers exactly the missed events, in order, then live ones."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    async with ws_client(a) as sub:
        await sub.request("subscribe", **WS1)
        first = await rest_publish(b, range(30))
        await sub.until(lambda c: len(c.custom()) >= 30)
    last = sub.custom()[-1]["id"]
    missed = await rest_publish(b, range(30, 80))
    async with ws_client(a) as again:
        reply = await again.request("subscribe", **WS1, since=last)
        assert reply["ok"], reply
        await again.until(lambda c: len(c.custom()) >= 50)
        live = await rest_publish(b, range(80, 90))
        await again.until(lambda c: len(c.custom()) >= 60)
    assert_in_order_once(sub.custom(), first)
    assert_in_order_once(again.custom(), missed + live)
    assert all(e["type"] != "sync.reset" for e in again.events)


async def test_resuming_from_an_evicted_id_gets_sync_reset_first(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    a = await nodes.start(redis_server.url(), name="a", event_log_length=20)
    old = (await rest_publish(a, range(1)))[0]
    await rest_publish(a, range(1, 150))
    async with ws_client(a) as sub:
        assert (await sub.request("subscribe", **WS1, since=old))["ok"]
        await sub.until(lambda c: bool(c.events))
        live = await rest_publish(a, range(150, 155))
        await sub.until(lambda c: len(c.custom()) >= 5)
    assert sub.events[0]["type"] == "sync.reset"
    assert sub.events[0]["data"]["reason"] == "cursor_expired"
    assert_in_order_once(sub.custom(), live)


async def test_bad_frames_get_error_replies_or_close_codes_and_disturb_no_one(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Unknown op, missing fields, another org's workspace: error replies, connection kept.
    Malformed JSON: error reply then close 4502. A bystander keeps receiving throughout."""
    a = await nodes.start(redis_server.url(), name="a")
    async with ws_client(a, "bystander") as bystander, ws_client(a, "mallory") as bad:
        await bystander.request("subscribe", **WS1)
        unknown = await bad.request("nope")
        assert unknown["error"]["code"] == "UNKNOWN_OP"
        missing = await bad.request("subscribe", org_id="acme")
        assert missing["error"]["code"] == "MISSING_FIELD"
        wrong_type = await bad.request(
            "lock.acquire", **WS1, entity_type="deal", entity_id="1", ttl="soon"
        )
        assert wrong_type["error"]["code"] == "INVALID_FIELD"
        other_org = await bad.request("subscribe", org_id="evil", workspace_id="ws1")
        assert other_org["error"]["code"] == "RESOURCE_NOT_FOUND"
        assert (await bad.request("ping"))["result"] == {"pong": True}
        await bad.conn.send("{not json")
        with pytest.raises(ConnectionClosed):
            await bad.until(lambda c: False, within=5)
        assert bad.conn.close_code == 4502
        published = await rest_publish(a, range(3))
        await bystander.until(lambda c: len(c.custom()) >= 3)
    assert_in_order_once(bystander.custom(), published)


async def test_handshake_refusals_carry_documented_close_codes(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """No credentials 4504, a forged token 4500, an expired one 4010, no known subprotocol
    4503, a foreign Origin 4501; a token in the query or in the subprotocol list (for
    browsers) is accepted."""
    a = await nodes.start(redis_server.url(), name="a")
    url = a.url.replace("http://", "ws://") + "/v1/ws"
    cases = [
        ({"subprotocols": ["huddle.v1.json"]}, 4504),
        (
            {
                "subprotocols": ["huddle.v1.json"],
                "additional_headers": {"Authorization": "Bearer a.b.c"},
            },
            4500,
        ),
        (
            {
                "subprotocols": ["huddle.v1.json"],
                "additional_headers": {"Authorization": f"Bearer {token(ttl=-120)}"},
            },
            4010,
        ),
        (
            {
                "subprotocols": ["chat"],
                "additional_headers": {"Authorization": f"Bearer {token()}"},
            },
            4503,
        ),
    ]
    for kwargs, code in cases:
        async with connect(url, **kwargs) as conn:  # type: ignore[arg-type]
            with pytest.raises(ConnectionClosed):
                await conn.recv()
            assert conn.close_code == code, kwargs
    foreign = {"Authorization": f"Bearer {token()}", "Origin": "https://evil.example"}
    async with connect(url, subprotocols=["huddle.v1.json"], additional_headers=foreign) as conn:  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed):
            await conn.recv()
        assert conn.close_code == 4501
    async with connect(
        f"{url}?access_token={token('cy')}", subprotocols=["huddle.v1.json"]
    ) as conn:  # type: ignore[list-item]
        assert orjson.loads(await conn.recv())["user_id"] == "cy"
    offered = ["huddle.v1.msgpack", f"huddle.token.{token('ana')}"]
    async with connect(url, subprotocols=offered) as conn:  # type: ignore[arg-type]
        assert conn.subprotocol == "huddle.v1.msgpack"
        hello = msgpack.unpackb(await conn.recv())
        assert hello["user_id"] == "ana"


async def test_a_slow_consumer_is_cut_with_4008_while_50_others_keep_up(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """A client that stops reading fills its outbox and is closed with 4008; the other 50
    receive every event."""
    a = await nodes.start(redis_server.url(), name="a", outbox_limit=50)
    blob = "x" * 16_000
    small = socket.socket()
    small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    small.connect(("127.0.0.1", int(a.url.rsplit(":", 1)[1])))
    async with (
        ws_client(a, "slow", sock=small, max_queue=1) as slow,
        contextlib_nested(a, 50) as others,
    ):
        assert (await slow.request("subscribe", **WS1))["ok"]
        for other in others:
            assert (await other.request("subscribe", **WS1))["ok"]
        readers = [
            asyncio.create_task(o.until(lambda c: len(c.custom()) >= 400, within=60))
            for o in others
        ]
        published = []
        async with a.client(bearer("svc", admin=True)) as http:
            for n in range(400):
                body = {"type": "test.big", "data": {"n": n, "blob": blob}}
                published.append((await http.post(PUBLISH, json=body)).json()["id"])
        await asyncio.gather(*readers)
        with pytest.raises(ConnectionClosed):
            await slow.until(lambda c: False, within=30)
        assert slow.conn.close_code == 4008
    for other in others:
        assert_in_order_once(other.custom(), published)


@asynccontextmanager
async def contextlib_nested(node: HuddleNode, count: int) -> AsyncIterator[list[Client]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(ws_client(node, f"u{i}")) for i in range(count)]


async def test_a_dropped_connections_locks_are_released_after_the_grace_period(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Locks taken over a connection end (`lock.released`) a grace period after it drops,
    unless the same user refreshed one from another connection meanwhile: that one stays."""
    a = await nodes.start(redis_server.url(), name="a", lock_release_grace=0.5)
    lock = {**WS1, "entity_type": "deal"}
    async with ws_client(a, "ana") as tab2:
        async with ws_client(a, "ana") as tab1:
            assert (await tab1.request("lock.acquire", **lock, entity_id="kept"))["ok"]
            assert (await tab1.request("lock.acquire", **lock, entity_id="dropped"))["ok"]
            moved = await tab2.request("lock.refresh", **lock, entity_id="kept")
            assert moved["ok"] and moved["result"]["sessionId"] == tab2.hello_id
        async with a.client(bearer("watcher")) as http:

            async def released() -> list[dict[str, Any]]:
                log = (await http.get("/v1/orgs/acme/workspaces/ws1/sync/events")).json()
                return [e for e in log["events"] if e["type"] == "lock.released"]

            ended = await wait_until(released, within=10, what="the dropped lock's release")
            assert [e["data"]["entity_id"] for e in ended] == ["dropped"]
            status = (await http.get("/v1/collaboration/locks/deal/kept")).json()
            assert status["locked"] and status["lock"]["holder"]["userId"] == "ana"


async def test_a_redis_restart_loses_no_acknowledged_event(
    nodes: NodeFactory, durable_redis: RedisServer
) -> None:
    """Redis (AOF on) stops and starts again: the subscriber stays connected, publishes
    during the outage are refused with 503, and every acknowledged event is delivered once,
    in order, when Redis is back."""
    a = await nodes.start(durable_redis.url(), name="a", redis_timeout=1, sweep_interval=0.2)
    async with ws_client(a) as sub, a.client(bearer("svc", admin=True)) as http:
        assert (await sub.request("subscribe", **WS1))["ok"]
        before = await rest_publish(a, range(20))
        await sub.until(lambda c: len(c.custom()) >= 20)
        durable_redis.stop()
        refused = await http.post(PUBLISH, json={"type": "test.rest", "data": {"n": -1}})
        assert refused.status_code == 503
        assert refused.json()["error"] == "SERVICE_UNAVAILABLE"
        durable_redis.start()

        async def accepted() -> str | None:
            answer = await http.post(PUBLISH, json={"type": "test.rest", "data": {"n": 20}})
            return answer.json()["id"] if answer.status_code == 201 else None

        first_after = await wait_until(accepted, within=15, what="Redis to be back")
        after = [first_after, *await rest_publish(a, range(21, 40))]
        await sub.until(lambda c: len(c.custom()) >= 40, within=20)
        assert (await sub.request("ping"))["ok"]
    assert_in_order_once(sub.custom(), before + after)
    assert all(e["type"] != "sync.reset" for e in sub.events)


async def test_an_ephemeral_publish_reaches_live_subscribers_but_not_the_log(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """`persist: false` from B reaches a subscriber on A without an id, between the logged
    events around it, and is absent from the log and from replays."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    async with ws_client(a) as sub, ws_client(b, "typist") as typist:
        assert (await sub.request("subscribe", **WS1))["ok"]
        before = await rest_publish(b, range(1))
        cursor = await typist.request(
            "publish", **WS1, type="test.cursor", data={"x": 3}, persist=False
        )
        assert cursor["ok"] and cursor["result"]["event"]["id"] is None
        after = await rest_publish(b, range(1, 2))
        await sub.until(lambda c: len(c.custom()) >= 3)
    kinds = [(e["type"], e["id"]) for e in sub.custom()]
    assert kinds == [("test.rest", before[0]), ("test.cursor", None), ("test.rest", after[0])]
    async with a.client(bearer("auditor")) as http:
        log = (await http.get("/v1/orgs/acme/workspaces/ws1/sync/events")).json()["events"]
    assert "test.cursor" not in {e["type"] for e in log}


async def test_an_expiring_token_closes_4010_unless_refreshed(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """A connection whose token expires is closed with 4010; `auth.refresh` with a new token
    of the same user keeps it open past the first one's expiry; another user's is refused."""
    a = await nodes.start(redis_server.url(), name="a", jwt_leeway=0)
    url = a.url.replace("http://", "ws://") + "/v1/ws"
    short = {"Authorization": f"Bearer {token('ana', ttl=2)}"}
    async with connect(url, subprotocols=["huddle.v1.json"], additional_headers=short) as conn:  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed):
            await Client(conn).until(lambda c: False, within=10)
        assert conn.close_code == 4010
    short = {"Authorization": f"Bearer {token('ana', ttl=3)}"}  # the first one expired
    async with (
        connect(url, subprotocols=["huddle.v1.json"], additional_headers=short) as conn,  # type: ignore[list-item]
        ws_client(a, "ben") as ben,
    ):
        ana = Client(conn)
        await ana.read()  # hello
        other = await ana.request("auth.refresh", token=token("ben", ttl=600))
        assert other["error"]["code"] == "FORBIDDEN"
        refreshed = await ana.request("auth.refresh", token=token("ana", ttl=600))
        assert refreshed["ok"], refreshed
        assert (await ana.request("subscribe", **WS1))["ok"]
        # Ben's 4 s lease outlives Ana's first token; its expiry event proves the time passed.
        taken = await ben.request("lock.acquire", **WS1, entity_type="deal", entity_id="1", ttl=4)
        assert taken["ok"]
        await ana.until(lambda c: any(e["type"] == "lock.expired" for e in c.events), within=15)
        assert (await ana.request("ping"))["ok"]


async def test_a_frame_over_the_size_limit_is_refused_with_1009(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Frames over HUDDLE_MAX_BODY_BYTES are refused by the WebSocket layer (1009)."""
    a = await nodes.start(redis_server.url(), name="a", max_body_bytes=4096)
    async with ws_client(a, "big", max_size=None) as client:
        await client.conn.send("x" * 5000)
        with pytest.raises(ConnectionClosed):
            await client.until(lambda c: False, within=10)
    assert client.conn.close_code == 1009


async def test_pipelined_publishes_are_stored_in_the_order_they_were_sent(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """200 publishes sent without waiting for replies: each is answered once, and their
    offsets follow the order they were sent in (the node pipelines them to Redis)."""
    a = await nodes.start(redis_server.url(), name="a", publish_rate=10_000)
    async with ws_client(a, "wspub") as pub:
        sent = [
            await pub.send("publish", **WS1, type="test.pipe", data={"n": n}) for n in range(200)
        ]
        await pub.until(lambda c: all(i in c.replies for i in sent))
    assert all(pub.replies[i]["ok"] for i in sent), [pub.replies[i] for i in sent][:3]
    seqs = [pub.replies[i]["result"]["event"]["seq"] for i in sent]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.parametrize(("depth", "first"), [(32, "ping"), (1, "publish")])
async def test_a_ping_overtakes_a_publish_waiting_for_redis_unless_the_pipeline_is_full(
    nodes: NodeFactory, private_redis: RedisServer, depth: int, first: str
) -> None:
    """While Redis is paused, a publish waits for it and the node goes on reading: a ping
    sent after it is answered first. With `ws_pipeline_depth` 1 the node reads nothing more
    until the publish is answered, so the ping's answer comes second."""
    a = await nodes.start(private_redis.url(), name="a", ws_pipeline_depth=depth)
    async with ws_client(a, "wspub") as client, Redis.from_url(private_redis.url()) as raw:
        assert (await client.request("publish", **WS1, type="test.warm", data={}))["ok"]
        await raw.client_pause(600)
        publish = await client.send("publish", **WS1, type="test.pipe", data={})
        ping = await client.send("ping")
        answered: list[str] = []
        async with asyncio.timeout(10):
            while len(answered) < 2:
                frame = await client.read()
                if frame.get("id") in (publish, ping):
                    assert frame["ok"], frame
                    answered.append("publish" if frame["id"] == publish else "ping")
    assert answered[0] == first, answered
