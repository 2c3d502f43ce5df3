"""Seed 004 live, on two real nodes sharing one Redis.

The `online` flag: a WorkDrive user whose
WebSocket (a presence session, joined with `presence.join`) is open on node A shows
`online: true` in the user list read through node B; closing it, and separately killing node A
(SIGKILL: its sessions time out within the presence TTL), makes them offline — with exactly one
`user.online` and one `user.offline` event per transition on the organization's stream. The
token is a WorkDrive access token (a UUID), used as the WebSocket's credential.

Tokens: generating a new one for a user through `POST /api/token/generate-access` on one node
closes the old token's WebSocket on the other (4500) and ends its SSE stream
(`credential_revoked`); two organizations never reach each other's streams or records."""

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

from .test_credential_revocation import closed_by_server, final_reason
from .test_stream_credentials import Frames
from .test_websocket import Client

pytestmark = pytest.mark.xdist_group("e2e")

PRESENCE_TTL: Final = 1.5


@asynccontextmanager
async def present_on(node: HuddleNode, org: Org, token: str) -> AsyncIterator[Client]:
    """A WebSocket on `node` with a WorkDrive token, joined to the organization's presence."""
    async with ws_of(node, token) as client:
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

        async def announced() -> bool:
            # `online` reads false once the session's TTL has passed; the sweep that ends it
            # (and announces `user.offline`) runs within a sweep interval after that.
            return await transitions(http, org, ana["id"]) == expected

        await wait_until(announced, what="exactly one more user.offline")
        assert await transitions(http, org, ana["id"]) == expected


async def _offline(http: httpx.AsyncClient, org: Org, user_id: str) -> bool:
    return await online(http, org, user_id) is False


@asynccontextmanager
async def ws_of(node: HuddleNode, token: str) -> AsyncIterator[Client]:
    url = node.url.replace("http://", "ws://") + "/v1/ws"
    async with connect(
        url,
        subprotocols=["huddle.v1.json"],  # type: ignore[list-item]
        additional_headers={"X-API-KEY": token},
    ) as conn:
        client = Client(conn)
        assert (await client.read())["op"] == "hello"
        yield client


@asynccontextmanager
async def sse_of(node: HuddleNode, org: Org, token: str) -> AsyncIterator[Frames]:
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=30) as http,
        http.stream(
            "GET",
            f"{org.stream}/sync/stream",
            params={"presence": "false"},
            headers={"X-API-KEY": token},
        ) as response,
    ):
        assert response.status_code == 200
        frames = Frames(response)
        assert await frames.next_block() == {"retry": "3000"}
        assert "id" in (await frames.next_block() or {})
        yield frames


async def test_a_new_token_ends_the_old_ones_streams_and_orgs_never_meet(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    a = await nodes.start(redis_server.url(), name="a", operator_key=OPERATOR_KEY)
    b = await nodes.start(redis_server.url(), name="b", operator_key=OPERATOR_KEY)
    async with b.client() as http:
        stilla = await create_org(http)
        globex = await create_org(http, name="Globex", email="admin@globex.io")
        ana = await add_user(http, stilla, "ana@stilla.io")
        old = await token_of(http, stilla, ana["id"])
        async with ws_of(a, old) as ws, sse_of(b, stilla, old) as sse:
            joined = await ws.request("subscribe", org_id=stilla.id, workspace_id=stilla.id)
            assert joined["ok"], joined

            # Globex's admin reaches nothing of Stilla's: stream, events, records.
            async with ws_of(a, globex.token) as outsider:
                refused = await outsider.request(
                    "subscribe", org_id=stilla.id, workspace_id=stilla.id
                )
                assert not refused["ok"], refused
            theirs = {"X-API-KEY": globex.token}
            for path in (f"{stilla.stream}/sync/stream", f"{stilla.stream}/sync/events"):
                assert (await http.get(path, headers=theirs)).status_code == 404
            assert (await http.get(f"/api/users/{ana['id']}", headers=theirs)).status_code == 404

            async with a.client() as via_a:
                new = await token_of(via_a, stilla, ana["id"])
            assert await closed_by_server(ws) == (4500, "credential revoked")
            assert await final_reason(sse) == "credential_revoked"
        for node in (a, b):
            async with node.client() as each:
                old_answer = await each.get("/api/users", headers={"X-API-KEY": old})
                new_answer = await each.get("/api/users", headers={"X-API-KEY": new})
            assert (old_answer.status_code, new_answer.status_code) == (401, 200)
