"""SIGTERM drains a node: it stops accepting, tells every client to reconnect elsewhere
(WebSocket close 4002, SSE `sync.reconnect` with reason `shutdown`), ends the presence sessions
its connections named with reason `shutdown`, keeps client-named sessions and held locks for
the client to take back on another node, and exits within its drain time."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.nodes import NodeFactory, bearer, read_events
from tests.support.redis_server import RedisServer

from .test_stream_credentials import stream
from .test_websocket import WS1, ws_client

pytestmark = pytest.mark.xdist_group("e2e")


def presence_of(events: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [
        (e["type"], e["data"]["session_id"], e["data"].get("reason"))
        for e in events
        if e["type"].startswith("presence.") and e["type"] != "presence.viewing"
    ]


async def test_sigterm_drains_websockets_and_streams_and_exits_promptly(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    a = await nodes.start(redis_server.url(), name="a", drain_timeout=10)
    b = await nodes.start(redis_server.url(), name="b")
    async with ws_client(a, "ana") as ana:
        assert (await ana.request("subscribe", **WS1))["ok"]
        assert (await ana.request("presence.join", **WS1))["ok"]  # the connection's session
        assert (await ana.request("presence.join", **WS1, session="tab-1"))["ok"]
        taken = await ana.request("lock.acquire", **WS1, entity_type="deal", entity_id="7", ttl=60)
        assert taken["ok"], taken
        async with (
            stream(a, {}, bearer("ben")) as ben,
            stream(a, {"session_id": "tab-2"}, bearer("cara")) as cara,
        ):
            for reader in (ben, cara):
                await reader.until_event("presence.joined")
            started = time.monotonic()
            stopping = asyncio.get_running_loop().run_in_executor(None, a.stop)
            finals = [await r.until_event("sync.reconnect") for r in (ben, cara)]
            with pytest.raises(ConnectionClosed) as closed:
                await ana.until(lambda _: False, within=15)
            exit_code = await stopping
    took = time.monotonic() - started
    # uvicorn re-raises the signal it caught once it has shut down: the exit says SIGTERM
    assert exit_code == -signal.SIGTERM and not a.hung_on_stop
    assert took < 8, f"the node took {took:.1f} s to exit"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
    assert [orjson.loads(f["data"]) for f in finals] == [{"reason": "shutdown"}] * 2
    assert all("id" not in f for f in finals)

    async with b.client(bearer("auditor")) as http:
        events = await read_events(http)
        lock = (await http.get("/v1/collaboration/locks/deal/7")).json()
    seen = presence_of(events)
    left = {(sid, reason) for kind, sid, reason in seen if kind == "presence.left"}
    ws_session = next(
        sid for kind, sid, _ in seen if kind == "presence.joined" and sid.startswith("ana/ws-")
    )
    ben_session = next(sid for kind, sid, _ in seen if sid.startswith("ben/sse-"))
    assert left == {(ws_session, "shutdown"), (ben_session, "shutdown")}, seen
    assert lock["locked"] and lock["lock"]["holder"]["userId"] == "ana", "the lock is kept"
