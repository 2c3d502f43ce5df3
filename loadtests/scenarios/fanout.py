"""Scenario 1, fan-out: one publisher, N subscribers of one workspace.

Per case (target, transport, backend, nodes, N) and rep, fresh processes: the server(s), Redis
when asked, K subscriber workers and one publisher worker (with a probe subscriber), each a
`python -m loadtests.scenarios.fanout_worker --worker` child speaking JSON lines (procs.Worker).

1. warm-up: a closed-loop burst, drained by every subscriber;
2. throughput: closed loop for `seconds` (or `events`): `window` publisher slots each send
   their next event only once the probe subscriber has it, so no queue grows anywhere;
   delivered/s = events x N / (last delivery - start), CPU of every process over the phase;
3. latency: paced at 50 % of the raw-ws baseline's closed-loop rate of the same rep (of the
   target's own when raw-ws did not run; never above 90 % of the target's own), p50/p99/p99.9
   from the monotonic send time in each payload;
4. finish: every subscriber's Tally against what the publisher sent (lost, duplicated,
   out of order, id regressions, server closes).

Huddle is published to over its WebSocket `publish` op (the baselines get a publisher
connection too), with `HUDDLE_PUBLISH_RATE` raised: the one setting changed, recorded.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections import Counter
from typing import Any, Final

from .. import profiling
from ..machine import cap_connections, plan_cores
from ..procs import Procs, Worker
from ..results import RunResult, crashed
from . import RunContext
from .common import (
    FRAME_BYTES,
    HUDDLE_CHANGES,
    TRANSPORTS,
    Case,
    CpuWindow,
    as_list,
    closed_loop_figures,
    latency_percentiles,
    relay,
    start_target,
    worker_spec,
)

TARGETS: Final = ("huddle", "raw-ws", "starlette", "socketio")
#: Which transports each target serves (raw websockets has no SSE; socket.io is its own).
SERVES: Final[dict[str, tuple[str, ...]]] = {
    "huddle": TRANSPORTS,
    "raw-ws": ("ws-json", "ws-msgpack"),
    "starlette": ("ws-json", "ws-msgpack", "sse"),
    "socketio": ("ws-json",),
}


WORKER: Final = "loadtests.scenarios.fanout_worker"

# ---------------------------------------------------------------------------------------------
# The harness side
# ---------------------------------------------------------------------------------------------


class Fanout:
    name = "fanout"
    title = "Fan-out: one publisher, N subscribers of one workspace"

    async def run(self, ctx: RunContext) -> list[RunResult]:
        p = ctx.params
        targets = as_list(p.get("target")) or ["huddle", "raw-ws", "starlette", "socketio"]
        transports = as_list(p.get("transport")) or ["ws-json"]
        backends = as_list(p.get("backend")) or ["memory"]
        ns = [int(x) for x in as_list(p.get("n"))] or ([10] if ctx.quick else [100])
        nodes = int(p.get("nodes") or 1)
        reps = int(p.get("reps") or (1 if ctx.quick else 3))
        results: list[RunResult] = []
        for transport in transports:
            for backend in backends:
                for n in ns:
                    runnable = [t for t in targets if transport in SERVES[t]]
                    if ctx.quick and backend != backends[0]:
                        # tiny runs: a baseline that ignores the backend runs once
                        runnable = [t for t in runnable if t == "huddle"]
                    # raw-ws first in each rep: its rate paces the latency run of the others
                    runnable.sort(key=lambda t: t != "raw-ws")
                    for rep in range(1, reps + 1):
                        raw_rate: float | None = None
                        for target in runnable:
                            case = Case(
                                target, transport, backend, nodes if target == "huddle" else 1, n
                            )
                            try:
                                result = await run_case(ctx, case, rep, raw_rate)
                            except Exception as exc:  # this case failed; the others still run
                                result = crashed_case(ctx, case, rep, exc)
                            # the runs one ratio may compare: same invocation, case and rep
                            result.params["group"] = f"{ctx.run_id}/{transport}/{backend}/{n}/{rep}"
                            if target == "raw-ws":
                                raw_rate = result.figures.get("events_per_s")
                            ctx.live.done(result)
                            results.append(result)
        return results


FANOUT = Fanout()


def crashed_case(ctx: RunContext, case: Case, rep: int, exc: Exception) -> RunResult:
    """A failed result for a case that raised (a worker went silent, a server died)."""
    print(f"FAILED: fanout {case}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return crashed(
        exc,
        scenario="fanout",
        target=case.target,
        transport=case.transport,
        backend=case.backend if case.target in ("huddle", "socketio") else "-",
        nodes=case.nodes,
        n=case.n,
        rep=rep,
        machine=ctx.machine,
        run_id=ctx.run_id,
    )


async def run_case(ctx: RunContext, case: Case, rep: int, raw_rate: float | None) -> RunResult:
    """One rep of one case, in processes of its own; every one is gone when this returns."""
    p = ctx.params
    quick = ctx.quick
    n, capped = cap_connections(case.n, nodes=case.nodes)
    plan = plan_cores(case.nodes)
    workers_k = max(1, min(len(plan.clients), math.ceil(n / 500)))
    seconds = float(p.get("seconds") or (0.0 if quick else 5.0))
    events = int(p.get("events") or (200 if quick else 0))
    warmup = int(p.get("warmup") or (20 if quick else 200))
    window = int(p.get("window") or 4)
    result = RunResult(
        scenario="fanout",
        target=case.target,
        transport=case.transport,
        backend=case.backend
        if case.target == "huddle"
        else ("redis" if case.target == "socketio" else "-"),
        nodes=case.nodes,
        n=n,
        rep=rep,
        params={
            "requested_n": case.n,
            "seconds": seconds,
            "events": events,
            "warmup": warmup,
            "window": window,
            "frame_bytes": FRAME_BYTES,
            "client_workers": workers_k,
            "cores": plan.describe(),
            "quick": quick,
        },
        capped=capped,
        machine=ctx.machine,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        run_id=ctx.run_id,
    )
    if capped:
        print(f"capped: {capped}", file=sys.stderr)
    live = ctx.live
    live.phase(f"{result.label}: starting")
    async with Procs(cprofile=profiling.tool(ctx) == "cprofile") as procs:
        # the client workers start (and import) while the server starts; their specs follow
        share = [n // workers_k + (1 if i < n % workers_k else 0) for i in range(workers_k)]
        subs: list[Worker] = [
            await procs.spawn_worker(WORKER, name=f"subs{i}", args=["--worker"], cores=plan.clients)
            for i in range(len(share))
        ]
        pub = await procs.spawn_worker(WORKER, name="pub", args=["--worker"], cores=plan.clients)
        urls, pids = await start_target(procs, case, plan, result)
        first = 0
        for w, count in zip(subs, share, strict=True):
            w.send(worker_spec(case, urls, procs.secret, role="subs", first=first, count=count))
            first += count
        pub.send(worker_spec(case, urls, procs.secret, role="pub", first=0, count=1, window=window))
        workers = [*subs, pub]
        connect_wait = 30.0 + n / 100
        ready = [await relay(w, "ready", live, connect_wait) for w in workers]
        failed = sum(int(r.get("failed", 0)) for r in ready)
        result.checks["connect"] = "ok" if not failed else f"{failed} subscribers failed to connect"
        if failed:
            result.checks["connect_errors"] = "; ".join(
                str(e) for r in ready for e in r.get("errors", [])[:3]
            )

        total = 0

        async def phase(
            name: str, command: dict[str, Any]
        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            nonlocal total
            live.phase(f"{result.label}: {name}")
            pub.send({"op": "phase", "name": name, **command})
            done = await relay(pub, "phase_done", live, 120.0 + seconds * 4)
            total += int(done["sent"])
            for w in subs:
                w.send({"op": "drain", "total": total})
            drained = [await relay(w, "drained", live, 120.0) for w in subs]
            return done, drained

        await phase("warm-up", {"mode": "closed", "events": warmup, "seconds": 0})
        server_pids = dict(pids)
        async with profiling.phase(ctx, procs, pids, result, "throughput", cores=plan.clients):
            window = CpuWindow({**server_pids, **{w.name: w.pid for w in workers}})
            done, drained = await phase(
                "throughput", {"mode": "closed", "events": events, "seconds": seconds}
            )
            cpu = result.cpu = window.stop()
        own_rate = closed_loop_figures(result, done, drained, n)
        result.figures["frame_bytes"] = float(done.get("frame_bytes", 0))
        server_cpu = [cpu[k] for k in server_pids if k.startswith(("node", "server"))]
        client_cpu = [cpu[w.name] for w in workers]
        shared_core = sum(client_cpu) if plan.clients else 0.0
        result.client_bound = (
            any(c >= 0.85 for c in client_cpu)
            or shared_core >= 0.85 * max(1, len(plan.clients))
            or (bool(server_cpu) and min(server_cpu) < 0.9)
        )

        basis = "raw-ws" if raw_rate else "own"
        pace = 0.5 * (raw_rate or own_rate)
        pace = min(pace, 0.9 * own_rate)
        paced_events = int(p.get("paced_events") or (100 if quick else max(200, int(pace * 3))))
        result.params.update(pace_rate=round(pace, 1), pace_basis=basis, paced_events=paced_events)
        _, drained = await phase("latency", {"mode": "paced", "rate": pace, "events": paced_events})
        hist: Counter[int] = Counter()
        for d in drained:
            hist.update({int(k): int(v) for k, v in d["lat_hist"].items()})
        result.figures.update(latency_percentiles(hist))

        for w in workers:
            w.send({"op": "finish"})
        pub_final = await relay(pub, "result", live, 60.0)
        expected = pub_final["last"]
        for w in subs:
            w.send({"op": "tally", "expected": expected})
        finals = [await relay(w, "result", live, 60.0) for w in subs]
        counters: Counter[str] = Counter()
        closes: Counter[str] = Counter()
        for f in [*finals, pub_final]:
            counters.update({k: int(v) for k, v in f.get("counters", {}).items()})
            closes.update({str(k): int(v) for k, v in f.get("closes", {}).items()})
        result.counters = dict(counters)
        result.closes = dict(closes)
        errors = int(pub_final.get("publish_errors", 0))
        result.checks["publish"] = "ok" if not errors else f"{errors} publishes refused"
        if errors:
            result.checks["publish_errors"] = "; ".join(pub_final.get("errors", [])[:3])
        result.changes = dict(HUDDLE_CHANGES) if case.target == "huddle" else {}
    return result


def median_and_range(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)
