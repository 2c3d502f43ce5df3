"""The machine a run measured: facts for the page, fd limits, and which core runs what.

Every figure is stored with these facts (CPU model and count, RAM, kernel, Python, commit,
package and redis-server versions, fd limits), because a figure means nothing without them.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "huddle",
    "uvicorn",
    "websockets",
    "starlette",
    "fastapi",
    "uvloop",
    "httptools",
    "redis",
    "hiredis",
    "orjson",
    "msgpack",
    "python-socketio",
    "python-engineio",
)

#: Descriptors a server process keeps besides its connections (listeners, Redis pool, logs).
FD_MARGIN = 256

REPO = Path(__file__).resolve().parent.parent


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, cwd=REPO)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def redis_version() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        return "missing"
    out = _output([exe, "--version"])
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out


def machine_facts() -> dict[str, Any]:
    """What the page prints under "Machine": enough to tell two machines apart."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    mem_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    dirty = _output(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "cpu_count": os.cpu_count() or 1,
        "cpus_usable": len(os.sched_getaffinity(0)),
        "ram_gib": round(int(mem_kib) / 1024 / 1024, 1) if mem_kib.isdigit() else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": _output(["git", "rev-parse", "--short", "HEAD"]),
        "tree_dirty": dirty not in ("", "unknown"),
        "packages": {name: _version(name) for name in PACKAGES},
        "redis_server": redis_version(),
        "fd_soft": soft,
        "fd_hard": hard,
    }


def raise_fd_limit(*, say: bool = True) -> tuple[int, int]:
    """Raise this process's soft fd limit to the hard limit (children inherit it).

    Returns (soft, hard) as now in force; prints a note when it changed anything.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if say:
            print(f"fd limit: soft {soft} raised to the hard limit {hard} (children inherit it)")
        soft = hard
    return soft, hard


def cap_connections(
    n: int, *, nodes: int = 1, per_process: int | None = None
) -> tuple[int, str | None]:
    """Lower N when the hard fd limit cannot hold it; returns (n, why) with why None if not capped.

    A node holds one descriptor per connection, so each node needs n / nodes plus a margin;
    `per_process` is the most connections any one process holds when that is not the node.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = hard - FD_MARGIN
    if room <= 0:
        return n, None
    biggest = per_process if per_process is not None else -(-n // nodes)
    if biggest <= room:
        return n, None
    capped = room * nodes if per_process is None else n * room // biggest
    why = (
        f"N lowered from {n} to {capped}: the hard fd limit is {hard} per process "
        f"(a node needs one per connection plus {FD_MARGIN}); raise it with `ulimit -Hn` "
        f"(or LimitNOFILE) to measure {n}"
    )
    return capped, why


@dataclass(frozen=True)
class CorePlan:
    """Which cores each part runs on; `shared` when nodes share a core with anything."""

    nodes: list[set[int]]
    redis: set[int]
    clients: set[int]
    shared: bool

    def describe(self) -> str:
        nodes = ", ".join(f"node{i}: {_cores(c)}" for i, c in enumerate(self.nodes))
        tail = " (nodes share a core)" if self.shared else ""
        return f"{nodes}; redis: {_cores(self.redis)}; clients: {_cores(self.clients)}{tail}"


def _cores(cores: set[int]) -> str:
    return ",".join(str(c) for c in sorted(cores)) or "-"


def plan_cores(n_nodes: int, usable: set[int] | None = None) -> CorePlan:
    """One core per node, one for Redis, the rest for clients when there are >= 4 cores (and
    enough of them); otherwise the nodes share the first core and the rest run on the others."""
    cores = sorted(usable if usable is not None else os.sched_getaffinity(0))
    if len(cores) >= 4 and len(cores) >= n_nodes + 2:
        nodes = [{c} for c in cores[:n_nodes]]
        return CorePlan(nodes, {cores[n_nodes]}, set(cores[n_nodes + 1 :]), shared=False)
    if len(cores) >= 2:
        first, rest = {cores[0]}, set(cores[1:])
        return CorePlan([first] * n_nodes, rest, rest, shared=n_nodes > 1)
    only = set(cores)
    return CorePlan([only] * n_nodes, only, only, shared=True)


def pin(pid: int, cores: set[int]) -> None:
    """Pin process `pid` to `cores` (a no-op when `cores` is empty)."""
    if cores:
        os.sched_setaffinity(pid, cores)
