"""Redis going away is an expected state: a node answers 503 quickly, stays alive, reports
itself not ready, and recovers on its own when Redis is back."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

LOCK = "/v1/collaboration/locks/deal/1"
ANSWER_WITHIN = 5.0
RECOVER_WITHIN = 15.0


async def assert_unavailable(http: httpx.AsyncClient, node: HuddleNode) -> None:
    """Backend calls answer 503 in the error envelope within ANSWER_WITHIN seconds; the
    process lives on and says so on /healthz, and /readyz says it is not ready."""
    started = time.monotonic()
    answer = await http.post(LOCK)
    elapsed = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert elapsed < ANSWER_WITHIN, f"503 took {elapsed:.2f} s"
    body = answer.json()
    assert body["error"] == "SERVICE_UNAVAILABLE", body
    assert body["status_code"] == 503, body
    assert body["message"], body
    assert set(body) >= {"error", "message", "details", "timestamp", "status_code"}, body
    assert answer.headers.get("Retry-After"), answer.headers

    started = time.monotonic()
    ready = await http.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json()["error"] == "SERVICE_UNAVAILABLE", ready.text
    assert time.monotonic() - started < ANSWER_WITHIN
    alive = await http.get("/healthz")
    assert alive.status_code == 200, alive.text
    assert node.alive, node.log()


async def assert_lock_traffic_unavailable(node: HuddleNode) -> None:
    """60 lock calls at once (acquire, refresh, release) all answer 503 within ANSWER_WITHIN:
    none hangs on the silent Redis."""
    limits = httpx.Limits(max_connections=60)
    async with node.client(limits=limits, timeout=ANSWER_WITHIN * 2) as http:

        async def call(i: int) -> tuple[int, float]:
            url, headers = f"/v1/collaboration/locks/deal/{i % 7}", bearer(f"user{i}")
            started = time.monotonic()
            match i % 3:
                case 0:
                    answer = await http.post(url, headers=headers)
                case 1:
                    answer = await http.post(f"{url}/refresh", headers=headers)
                case _:
                    answer = await http.delete(url, headers=headers)
            return answer.status_code, time.monotonic() - started

        answers = await asyncio.gather(*(call(i) for i in range(60)))
    assert [status for status, _ in answers] == [503] * 60
    slowest = max(elapsed for _, elapsed in answers)
    assert slowest < ANSWER_WITHIN, f"the slowest 503 took {slowest:.2f} s"


async def recovered(http: httpx.AsyncClient) -> bool:
    answer = await http.post(LOCK)
    assert answer.status_code in (200, 503), answer.text
    return answer.status_code == 200


async def test_node_answers_503_while_redis_is_stopped_and_recovers_by_itself(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    """Redis stopped: 503 envelope fast, /readyz 503, /healthz 200. Redis started again (empty,
    on the same port): the node serves again without a restart."""
    node = await nodes.start(private_redis.url(), redis_timeout=1)
    async with node.client(bearer("ana")) as http:
        assert (await http.post(LOCK)).status_code == 200
        assert (await http.get("/readyz")).status_code == 200

        private_redis.stop()
        await assert_unavailable(http, node)

        private_redis.start()
        await wait_until(lambda: recovered(http), within=RECOVER_WITHIN, what="the node to recover")
        assert (await http.get("/readyz")).status_code == 200


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP the process for the block: its sockets stay open but nothing answers."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_node_answers_503_within_its_redis_timeout_when_redis_hangs(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    """A Redis that accepts but never answers (frozen) costs a request HUDDLE_REDIS_TIMEOUT,
    not forever: 503 within a bound; once Redis thaws, the node serves again by itself."""
    node = await nodes.start(private_redis.url(), redis_timeout=1)
    probe = aioredis.Redis.from_url(private_redis.url())
    try:
        pid = int((await probe.info("server"))["process_id"])
    finally:
        await probe.aclose()
    async with node.client(bearer("ana")) as http:
        assert (await http.post(LOCK)).status_code == 200
        with frozen(pid):
            await assert_unavailable(http, node)
            await assert_lock_traffic_unavailable(node)
        await wait_until(lambda: recovered(http), within=RECOVER_WITHIN, what="the node to recover")
