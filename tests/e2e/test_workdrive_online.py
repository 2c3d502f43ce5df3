"""Seed 004's live `online` flag, on two real nodes sharing one Redis: a WorkDrive user whose
WebSocket (a presence session, joined with `presence.join`) is open on node A shows
`online: true` in the user list read through node B; closing it, and separately killing node A
(SIGKILL: its sessions time out within the presence TTL), makes them offline — with exactly one
`user.online` and one `user.offline` event per transition on the organization's stream. The
token is a WorkDrive access token (a UUID), used as the WebSocket's credential."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.nodes import HuddleNode, NodeFactory, read_events
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.workdrive import OPERATOR_KEY, Org, add_user, create_org, token_of

from .test_websocket import Client

pytestmark = pytest.mark.xdist_group("e2e")

PRESENCE_TTL: Final = 1.5


@asynccontextmanager
async def present_on(node: HuddleNode, org: Org, token: str) -> AsyncIterator[Client]:
    """A WebSocket on `node` with a WorkDrive token, joined to the organization's presence."""
    url = node.url.replace("http://", "ws://") + "/v1/ws"
    async with connect(
        url,
        subprotocols=["huddle.v1.json"],  # type: ignore[list-item]
        additional_headers={"X-API-KEY": token},
    ) as conn:
        client = Client(conn)
        hello = await client.read()
        assert hello["op"] == "hello", hello
        joined = await client.request("presence.join", org_id=org.id, workspace_id=org.id)
        assert joined.get("ok", True) is not False, joined
        yield client


async def online(http: httpx.AsyncClient, org: Org, user_id: str) -> bool | None:
    answer = await http.get("/api/users", params={"per_page": 100}, headers=org.headers)
    assert answer.status_code == 200, answer.text
    found = next(u for u in answer.json()["users"] if u["id"] == user_id)
    status: bool = found["online"]
    return status


async def transitions(http: httpx.AsyncClient, org: Org, user_id: str) -> list[str]:
    http.headers.update(org.headers)
    events = await read_events(http, org.id, org.id)
    return [
        e["type"]
        for e in events
        if e["type"] in ("user.online", "user.offline") and e["data"]["user_id"] == user_id
    ]


async def test_online_follows_a_websocket_on_another_node_and_a_crash(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    settings: dict[str, Any] = {
        "operator_key": OPERATOR_KEY,
        "presence_ttl": PRESENCE_TTL,
        "sweep_interval": 0.2,
    }
    a = await nodes.start(redis_server.url(), name="a", **settings)
    b = await nodes.start(redis_server.url(), name="b", **settings)
    async with b.client() as http:
        org = await create_org(http)
        ana = await add_user(http, org, "ana@stilla.io")
        token = await token_of(http, org, ana["id"])
        assert await online(http, org, ana["id"]) is False

        async with present_on(a, org, token):
            await wait_until(lambda: online(http, org, ana["id"]), what="Ana online via B")
        await wait_until(lambda: _offline(http, org, ana["id"]), what="Ana offline after closing")
        assert await transitions(http, org, ana["id"]) == ["user.online", "user.offline"]

        with contextlib.suppress(ConnectionClosed):  # the node dies under the socket
            async with present_on(a, org, token):
                await wait_until(lambda: online(http, org, ana["id"]), what="Ana online again")
                a.kill()
                await wait_until(
                    lambda: _offline(http, org, ana["id"]),
                    within=PRESENCE_TTL + 5,
                    what="Ana offline after node A died",
                )
        expected = ["user.online", "user.offline"] * 2
        assert await transitions(http, org, ana["id"]) == expected


async def _offline(http: httpx.AsyncClient, org: Org, user_id: str) -> bool:
    return await online(http, org, user_id) is False
