"""The registry of scenarios: `SCENARIOS[name].run(ctx)` measures one case, every rep and
target it asks for, and returns one `RunResult` per measured run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..results import RunResult


class Live(Protocol):
    """What a scenario tells the display (live.py); `NullLive` when there is none."""

    def phase(self, text: str) -> None: ...

    def stats(self, process: str, values: dict[str, Any]) -> None: ...

    def done(self, result: RunResult) -> None: ...


class NullLive:
    def phase(self, text: str) -> None:
        pass

    def stats(self, process: str, values: dict[str, Any]) -> None:
        pass

    def done(self, result: RunResult) -> None:
        pass


@dataclass
class RunContext:
    """One invocation's choices: `params` are the CLI's (target, transport, n, backend, nodes,
    reps, events…); `quick` asks for the tiny version (N <= 10, a few hundred events)."""

    params: dict[str, Any]
    quick: bool = False
    live: Live = field(default_factory=NullLive)
    run_id: str = ""
    machine: dict[str, Any] = field(default_factory=dict)


class Scenario(Protocol):
    name: str
    title: str

    async def run(self, ctx: RunContext) -> list[RunResult]: ...


def _registry() -> dict[str, Scenario]:
    from .fanout import FANOUT
    from .idle import IDLE
    from .lock_contention import LOCK_CONTENTION
    from .presence_churn import PRESENCE_CHURN
    from .rest_poll import REST_POLL
    from .two_nodes import TWO_NODES
    from .workspaces import WORKSPACES

    return {
        s.name: s
        for s in (FANOUT, WORKSPACES, PRESENCE_CHURN, LOCK_CONTENTION, REST_POLL, IDLE, TWO_NODES)
    }


def __getattr__(name: str) -> dict[str, Scenario]:
    # `SCENARIOS` is built on first use, so a worker module of this package can run as
    # `python -m` without the scenarios (and itself) imported before it
    if name == "SCENARIOS":
        return _registry()
    raise AttributeError(name)
