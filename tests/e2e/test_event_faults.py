"""Events through Redis faults, on two nodes sharing one Redis: a Redis that stops answering
for five seconds while both nodes publish, and a node's pub/sub connection cut by Redis's own
`client-output-buffer-limit` during a burst. Readers lose nothing that was acknowledged and see
nothing twice; the node counts the lost subscription and the events it read back from the log.
"""

from __future__ import annotations

import asyncio
import os
import signal
from contextlib import suppress
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

from .test_websocket import WS1, ws_client

pytestmark = pytest.mark.xdist_group("e2e")

STREAM = "/v1/orgs/acme/workspaces/ws1/sync/stream"
PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"


async def metric(node: HuddleNode, name: str) -> float:
    async with node.client() as http:
        text = (await http.get("/metrics")).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


class Publisher:
    """Publishes numbered events through one node until stopped; keeps what was acknowledged
    (201) and counts the refusals (503 while Redis does not answer)."""

    def __init__(self, node: HuddleNode) -> None:
        self.node = node
        self.acknowledged: list[str] = []
        self.refused = 0
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with self.node.client(bearer("svc", admin=True), timeout=30) as http:
            while not self.stop.is_set():
                answer = await http.post(PUBLISH, json={"type": "test.n"})
                if answer.status_code == 201:
                    self.acknowledged.append(answer.json()["id"])
                else:
                    assert answer.status_code == 503, answer.text
                    self.refused += 1


class ResumingReader:
    """An SSE reader that, whenever its stream ends or fails, opens it again with
    `Last-Event-ID` (the last id it saw, events and position blocks alike), as a browser's
    EventSource does. Runs until cancelled."""

    def __init__(self, node: HuddleNode) -> None:
        self.node = node
        self.ids: list[str] = []
        self.cursor: str | None = None
        self.streams = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.node.url, timeout=30) as http:
            while True:
                resume = {"Last-Event-ID": self.cursor} if self.cursor else {}
                self.streams += 1
                with suppress(httpx.TransportError):
                    async with http.stream(
                        "GET", STREAM, headers=bearer("reader") | resume
                    ) as response:
                        await self._read(response)

    async def _read(self, response: httpx.Response) -> None:
        block: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line:
                name, _, value = line.partition(": ")
                block[name] = value
                continue
            if block.get("event") == "test.n":
                self.ids.append(orjson.loads(block["data"])["id"])
            if block.get("id"):
                self.cursor = block["id"]
            block = {}


async def pubsub_clients(raw: aioredis.Redis) -> set[str]:
    """The ids of the clients Redis has in pub/sub mode."""
    return {client["id"] for client in await raw.client_list(_type="pubsub")}


def seq(event_id: str) -> int:
    return int(event_id.split(":")[1])


async def test_redis_paused_five_seconds_while_publishing_loses_and_repeats_nothing(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    a, b = await asyncio.gather(
        nodes.start(private_redis.url(), name="a", redis_timeout=1),
        nodes.start(private_redis.url(), name="b", redis_timeout=1),
    )
    readers = [ResumingReader(a), ResumingReader(b)]
    reading = [asyncio.create_task(r.run()) for r in readers]
    await wait_until(
        lambda: all_true(r.cursor for r in readers), within=10, what="the readers live"
    )
    publishers = [Publisher(a), Publisher(b)]
    running = [asyncio.create_task(p.run()) for p in publishers]
    try:
        await wait_until(
            lambda: all_true(len(p.acknowledged) >= 20 for p in publishers),
            within=20,
            what="both publishers under way",
        )
        private_redis.freeze()
        try:
            # Each refusal is one 1 s Redis timeout: five of them each is a five-second pause.
            await wait_until(
                lambda: all_true(p.refused >= 5 for p in publishers),
                within=30,
                what="five refused publishes on each node",
            )
        finally:
            private_redis.thaw()
        after = [len(p.acknowledged) for p in publishers]
        await wait_until(
            lambda: all_true(
                len(p.acknowledged) >= n + 20 for p, n in zip(publishers, after, strict=True)
            ),
            within=30,
            what="publishing to go on after Redis came back",
        )
    finally:
        for p in publishers:
            p.stop.set()
        await asyncio.gather(*running)

    acknowledged = sorted((i for p in publishers for i in p.acknowledged), key=seq)
    try:
        await wait_until(
            lambda: all_true(acknowledged[-1] in r.ids for r in readers),
            within=30,
            what="every reader to reach the last acknowledged event",
        )
    finally:
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)
    for reader in readers:
        assert len(reader.ids) == len(set(reader.ids)), "an event arrived twice"
        assert reader.ids == sorted(reader.ids, key=seq), "out of order"
        assert set(acknowledged) <= set(reader.ids), "an acknowledged event is missing"
    for node in (a, b):
        assert "Traceback" not in node.log()


async def all_true(checks: Any) -> bool:
    return all(checks)


async def test_a_pubsub_connection_cut_by_the_output_buffer_limit_is_caught_up_and_counted(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    """Redis may disconnect a subscriber whose output buffer passes a hard limit. Node A is
    stopped (SIGSTOP) while B publishes a burst of large events until Redis cut A's pub/sub
    connection; A, resumed, catches up from the log: its WebSocket client gets every event
    once, in order, and A counts the lost subscription and the events it read back."""
    async with aioredis.Redis(port=private_redis.port) as raw:
        await raw.config_set("client-output-buffer-limit", "pubsub 64kb 32kb 1")
        a, b = await asyncio.gather(
            nodes.start(private_redis.url(), name="a"), nodes.start(private_redis.url(), name="b")
        )
        published: list[str] = []
        async with ws_client(a) as client:
            assert (await client.request("subscribe", **WS1))["ok"]
            subscribers = await pubsub_clients(raw)
            assert len(subscribers) == 1, subscribers  # A's (B follows no workspace)
            os.kill(a.pid, signal.SIGSTOP)
            try:
                async with b.client(bearer("svc", admin=True)) as http:

                    async def burst_cut_a() -> bool:
                        for _ in range(10):
                            answer = await http.post(
                                PUBLISH, json={"type": "test.big", "data": {"pad": "x" * 25_000}}
                            )
                            assert answer.status_code == 201, answer.text
                            published.append(answer.json()["id"])
                        return not subscribers & await pubsub_clients(raw)

                    await wait_until(
                        burst_cut_a, within=60, what="Redis to cut A's pub/sub connection"
                    )
            finally:
                os.kill(a.pid, signal.SIGCONT)
            await client.until(lambda c: published[-1] in {e["id"] for e in c.events}, within=30)
            got = [e["id"] for e in client.events if e["type"] == "test.big"]
    assert got == published, "a gap or a repeat after the catch-up"
    assert await metric(a, "huddle_subscriptions_lost_total") >= 1
    assert await metric(a, "huddle_events_backfilled_total") >= 1
    assert await metric(b, "huddle_subscriptions_lost_total") == 0
