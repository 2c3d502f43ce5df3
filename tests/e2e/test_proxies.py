"""deploy/'s reverse proxies, run for real (HAProxy and nginx from their shipped files, ports
filled in) in front of two nodes on one Redis: REST, SSE without buffering delay, WebSocket
upgrades with a same-origin check, and one lock table behind both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect
from websockets.typing import Origin, Subprotocol

from tests.support.haproxy import HAProxy
from tests.support.nginx import Nginx
from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

STREAM = "/v1/orgs/acme/workspaces/ws1/sync/stream"
PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"
LOCK_7 = "/v1/collaboration/locks/deal/7"
WS1 = {"org_id": "acme", "workspace_id": "ws1"}
SSE_DELAY_MAX = 0.1


class Proxy(Protocol):
    @property
    def url(self) -> str: ...
    def log(self) -> str: ...
    def stop(self) -> None: ...


class Behind:
    """Two nodes behind one proxy, which takes turns between them."""

    def __init__(self, proxy: Proxy, a: HuddleNode, b: HuddleNode) -> None:
        self.proxy = proxy
        self.nodes = (a, b)
        self.url = proxy.url

    async def served_by(self) -> str:
        """The node id a fresh connection through the proxy reaches (from /readyz)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            answer = await http.get("/readyz")
            assert answer.status_code == 200, answer.text
            return str(answer.json()["node"])


@pytest.fixture(params=["haproxy", "nginx"])
async def behind(
    request: pytest.FixtureRequest, nodes: NodeFactory, redis_server: RedisServer, tmp_path: Path
) -> AsyncIterator[Behind]:
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    home = tmp_path / request.param
    proxy: Proxy = (
        HAProxy(home, [a.port, b.port])
        if request.param == "haproxy"
        else Nginx(home, [a.port, b.port], failover=False)
    )
    setup = Behind(proxy, a, b)
    try:

        async def both_nodes_reached() -> bool:
            try:
                seen = {await setup.served_by(), await setup.served_by()}
            except (httpx.TransportError, AssertionError):
                return False
            return seen == {a.node_id, b.node_id}

        await wait_until(both_nodes_reached, within=15, what=f"{request.param} to reach a and b")
        yield setup
    except BaseException:
        print(proxy.log())
        raise
    finally:
        proxy.stop()


async def test_rest_goes_through_and_metrics_stay_inside(behind: Behind) -> None:
    """An API call answers through the proxy; `/metrics` is refused there (403) while each
    node still serves it to whoever reaches it directly."""
    async with httpx.AsyncClient(base_url=behind.url, headers=bearer("ana"), timeout=5) as http:
        status = await http.get(LOCK_7)
        assert status.status_code == 200, status.text
        assert status.json()["locked"] is False
        assert (await http.get("/metrics")).status_code == 403
    async with behind.nodes[0].client() as direct:
        assert (await direct.get("/metrics")).status_code == 200


async def test_an_sse_event_arrives_through_the_proxy_without_buffering_delay(
    behind: Behind,
) -> None:
    """From the start of the publish request to the event's arrival on a stream opened through
    the proxy: under 100 ms (a buffering proxy holds it until a buffer fills)."""
    async with (
        httpx.AsyncClient(base_url=behind.url, timeout=30) as reader,
        httpx.AsyncClient(base_url=behind.url, headers=bearer("svc"), timeout=5) as writer,
        aconnect_sse(reader, "GET", STREAM, headers=bearer("reader")) as source,
    ):
        assert source.response.status_code == 200
        events = source.aiter_sse()

        async def arrival(n: int) -> float:
            async for sse in events:
                if sse.event == "test.proxy" and orjson.loads(sse.data)["data"]["n"] == n:
                    return time.monotonic()
            raise AssertionError("the stream ended")

        async def publish(n: int) -> None:
            answer = await writer.post(PUBLISH, json={"type": "test.proxy", "data": {"n": n}})
            assert answer.status_code == 201, answer.text

        async def delay_of(n: int) -> float:
            arrived = asyncio.create_task(arrival(n))
            start = time.monotonic()
            await publish(n)
            async with asyncio.timeout(10):
                return await arrived - start

        await delay_of(0)  # the stream is live once its first event arrives
        delays = [await delay_of(n) for n in range(1, 4)]
    assert max(delays) < SSE_DELAY_MAX, f"SSE delays through the proxy: {delays}"


async def test_a_same_origin_websocket_subscribes_and_receives_through_the_proxy(
    behind: Behind,
) -> None:
    """The upgrade passes, and the page's Origin (the proxy's address, with its port) is the
    node's own origin because the proxy passes Host with its port: no 4501."""
    url = behind.url.replace("http://", "ws://") + "/v1/ws"
    token = bearer("reader")["Authorization"].split()[1]
    async with connect(
        url,
        origin=Origin(behind.url),
        subprotocols=[Subprotocol("huddle.v1.json")],
        additional_headers={"Authorization": f"Bearer {token}"},
    ) as ws:
        assert orjson.loads(await ws.recv())["op"] == "hello"
        await ws.send(orjson.dumps({"id": 1, "op": "subscribe", **WS1}).decode())
        async with asyncio.timeout(10):
            while (reply := orjson.loads(await ws.recv())).get("id") != 1:
                pass
        assert reply["ok"], reply
        async with httpx.AsyncClient(base_url=behind.url, headers=bearer("svc")) as http:
            answer = await http.post(PUBLISH, json={"type": "test.ws", "data": {"n": 1}})
            assert answer.status_code == 201, answer.text
        async with asyncio.timeout(10):
            while (frame := orjson.loads(await ws.recv())).get("op") != "event" or (
                frame["event"]["type"] != "test.ws"
            ):
                pass
        assert frame["event"]["id"] == answer.json()["id"]


async def test_a_lock_taken_through_one_node_is_refused_through_the_other(
    behind: Behind,
) -> None:
    """The proxy takes turns, so two consecutive requests reach both nodes: Ben is refused
    Ana's lock on each, naming her."""
    async with httpx.AsyncClient(base_url=behind.url, headers=bearer("ana", name="Ana")) as ana:
        taken = await ana.post(LOCK_7)
        assert taken.status_code == 200, taken.text
    for _ in range(2):
        async with httpx.AsyncClient(base_url=behind.url, headers=bearer("ben")) as ben:
            refused = await ben.post(LOCK_7)
        assert refused.status_code == 409, refused.text
        assert refused.json()["details"]["holder"] == {"userId": "ana", "name": "Ana"}
    a, b = behind.nodes
    assert {await behind.served_by(), await behind.served_by()} == {a.node_id, b.node_id}
