"""Live delivery on real nodes: SSE and REST polling clients of node A see, in order and exactly
once, what is published through node B; streams resume from their last id, and a history that
is gone is a `sync.reset`, never a silent gap."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

STREAM = "/v1/orgs/acme/workspaces/ws1/sync/stream"
EVENTS = "/v1/orgs/acme/workspaces/ws1/sync/events"
PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"


class Reader:
    """An SSE client that keeps every event it got, for checks after the fact."""

    def __init__(self, source: EventSource) -> None:
        self.source = source
        self._sse = source.aiter_sse()
        self.events: list[ServerSentEvent] = []
        self.retry: int | None = None

    async def until(self, done: Any, within: float = 20) -> list[ServerSentEvent]:
        """Read until `done(events)` holds; fails after `within` seconds."""
        async with asyncio.timeout(within):
            while not done(self.events):
                sse = await anext(self._sse)
                self.retry = sse.retry if sse.retry is not None else self.retry
                if sse.event == "message" and not sse.data:
                    continue  # a bare `retry:` block
                self.events.append(sse)
        return self.events


@asynccontextmanager
async def sse(node: HuddleNode, user: str = "reader", **params: str) -> AsyncIterator[Reader]:
    headers = bearer(user)
    if last := params.pop("last_event_id", None):
        headers["Last-Event-ID"] = last
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=30) as http,
        aconnect_sse(http, "GET", STREAM, headers=headers, params=params) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        assert source.response.headers["cache-control"] == "no-store"
        yield Reader(source)


async def publish(node: HuddleNode, count: int, *, start: int = 0, lanes: int = 8) -> list[str]:
    """Publish `count` custom events through `node`, `lanes` requests in flight."""
    ids: list[str] = []
    async with node.client(bearer("svc", admin=True)) as http:

        async def lane(numbers: range) -> None:
            for n in numbers:
                answer = await http.post(PUBLISH, json={"type": "test.n", "data": {"n": n}})
                assert answer.status_code == 201, answer.text
                ids.append(answer.json()["id"])

        await asyncio.gather(*(lane(range(start + i, start + count, lanes)) for i in range(lanes)))
    return ids


def custom(events: list[ServerSentEvent]) -> list[dict[str, Any]]:
    return [orjson.loads(e.data) for e in events if e.event == "test.n"]


def assert_in_order_once(received: list[dict[str, Any]], published: list[str]) -> None:
    ids = [e["id"] for e in received]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert sorted(ids, key=lambda i: int(i.split(":")[1])) == ids, "events out of order"
    assert set(ids) == set(published), f"missing {set(published) - set(ids)}"


async def test_an_sse_client_on_a_sees_every_event_published_through_b(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """1,000 events through B reach an SSE reader on A once each, in log order, framed with
    `id:` = cursor, `event:` = type and `data:` = the whole event; a `retry:` hint first."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    async with sse(a) as reader:
        await reader.until(lambda got: any(e.event == "presence.joined" for e in got))
        published = await publish(b, 1000)
        await reader.until(lambda got: len(custom(got)) >= 1000, within=60)
    assert reader.retry == 3000
    received = custom(reader.events)
    assert_in_order_once(received, published)
    for sse_event, body in zip(
        (e for e in reader.events if e.event == "test.n"), received, strict=True
    ):
        assert sse_event.id == body["id"] and body["type"] == "test.n"


async def test_a_long_polling_client_sees_the_same_sequence(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """1,000 events through B: `?after=&wait=` on A returns them all, in log order, once."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    received: list[dict[str, Any]] = []
    async with a.client(bearer("poller")) as http:
        first = (await http.get(EVENTS, params={"limit": 1})).json()
        after = first["next"]

        async def poll_until(total: int) -> None:
            nonlocal after
            while len(received) < total:
                params = {"limit": 250, "wait": 5} | ({"after": after} if after else {})
                page = (await http.get(EVENTS, params=params)).json()
                assert not page["reset"]
                received.extend(e for e in page["events"] if e["type"] == "test.n")
                after = page["next"] or after

        poller = asyncio.create_task(poll_until(1000))
        published = await publish(b, 1000)
        async with asyncio.timeout(30):
            await poller
    assert_in_order_once(received, published)


async def test_a_long_poll_answers_as_soon_as_an_event_arrives(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """An empty `wait=` poll is answered by the next event, not by its timeout."""
    a = await nodes.start(redis_server.url(), name="a")
    async with a.client(bearer("poller")) as http:
        await publish(a, 1)
        head = (await http.get(EVENTS, params={"limit": 1000})).json()["next"]
        waiting = asyncio.create_task(http.get(EVENTS, params={"after": head, "wait": 25}))
        ids = await publish(a, 1, start=1)
        async with asyncio.timeout(10):
            page = (await waiting).json()
    assert [e["id"] for e in page["events"]] == ids


async def test_an_sse_client_resumes_from_its_last_id_with_exactly_what_it_missed(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Dropped mid-stream while events keep flowing, a reader reconnecting with Last-Event-ID
    receives exactly the missed events, in order, then live ones."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    async with sse(a) as reader:
        await reader.until(lambda got: any(e.event == "presence.joined" for e in got))
        before = await publish(b, 50)
        await reader.until(lambda got: len(custom(got)) >= 50)
    last = custom(reader.events)[-1]["id"]
    missed = await publish(b, 100, start=50)
    async with sse(a, last_event_id=last) as resumed:
        await resumed.until(lambda got: len(custom(got)) >= 100)
        live = await publish(b, 20, start=150)
        await resumed.until(lambda got: len(custom(got)) >= 120)
    assert_in_order_once(custom(reader.events), before)
    assert_in_order_once(custom(resumed.events), missed + live)
    assert all(e.event != "sync.reset" for e in resumed.events)


async def test_resuming_from_an_evicted_id_yields_sync_reset_first(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """With a 20-event log, a cursor 200 events old gets `sync.reset`, then live events."""
    a = await nodes.start(redis_server.url(), name="a", event_log_length=20)
    old = (await publish(a, 1))[0]
    await publish(a, 200, start=1)
    async with sse(a, last_event_id=old) as reader:
        await reader.until(lambda got: any(e.event == "sync.reset" for e in got))
        live = await publish(a, 5, start=201)
        await reader.until(lambda got: len(custom(got)) >= 5)
    kinds = [e.event for e in reader.events]
    assert kinds[0] == "sync.reset"
    reset = orjson.loads(reader.events[0].data)
    assert reset["data"]["reason"] == "cursor_expired"
    assert_in_order_once(custom(reader.events), live)


async def test_a_backlog_that_fills_the_outbox_is_replayed_without_a_slow_consumer_cut(
    nodes: NodeFactory,
) -> None:
    """`HUDDLE_OUTBOX_LIMIT` 20 and a resume exactly 20 events behind, the most that is
    replayed: the backlog fills the outbox, and the stream's own `presence.joined` and live
    events come behind it. The backlog is owed, not lag (tests/unit/test_outbox.py): the
    stream replays it and goes on live, with no cut and no reset."""
    a = await nodes.start("memory://", name="a", outbox_limit=20)
    cursor = (await publish(a, 1))[0]
    behind = await publish(a, 20, start=1, lanes=1)
    async with sse(a, last_event_id=cursor) as reader:
        await reader.until(lambda got: len(custom(got)) >= 20)
        live = await publish(a, 3, start=21, lanes=1)
        await reader.until(lambda got: len(custom(got)) >= 23)
    kinds = [e.event for e in reader.events]
    assert "sync.reset" not in kinds and "sync.reconnect" not in kinds, kinds
    assert "presence.joined" in kinds
    assert_in_order_once(custom(reader.events), behind + live)


async def test_a_killed_pubsub_connection_loses_no_event(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """`CLIENT KILL TYPE pubsub` during a stream of events: the reader still gets every
    event once, in order (the node reads the gap from the log)."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    admin = aioredis.from_url(redis_server.url())
    try:
        async with sse(a) as reader:
            await reader.until(lambda got: any(e.event == "presence.joined" for e in got))
            publishing = asyncio.create_task(publish(b, 400, lanes=4))
            for _ in range(3):
                await reader.until(lambda got, n=len(custom(reader.events)): len(custom(got)) > n)
                await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            published = await publishing
            await reader.until(lambda got: len(custom(got)) >= 400, within=30)
    finally:
        await admin.aclose()
    assert_in_order_once(custom(reader.events), published)


async def test_a_stream_opened_while_redis_is_down_answers_200_with_retry_and_ends(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    """Browsers stop reconnecting on a non-200 answer, so the outage is a short 200 stream."""
    a = await nodes.start(private_redis.url(), name="a", redis_timeout=1)
    private_redis.stop()
    async with httpx.AsyncClient(base_url=a.url, timeout=15) as http:
        answer = await http.get(STREAM, headers=bearer("reader"))
    assert answer.status_code == 200
    assert answer.text.startswith("retry: 3000\n\n")
    assert "backend unavailable" in answer.text


async def test_the_stream_keeps_its_reader_present_and_leaves_when_closed(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """An open stream is a presence session; closing it emits `presence.left` (a session the
    stream named itself; see test_stream_credentials for one the client named)."""
    a = await nodes.start(redis_server.url(), name="a", presence_ttl=1)
    async with a.client(bearer("watcher")) as http:
        async with sse(a, user="ana") as reader:
            await reader.until(lambda got: any(e.event == "presence.joined" for e in got))
            roster = (await http.get("/v1/orgs/acme/workspaces/ws1/sync/presence")).json()
            assert [u["user_id"] for u in roster["users"]] == ["ana"]
            # A 2 s lease outlives the 1 s presence TTL: when its `lock.expired` arrives, the
            # stream's session must still be present, because the node kept refreshing it.
            async with a.client(bearer("ben")) as ben:
                taken = await ben.post("/v1/collaboration/locks/deal/1", params={"ttl": 2})
                assert taken.status_code == 200
            await reader.until(lambda got: any(e.event == "lock.expired" for e in got))
            roster = (await http.get("/v1/orgs/acme/workspaces/ws1/sync/presence")).json()
            assert [u["user_id"] for u in roster["users"]] == ["ana"]
        async with asyncio.timeout(10):
            while True:
                log = (await http.get(EVENTS, params={"limit": 1000})).json()["events"]
                left = [e for e in log if e["type"] == "presence.left"]
                if left:
                    break
        assert left[0]["data"]["session_id"].startswith("ana/sse-")
        assert left[0]["data"]["reason"] == "leave"


async def test_bad_stream_requests_are_refused_before_streaming(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """timeout outside 60-7200 is 422; a malformed Last-Event-ID 400; no credentials 401;
    another org 404; a stream ticket works in the URL but nowhere else."""
    a = await nodes.start(redis_server.url(), name="a")
    async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
        for timeout in (59, 7201):
            answer = await http.get(STREAM, params={"timeout": timeout}, headers=bearer())
            assert answer.status_code == 422
        bad_cursor = await http.get(STREAM, headers={**bearer(), "Last-Event-ID": "nope"})
        assert bad_cursor.status_code == 400
        assert (await http.get(STREAM)).status_code == 401
        assert (await http.get(STREAM, headers=bearer(org="evil"))).status_code == 404
        ticket = (
            await http.post("/v1/orgs/acme/workspaces/ws1/sync/ticket", headers=bearer())
        ).json()["ticket"]
        misuse = await http.get(
            "/v1/collaboration/locks/deal/1", headers={"Authorization": f"Bearer {ticket}"}
        )
        assert misuse.status_code == 401
        async with aconnect_sse(http, "GET", STREAM, params={"access_token": ticket}) as source:
            assert source.response.status_code == 200
    assert ticket not in a.log(), "a token reached the access log"


async def test_cookie_streams_check_the_origin(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """A `huddle_token` cookie opens the stream from an allowed Origin (or none); a foreign
    Origin is refused with 403 before anything streams."""
    a = await nodes.start(redis_server.url(), name="a", allowed_origins='["https://app.example"]')
    cookie = {"huddle_token": bearer("ana")["Authorization"].split()[1]}
    async with httpx.AsyncClient(base_url=a.url, timeout=10, cookies=cookie) as http:
        foreign = await http.get(STREAM, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        assert foreign.json()["error"] == "FORBIDDEN"
        async with aconnect_sse(
            http, "GET", STREAM, headers={"Origin": "https://app.example"}
        ) as source:
            assert source.response.status_code == 200
            reader = Reader(source)
            await reader.until(lambda got: any(e.event == "presence.joined" for e in got))


async def test_an_idle_stream_gets_heartbeats_and_a_busy_one_gets_none_early(
    nodes: NodeFactory,
) -> None:
    """Every `HUDDLE_SSE_HEARTBEAT` seconds without a frame the stream sends a comment; an
    event resets that clock, so no heartbeat follows an event sooner than the interval."""
    a = await nodes.start("memory://", name="a", sse_heartbeat=0.3)
    loop = asyncio.get_running_loop()
    seen: list[tuple[float, str]] = []  # (arrival, "heartbeat" | "event")
    async with (
        httpx.AsyncClient(base_url=a.url, timeout=30) as http,
        http.stream("GET", STREAM, headers=bearer("reader")) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()

        async def read_until(done: Any) -> None:
            async with asyncio.timeout(20):
                while not done():
                    line = await anext(lines)
                    if line == ": heartbeat":
                        seen.append((loop.time(), "heartbeat"))
                    elif line == "event: test.n":
                        seen.append((loop.time(), "event"))

        await read_until(lambda: [kind for _, kind in seen].count("heartbeat") >= 3)
        await publish(a, 1, lanes=1)
        await read_until(lambda: seen[-1][1] == "event")
        published_at = seen[-1][0]
        await read_until(lambda: seen[-1][1] == "heartbeat")
    beats = [at for at, kind in seen if kind == "heartbeat"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(beats[:3])]
    assert all(0.2 <= gap <= 3 for gap in gaps), gaps
    assert seen[-1][0] - published_at >= 0.2, "a heartbeat came right after an event"


async def test_a_long_poll_ends_when_its_client_leaves(nodes: NodeFactory) -> None:
    """A page closed during a long poll leaves no waiting request on the node (which would
    also hold its shutdown for the rest of `wait`): the node stops watching the workspace."""
    a = await nodes.start("memory://", name="a", poll_wait_max=120)

    async def channels_open() -> float:
        async with a.client() as http:
            text = (await http.get("/metrics")).text
        line = next(x for x in text.splitlines() if x.startswith("huddle_channels_open "))
        return float(line.split()[1])

    async with a.client(bearer("poller"), timeout=130) as http:
        poll = asyncio.create_task(http.get(EVENTS, params={"after": "origin:0", "wait": 120}))
        await wait_until(channels_open, within=10, what="the long poll to watch the workspace")
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll

    async def none_open() -> bool:
        return await channels_open() == 0

    await wait_until(none_open, within=10, what="the node to drop the abandoned long poll")
