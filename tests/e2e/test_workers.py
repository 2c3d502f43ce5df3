"""`huddle serve --workers N`: N worker processes on one port, each a whole node sharing the
backend; a dead worker is restarted; SIGTERM drains them all; memory:// refuses it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer, run_huddle
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

from .test_stream_credentials import stream

pytestmark = pytest.mark.xdist_group("e2e")

LOCK_42 = "/v1/collaboration/locks/deal/42"
_STARTED = re.compile(r"huddle supervisor: (w\d+) started: pid (\d+), node (\S+)")


async def start_workers(nodes: NodeFactory, redis_server: RedisServer, n: int) -> HuddleNode:
    return await nodes.start(redis_server.url(), name="sup", args=["--workers", str(n)])


def worker_pids(node: HuddleNode) -> dict[str, int]:
    """Each worker's latest pid, from the supervisor's log."""
    return {name: int(pid) for name, pid, _ in _STARTED.findall(node.log())}


async def node_id_of(client: httpx.AsyncClient) -> str:
    answer = await client.get("/readyz")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["node"])


async def test_every_worker_answers_on_the_one_port_and_shares_locks(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Two workers answer on one port, each its own node id; a lock taken through one is
    held on the other (they share Redis)."""
    node = await start_workers(nodes, redis_server, 2)
    ids = {f"{node.node_id}-w1", f"{node.node_id}-w2"}
    async with contextlib.AsyncExitStack() as stack:
        by_worker: dict[str, httpx.AsyncClient] = {}

        async def reached_both() -> bool:
            client = await stack.enter_async_context(
                node.client(limits=httpx.Limits(max_connections=1))
            )
            by_worker.setdefault(await node_id_of(client), client)
            return set(by_worker) == ids

        await wait_until(reached_both, within=15, what="both workers", interval=0.01)
        on_w1, on_w2 = by_worker[f"{node.node_id}-w1"], by_worker[f"{node.node_id}-w2"]

        taken = await on_w1.post(LOCK_42, headers=bearer("ana", name="Ana"))
        assert taken.status_code == 200, taken.text
        assert await node_id_of(on_w1) == f"{node.node_id}-w1", "the connection was kept"

        refused = await on_w2.post(LOCK_42, headers=bearer("ben", name="Ben"))
        assert refused.status_code == 409, refused.text
        assert refused.json()["details"]["holder"] == {"userId": "ana", "name": "Ana"}
        status = await on_w2.get(LOCK_42, headers=bearer("ben"))
        assert status.json()["locked"] is True
        assert await node_id_of(on_w2) == f"{node.node_id}-w2"
    assert set(worker_pids(node)) == {"w1", "w2"}


async def test_a_killed_worker_is_restarted_while_the_port_keeps_answering(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """SIGKILL one worker: the other keeps answering on the port, and the supervisor starts
    a new process in its place, under the same worker name."""
    node = await start_workers(nodes, redis_server, 2)
    first = worker_pids(node)
    os.kill(first["w1"], signal.SIGKILL)
    await wait_until(
        lambda: _logged(node, f"w1 (pid {first['w1']}) died with code -9"),
        within=10,
        what="the supervisor to see w1 die",
    )
    async with node.client() as http:
        for _ in range(5):  # the dead worker accepts nothing: the other answers every time
            answer = await http.get("/readyz", headers={"Connection": "close"})
            assert answer.status_code == 200, answer.text

        async def restarted() -> bool:
            return worker_pids(node).get("w1", first["w1"]) != first["w1"]

        await wait_until(restarted, within=10, what="a new w1 process")
        seen: set[str] = set()

        async def both_answer() -> bool:
            answer = await http.get("/readyz", headers={"Connection": "close"})
            seen.add(answer.json()["node"])
            return seen == {f"{node.node_id}-w1", f"{node.node_id}-w2"}

        await wait_until(both_answer, within=15, what="the new w1 and w2 to answer")
    assert worker_pids(node)["w2"] == first["w2"], "the other worker was left alone"
    assert node.alive


async def _logged(node: HuddleNode, text: str) -> bool:
    return text in node.log()


async def test_sigterm_drains_every_worker_and_the_supervisor_exits_0(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """SIGTERM to the supervisor: an open SSE stream ends with `sync.reconnect` (reason
    `shutdown`), as on a single node, and the supervisor exits 0 once its workers drained."""
    node = await start_workers(nodes, redis_server, 2)
    async with stream(node, {}, bearer("ben")) as ben:
        await ben.until_event("presence.joined")
        stopping = asyncio.get_running_loop().run_in_executor(None, node.stop)
        final = await ben.until_event("sync.reconnect")
        exit_code = await stopping
    assert orjson.loads(final["data"]) == {"reason": "shutdown"}
    assert exit_code == 0, node.log()
    assert not node.hung_on_stop
    log = node.log()
    for name in ("w1", "w2"):
        assert re.search(rf"{name} \(pid \d+\) exited with code (-15|0)\n", log), log
    assert "all workers exited\n" in log


async def test_workers_on_memory_are_refused_at_once(tmp_path: Path) -> None:
    """memory:// with --workers 2 exits non-zero at once, with one line saying why."""
    result = await run_huddle(
        "serve", "--workers", "2", "--backend", "memory://", cwd=tmp_path, within=15
    )
    assert result.returncode == 2, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert "--workers 2" in lines[0] and "memory://" in lines[0], result
    assert "use redis://" in lines[0], result
