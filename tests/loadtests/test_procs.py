"""The harness starts what it measures and leaves nothing running."""

from __future__ import annotations

import httpx
import pytest

from loadtests.machine import cap_connections, plan_cores
from loadtests.procs import Procs, alive

pytestmark = pytest.mark.xdist_group("loadtests")


async def test_no_child_outlives_procs() -> None:
    """A redis-server and a Huddle node on it are gone once `Procs` is left."""
    async with Procs() as procs:
        redis = await procs.redis()
        node = await procs.huddle(redis.url, name="node0")
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{node.url}/readyz")).status_code == 200
        pids = [redis.pid, node.pid]
        assert all(alive(pid) for pid in pids)
    assert not any(alive(pid) for pid in pids)


async def test_no_child_outlives_an_exception() -> None:
    """An error inside the block stops the children too."""
    pids: list[int] = []

    async def fail_inside() -> None:
        async with Procs() as procs:
            pids.append((await procs.redis()).pid)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    assert pids
    assert not alive(pids[0])


def test_core_plan_on_two_cores_puts_the_node_alone() -> None:
    """On 2 cores the node runs on one, Redis and the clients on the other."""
    plan = plan_cores(1, {0, 1})
    assert plan.nodes == [{0}]
    assert plan.redis == {1}
    assert plan.clients == {1}
    four = plan_cores(1, {0, 1, 2, 3})
    assert (four.nodes, four.redis, four.clients, four.shared) == ([{0}], {1}, {2, 3}, False)
    assert plan_cores(2, {0, 1}).shared


def test_n_within_the_fd_limit_is_not_capped() -> None:
    """A small N passes as asked; an N past the hard limit is lowered with a reason."""
    assert cap_connections(10) == (10, None)
    n, why = cap_connections(10_000_000)
    assert n < 10_000_000
    assert why is not None
    assert "hard fd limit" in why
