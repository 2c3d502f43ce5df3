"""A key that stops working ends the streams it opened, at once and on every node: two nodes on
one Redis; a user token replaced (by a new token for its user) or a 64-hex API key revoked
(through the route, on node A) closes its WebSockets on node B with 4500 and ends its SSE
streams on node A with `sync.reconnect` `credential_revoked`, whether or not the WebSocket
follows the key's workspace; REST refuses the old key on both nodes. Another user's
connection to the same workspace stays open and hears nothing of it.

No route issues user tokens (the module that needs them decides who may): the test issues
them as that module would, with `ApiKeyService` on the nodes' own Redis prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Final

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from huddle.backends import open_backend
from huddle.config import Settings
from huddle.hub.node import Node
from huddle.services.apikeys import ApiKeyService
from tests.support.nodes import SECRET, HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer

from .test_stream_credentials import Frames
from .test_websocket import WS1, Client, ws_client

pytestmark = pytest.mark.xdist_group("e2e")

BASE: Final = "/v1/orgs/acme/workspaces/ws1"
OWNED: Final = "/v1/collaboration/locks/deal/42/owned"
WITHIN: Final = 10.0


@asynccontextmanager
async def user_tokens(
    redis_server: RedisServer, nodes: NodeFactory
) -> AsyncIterator[ApiKeyService]:
    """The key service of an in-process node on the nodes' store (what a module calls)."""
    settings = Settings(
        backend_url=redis_server.url(), redis_prefix=nodes.prefix, jwt_secret=SECRET
    )
    async with open_backend(settings) as backend:
        yield ApiKeyService(Node(backend, settings))


async def issue(keys: ApiKeyService, user: str = "wd-ana") -> str:
    _, token = await keys.issue_user_token(
        "acme", workspace_id="ws1", user_id=user, admin=False, created_by="workdrive"
    )
    return token


@asynccontextmanager
async def ws_with(
    node: HuddleNode, credential: str, *, in_subprotocol: bool = False
) -> AsyncIterator[Client]:
    """A WebSocket authenticated by `credential` (a header, or the subprotocol browsers use),
    past its hello and one answered request: its credential is being watched by then."""
    url = node.url.replace("http://", "ws://") + "/v1/ws"
    protocols = ["huddle.v1.json"]
    headers = {}
    if in_subprotocol:
        protocols.append(f"huddle.token.{credential}")
    else:
        headers["Authorization"] = f"Bearer {credential}"
    async with connect(url, subprotocols=protocols, additional_headers=headers) as conn:  # type: ignore[arg-type]  # websockets types subprotocols as its own NewType
        client = Client(conn)
        assert (await client.read())["op"] == "hello"
        assert (await client.request("ping"))["ok"]
        yield client


@asynccontextmanager
async def sse_with(node: HuddleNode, **auth: Any) -> AsyncIterator[Frames]:
    """An SSE stream of ws1 (`headers=` or `params=` carrying the credential), live: past the
    id-only block of its start, so its credential is being watched."""
    params = {"presence": "false", **auth.get("params", {})}
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=30) as http,
        http.stream(
            "GET", f"{BASE}/sync/stream", params=params, headers=auth.get("headers", {})
        ) as response,
    ):
        assert response.status_code == 200
        frames = Frames(response)
        assert await frames.next_block() == {"retry": "3000"}
        assert "id" in (await frames.next_block() or {})
        yield frames


async def closed_by_server(client: Client) -> tuple[int, str]:
    """The code and reason of the close frame the server sends next (frames before it are
    read and kept)."""

    async def read_on() -> None:
        async with asyncio.timeout(WITHIN):
            while True:
                await client.read()

    with pytest.raises(ConnectionClosed) as closed:
        await read_on()
    assert closed.value.rcvd is not None, "the connection dropped without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def final_reason(frames: Frames) -> str:
    """The reason of the stream's final `sync.reconnect`, once the stream has ended."""
    block = await frames.until_event("sync.reconnect", within=WITHIN)
    assert await frames.next_block() is None, "the stream goes on after its final event"
    reason: str = orjson.loads(block["data"])["reason"]
    return reason


async def status(node: HuddleNode, headers: dict[str, str]) -> int:
    async with node.client(headers) as http:
        return (await http.get(OWNED)).status_code


async def publish_marker(node: HuddleNode) -> str:
    async with node.client(bearer("root", admin=True)) as http:
        answer = await http.post(f"{BASE}/events", json={"type": "test.marker", "data": {}})
    assert answer.status_code == 201, answer.text
    marker: str = answer.json()["id"]
    return marker


async def assert_heard_nothing_of_it(bystander: Client, node: HuddleNode) -> None:
    """Another user's connection is open, and its next event is the marker published now."""
    marker = await publish_marker(node)
    await bystander.until(lambda c: any(e["id"] == marker for e in c.events), within=WITHIN)
    assert [e["type"] for e in bystander.events] == ["test.marker"]
    assert (await bystander.request("ping"))["ok"]


async def test_a_replaced_user_token_ends_its_streams_on_every_node(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    async with user_tokens(redis_server, nodes) as keys, AsyncExitStack() as stack:
        old = await issue(keys)
        subscribed = await stack.enter_async_context(ws_with(b, old))
        assert (await subscribed.request("subscribe", **WS1))["ok"]
        unsubscribed = await stack.enter_async_context(ws_with(b, old, in_subprotocol=True))
        stream = await stack.enter_async_context(sse_with(a, params={"access_token": old}))
        by_header = await stack.enter_async_context(sse_with(a, headers={"X-API-KEY": old}))
        bystander = await stack.enter_async_context(ws_client(b, "ben"))
        assert (await bystander.request("subscribe", **WS1))["ok"]
        other_token = await stack.enter_async_context(ws_with(b, await issue(keys, "wd-ben")))

        new = await issue(keys)  # the same user: replaces `old` in one step

        for client in (subscribed, unsubscribed):
            assert await closed_by_server(client) == (4500, "credential revoked")
        assert await final_reason(stream) == "credential_revoked"
        assert await final_reason(by_header) == "credential_revoked"
        for node in (a, b):
            assert await status(node, {"X-API-KEY": old}) == 401
            assert await status(node, {"Authorization": f"Bearer {new}"}) == 200
        await assert_heard_nothing_of_it(bystander, a)
        assert (await other_token.request("ping"))["ok"], "another user's token is untouched"
        async with ws_with(b, new) as successor, sse_with(a, headers={"X-API-KEY": new}):
            assert (await successor.request("subscribe", **WS1))["ok"]


async def test_an_api_key_revoked_through_the_route_ends_its_streams_on_every_node(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    async with a.client(bearer("root", admin=True)) as admin:
        made = await admin.post(
            "/v1/orgs/acme/api-keys", json={"workspace_id": "ws1", "user_id": "crm-bot"}
        )
        assert made.status_code == 201, made.text
        key, key_id = made.json()["key"], made.json()["id"]
        async with AsyncExitStack() as stack:
            subscribed = await stack.enter_async_context(ws_with(b, key))
            assert (await subscribed.request("subscribe", **WS1))["ok"]
            unsubscribed = await stack.enter_async_context(ws_with(b, key))
            stream = await stack.enter_async_context(sse_with(a, headers={"X-API-KEY": key}))
            bystander = await stack.enter_async_context(ws_client(b, "ben"))
            assert (await bystander.request("subscribe", **WS1))["ok"]

            assert (await admin.delete(f"/v1/orgs/acme/api-keys/{key_id}")).status_code == 204

            for client in (subscribed, unsubscribed):
                assert await closed_by_server(client) == (4500, "credential revoked")
            assert await final_reason(stream) == "credential_revoked"
            for node in (a, b):
                assert await status(node, {"X-API-KEY": key}) == 401
            await assert_heard_nothing_of_it(bystander, a)
