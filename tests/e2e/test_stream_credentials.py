"""Streams for browsers on real nodes: a stream ticket opens a stream in its first window and
keeps serving that stream's reconnects until its token expires; a stream ends by itself, with a
final event saying why, when its credential expires or its lifetime is over; a live stream
tells the browser where it started; a named presence session survives the stream's reconnects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.nodes import HuddleNode, NodeFactory, bearer, read_events
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

BASE = "/v1/orgs/acme/workspaces/ws1"
STREAM = f"{BASE}/sync/stream"
TICKET = f"{BASE}/sync/ticket"
PUBLISH = f"{BASE}/events"


class Frames:
    """A raw SSE reader: each block as a dict of its fields (`id`, `event`, `data`)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.blocks: list[dict[str, str]] = []

    async def next_block(self, within: float = 15) -> dict[str, str] | None:
        """The next block with a field (comments skipped); None when the stream ended."""
        block: dict[str, str] = {}
        async with asyncio.timeout(within):
            async for line in self._lines:
                if line == "":
                    if block:
                        self.blocks.append(block)
                        return block
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(": ")
                block[name] = value
        return None

    async def until_event(self, event_type: str, within: float = 15) -> dict[str, str]:
        async with asyncio.timeout(within):
            while True:
                block = await self.next_block(within)
                assert block is not None, f"the stream ended before a {event_type}"
                if block.get("event") == event_type:
                    return block


@asynccontextmanager
async def stream(
    node: HuddleNode, params: dict[str, Any], headers: dict[str, str] | None = None
) -> AsyncIterator[Frames]:
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=30) as http,
        http.stream("GET", STREAM, params=params, headers=headers or {}) as response,
    ):
        yield Frames(response)


async def mint_ticket(node: HuddleNode, **token: Any) -> dict[str, Any]:
    async with node.client(bearer("ana", **token)) as http:
        answer = await http.post(TICKET)
    assert answer.status_code == 200, answer.text
    ticket: dict[str, Any] = answer.json()
    return ticket


async def publish(node: HuddleNode, *numbers: int) -> list[str]:
    async with node.client(bearer("svc", admin=True)) as http:
        ids = []
        for n in numbers:
            answer = await http.post(PUBLISH, json={"type": "test.n", "data": {"n": n}})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
        return ids


async def status_of(node: HuddleNode, params: dict[str, Any], headers: dict[str, str]) -> int:
    """The status a stream request is answered with (the stream is closed at once)."""
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=10) as http,
        http.stream("GET", STREAM, params=params, headers=headers) as response,
    ):
        return response.status_code


async def test_a_live_stream_tells_the_browser_where_it_started(nodes: NodeFactory) -> None:
    """Without a cursor, the block after `retry:` is an id-only block holding the position the
    stream went live at (`origin:0` on an empty workspace): a browser that reconnects before
    any event resumes from there and misses nothing."""
    a = await nodes.start("memory://", name="a")
    async with stream(a, {"presence": "false"}, bearer("ana")) as frames:
        assert (await frames.next_block()) == {"retry": "3000"}
        assert (await frames.next_block()) == {"id": "origin:0"}
    published = await publish(a, 1, 2)
    async with stream(a, {"presence": "false"}, bearer("ana")) as frames:
        await frames.next_block()
        assert (await frames.next_block()) == {"id": published[-1]}
        later = await publish(a, 3)
        block = await frames.until_event("test.n")
        assert block["id"] == later[0]
    async with stream(
        a, {"presence": "false"}, {**bearer("ana"), "Last-Event-ID": "origin:0"}
    ) as frames:
        await frames.next_block()
        replayed = [await frames.until_event("test.n") for _ in range(3)]
        assert [b["id"] for b in replayed] == [*published, *later]


async def test_a_ticket_opens_new_streams_only_in_its_first_window_but_serves_reconnects(
    nodes: NodeFactory,
) -> None:
    """After `HUDDLE_STREAM_TICKET_TTL` a ticket no longer opens a stream (401 TICKET_STALE),
    but a reconnect carrying Last-Event-ID is served, from exactly the next event."""
    a = await nodes.start("memory://", name="a", stream_ticket_ttl=1, jwt_leeway=0)
    ticket = await mint_ticket(a)
    assert ticket["expires_in"] <= 2
    assert 500 <= ticket["resumable_for"] <= 600, "bounded by the 600 s token it came from"
    params = {"access_token": ticket["ticket"], "presence": "false"}
    async with stream(a, params) as frames:
        assert frames.response.status_code == 200
        await frames.next_block()
        start = (await frames.next_block() or {})["id"]

    async def refused_as_new() -> bool:
        return await status_of(a, params, {}) == 401

    await wait_until(refused_as_new, within=5, what="the ticket to stop opening new streams")
    async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
        stale = await http.get(STREAM, params=params)
    assert stale.json()["error"] == "TICKET_STALE"
    published = await publish(a, 1, 2)
    async with stream(a, params, {"Last-Event-ID": start}) as frames:
        assert frames.response.status_code == 200
        got = [await frames.until_event("test.n") for _ in range(2)]
    assert [b["id"] for b in got] == published


async def test_a_stream_ends_when_its_credential_expires_and_its_ticket_with_it(
    nodes: NodeFactory,
) -> None:
    """A ticket minted from a token that expires in 4 s: its stream ends then with
    `sync.reconnect` `credential_expired` (no `id:`), and a reconnect is refused (401)."""
    a = await nodes.start("memory://", name="a", jwt_leeway=0)
    ticket = await mint_ticket(a, ttl=4)
    params = {"access_token": ticket["ticket"], "presence": "false"}
    opened = time.monotonic()
    async with stream(a, params) as frames:
        assert frames.response.status_code == 200
        await frames.next_block()
        start = (await frames.next_block() or {})["id"]
        final = await frames.until_event("sync.reconnect", within=10)
        assert await frames.next_block() is None, "the stream ends after its final event"
    assert "id" not in final
    assert orjson.loads(final["data"]) == {"reason": "credential_expired"}
    assert time.monotonic() - opened < 10
    async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
        again = await http.get(STREAM, params=params, headers={"Last-Event-ID": start})
    assert again.status_code == 401
    assert again.json()["error"] == "TOKEN_EXPIRED"


async def test_a_bearer_stream_ends_when_its_token_expires(nodes: NodeFactory) -> None:
    a = await nodes.start("memory://", name="a", jwt_leeway=0)
    async with stream(a, {"presence": "false"}, bearer("ana", ttl=4)) as frames:
        assert frames.response.status_code == 200
        final = await frames.until_event("sync.reconnect", within=10)
    assert orjson.loads(final["data"]) == {"reason": "credential_expired"}


async def test_streams_end_at_the_node_lifetime_cap_and_resume(nodes: NodeFactory) -> None:
    """`HUDDLE_SSE_MAX_LIFETIME` ends a stream before its `timeout` (reason `timeout`); the
    reconnect with its ticket and Last-Event-ID resumes with exactly the missed events."""
    a = await nodes.start("memory://", name="a", sse_max_lifetime=1)
    ticket = await mint_ticket(a)
    params = {"access_token": ticket["ticket"], "presence": "false"}
    async with stream(a, params) as frames:
        await frames.next_block()
        start = (await frames.next_block() or {})["id"]
        final = await frames.until_event("sync.reconnect", within=10)
    assert orjson.loads(final["data"]) == {"reason": "timeout"}
    missed = await publish(a, 1, 2, 3)
    async with stream(a, params, {"Last-Event-ID": start}) as frames:
        got = [await frames.until_event("test.n") for _ in range(3)]
    assert [b["id"] for b in got] == missed


async def test_a_ticket_is_refused_everywhere_but_the_stream(nodes: NodeFactory) -> None:
    """REST (header or X-API-KEY), the WebSocket handshake and `auth.refresh` refuse a ticket;
    so does another workspace's stream."""
    a = await nodes.start("memory://", name="a")
    ticket = (await mint_ticket(a))["ticket"]
    async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
        for headers in ({"Authorization": f"Bearer {ticket}"}, {"X-API-KEY": ticket}):
            answer = await http.get("/v1/collaboration/locks/my-locks", headers=headers)
            assert answer.status_code == 401, answer.text
        other = await http.get(
            "/v1/orgs/acme/workspaces/ws2/sync/stream", params={"access_token": ticket}
        )
        assert other.status_code == 403
        another_org = await http.get(
            "/v1/orgs/evil/workspaces/ws1/sync/stream", params={"access_token": ticket}
        )
        assert another_org.status_code == 404
    ws_url = a.url.replace("http", "ws") + "/v1/ws"
    async with connect(ws_url, subprotocols=["huddle.v1.json", f"huddle.token.{ticket}"]) as ws:  # type: ignore[list-item]  # websockets types subprotocols as its own NewType
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4500
    token = bearer("ana")["Authorization"].split()[1]
    async with connect(ws_url, subprotocols=["huddle.v1.json", f"huddle.token.{token}"]) as ws:  # type: ignore[list-item]  # as above
        hello = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["op"] == "hello"
        await ws.send(orjson.dumps({"id": 1, "op": "auth.refresh", "token": ticket}).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["ok"] is False and reply["error"]["code"] == "AUTHENTICATION_FAILED"


async def test_a_ticket_of_a_revoked_api_key_stops_working(nodes: NodeFactory) -> None:
    a = await nodes.start("memory://", name="a")
    async with a.client(bearer("root", admin=True)) as admin:
        made = await admin.post(
            "/v1/orgs/acme/api-keys",
            json={"workspace_id": "ws1", "user_id": "bot", "admin": False, "name": "Bot"},
        )
        assert made.status_code == 201, made.text
        key = made.json()
        minted = await admin.post(TICKET, headers={"Authorization": "", "X-API-KEY": key["key"]})
        assert minted.status_code == 200, minted.text
        ticket = minted.json()["ticket"]
        params = {"access_token": ticket, "presence": "false"}
        assert await status_of(a, params, {}) == 200
        assert (await admin.delete(f"/v1/orgs/acme/api-keys/{key['id']}")).status_code == 204
    assert await status_of(a, params, {"Last-Event-ID": "origin:0"}) == 401


async def test_a_named_stream_session_survives_the_stream_reconnecting(
    nodes: NodeFactory,
) -> None:
    """`session_id=tab-1`: the stream's reconnect keeps one presence session (one
    `presence.joined`, no `presence.left`); after the last stream ends it expires within a
    presence TTL (`reason: timeout`). An unnamed stream's session leaves when it ends."""
    a = await nodes.start("memory://", name="a", presence_ttl=1)
    params = {"session_id": "tab-1"}
    async with stream(a, params, bearer("ana")) as frames:
        await frames.next_block()
        joined = await frames.until_event("presence.joined")
    async with stream(a, params, {**bearer("ana"), "Last-Event-ID": joined["id"]}) as frames:
        await frames.next_block()
        marker = await publish(a, 1)
        block = await frames.until_event("test.n")
        assert block["id"] == marker[0], "the reconnect announced nothing before the marker"
    async with a.client(bearer("auditor")) as http:

        async def left() -> list[dict[str, Any]]:
            events = await read_events(http)
            return [e for e in events if e["type"] == "presence.left"]

        gone = await wait_until(left, within=10, what="the named session to expire")
        sessions = [e for e in await read_events(http) if e["type"].startswith("presence.")]
    assert [(e["type"], e["data"]["session_id"]) for e in sessions] == [
        ("presence.joined", "ana/tab-1"),
        ("presence.left", "ana/tab-1"),
    ]
    assert gone[0]["data"]["reason"] == "timeout"


async def test_a_stream_without_presence_is_no_session(nodes: NodeFactory) -> None:
    a = await nodes.start("memory://", name="a")
    async with stream(a, {"presence": "false"}, bearer("ana")) as frames:
        await frames.next_block()
        await frames.next_block()
        marker = await publish(a, 1)
        assert (await frames.until_event("test.n"))["id"] == marker[0]
        async with a.client(bearer("auditor")) as http:
            roster = (await http.get(f"{BASE}/sync/presence")).json()
            events = await read_events(http)
    assert roster["users"] == []
    assert [e["type"] for e in events] == ["test.n"]


async def test_a_reset_has_an_id_and_the_time_it_was_sent(nodes: NodeFactory) -> None:
    """Resuming from another epoch on an empty workspace: `sync.reset` says `origin:0` (so a
    browser's Last-Event-ID leaves the old epoch) and carries the current time."""
    a = await nodes.start("memory://", name="a")
    headers = {**bearer("ana"), "Last-Event-ID": "gone:17"}
    before = time.time()
    async with stream(a, {"presence": "false"}, headers) as frames:
        reset = await frames.until_event("sync.reset")
    assert reset["id"] == "origin:0"
    body = orjson.loads(reset["data"])
    assert body["id"] == "origin:0"
    sent = time.mktime(time.strptime(body["ts"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert before - 5 <= sent <= time.time() + 5, body["ts"]
    async with a.client(bearer("ana")) as http:
        page = (await http.get(f"{BASE}/sync/events", params={"after": "gone:17"})).json()
    assert page["reset"] is True and page["next"] == "origin:0"
    assert page["events"][0]["id"] == "origin:0"


async def test_a_ticket_stream_is_one_presence_session_across_its_reconnects(
    nodes: NodeFactory,
) -> None:
    """A native EventSource names no session: its stream is named after its ticket, which
    every reconnect presents, so the reconnect announces nothing new."""
    a = await nodes.start("memory://", name="a")
    params = {"access_token": (await mint_ticket(a))["ticket"]}
    async with stream(a, params) as frames:
        joined = await frames.until_event("presence.joined")
    async with stream(a, params, {"Last-Event-ID": joined["id"]}) as frames:
        await frames.next_block()
        marker = await publish(a, 1)
        assert (await frames.until_event("test.n"))["id"] == marker[0]
    async with a.client(bearer("auditor")) as http:
        events = await read_events(http)
    session = orjson.loads(joined["data"])["data"]["session_id"]
    assert session.startswith("ana/sse-")
    assert [e["type"] for e in events] == ["presence.joined", "user.online", "test.n"]


async def test_a_stream_ends_at_its_timeout_and_resumes_with_no_gap(nodes: NodeFactory) -> None:
    """`timeout=60` (the least the seed allows): the stream ends 60 s after it opened, with
    `sync.reconnect` `timeout` and no `id:`; resuming from its last id misses nothing."""
    a = await nodes.start("memory://", name="a")
    ticket = await mint_ticket(a)
    params = {"access_token": ticket["ticket"], "presence": "false", "timeout": 60}
    async with stream(a, params) as frames:
        opened = time.monotonic()
        await frames.next_block()
        await frames.next_block()
        before = await publish(a, 1, 2)
        got = [await frames.until_event("test.n") for _ in range(2)]
        final = await frames.until_event("sync.reconnect", within=75)
        ended = time.monotonic() - opened
    assert [b["id"] for b in got] == before
    assert "id" not in final and orjson.loads(final["data"]) == {"reason": "timeout"}
    assert 59 <= ended <= 61, ended
    after = await publish(a, 3)
    async with stream(a, params, {"Last-Event-ID": before[-1]}) as frames:
        resumed = await frames.until_event("test.n")
    assert resumed["id"] == after[0]
