"""Scenario 6's layout and checks, without servers: connections spread over workspaces of a
fixed size, each held to exactly its own workspace's events; every roster compared; a worker
waited on while it reports progress, failed when it stops."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from loadtests.scenarios import NullLive
from loadtests.scenarios.idle import (
    FIRST_STRIDE,
    MISMATCHES_SHOWN,
    PER_WORKER,
    delivered_verdict,
    expect,
    layout,
    roster_verdict,
)
from loadtests.scenarios.idle_worker import Idle, check_all, workspace_of


def test_connections_fill_workspaces_of_a_fixed_size() -> None:
    assert [workspace_of(i, 10) for i in (0, 9, 10, 25)] == ["w1-0", "w1-0", "w1-1", "w1-2"]
    assert layout(0, 25, 10) == Counter({"w1-0": 10, "w1-1": 10, "w1-2": 5})
    assert layout(3, 4, 3) == Counter({"w1-1": 3, "w1-2": 1})
    # the workers' ranges never share a workspace, whatever the size
    for per in (1, 3, 7, 10, 64):
        first = set(layout(0, PER_WORKER, per))
        second = set(layout(FIRST_STRIDE, PER_WORKER, per))
        assert first and second and not first & second


def _conns(per: int, count: int) -> tuple[list[Idle], dict[str, int]]:
    state = {"received": 0, "misrouted": 0, "connected": 0, "tried": 0, "published": 0}
    spec = {"target": "starlette", "urls": ["http://127.0.0.1:1"], "per_workspace": per}
    return [Idle(spec, i, state) for i in range(count)], state


def test_each_connection_is_held_to_its_own_workspace() -> None:
    conns, state = _conns(2, 4)  # w1-0: 0, 1; w1-1: 2, 3
    expected = {"w1-0": {"step4@w1-0": 3}, "w1-1": {"step4@w1-1": 2}}
    for c in conns:
        for seq in range(1, expected[c.ws][f"step4@{c.ws}"] + 1):
            c._tick({"p": f"step4@{c.ws}", "s": seq}, None)
    counters, closes = check_all(conns, expected)
    assert counters["received"] == 2 * 3 + 2 * 2
    assert sum(counters[k] for k in ("lost", "duplicated", "out_of_order")) == 0
    assert not closes and state["misrouted"] == 0

    # one lost, one late, one twice, one from the other workspace
    conns, state = _conns(2, 4)
    conns[0]._tick({"p": "step4@w1-0", "s": 2}, None)
    conns[0]._tick({"p": "step4@w1-0", "s": 1}, None)
    conns[1]._tick({"p": "step4@w1-0", "s": 1}, None)
    conns[1]._tick({"p": "step4@w1-0", "s": 1}, None)
    conns[2]._tick({"p": "step4@w1-0", "s": 1}, None)
    counters, _ = check_all(conns, expected)
    assert counters["out_of_order"] == 1
    assert counters["duplicated"] == 1
    # 0: 3; 1: 2 and 3; 2: both of w1-1; 3: both of w1-1 (never charged w1-0's three)
    assert counters["lost"] == 1 + 2 + 2 + 2
    assert state["misrouted"] == 1


def test_delivered_is_exact() -> None:
    assert delivered_verdict(30, 30, 0) == "ok"
    assert delivered_verdict(31, 30, 0) == "31 of 30"
    assert delivered_verdict(29, 30, 0) == "29 of 30"
    assert delivered_verdict(30, 30, 1) == "30 of 30, 1 misrouted"


def test_every_roster_is_compared() -> None:
    sizes = Counter({f"w1-{i}": 10 for i in range(6)})
    rosters = [(ws, 10, 10, "") for ws in sorted(sizes)]
    assert roster_verdict(sizes, rosters) == "ok"

    rosters[0] = ("w1-0", 10, 11, "")  # a stale session
    rosters[1] = ("w1-1", 9, 9, "")  # one missing: a sum alone would not see these two
    rosters[2] = ("w1-2", -1, -1, "answered 403")
    del rosters[5]
    verdict = roster_verdict(sizes, rosters)
    assert verdict.startswith("4 of 6 workspaces wrong (40 sessions in all, want 60): ")
    assert verdict.count("want 10") == MISMATCHES_SHOWN
    assert "w1-5: no roster" in verdict
    assert "w1-0: 10 users, 11 sessions" in verdict
    assert "w1-1: 9 users, 9 sessions" in verdict


class _Worker:
    """Replays reports; `Worker.recv` without a process."""

    name = "idle0"

    def __init__(self, reports: list[dict[str, Any]]) -> None:
        self.reports = list(reports)

    async def recv(self, wait: float = 60.0) -> dict[str, Any]:
        return self.reports.pop(0)


class _Clock:
    """Ten seconds pass at each reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 10.0
        return self.now


async def test_progress_keeps_a_slow_phase_going() -> None:
    reports = [{"op": "stats", "progress": k} for k in range(50)] + [{"op": "opened", "k": 1}]
    got = await expect(_Worker(reports), "opened", NullLive(), 30.0, _Clock())  # type: ignore[arg-type]
    assert got == {"op": "opened", "k": 1}


async def test_a_worker_without_progress_fails() -> None:
    reports = [{"op": "stats", "progress": 7} for _ in range(10)] + [{"op": "opened"}]
    with pytest.raises(RuntimeError, match=r"no progress for 30\.0 s"):
        await expect(_Worker(reports), "opened", NullLive(), 30.0, _Clock())  # type: ignore[arg-type]
