"""Scenario 2, many workspaces: W workspaces x C clients (1,000 x 10), publishers on random
workspaces.

Per backend (memory://, redis://), transport (WS JSON, WS msgpack, SSE) and rep, fresh
processes: Redis when asked, one node, K subscriber workers (`workspaces_worker`, role
"subs": client i subscribes to workspace i mod W) and one publisher worker (P connections, a
token for every workspace, each keeping `window` publishes in flight on random workspaces:
closed loop on the publish replies, so no queue grows).

1. warm-up: `warmup` events, drained;
2. throughput: for `seconds` (or `events`): published/s (events/s) and delivered/s = events
   delivered to subscribers / (last delivery - start), CPU of every process over the phase;
   latency p50/p99/p99.9 from the payload's monotonic stamp, every delivery;
3. finish: every receiver's Tally against its own workspace's sequences (lost, duplicated,
   out of order, id regressions, server closes); a refused publish fails the run.

`HUDDLE_PUBLISH_RATE` is raised (50/s per connection would be the bottleneck), recorded in
`changes`. Quick: 5 workspaces x 2 clients, 300 events.

The harness-side helpers here (`new_result`, `start_node`, `relay_all`, `cpu_since`) are
shared by scenarios 3 and 4.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Final

from .. import profiling
from ..machine import cap_connections, plan_cores
from ..procs import Procs, Worker
from ..results import RunResult
from . import RunContext
from .common import (
    HUDDLE_CHANGES,
    TRANSPORTS,
    CpuWindow,
    add_counters,
    as_list,
    backends_of,
    client_bound,
    connect_check,
    latency_percentiles,
    new_result,
    relay,
    relay_all,
    start_node,
)
from .idle import HUDDLE_MAX_CONNECTIONS

WORKER: Final = "loadtests.scenarios.workspaces_worker"


# ---------------------------------------------------------------------------------------------
# Scenario 2
# ---------------------------------------------------------------------------------------------


class Workspaces:
    name = "workspaces"
    title = "1,000 workspaces x 10 clients, publishers on random workspaces"

    async def run(self, ctx: RunContext) -> list[RunResult]:
        p = ctx.params
        transports = [t for t in as_list(p.get("transport")) if t in TRANSPORTS] or ["ws-json"]
        if ctx.quick:
            transports = transports[:1]  # tiny runs: one transport, both backends
        reps = int(p.get("reps") or (1 if ctx.quick else 3))
        results: list[RunResult] = []
        for transport in transports:
            for backend in backends_of(ctx):
                for rep in range(1, reps + 1):
                    result = await run_case(ctx, transport, backend, rep)
                    ctx.live.done(result)
                    results.append(result)
        return results


WORKSPACES = Workspaces()


async def run_case(ctx: RunContext, transport: str, backend: str, rep: int) -> RunResult:
    p = ctx.params
    quick = ctx.quick
    n_ws = int(p.get("workspaces") or (5 if quick else 1000))
    per_ws = int(p.get("clients_per_workspace") or (2 if quick else 10))
    if p.get("n"):
        # `--n` is the client count: as many workspaces of `per_ws` clients as it holds
        n_ws = max(1, int(as_list(p["n"])[0]) // per_ws)
    publishers = int(p.get("publishers") or (1 if quick else 4))
    n, capped = cap_connections(n_ws * per_ws)
    if n + publishers > HUDDLE_MAX_CONNECTIONS:
        # the node's production limit holds the subscribers and the publishers' connections
        n = HUDDLE_MAX_CONNECTIONS - publishers
        capped = (
            f"HUDDLE_WS_MAX_CONNECTIONS ({HUDDLE_MAX_CONNECTIONS:,}, the production default) "
            f"holds {publishers} publishers and {n // per_ws * per_ws:,} subscribers"
        )
    n_ws = max(1, n // per_ws)
    n = n_ws * per_ws
    plan = plan_cores(1)
    workers_k = max(1, min(len(plan.clients), math.ceil(n / 2000)))
    seconds = float(p.get("seconds") or (0.0 if quick else 5.0))
    events = int(p.get("events") or (300 if quick else 0))
    warmup = int(p.get("warmup") or (20 if quick else 500))
    window = int(p.get("window") or (4 if quick else 8))
    result = new_result(
        ctx,
        "workspaces",
        transport=transport,
        backend=backend,
        n=n,
        rep=rep,
        capped=capped,
        params={
            "workspaces": n_ws,
            "clients_per_workspace": per_ws,
            "publishers": publishers,
            "window": window,
            "seconds": seconds,
            "events": events,
            "warmup": warmup,
            "client_workers": workers_k,
            "cores": plan.describe(),
        },
    )
    live = ctx.live
    live.phase(f"{result.label}: starting")
    ws_ids = [f"w{i}" for i in range(1, n_ws + 1)]
    async with Procs(cprofile=profiling.tool(ctx) == "cprofile") as procs:
        url, server_pids = await start_node(procs, backend, plan, HUDDLE_CHANGES)
        subs: list[Worker] = []
        # whole workspaces per worker keeps each worker's share of the fan-out even
        share = [n_ws // workers_k + (1 if i < n_ws % workers_k else 0) for i in range(workers_k)]
        first = 0
        for i, count in enumerate(share):
            w = await procs.spawn_worker(
                WORKER, name=f"subs{i}", args=["--worker"], cores=plan.clients
            )
            mine = ws_ids[first : first + count]
            w.send(
                {
                    "role": "subs",
                    "transport": transport,
                    "urls": [url],
                    "secret": procs.secret,
                    "workspaces": mine,
                    "count": count * per_ws,
                    "first": first * per_ws,
                }
            )
            first += count
            subs.append(w)
        pub = await procs.spawn_worker(WORKER, name="pub", args=["--worker"], cores=plan.clients)
        pub.send(
            {
                "role": "pub",
                "transport": "ws-msgpack" if transport == "ws-msgpack" else "ws-json",
                "urls": [url],
                "secret": procs.secret,
                "workspaces": ws_ids,
                "publishers": publishers,
                "window": window,
                "seed": rep,
            }
        )
        workers = [*subs, pub]
        connect_check(result, await relay_all(workers, "ready", live, 60.0 + n / 100))

        async def phase(name: str, events: int, seconds: float) -> tuple[dict[str, Any], Any]:
            live.phase(f"{result.label}: {name}")
            pub.send({"op": "phase", "events": events, "seconds": seconds})
            done = await relay(pub, "phase_done", live, 120.0 + seconds * 4)
            for w in subs:
                w.send({"op": "drain", "expected": done["last"]})
            return done, await relay_all(subs, "drained", live, 120.0)

        await phase("warm-up", warmup, 0.0)
        async with profiling.phase(
            ctx, procs, server_pids, result, "throughput", cores=plan.clients
        ):
            window_cpu = CpuWindow({**server_pids, **{w.name: w.pid for w in workers}})
            done, drained = await phase("throughput", events, seconds)
            result.cpu = window_cpu.stop()
        t0 = int(done["t0"])
        last_rx = max([int(d["last_rx_ns"]) for d in drained] + [int(done["t1"])])
        span = max(last_rx - t0, 1) / 1e9
        sent = int(done["sent"])
        received = sum(int(d["received"]) for d in drained)
        hist: Counter[int] = Counter()
        for d in drained:
            hist.update({int(k): int(v) for k, v in d["lat_hist"].items()})
        result.figures.update(
            events_per_s=round(sent / span, 1),
            delivered_per_s=round(sent * per_ws / span, 1),
            throughput_events=sent,
            throughput_seconds=round(span, 3),
            received_total=received,
            **latency_percentiles(hist),
        )
        result.client_bound = client_bound(result.cpu, [w.name for w in workers], plan)

        pub.send({"op": "finish"})
        pub_final = await relay(pub, "result", live, 60.0)
        for w in subs:
            w.send({"op": "tally", "expected": pub_final["last"]})
        finals = await relay_all(subs, "result", live, 60.0)
        add_counters(result, [*finals, pub_final])
        errors = int(pub_final.get("publish_errors", 0))
        result.checks["publish"] = "ok" if not errors else f"{errors} publishes refused"
        if errors:
            result.checks["publish_errors"] = "; ".join(pub_final.get("errors", [])[:3])
        result.changes = dict(HUDDLE_CHANGES)
    return result
