"""Scenario 5, REST pollers: N clients polling one workspace's events on `?after=` (back to back,
mode "after") or long-polling with `wait=` (mode "wait"), while one publisher paces events.

Per case (target, mode, backend) and rep, fresh processes: the server, Redis when asked, the
poller worker(s) and a publisher worker (`rest_poll_worker`). The pollers start, then the
publisher sends `events` events at `rate`/s (a WebSocket publisher connection, as in scenario
1; Huddle's `HUDDLE_PUBLISH_RATE` raised, recorded), the pollers drain, and every poller's Tally
is checked against what was sent. Figures: requests/s (all pollers, over the publish phase up
to the last delivery), events/s delivered to pollers, events/s published, latency p50/p99/p99.9
from the payload's send time to the poll answer that carried it, and the share of empty
answers. The baseline is bare_starlette's `GET /events/<room>?after=&limit=&wait=` (same
flags, same clients).
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from typing import Final

from .. import profiling
from ..machine import cap_connections, plan_cores
from ..procs import Procs, Worker, cpu_of
from ..results import RunResult
from . import RunContext
from .common import (
    HUDDLE_CHANGES,
    Case,
    as_list,
    latency_percentiles,
    relay,
    start_target,
)

WORKER: Final = "loadtests.scenarios.rest_poll_worker"
MODES: Final = ("after", "wait")
TARGETS: Final = ("huddle", "starlette")
LONG_POLL_WAIT: Final = 5.0
PAYLOAD_BYTES: Final = 300
POLLERS_PER_WORKER: Final = 250


class RestPoll:
    name = "rest_poll"
    title = "REST pollers on ?after= and wait=: requests/s, events/s, latency"

    async def run(self, ctx: RunContext) -> list[RunResult]:
        p = ctx.params
        targets = [t for t in as_list(p.get("target")) if t in TARGETS] or list(TARGETS)
        modes = [m.removeprefix("rest-") for m in as_list(p.get("transport"))]
        modes = [m for m in modes if m in MODES] or list(MODES)
        backends = as_list(p.get("backend")) or ["memory"]
        ns = [int(x) for x in as_list(p.get("n"))] or ([5] if ctx.quick else [10, 100, 1000])
        reps = int(p.get("reps") or (1 if ctx.quick else 3))
        results: list[RunResult] = []
        for mode in modes:
            for backend in backends:
                for n in ns:
                    runnable = list(targets)
                    if backend != backends[0]:
                        runnable = [t for t in runnable if t == "huddle"]
                    for rep in range(1, reps + 1):
                        for target in runnable:
                            case = Case(target, f"rest-{mode}", backend, 1, n)
                            result = await run_case(ctx, case, mode, rep)
                            result.params["group"] = f"{ctx.run_id}/rest-{mode}/{backend}/{n}/{rep}"
                            ctx.live.done(result)
                            results.append(result)
        return results


REST_POLL = RestPoll()


async def run_case(ctx: RunContext, case: Case, mode: str, rep: int) -> RunResult:
    p = ctx.params
    quick = ctx.quick
    n, capped = cap_connections(case.n)
    plan = plan_cores(1)
    workers_k = max(1, min(len(plan.clients) or 1, math.ceil(n / POLLERS_PER_WORKER)))
    events = int(p.get("events") or (200 if quick else 0))
    seconds = float(p.get("seconds") or (0.0 if quick else 5.0))
    rate = float(p.get("rate") or (400.0 if quick else 1000.0))
    if not events:
        events = max(1, int(rate * seconds))
    # quick: a short hold, so that stopping the server does not wait out an open long poll
    wait = (1.0 if quick else LONG_POLL_WAIT) if mode == "wait" else 0.0
    result = RunResult(
        scenario="rest_poll",
        target=case.target,
        transport=case.transport,
        backend=case.backend if case.target == "huddle" else "-",
        nodes=1,
        n=n,
        rep=rep,
        params={
            "requested_n": case.n,
            "mode": mode,
            "wait": wait,
            "limit": 1000,
            "events": events,
            "rate": rate,
            "payload_bytes": PAYLOAD_BYTES,
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
        # the fan-out case shape, for the shared server start (its transport is unused there)
        urls, pids = await start_target(procs, case, plan, result)
        share = [n // workers_k + (1 if i < n % workers_k else 0) for i in range(workers_k)]
        pollers: list[Worker] = []
        first = 0
        base = {"target": case.target, "transport": "ws-json", "urls": urls, "wait": wait}
        for i, count in enumerate(share):
            w = await procs.spawn_worker(
                WORKER, name=f"poll{i}", args=["--worker"], cores=plan.clients
            )
            w.send(
                {**base, "role": "pollers", "secret": procs.secret, "first": first, "count": count}
            )
            first += count
            pollers.append(w)
        pub = await procs.spawn_worker(WORKER, name="pub", args=["--worker"], cores=plan.clients)
        pub.send({**base, "role": "pub", "secret": procs.secret, "frame_bytes": PAYLOAD_BYTES})
        workers = [*pollers, pub]
        ready = [await relay(w, "ready", live, 30.0 + n / 100) for w in workers]
        failed = sum(int(r.get("failed", 0)) for r in ready)
        result.checks["connect"] = "ok" if not failed else f"{failed} clients failed to connect"
        if failed:
            result.checks["connect_errors"] = "; ".join(
                str(e) for r in ready for e in r.get("errors", [])[:3]
            )

        watched = {**pids, **{w.name: w.pid for w in workers}}
        for w in pollers:
            w.send({"op": "mark"})
        marks = [await relay(w, "marked", live, 30.0) for w in pollers]
        async with profiling.phase(ctx, procs, pids, result, "polling", cores=plan.clients):
            cpu0 = {k: cpu_of(pid) for k, pid in watched.items()}
            wall0 = time.monotonic()
            live.phase(f"{result.label}: publishing {events} at {rate:g}/s")
            pub.send({"op": "phase", "rate": rate, "events": events})
            done = await relay(pub, "phase_done", live, 60.0 + events / rate * 4)
            sent = int(done["sent"])
            for w in pollers:
                w.send({"op": "drain", "total": sent})
            drained = [await relay(w, "drained", live, 120.0) for w in pollers]
            wall = time.monotonic() - wall0
            result.cpu = {k: round((cpu_of(pid) - cpu0[k]) / wall, 3) for k, pid in watched.items()}

        t0 = min([int(done["t0"])] + [int(m["t"]) for m in marks])
        t_end = max(int(d["t"]) for d in drained)
        last_rx = max([int(d["last_rx_ns"]) for d in drained] + [int(done["t1"])])
        span = max(t_end - t0, 1) / 1e9
        rx_span = max(last_rx - int(done["t0"]), 1) / 1e9
        received = sum(int(d["received"]) for d in drained)
        requests = sum(int(d["requests"]) for d in drained)
        result.figures.update(
            requests_per_s=round(requests / span, 1),
            events_per_s=round(received / rx_span, 1),
            published_per_s=round(sent / max(int(done["t1"]) - int(done["t0"]), 1) * 1e9, 1),
            requests=float(requests),
            events_per_request=round(received / requests, 3) if requests else 0.0,
        )
        hist: Counter[int] = Counter()
        for d in drained:
            hist.update({int(k): int(v) for k, v in d["lat_hist"].items()})
        result.figures.update(latency_percentiles(hist))

        pub.send({"op": "finish"})
        pub_final = await relay(pub, "result", live, 60.0)
        for w in pollers:
            w.send({"op": "tally", "expected": pub_final["last"]})
        finals = [await relay(w, "result", live, 60.0) for w in pollers]
        counters: Counter[str] = Counter()
        for f in finals:
            counters.update({k: int(v) for k, v in f["counters"].items()})
        result.counters = dict(counters)
        http_errors = sum(int(f["http_errors"]) for f in finals)
        resets = sum(int(f["resets"]) for f in finals)
        empty = sum(int(f["empty"]) for f in finals)
        result.figures["empty_share"] = round(empty / requests, 3) if requests else 0.0
        result.checks["http"] = (
            "ok"
            if not http_errors
            else (
                f"{http_errors} failed polls: "
                + "; ".join(f["last_error"] for f in finals if f["last_error"])[:300]
            )
        )
        result.checks["resets"] = "ok" if not resets else f"{resets} poll answers were resets"
        errors = int(pub_final.get("publish_errors", 0))
        result.checks["publish"] = "ok" if not errors else f"{errors} publishes refused"
        if errors:
            result.checks["publish_errors"] = "; ".join(pub_final.get("errors", [])[:3])
        result.checks["delivered"] = (
            "ok" if received == sent * n else f"{received} of {sent * n} deliveries"
        )
        cpu = result.cpu
        server_cpu = [cpu[k] for k in pids if k.startswith(("node", "server"))]
        client_cpu = [cpu[w.name] for w in workers]
        result.client_bound = (
            any(c >= 0.85 for c in client_cpu)
            or sum(client_cpu) >= 0.85 * max(1, len(plan.clients))
            or (bool(server_cpu) and min(server_cpu) < 0.9)
        )
        result.changes = dict(HUDDLE_CHANGES) if case.target == "huddle" else {}
    return result
