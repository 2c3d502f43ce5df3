"""`huddle.client` against real nodes: what is published through node B reaches a client of
node A in order and exactly once, over WebSocket (JSON, msgpack) and over SSE; a dropped
connection or a full queue resumes from the last event; a refused upgrade falls back to SSE;
the lock helper keeps a short lease alive and releases it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from huddle.client import (
    AuthError,
    Backoff,
    ClientClosed,
    ClientError,
    ClientEvent,
    HuddleClient,
    LockHeldError,
    UpgradeRefused,
)
from huddle.client.inbox import Inbox
from huddle.client.subscriptions import Subscriptions
from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.models import Audience
from huddle.protocol.close_codes import CloseCode
from tests.support.nodes import SECRET, HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

WS1 = ("acme", "ws1")
WITHIN = 20.0

TRANSPORTS = [
    pytest.param("ws", "json", id="ws-json"),
    pytest.param("ws", "msgpack", id="ws-msgpack"),
    pytest.param("sse", "json", id="sse"),
]


def token(user: str, *, admin: bool = False, name: str | None = None) -> str:
    return bearer(user, admin=admin, name=name)["Authorization"].split()[1]


def token_for_all_workspaces(user: str, *, admin: bool = False) -> str:
    """A token for every workspace of org acme (`bearer` makes one-workspace tokens)."""
    now = int(time.time())
    roles = ["admin", "member"] if admin else ["member"]
    claims = {"sub": user, "org": "acme", "workspaces": "*", "roles": roles}
    return jwt.encode({**claims, "iat": now, "exp": now + 600}, SECRET, algorithm="HS256")


async def two_nodes(nodes: NodeFactory, redis: RedisServer, **settings: object) -> list[HuddleNode]:
    return list(
        await asyncio.gather(
            nodes.start(redis.url(), name="a", **settings),
            nodes.start(redis.url(), name="b", **settings),
        )
    )


async def publish_rest(
    node: HuddleNode, numbers: Iterable[int], workspace: str = "ws1"
) -> list[str]:
    """Publish `test.n` events one after the other through `node`'s REST route (admin)."""
    ids = []
    url = f"/v1/orgs/acme/workspaces/{workspace}/events"
    async with node.client(bearer("svc", admin=True, workspace=workspace)) as http:
        for n in numbers:
            answer = await http.post(url, json={"type": "test.n", "data": {"n": n}})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    return ids


async def take(
    stream: AsyncIterator[ClientEvent], count: int, types: Iterable[str] = ("test.n",)
) -> list[ClientEvent]:
    """The next `count` events of the given types (others are skipped)."""
    wanted = set(types)
    got: list[ClientEvent] = []
    async with asyncio.timeout(WITHIN):
        while len(got) < count:
            event = await anext(stream)
            if event.type in wanted:
                got.append(event)
    return got


async def assert_next_is(stream: AsyncIterator[ClientEvent], marker_id: str) -> None:
    """Nothing (no repeat) comes between what was taken and the marker: the log is ordered."""
    (event,) = await take(stream, 1)
    assert event.id == marker_id, f"expected the marker {marker_id}, got {event}"


# --- delivery --------------------------------------------------------------------------------


@pytest.mark.parametrize(("transport", "codec"), TRANSPORTS)
async def test_events_published_through_another_node_arrive_in_order_exactly_once(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any, codec: Any
) -> None:
    """A client of node A sees every event published through node B (by a client of B, or
    over REST) once, in log order, as typed events."""
    a, b = await two_nodes(nodes, redis_server)
    async with (
        HuddleClient(a.url, token("ana"), transport=transport, codec=codec) as reader,
        HuddleClient(b.url, token("svc", admin=True), transport=transport) as writer,
    ):
        assert reader.transport == transport
        await reader.subscribe(*WS1)
        stream = reader.events()
        published = [await writer.publish(*WS1, "test.n", {"n": n}) for n in range(10)]
        published_ids = [e.id for e in published] + await publish_rest(b, range(10, 20))

        got = await take(stream, 20)
        assert [e.id for e in got] == published_ids
        assert [e.data["n"] for e in got] == list(range(20))
        seqs = [e.seq for e in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == 20
        first = got[0]
        assert first.workspace == WorkspaceKey(OrgId("acme"), WorkspaceId("ws1"))
        assert first.actor is not None and first.actor.id == "svc"
        assert isinstance(first.ts, datetime) and first.ts.tzinfo == UTC
        assert first == published[0]

        (marker,) = await publish_rest(b, [99])
        await assert_next_is(stream, marker)


@pytest.mark.parametrize(("transport", "codec"), TRANSPORTS)
async def test_an_event_published_with_an_audience_reaches_only_that_audience(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any, codec: Any
) -> None:
    """The client publishes for Ben alone (over the WebSocket, or REST when on SSE): Ben's
    client gets it, Ana's does not — the public marker after it is her next event."""
    a, b = await two_nodes(nodes, redis_server)
    async with (
        HuddleClient(a.url, token("ana"), transport=transport, codec=codec) as ana,
        HuddleClient(a.url, token("ben"), transport=transport, codec=codec) as ben,
        HuddleClient(b.url, token("svc", admin=True), transport=transport) as writer,
    ):
        await ana.subscribe(*WS1)
        await ben.subscribe(*WS1)
        ana_stream, ben_stream = ana.events(), ben.events()
        private = await writer.publish(*WS1, "test.n", {"n": 1}, audience=Audience.of(["ben"]))
        (marker,) = await publish_rest(b, [2])
        assert [e.id for e in await take(ben_stream, 2)] == [private.id, marker]
        assert [e.id for e in await take(ana_stream, 1)] == [marker]


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_an_ephemeral_broadcast_arrives_live_and_leaves_the_cursor_alone(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any
) -> None:
    """`publish(..., persist=False)` reaches live subscribers as an event without id (seq 0),
    in order with the logged ones; the cursor stays on the last logged event."""
    a, b = await two_nodes(nodes, redis_server)
    async with (
        HuddleClient(a.url, token("ana"), transport=transport) as reader,
        HuddleClient(b.url, token("svc", admin=True), transport=transport) as writer,
    ):
        await reader.subscribe(*WS1)
        stream = reader.events()
        logged = await writer.publish(*WS1, "test.n", {"n": 1})
        typing = await writer.publish(*WS1, "test.typing", {"at": 3}, persist=False)
        assert typing.ephemeral and typing.seq == 0
        (marker,) = await publish_rest(b, [2])
        got = await take(stream, 3, ["test.n", "test.typing"])
        assert [(e.type, e.id) for e in got] == [
            ("test.n", logged.id),
            ("test.typing", None),
            ("test.n", marker),
        ]
        assert got[1].data == {"at": 3}
        assert reader.cursor(*WS1) == marker


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_one_client_follows_many_workspaces_until_it_unsubscribes(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any
) -> None:
    """Events of every subscribed workspace come through one `events()`, each workspace in
    its own order; after `unsubscribe` none of that workspace's events come any more."""
    a, b = await two_nodes(nodes, redis_server)
    async with HuddleClient(a.url, token_for_all_workspaces("ana"), transport=transport) as client:
        await client.subscribe("acme", "ws1")
        await client.subscribe("acme", "ws2")
        assert sorted(w.tag for w in client.subscriptions) == ["acme/ws1", "acme/ws2"]
        stream = client.events()
        ids = {ws: await publish_rest(b, range(4), ws) for ws in ("ws1", "ws2")}
        got = await take(stream, 8)
        for ws, published in ids.items():
            assert [e.id for e in got if e.workspace_id == ws] == published

        await client.unsubscribe("acme", "ws2")
        await publish_rest(b, [98], "ws2")
        (marker,) = await publish_rest(b, [99], "ws1")
        await assert_next_is(stream, marker)


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_a_refused_subscription_raises_and_is_forgotten(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any
) -> None:
    """A workspace the token does not cover is refused (FORBIDDEN; another org's is
    RESOURCE_NOT_FOUND); the client keeps no subscription for it and goes on."""
    a = await nodes.start(redis_server.url(), name="a")
    async with HuddleClient(a.url, token("ana"), transport=transport) as client:
        with pytest.raises(ClientError) as forbidden:
            await client.subscribe("acme", "ws2")
        assert forbidden.value.code == "FORBIDDEN"
        with pytest.raises(ClientError) as elsewhere:
            await client.subscribe("globex", "ws1")
        assert elsewhere.value.code == "RESOURCE_NOT_FOUND"
        assert client.subscriptions == []
        await client.subscribe(*WS1)
        (published,) = await publish_rest(a, [1])
        assert [e.id for e in await take(client.events(), 1)] == [published]


@pytest.mark.parametrize(("transport", "codec"), TRANSPORTS[::2])
async def test_a_dropped_connection_resumes_after_the_last_event_without_gap_or_repeat(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any, codec: Any
) -> None:
    """After the connection drops with a reconnecting code, the client reconnects and
    resubscribes from its last event id: what was published meanwhile arrives once."""
    a, b = await two_nodes(nodes, redis_server)
    async with HuddleClient(a.url, token("ana"), transport=transport, codec=codec) as client:
        await client.subscribe(*WS1)
        stream = client.events()
        before = await publish_rest(b, range(5))
        assert [e.id for e in await take(stream, 5)] == before
        assert client.cursor(*WS1) == before[-1]

        await client.drop_connection(CloseCode.GOING_AWAY)
        after = await publish_rest(b, range(5, 10))
        assert [e.id for e in await take(stream, 5)] == after
        (marker,) = await publish_rest(b, [99])
        await assert_next_is(stream, marker)
        assert client.reconnects >= 1


async def test_a_drop_before_the_first_event_of_an_empty_log_loses_nothing(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Subscribed to an empty log (position `origin:0`), dropped before any event: the events
    published meanwhile all arrive after the reconnect, in order, with no reset."""
    a, b = await two_nodes(nodes, redis_server)
    async with HuddleClient(a.url, token("ana"), backoff=(1.0, 1.0)) as client:
        await client.subscribe(*WS1)
        assert str(client.cursor(*WS1)) == "origin:0"
        await client.drop_connection(CloseCode.GOING_AWAY)
        ids = await publish_rest(b, range(3))  # most likely before the reconnect, 0.5-1 s on
        stream = client.events()
        assert [e.id for e in await take(stream, 3, ["test.n", "sync.reset"])] == ids
        (marker,) = await publish_rest(b, [99])
        await assert_next_is(stream, marker)


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_a_full_queue_drops_the_connection_and_loses_nothing(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any
) -> None:
    """A reader that stops reading holds at most `queue_size` events: the client drops the
    connection (the stream), waits until the reader catches up, and resumes from its cursor:
    the events published meanwhile come from the log, none twice."""
    a, b = await two_nodes(nodes, redis_server)
    async with HuddleClient(a.url, token("ana"), transport=transport, queue_size=4) as client:
        await client.subscribe(*WS1)
        ids = await publish_rest(b, range(12))
        await wait_until(
            lambda: _true(client.queue_overflows >= 1), within=WITHIN, what="a full queue"
        )
        stream = client.events()
        assert [e.id for e in await take(stream, 12)] == ids
        (marker,) = await publish_rest(b, [99])
        await assert_next_is(stream, marker)
        assert client.reconnects >= 1


async def test_subscribing_since_an_event_replays_exactly_what_followed(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """`since` is an event id: a new client gets the events after it, then live ones."""
    (a,) = [await nodes.start(redis_server.url(), name="a")]
    ids = await publish_rest(a, range(6))
    async with HuddleClient(a.url, token("ana")) as client:
        await client.subscribe(*WS1, since=ids[2])
        stream = client.events()
        assert [e.id for e in await take(stream, 3)] == ids[3:]
        (marker,) = await publish_rest(a, [99])
        await assert_next_is(stream, marker)


# --- fallback and stopping -------------------------------------------------------------------


@asynccontextmanager
async def upgrade_refusing_proxy(node: HuddleNode) -> AsyncIterator[str]:
    """A TCP proxy to `node` that answers every WebSocket upgrade with 400, like a proxy
    configured without upgrade support; the URL to use instead of the node's."""
    handlers: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"upgrade: websocket" in head.lower():
                writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
                return
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", node.port)
            writers.add(upstream)
            upstream.write(head)
            await asyncio.gather(pipe(reader, upstream), pipe(upstream_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:  # ends every pipe (a cancelled handler would be logged)
            writer.close()
        if handlers:
            await asyncio.wait(handlers, timeout=WITHIN)
        await server.wait_closed()


async def test_a_refused_upgrade_falls_back_to_sse_and_rest(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """With transport="auto", a proxy refusing WebSocket upgrades makes the client use SSE
    streams for events and REST for requests, transparently."""
    a, b = await two_nodes(nodes, redis_server)
    async with (
        upgrade_refusing_proxy(a) as proxied,
        HuddleClient(proxied, token("svc", admin=True)) as client,
    ):
        assert client.transport == "sse"
        await client.subscribe(*WS1)
        stream = client.events()
        mine = await client.publish(*WS1, "test.n", {"n": 0})
        theirs = await publish_rest(b, [1])
        assert [e.id for e in await take(stream, 2)] == [mine.id, *theirs]
        assert await client.ping() == {"pong": True}


async def test_ws_only_clients_are_refused_by_such_a_proxy(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """transport="ws" never falls back: the refused upgrade is the error."""
    a = await nodes.start(redis_server.url(), name="a")
    async with upgrade_refusing_proxy(a) as proxied:
        client = HuddleClient(proxied, token("ana"), transport="ws")
        with pytest.raises(UpgradeRefused) as caught:
            await client.connect()
        assert caught.value.status == 400


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_a_bad_token_is_an_auth_error(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any
) -> None:
    """A refused credential stops the client with AuthError (close 4500, or HTTP 401)."""
    a = await nodes.start(redis_server.url(), name="a")
    bad = token("ana")[:-4] + "AAAA"
    client = HuddleClient(a.url, bad, transport=transport)

    async def connect_and_subscribe() -> None:
        await client.connect()  # WebSocket: closed with 4500 before `hello`
        await client.subscribe(*WS1)  # SSE: the stream answers 401

    try:
        with pytest.raises(AuthError):
            await connect_and_subscribe()
    finally:
        await client.aclose()


async def test_a_close_code_that_says_stop_ends_the_client(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """4500 and above: no reconnect; `events()` and requests raise the typed error."""
    a = await nodes.start(redis_server.url(), name="a")
    async with HuddleClient(a.url, token("ana")) as client:
        await client.subscribe(*WS1)
        await client.drop_connection(CloseCode.BAD_FRAME)
        with pytest.raises(ClientClosed) as caught:
            async with asyncio.timeout(WITHIN):
                await anext(client.events())
        assert caught.value.code == CloseCode.BAD_FRAME
        assert not isinstance(caught.value, AuthError)
        with pytest.raises(ClientClosed):
            await client.ping()
    assert client.reconnects == 0


async def test_an_expired_token_is_renewed_from_the_token_source(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """The node closes a connection whose token expired (4010): a client with a fixed token
    stops with AuthError, one with a token source reconnects with a new token and resumes."""
    a = await nodes.start(redis_server.url(), name="a", jwt_leeway=0)
    issued = 0

    async def short_lived() -> str:
        nonlocal issued
        issued += 1
        return bearer("ana", ttl=2)["Authorization"].split()[1]

    async with (
        HuddleClient(a.url, short_lived) as renewing,
        HuddleClient(a.url, await short_lived()) as fixed,
    ):
        await renewing.subscribe(*WS1)
        await fixed.subscribe(*WS1)
        with pytest.raises(AuthError) as expired:
            async with asyncio.timeout(WITHIN):
                await anext(fixed.events())
        assert expired.value.code == CloseCode.AUTH_EXPIRED
        await wait_until(lambda: _true(renewing.reconnects >= 1), within=WITHIN, what="renewal")
        assert issued >= 3
        (published,) = await publish_rest(a, [1])
        (event,) = await take(renewing.events(), 1)
        assert event.id == published


# --- requests and locks ----------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["ws", "sse"])
async def test_the_lock_helper_keeps_a_short_lease_alive_and_releases_it(
    nodes: NodeFactory, redis_server: RedisServer, transport: Any
) -> None:
    """`client.lock(..., ttl=1)` refreshes every ttl/3: the lease outlives two TTLs (others
    are refused meanwhile, nothing expires) and is released when the block ends."""
    a, b = await two_nodes(nodes, redis_server, lock_ttl_min=0.5)
    async with (
        HuddleClient(a.url, token("ana", name="Ana"), transport=transport) as ana,
        HuddleClient(b.url, token("ben"), transport=transport) as ben,
    ):
        await ana.subscribe(*WS1)
        stream = ana.events()
        async with ana.lock(*WS1, "deal", "42", ttl=1) as lock:
            kinds = ("lock.acquired", "lock.refreshed", "lock.expired", "lock.released")
            (acquired,) = await take(stream, 1, kinds)
            assert acquired.type == "lock.acquired"
            assert acquired.data["fencing_token"] == lock.fencing_token
            refreshed = await take(stream, 7, kinds)  # 7 x ttl/3: more than two TTLs
            assert {e.type for e in refreshed} == {"lock.refreshed"}

            async def refreshed_seven_times() -> bool:
                # the 7th event may come in before the 7th refresh's own reply
                return lock.refreshes >= 7

            await wait_until(refreshed_seven_times, what="the 7th refresh's reply")
            assert lock.held
            with pytest.raises(LockHeldError) as held:
                await ben.acquire(*WS1, "deal", "42")
            assert held.value.holder == {"userId": "ana", "name": "Ana"}
            assert held.value.expires_at is not None
        released = [e for e in await take(stream, 1, kinds) if e.type != "lock.refreshed"]
        while not released:  # a refresh may have been in flight when the block ended
            released = [e for e in await take(stream, 1, kinds) if e.type != "lock.refreshed"]
        assert released[0].type == "lock.released"
        assert released[0].data["fencing_token"] == lock.fencing_token
        assert not lock.held
        taken = await ben.acquire(*WS1, "deal", "42")
        assert taken["fencingToken"] > lock.fencing_token


async def test_a_held_lock_moves_to_the_new_connection_before_the_release_grace_ends(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """The node releases a dropped connection's locks after a grace period; the helper
    refreshes as soon as it reconnects, which moves the lease to the new connection."""
    a = await nodes.start(redis_server.url(), name="a", lock_release_grace=0.5)
    async with HuddleClient(a.url, token("ana")) as client:
        await client.subscribe(*WS1)
        stream = client.events()
        kinds = ("lock.acquired", "lock.refreshed", "lock.released", "lock.expired")
        async with client.lock(*WS1, "deal", "42", ttl=3) as lock:
            (acquired,) = await take(stream, 1, kinds)
            assert acquired.data["session_id"] == client.connection_id
            first_connection = client.connection_id
            await client.drop_connection(CloseCode.GOING_AWAY)
            # The refresh on the new connection, then one a whole interval (1 s) later: the
            # grace (0.5 s) ended between them, and no release came (the log is ordered).
            moved, later = await take(stream, 2, kinds)
            assert (moved.type, later.type) == ("lock.refreshed", "lock.refreshed")
            assert moved.data["session_id"] == client.connection_id != first_connection
            assert lock.held
        (released,) = await take(stream, 1, kinds)
        assert released.type == "lock.released"


async def test_requests_answer_results_and_typed_errors(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Presence, publish, ping and lock requests over WebSocket, with errors as ClientError."""
    a = await nodes.start(redis_server.url(), name="a")
    async with HuddleClient(a.url, token("ana", name="Ana"), codec="msgpack") as client:
        assert client.connection_id
        assert await client.ping() == {"pong": True}
        joined = await client.view(*WS1, "deal", "7")
        assert joined["viewing"]["resource_id"] == "7"
        event = await client.publish(*WS1, "test.n", {"n": 1}, idempotency_key="k-1")
        again = await client.publish(*WS1, "test.n", {"n": 1}, idempotency_key="k-1")
        assert again.id == event.id
        refreshed = await client.refresh_token(token("ana", name="Ana"))
        assert isinstance(refreshed["expires_at"], float | int)
        lock = await client.acquire(*WS1, "deal", "7", ttl=5)
        assert lock["holder"]["userId"] == "ana" and lock["reentrant"] is False
        assert (await client.refresh(*WS1, "deal", "7"))["fencingToken"] == lock["fencingToken"]
        assert (await client.release(*WS1, "deal", "7"))["released"] is True
        with pytest.raises(ClientError) as refused:
            await client.refresh(*WS1, "deal", "7")
        assert refused.value.code == "LOCK_NOT_HELD"
        left = await client.leave(*WS1)
        assert left["left"] is True


# --- the client's own rules, without a node ---------------------------------------------------


def _wire(seq: int, *, epoch: str = "e1", kind: str = "test.n") -> dict[str, Any]:
    return {
        "id": f"{epoch}:{seq}",
        "seq": seq,
        "type": kind,
        "org_id": "acme",
        "workspace_id": "ws1",
        "actor": None,
        "data": {},
        "ts": "2026-01-05T10:02:00.000Z",
    }


async def test_repeats_are_dropped_and_a_reset_always_delivered() -> None:
    """An event at or before the workspace's cursor (same epoch) is a repeat; a reset moves
    the cursor to its head whatever it was."""
    subs = Subscriptions(Inbox(10))
    subs.add(WorkspaceKey(OrgId("acme"), WorkspaceId("ws1")), None)
    for seq in (1, 2, 2, 1, 3):
        assert subs.accept(_wire(seq))
    reset = _wire(2, kind="sync.reset")
    assert subs.accept(reset)
    assert subs.accept(_wire(3))
    assert subs.accept(_wire(1, epoch="e2"))
    seen = []
    while len(subs.inbox):
        event = await subs.inbox.get()
        assert event is not None
        seen.append(event.id)
    assert seen == ["e1:1", "e1:2", "e1:3", "e1:2", "e1:3", "e2:1"]


async def test_a_full_inbox_refuses_and_makes_room_at_half() -> None:
    inbox = Inbox(4)
    subs = Subscriptions(inbox)
    subs.add(WorkspaceKey(OrgId("acme"), WorkspaceId("ws1")), None)
    assert all([subs.accept(_wire(seq)) for seq in range(1, 5)])
    assert not subs.accept(_wire(5))
    assert inbox.overflows == 1
    waiting = asyncio.ensure_future(inbox.wait_room())
    await inbox.get()
    assert not waiting.done()
    await inbox.get()
    async with asyncio.timeout(1):
        await waiting
    assert subs.accept(_wire(5))


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(0.1, 1.0)
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (3, 0.8), (4, 1.0), (60, 1.0)]:
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)


async def _true(value: bool) -> bool:
    return value
