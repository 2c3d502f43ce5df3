"""A one-minute soak: two nodes on one Redis, publishers on both, WebSocket and SSE clients
coming and going on either node (each resuming from its own cursor), presence and locks taken
and dropped, and one fault midway (Redis kills the nodes' pub/sub connections). Every client
sees every event of its span once, in order, with no gap; when the clients are gone, the nodes'
tasks and file descriptors and the Redis keys of presence and leases are back where they were.

`HUDDLE_SOAK_SECONDS` makes it longer (default 60).
"""

from __future__ import annotations

import asyncio
import os
import random
from contextlib import suppress
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

from .test_stream_credentials import stream
from .test_websocket import WS1, ws_client

pytestmark = pytest.mark.xdist_group("e2e")

SECONDS = float(os.environ.get("HUDDLE_SOAK_SECONDS", "60"))
PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"


async def gauges(node: HuddleNode) -> dict[str, float]:
    async with node.client() as http:
        text = (await http.get("/metrics")).text
    wanted = ("huddle_tasks ", "process_open_fds ", 'huddle_connections{transport="ws"}',
              'huddle_connections{transport="sse"}')  # fmt: skip
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(wanted)
    }


def assert_gapless(name: str, seqs: list[int]) -> None:
    """Every visit of one client resumed from its cursor: one run of consecutive offsets."""
    assert seqs, f"{name} received nothing"
    expected = list(range(seqs[0], seqs[0] + len(seqs)))
    assert seqs == expected, f"{name}: a gap or a repeat near {set(seqs) ^ set(expected)}"


class Soak:
    def __init__(self, nodes: list[HuddleNode]) -> None:
        self.nodes = nodes
        self.stop = asyncio.Event()
        self.published: list[str] = []
        self.received: dict[str, list[int]] = {}
        self.visits = 0
        self.rng = random.Random(7)

    async def publisher(self, node: HuddleNode) -> None:
        async with node.client(bearer("svc", admin=True)) as http:
            n = 0
            while not self.stop.is_set():
                answer = await http.post(PUBLISH, json={"type": "test.n", "data": {"n": n}})
                assert answer.status_code == 201, answer.text
                self.published.append(answer.json()["id"])
                n += 1
                with suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self.stop.wait()

    async def ws_visitor(self, i: int) -> None:
        cursor: str | None = None
        while not self.stop.is_set():
            node = self.rng.choice(self.nodes)
            seqs: list[int] = []
            async with ws_client(node, f"ws{i}") as client:
                args: dict[str, Any] = {"since": cursor} if cursor else {}
                assert (await client.request("subscribe", **WS1, **args))["ok"]
                assert (await client.request("presence.join", **WS1))["ok"]
                locked = await client.request(
                    "lock.acquire", **WS1, entity_type="deal", entity_id=str(i), ttl=30
                )
                assert locked["ok"], locked
                want = self.rng.randint(5, 30)
                while len(client.custom()) < want and not self.stop.is_set():
                    with suppress(TimeoutError):  # look at `stop` every second
                        await client.until(lambda c, n=want: len(c.custom()) >= n, within=1)
                assert (await client.request("lock.release", **WS1, entity_type="deal",
                                             entity_id=str(i)))["ok"]  # fmt: skip
                logged = [e for e in client.events if e["id"] is not None]
                seqs = [e["seq"] for e in logged]  # every type: offsets are per workspace
                cursor = logged[-1]["id"] if logged else cursor
            self.received.setdefault(f"ws{i}", []).extend(seqs)
            self.visits += 1

    async def sse_visitor(self, i: int) -> None:
        cursor: str | None = None
        while not self.stop.is_set():
            node = self.rng.choice(self.nodes)
            headers = bearer(f"sse{i}") | ({"Last-Event-ID": cursor} if cursor else {})
            seqs: list[int] = []
            async with stream(node, {}, headers) as frames:
                # As many published events as the WebSocket visitors wait for: counting
                # presence events too, visitors whose own churn makes most of the traffic
                # would read less than comes in, and fall further behind at every visit.
                want, published = self.rng.randint(5, 30), 0
                while published < want and not self.stop.is_set():
                    block = await frames.next_block()
                    assert block is not None, f"the stream ended: {frames.blocks[-2:]}"
                    if "event" in block and "id" in block:  # every logged event, any type
                        seqs.append(orjson.loads(block["data"])["seq"])
                        cursor = block["id"]
                        published += block["event"] == "test.n"
            self.received.setdefault(f"sse{i}", []).extend(seqs)
            self.visits += 1


async def test_a_minute_of_churn_with_a_fault_leaves_no_gap_and_no_leak(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    a = await nodes.start(private_redis.url(), name="a", presence_ttl=2)
    b = await nodes.start(private_redis.url(), name="b", presence_ttl=2)
    soak = Soak([a, b])
    async with a.client(bearer("svc", admin=True)) as http:  # the log and fence exist
        assert (await http.post(PUBLISH, json={"type": "warm.up"})).status_code == 201
        assert (await http.post("/v1/collaboration/locks/deal/0")).status_code == 200
        assert (await http.delete("/v1/collaboration/locks/deal/0")).status_code == 200
    before = {node.name: await gauges(node) for node in (a, b)}
    async with aioredis.Redis(port=private_redis.port) as raw:
        keys_before = {k async for k in raw.scan_iter(match=f"{nodes.prefix}:*")}
        work = [
            asyncio.create_task(soak.publisher(a)),
            asyncio.create_task(soak.publisher(b)),
            *(asyncio.create_task(soak.ws_visitor(i)) for i in range(6)),
            *(asyncio.create_task(soak.sse_visitor(i)) for i in range(6)),
        ]

        async def run_for(seconds: float) -> None:
            """Let the work run; a task that fails fails the test at once."""
            done, _ = await asyncio.wait(work, timeout=seconds, return_when="FIRST_EXCEPTION")
            for task in done:
                task.result()

        await run_for(SECONDS / 2)
        await raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # the fault
        await run_for(SECONDS / 2)
        soak.stop.set()
        await asyncio.gather(*work)

        for name, seqs in soak.received.items():
            assert_gapless(name, seqs)
        assert soak.visits > 24 and len(soak.published) > SECONDS * 2

        async def settled() -> bool:
            for node in (a, b):
                now, then = await gauges(node), before[node.name]
                if (
                    now['huddle_connections{transport="ws"}']
                    or now['huddle_connections{transport="sse"}']
                ):
                    return False
                if now["huddle_tasks"] > then["huddle_tasks"] + 2:
                    return False
                if now["process_open_fds"] > then["process_open_fds"] + 2:
                    return False
            return True

        await wait_until(settled, within=20, what="tasks and descriptors back to their level")
        base = f"{nodes.prefix}:{{acme/ws1}}:".encode()
        live = (b"ps", b"pexp", b"locks", b"lexp")

        async def presence_and_leases_gone() -> bool:
            keys = [k async for k in raw.scan_iter(match=base + b"*")]
            rest = [k[len(base) :] for k in keys]
            held = [k for k in rest if k in live or k.startswith((b"pv:", b"ul:"))]
            return not held and not await raw.zcard(f"{nodes.prefix}:active")

        await wait_until(
            presence_and_leases_gone, within=20, what="presence, leases and the active index gone"
        )
        keys_after = {k async for k in raw.scan_iter(match=f"{nodes.prefix}:*")}
    assert keys_after - keys_before <= {k for k in keys_after if b":idem:" in k}
