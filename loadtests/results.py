"""One JSON file per run: parameters, figures, counters, CPU and the machine it ran on.

`docs/benchmarks.md` is built from these files only (`python -m loadtests report`), so a figure
on the page always has a stored run behind it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Counters that must be zero for a run to pass: anything a subscriber missed, saw twice or
#: saw out of order, an event id going backwards or changing epoch, a connection the server
#: closed and what it missed (counters.Tally names them).
LOSS_COUNTERS = (
    "lost",
    "duplicated",
    "out_of_order",
    "id_regressions",
    "epoch_changes",
    "missed_on_close",
    "server_closes",
)

#: Where `run`, `quick` and `all` write and `report` reads, relative to the repository root.
DEFAULT_DIR = Path("loadtests") / "results"


@dataclass
class RunResult:
    """One measured run of one scenario against one target (Huddle or a baseline)."""

    scenario: str
    target: str  # "huddle", "raw-ws", "starlette", "socketio"
    transport: str  # "ws-json", "ws-msgpack", "sse", "rest"
    backend: str  # "memory", "redis" (baselines: what they ran on, "-" when nothing)
    nodes: int
    n: int
    rep: int
    params: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, str] = field(default_factory=dict)  # setting -> value, vs production
    figures: dict[str, float] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    closes: dict[str, int] = field(default_factory=dict)  # close code -> connections
    cpu: dict[str, float] = field(default_factory=dict)  # process name -> cpu / wall
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or what failed
    capped: str | None = None  # why N was lowered, when it was
    client_bound: bool = False  # a client process was saturated: throughput is a lower bound
    machine: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    run_id: str = ""  # shared by the runs of one invocation (same-run ratios)
    #: `--profile`: measured phase -> where the server's time went (profiling.py): tool,
    #: command, samples, groups (layer -> % of samples), self and inclusive top frames
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """Every failed check and every nonzero loss counter, as text."""
        bad = [f"{name}: {text}" for name, text in self.checks.items() if text != "ok"]
        bad += [f"{c}={self.counters[c]}" for c in LOSS_COUNTERS if self.counters.get(c, 0)]
        return bad

    @property
    def passed(self) -> bool:
        """All checks ok and every loss counter zero."""
        return not self.failures

    @property
    def label(self) -> str:
        return (
            f"{self.scenario} {self.target} {self.transport} {self.backend}"
            f" nodes={self.nodes} n={self.n} rep={self.rep}"
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def save(result: RunResult, directory: Path) -> Path:
    """Write `result` as one JSON file in `directory` (created); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = _slug(result.started_at.replace(":", "").replace("+0000", "Z")) or "run"
    name = _slug(
        f"{stamp}_{result.scenario}_{result.target}_{result.transport}_{result.backend}"
        f"_x{result.nodes}_n{result.n}_r{result.rep}"
    )
    path = directory / f"{name}.json"
    data = result.to_json()
    for phase, entry in data.get("profile", {}).items():
        # small collapsed stacks of a profile go beside: <name>.<phase>.<process>.pyspy.txt
        stacks = entry.pop("collapsed", None) or {}
        for process, text in stacks.items():
            raw = directory / _slug(f"{name}.{phase}.{process}.pyspy.txt")
            raw.write_text(text)
            entry.setdefault("collapsed_files", []).append(raw.name)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def load(directory: Path) -> list[RunResult]:
    """Every run stored in `directory`, oldest first (by start time)."""
    if not directory.is_dir():
        return []
    runs = [RunResult.from_json(json.loads(p.read_text())) for p in directory.glob("*.json")]
    return sorted(runs, key=lambda r: (r.started_at, r.label))


def crashed(exc: BaseException, **fields: Any) -> RunResult:
    """A failed result standing for a case or plan entry that raised instead of finishing:
    `fields` say what it was (scenario, target, …); the check `run` says how it ended."""
    return RunResult(
        **fields,
        checks={"run": f"crashed: {type(exc).__name__}: {exc}"[:300]},
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
