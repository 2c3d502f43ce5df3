"""A network partition between a node and Redis that heals: the other node sweeps the cut-off
node's presence sessions (they cannot be refreshed), and once Redis is reachable again the
node announces its live connections' sessions again, what they viewed included. The clients
stay connected and see no error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer, read_events
from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

from .test_websocket import WS1, ws_client

pytestmark = pytest.mark.xdist_group("e2e")


async def roster(node: HuddleNode) -> list[dict[str, Any]]:
    async with node.client(bearer("auditor")) as http:
        answer = await http.get("/v1/orgs/acme/workspaces/ws1/sync/presence")
    assert answer.status_code == 200, answer.text
    users: list[dict[str, Any]] = answer.json()["users"]
    return users


async def test_presence_comes_back_when_a_partition_heals(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    async with TcpProxy(redis_server.port) as proxy:
        a = await nodes.start(proxy.url(), name="a", presence_ttl=1, redis_timeout=0.5)
        b = await nodes.start(redis_server.url(), name="b", presence_ttl=1)
        async with ws_client(a, "ana") as ana:
            viewing = await ana.request(
                "presence.view", **WS1, resource_type="deal", resource_id="7", session="tab-1"
            )
            assert viewing["ok"], viewing

            async def ana_views_deal_7() -> bool:
                users = await roster(b)
                return [
                    (u["user_id"], u["viewing"][0]["resource_id"]) for u in users if u["viewing"]
                ] == [("ana", "7")]

            await wait_until(ana_views_deal_7, within=10, what="ana's session on node b")
            proxy.pause()

            async def nobody() -> bool:
                return await roster(b) == []

            await wait_until(nobody, within=15, what="node b to sweep a's cut-off session")
            proxy.resume()
            await wait_until(ana_views_deal_7, within=15, what="a to announce ana again")
            assert (await ana.request("ping"))["ok"], "the client saw nothing wrong"
        async with b.client(bearer("auditor")) as http:
            events = await read_events(http)
    mine = [
        (e["type"], e["data"].get("reason"))
        for e in events
        if e["type"].startswith("presence.") and e["data"]["session_id"] == "ana/tab-1"
    ]
    assert mine[:3] == [
        ("presence.joined", None),
        ("presence.viewing", None),
        ("presence.left", "timeout"),
    ]
    assert mine[3:5] == [("presence.joined", None), ("presence.viewing", None)]
