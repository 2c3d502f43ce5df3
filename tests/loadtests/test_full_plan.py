"""`make bench`'s plan runs every scenario, every baseline, and a profile of each target case."""

from __future__ import annotations

from loadtests.__main__ import FULL_PLAN
from loadtests.scenarios import SCENARIOS
from loadtests.scenarios.common import as_list


def test_the_full_plan_runs_every_scenario() -> None:
    assert {name for name, _ in FULL_PLAN} == set(SCENARIOS)


def test_the_full_plan_runs_every_baseline_beside_huddle() -> None:
    targets = {t for _, params in FULL_PLAN for t in as_list(params.get("target"))}
    assert {"huddle", "raw-ws", "starlette", "socketio"} <= targets


def test_every_case_with_a_target_gets_three_reps_and_a_profile() -> None:
    def has(name: str, *, profiled: bool, **want: object) -> bool:
        return any(
            n == name
            and bool(params.get("profile")) == profiled
            and all(str(params.get(k)) == str(v) for k, v in want.items())
            and (profiled or int(params.get("reps", 1)) >= 3)
            for n, params in FULL_PLAN
        )

    for backend in ("memory", "redis"):
        assert has("fanout", profiled=False, transport="ws-json", backend=backend, n=1000)
        assert has("fanout", profiled=True, transport="ws-json", backend=backend, n=1000)
    assert has("fanout", profiled=False, transport="sse", backend="memory", n=1000)
    assert has("fanout", profiled=True, transport="sse", backend="memory", n=1000)
    assert has("locks", profiled=False, backend="redis")
    assert has("locks", profiled=True, backend="redis")
    assert has("two_nodes", profiled=False, n=1000)
    assert has("two_nodes", profiled=True, n=1000)
