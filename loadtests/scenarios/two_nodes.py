"""Scenario 7, two nodes on one Redis: cross-node rate and latency against one node, at the same
paced rate.

Per rep, two cases in fresh processes, with the fan-out clients (`fanout_worker`):

- cross-node: Redis, node0 and node1 (`plan_cores(2)`); the publisher connects to node0, the
  N subscribers and the probe to node1, so every event crosses Redis pub/sub between nodes;
- single-node: Redis and node0 only; publisher, subscribers and probe all on node0.

Each: warm-up; closed-loop throughput (the probe gates the publisher slots, as in scenario 1);
then latency paced at one rate for both (50 % of the cross-node closed-loop rate of the same
rep, measured first); drain and tally. The cross-node result carries
`p99_minus_single_ms` (target: <= 5 ms) and `rate_vs_single`. Under 4 cores the nodes share a
core (`plan_cores`): the result says so in `params["note"]` and `params["nodes_shared_core"]`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from typing import Any, Final

from .. import profiling
from ..machine import cap_connections, plan_cores
from ..procs import Procs, Worker
from ..results import RunResult
from . import RunContext
from .common import (
    FRAME_BYTES,
    HUDDLE_CHANGES,
    Case,
    CpuWindow,
    as_list,
    closed_loop_figures,
    latency_percentiles,
    relay,
    worker_spec,
)

WORKER: Final = "loadtests.scenarios.fanout_worker"


class TwoNodes:
    name = "two_nodes"
    title = "Two nodes on one Redis: cross-node rate and latency vs one node"

    async def run(self, ctx: RunContext) -> list[RunResult]:
        p = ctx.params
        transports = [t for t in as_list(p.get("transport")) if t.startswith("ws")]
        transport = transports[0] if transports else "ws-json"
        ns = [int(x) for x in as_list(p.get("n"))] or ([5] if ctx.quick else [100, 1000])
        reps = int(p.get("reps") or (1 if ctx.quick else 3))
        results: list[RunResult] = []
        for n in ns:
            for rep in range(1, reps + 1):
                group = f"{ctx.run_id}/two_nodes/{transport}/{n}/{rep}"
                cross = await run_case(ctx, Case("huddle", transport, "redis", 2, n), rep, None)
                pace = float(cross.params.get("own_pace_rate") or 0) or None
                single = await run_case(ctx, Case("huddle", transport, "redis", 1, n), rep, pace)
                for r in (cross, single):
                    r.params["group"] = group
                c, s = cross.figures, single.figures
                if "p99_ms" in c and "p99_ms" in s:
                    cross.figures["p99_minus_single_ms"] = round(c["p99_ms"] - s["p99_ms"], 3)
                if s.get("events_per_s"):
                    cross.figures["rate_vs_single"] = round(
                        c.get("events_per_s", 0.0) / s["events_per_s"], 3
                    )
                for r in (cross, single):
                    ctx.live.done(r)
                    results.append(r)
        return results


TWO_NODES = TwoNodes()


async def run_case(ctx: RunContext, case: Case, rep: int, pace: float | None) -> RunResult:
    """One rep of one case; `pace` is the latency phase's rate (None: 50 % of this case's own
    closed-loop rate)."""
    p = ctx.params
    quick = ctx.quick
    n, capped = cap_connections(case.n)
    plan = plan_cores(case.nodes)
    workers_k = max(1, min(len(plan.clients) or 1, math.ceil(n / 500)))
    seconds = float(p.get("seconds") or (0.0 if quick else 5.0))
    events = int(p.get("events") or (200 if quick else 0))
    warmup = int(p.get("warmup") or (20 if quick else 200))
    window = int(p.get("window") or 4)
    usable = len(os.sched_getaffinity(0))
    result = RunResult(
        scenario="two_nodes",
        target="huddle",
        transport=case.transport,
        backend="redis",
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
            "placement": "publisher on node0, subscribers and probe on node1"
            if case.nodes == 2
            else "publisher, subscribers and probe on node0",
            "quick": quick,
        },
        capped=capped,
        machine=ctx.machine,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        run_id=ctx.run_id,
    )
    if case.nodes == 2:
        result.params["nodes_shared_core"] = plan.shared
        if plan.shared:
            result.params["note"] = (
                f"the two nodes shared a core ({usable} usable cores, fewer than 4): "
                "cross-node figures include that contention"
            )
    if capped:
        print(f"capped: {capped}", file=sys.stderr)
    live = ctx.live
    live.phase(f"{result.label}: starting")
    async with Procs(cprofile=profiling.tool(ctx) == "cprofile") as procs:
        redis = await procs.redis(cores=plan.redis)
        pids: dict[str, int] = {"redis": redis.pid}
        nodes = []
        for i in range(case.nodes):
            node = await procs.huddle(
                redis.url, name=f"node{i}", env=HUDDLE_CHANGES, cores=plan.nodes[i]
            )
            nodes.append(node)
            pids[node.name] = node.pid
        sub_urls = [nodes[-1].url]
        pub_urls = [nodes[0].url, nodes[-1].url]  # publisher on the first, probe on the last
        subs: list[Worker] = []
        share = [n // workers_k + (1 if i < n % workers_k else 0) for i in range(workers_k)]
        first = 0
        for i, count in enumerate(share):
            spec = worker_spec(case, sub_urls, procs.secret, role="subs", first=first, count=count)
            first += count
            w = await procs.spawn_worker(
                WORKER, name=f"subs{i}", args=["--worker"], cores=plan.clients
            )
            w.send(spec)
            subs.append(w)
        pub = await procs.spawn_worker(WORKER, name="pub", args=["--worker"], cores=plan.clients)
        pub.send(
            worker_spec(case, pub_urls, procs.secret, role="pub", first=0, count=1, window=window)
        )
        workers = [*subs, pub]
        ready = [await relay(w, "ready", live, 30.0 + n / 100) for w in workers]
        failed = sum(int(r.get("failed", 0)) for r in ready)
        result.checks["connect"] = "ok" if not failed else f"{failed} clients failed to connect"
        if failed:
            result.checks["connect_errors"] = "; ".join(
                str(e) for r in ready for e in r.get("errors", [])[:3]
            )
        total = 0

        async def phase(name: str, command: dict[str, Any]) -> tuple[Any, list[Any]]:
            nonlocal total
            live.phase(f"{result.label}: {name}")
            pub.send({"op": "phase", "name": name, **command})
            done = await relay(pub, "phase_done", live, 120.0 + seconds * 4)
            total += int(done["sent"])
            for w in subs:
                w.send({"op": "drain", "total": total})
            return done, [await relay(w, "drained", live, 120.0) for w in subs]

        await phase("warm-up", {"mode": "closed", "events": warmup, "seconds": 0})
        async with profiling.phase(ctx, procs, pids, result, "throughput", cores=plan.clients):
            window = CpuWindow({**pids, **{w.name: w.pid for w in workers}})
            done, drained = await phase(
                "throughput", {"mode": "closed", "events": events, "seconds": seconds}
            )
            cpu = result.cpu = window.stop()
        own_rate = closed_loop_figures(result, done, drained, n)
        client_cpu = [cpu[w.name] for w in workers]
        node_cpu = [cpu[k] for k in pids if k.startswith("node")]
        result.client_bound = (
            any(c >= 0.85 for c in client_cpu)
            or sum(client_cpu) >= 0.85 * max(1, len(plan.clients))
            or (sum(node_cpu) < 0.9)
        )
        result.params["own_pace_rate"] = round(0.5 * own_rate, 1)
        rate = pace if pace is not None else 0.5 * own_rate
        if rate > 0.9 * own_rate:
            result.params["pace_note"] = "paced above 90 % of this case's own closed-loop rate"
        paced_events = int(p.get("paced_events") or (100 if quick else max(200, int(rate * 3))))
        result.params.update(
            pace_rate=round(rate, 1),
            pace_basis="cross-node closed-loop rate"
            if pace is not None or case.nodes == 2
            else "own",
            paced_events=paced_events,
        )
        _, drained = await phase("latency", {"mode": "paced", "rate": rate, "events": paced_events})
        hist: Counter[int] = Counter()
        for d in drained:
            hist.update({int(k): int(v) for k, v in d["lat_hist"].items()})
        result.figures.update(latency_percentiles(hist))

        for w in workers:
            w.send({"op": "finish"})
        pub_final = await relay(pub, "result", live, 60.0)
        for w in subs:
            w.send({"op": "tally", "expected": pub_final["last"]})
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
        result.changes = dict(HUDDLE_CHANGES)
    return result
