"""What the scenarios share on the harness side: the case, starting a target, relaying a
worker's reports, latency percentiles, results, CPU windows and counters."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from ..machine import CorePlan
from ..procs import Node, Procs, Worker, cpu_of, free_port
from ..results import RunResult
from . import RunContext

TRANSPORTS: Final = ("ws-json", "ws-msgpack", "sse")
#: The one production setting the scenarios change (recorded in each result's `changes`).
HUDDLE_CHANGES: Final = {"HUDDLE_PUBLISH_RATE": "1000000"}
FRAME_BYTES: Final = 400  # the wire frame each subscriber receives, on every target


@dataclass(frozen=True)
class Case:
    target: str
    transport: str
    backend: str
    nodes: int
    n: int


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [s for s in str(value).split(",") if s]


async def relay(w: Worker, op: str, live: Any, wait: float) -> dict[str, Any]:
    """Wait for report `op` from `w`, showing its stats reports as they come."""
    while True:
        message = await w.recv(wait)
        if message.get("op") == "stats":
            live.stats(w.name, message)
        elif message.get("op") == op:
            return message


def latency_percentiles(hist: Counter[int]) -> dict[str, float]:
    """p50/p99/p99.9 in ms from a histogram of latencies in microseconds (3 significant
    figures per bucket)."""
    count = sum(hist.values())
    if not count:
        return {}
    out: dict[str, float] = {"latency_samples": float(count)}
    wanted = {"p50_ms": 0.50, "p99_ms": 0.99, "p999_ms": 0.999}
    ordered = sorted(hist.items())
    for name, q in wanted.items():
        rank = q * count
        seen = 0
        for value, k in ordered:
            seen += k
            if seen >= rank:
                out[name] = round(value / 1000, 3)
                break
    return out


async def start_target(
    procs: Procs, case: Case, plan: Any, result: RunResult
) -> tuple[list[str], dict[str, int]]:
    """Start what a case measures; returns the base URLs subscribers spread over and the pids
    whose CPU counts as the server's ("node0", "redis", …)."""
    pids: dict[str, int] = {}
    redis_url = ""
    if case.target == "socketio" or (case.backend == "redis" and case.target == "huddle"):
        redis = await procs.redis(cores=plan.redis)
        redis_url = redis.url
        pids["redis"] = redis.pid
    if case.target == "huddle":
        backend_url = redis_url if case.backend == "redis" else "memory://"
        nodes: list[Node] = []
        for i in range(case.nodes):
            node = await procs.huddle(
                backend_url, name=f"node{i}", env=HUDDLE_CHANGES, cores=plan.nodes[i]
            )
            nodes.append(node)
            pids[node.name] = node.pid
        return [node.url for node in nodes], pids
    port = free_port()
    module = {
        "raw-ws": "loadtests.baselines.raw_ws",
        "starlette": "loadtests.baselines.bare_starlette",
        "socketio": "loadtests.baselines.socketio_server",
    }[case.target]
    argv = [sys.executable, "-m", module, "--port", str(port)]
    if case.target == "socketio":
        argv += ["--redis", redis_url]
    server = await procs.server(
        argv,
        name="server",
        ready_url=f"http://127.0.0.1:{port}/healthz",
        cores=plan.nodes[0],
        ready_line="READY ",
    )
    pids["server"] = server.pid
    result.params["server_argv"] = " ".join(argv[1:])
    return [server.url], pids


def worker_spec(
    case: Case, urls: list[str], secret: str, *, role: str, first: int, count: int, window: int = 1
) -> dict[str, Any]:
    return {
        "role": role,
        "target": case.target,
        "transport": case.transport,
        "urls": urls,
        "secret": secret,
        "first": first,
        "count": count,
        "window": window,
        "frame_bytes": FRAME_BYTES,
    }


def backends_of(ctx: RunContext) -> list[str]:
    """memory and redis unless `--backend` chose."""
    return as_list(ctx.params.get("backend")) or ["memory", "redis"]


async def per_backend_and_rep(
    ctx: RunContext, run_case: Callable[[RunContext, str, int], Awaitable[RunResult]]
) -> list[RunResult]:
    """`run_case(ctx, backend, rep)` for every backend asked and every rep (1 in quick runs,
    3 otherwise unless `reps` says), each shown live as it ends."""
    reps = int(ctx.params.get("reps") or (1 if ctx.quick else 3))
    results: list[RunResult] = []
    for backend in backends_of(ctx):
        for rep in range(1, reps + 1):
            result = await run_case(ctx, backend, rep)
            ctx.live.done(result)
            results.append(result)
    return results


def new_result(
    ctx: RunContext,
    scenario: str,
    *,
    transport: str,
    backend: str,
    n: int,
    rep: int,
    params: dict[str, Any],
    capped: str | None = None,
) -> RunResult:
    if capped:
        print(f"capped: {capped}", file=sys.stderr)
    return RunResult(
        scenario=scenario,
        target="huddle",
        transport=transport,
        backend=backend,
        nodes=1,
        n=n,
        rep=rep,
        params={**params, "quick": ctx.quick, "group": f"{ctx.run_id}/{scenario}/{backend}"},
        capped=capped,
        machine=ctx.machine,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        run_id=ctx.run_id,
    )


async def start_node(
    procs: Procs, backend: str, plan: CorePlan, changes: dict[str, str]
) -> tuple[str, dict[str, int]]:
    """Redis when asked, then one node; its URL and the pids whose CPU counts as the server's."""
    pids: dict[str, int] = {}
    backend_url = "memory://"
    if backend == "redis":
        redis = await procs.redis(cores=plan.redis)
        backend_url = redis.url
        pids["redis"] = redis.pid
    node = await procs.huddle(backend_url, name="node0", env=changes, cores=plan.nodes[0])
    pids[node.name] = node.pid
    return node.url, pids


async def relay_all(workers: list[Worker], op: str, live: Any, wait: float) -> list[dict[str, Any]]:
    return [await relay(w, op, live, wait) for w in workers]


def connect_check(result: RunResult, ready: list[dict[str, Any]]) -> None:
    failed = sum(int(r.get("failed", 0)) for r in ready)
    result.checks["connect"] = "ok" if not failed else f"{failed} clients failed to connect"
    if failed:
        result.checks["connect_errors"] = "; ".join(
            str(e) for r in ready for e in r.get("errors", [])[:3]
        )


class CpuWindow:
    """CPU / wall of each watched process from now until `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.cpu0 = {k: cpu_of(p) for k, p in pids.items()}
        self.t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.t0, 1e-6)
        return {k: round((cpu_of(p) - self.cpu0[k]) / wall, 3) for k, p in self.pids.items()}


def closed_loop_figures(
    result: RunResult, done: dict[str, Any], drained: list[dict[str, Any]], n: int
) -> float:
    """Record a closed-loop phase's rates (from the first send to the last delivery anywhere)
    in `result.figures`; answers the target's own events/s."""
    t0 = int(done["t0"])
    last_rx = max([int(d["last_rx_ns"]) for d in drained] + [int(done["t1"])])
    sent = int(done["sent"])
    span = max(last_rx - t0, 1) / 1e9
    own_rate = sent / span
    result.figures.update(
        events_per_s=round(own_rate, 1),
        delivered_per_s=round(sent * n / span, 1),
        throughput_events=sent,
        throughput_seconds=round(span, 3),
    )
    return own_rate


def client_bound(cpu: dict[str, float], clients: list[str], plan: CorePlan) -> bool:
    """A figure counts only with the node at >= 0.9 CPU and every client process below 0.85."""
    client_cpu = [cpu.get(c, 0.0) for c in clients]
    return (
        any(c >= 0.85 for c in client_cpu)
        or sum(client_cpu) >= 0.85 * max(1, len(plan.clients))
        or cpu.get("node0", 0.0) < 0.9
    )


def add_counters(result: RunResult, finals: list[dict[str, Any]]) -> None:
    counters: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    for f in finals:
        counters.update({k: int(v) for k, v in f.get("counters", {}).items()})
        closes.update({str(k): int(v) for k, v in f.get("closes", {}).items()})
    counters["server_closes"] += 0  # always reported
    result.counters = dict(counters)
    result.closes = dict(closes)
