"""Rows of the reliability plan the other e2e modules do not cover: presence counts as tabs
close one by one (on another node), which cursor a stream resumes from when it is given two,
and malformed msgpack frames answered without a server exception."""

from __future__ import annotations

from contextlib import AsyncExitStack

import msgpack
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.nodes import NodeFactory, bearer, read_events
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

from .test_stream_credentials import publish, stream
from .test_websocket import WS1, token, ws_client

pytestmark = pytest.mark.xdist_group("e2e")


async def test_three_tabs_closed_one_by_one_count_down_users_and_sessions(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Ana's three tabs on node A, read on node B: 1/1/1/0 users, 3/2/1/0 sessions, Ana online
    with 3/2/1/0 sessions; one `user.online` and one `user.offline` in all."""
    a = await nodes.start(redis_server.url(), name="a")
    b = await nodes.start(redis_server.url(), name="b")
    seen: list[tuple[int, int, bool, int]] = []
    async with b.client(bearer("auditor")) as http:

        async def counts() -> tuple[int, int, bool, int]:
            """The roster's users and sessions, then Ana's online flag and sessions."""
            roster = (await http.get("/v1/orgs/acme/workspaces/ws1/sync/presence")).json()
            users = await http.get(
                "/v1/orgs/acme/workspaces/ws1/sync/presence/users", params={"user_id": "ana"}
            )
            [ana] = users.json()["users"]
            return roster["count"], roster["sessions"], ana["online"], ana["sessions"]

        async def reads(users: int, sessions: int) -> bool:
            return await counts() == (users, sessions, users == 1, sessions)

        async with AsyncExitStack() as tabs:
            clients = [await tabs.enter_async_context(ws_client(a, "ana")) for _ in range(3)]
            for client in clients:
                assert (await client.request("presence.join", **WS1))["ok"]
            await wait_until(lambda: reads(1, 3), within=10, what="three sessions")
            seen.append(await counts())
            for left in (2, 1):
                await clients.pop().conn.close()
                await wait_until(lambda n=left: reads(1, n), within=10, what=f"{left} sessions")
                seen.append(await counts())
        await wait_until(lambda: reads(0, 0), within=10, what="no session")
        seen.append(await counts())
        log = await read_events(http)
    assert seen == [(1, 3, True, 3), (1, 2, True, 2), (1, 1, True, 1), (0, 0, False, 0)]
    transitions = [e["type"] for e in log if e["type"].startswith("user.")]
    assert transitions == ["user.online", "user.offline"]


async def test_the_last_event_id_header_wins_over_the_query_parameter(
    nodes: NodeFactory,
) -> None:
    """A browser's reconnect sends the header; a page's own `last_event_id` may be older."""
    a = await nodes.start("memory://", name="a")
    first, second, third = await publish(a, 1, 2, 3)
    params = {"presence": "false", "last_event_id": first}
    async with stream(a, params, {**bearer("ana"), "Last-Event-ID": second}) as frames:
        resumed = await frames.until_event("test.n")
    assert resumed["id"] == third


async def test_malformed_msgpack_is_answered_and_closed_without_a_server_exception(
    nodes: NodeFactory,
) -> None:
    a = await nodes.start("memory://", name="a")
    url = a.url.replace("http://", "ws://") + "/v1/ws"
    offered = ["huddle.v1.msgpack", f"huddle.token.{token('ana')}"]
    frames = [b"\xc1", b"\x92\x01", msgpack.packb([1, 2, 3]), msgpack.packb({"id": "x"})]
    replies = []
    for frame in frames:
        async with connect(url, subprotocols=offered) as conn:  # type: ignore[arg-type]  # websockets' Subprotocol
            msgpack.unpackb(await conn.recv())  # hello
            await conn.send(frame)
            replies.append(msgpack.unpackb(await conn.recv()))
            if replies[-1]["error"]["code"] in ("INVALID_MSGPACK",):
                with pytest.raises(ConnectionClosed):
                    await conn.recv()
                assert conn.close_code == 4502
    codes = [r["error"]["code"] for r in replies]
    assert codes[:2] == ["INVALID_MSGPACK", "INVALID_MSGPACK"]
    assert codes[2] == "INVALID_FRAME" and codes[3] in ("INVALID_FIELD", "MISSING_FIELD")
    async with ws_client(a, "ben") as ben:
        assert (await ben.request("ping"))["ok"], "the node serves on"
    assert "Traceback" not in a.log() and "Exception" not in a.log()


async def test_a_redis_restart_that_lost_the_log_resets_every_transport(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    """Redis comes back empty: the next events are of a new epoch, and a WebSocket, an SSE
    stream and a poller each get `sync.reset` (epoch_changed) rather than a silent new
    history with recycled numbers."""
    a = await nodes.start(private_redis.url(), name="a")
    before = await publish(a, 1, 2)
    async with (
        ws_client(a, "ana") as ws,
        stream(a, {"presence": "false", "last_event_id": before[-1]}, bearer("ben")) as sse,
        a.client(bearer("cara")) as poller,
    ):
        assert (await ws.request("subscribe", **WS1, since=before[-1]))["ok"]
        await sse.next_block()
        private_redis.stop()
        private_redis.start()

        async def back() -> bool:
            return (await poller.get("/readyz")).status_code == 200

        await wait_until(back, within=15, what="the node to reach the restarted Redis")
        after = await publish(a, 3)
        await ws.until(lambda c: any(e["type"] == "sync.reset" for e in c.events), within=15)
        reset = await sse.until_event("sync.reset", within=15)
        page = (
            await poller.get(
                "/v1/orgs/acme/workspaces/ws1/sync/events", params={"after": before[-1]}
            )
        ).json()
    ws_reset = next(e for e in ws.events if e["type"] == "sync.reset")
    assert ws_reset["data"]["reason"] == "epoch_changed"
    assert orjson.loads(reset["data"])["data"]["reason"] == "epoch_changed"
    assert page["reset"] is True and page["events"][0]["data"]["reason"] == "epoch_changed"
    assert after[0].split(":")[0] != before[0].split(":")[0], "a new epoch"
