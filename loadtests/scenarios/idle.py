"""Scenario 6, idle connections: memory per connection and connects/s, stepped up to 10,000 per
node.

Per target (Huddle on each backend; bare Starlette on uvicorn-sansio; python-socketio with its
Redis manager) and rep, fresh processes: the server (Redis when it needs one) and idle client
workers (`idle_worker`). Huddle's connections are real ones: authenticated (a token per user),
subscribed to the workspace and joined to presence, with the production keepalive (uvicorn's
default pings, answered by the client; the node refreshes the presence sessions).

1. warm-up: `warmup` connections opened (code paths, allocator arenas), client `gc`, settle;
   the server's RSS then is the base;
2. per step (total connections held, warm-up included): open the ones missing, measuring
   connects/s; client `gc`; settle until the server's RSS is stable; figure
   `kib_per_conn` = (RSS - base) / (step - warmup);
3. then `check_events` events are published (REST, or a Socket.IO ack'd emit) and every idle
   connection must get each one (lost, duplicated, out of order, server closes), and for
   Huddle the presence roster must list one session per connection.

The server process cannot be made to run `gc` from outside (Huddle has no hook for it): the
harness waits for its RSS to settle instead, recorded in `params["gc"]`. N above the hard fd
limit (`cap_connections`) or above Huddle's per-node connection limit is lowered, and the result
marked capped with the reason.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import Counter
from typing import Final

import httpx

from ..machine import cap_connections, plan_cores
from ..procs import Procs, Worker, cpu_of, rss_of
from ..results import RunResult
from ..tokens import make_token
from . import RunContext
from .common import Case, as_list, relay, start_target
from .worker_common import ORG, WORKSPACE

WORKER: Final = "loadtests.scenarios.idle_worker"
TARGETS: Final = ("huddle", "starlette", "socketio")
FULL_STEPS: Final = (1000, 2500, 5000, 10_000)
HUDDLE_MAX_CONNECTIONS: Final = 10_000  # HUDDLE_WS_MAX_CONNECTIONS' default
PER_WORKER: Final = 5000


class IdleConnections:
    name = "idle"
    title = "Idle connections: memory per connection and connects/s, up to 10,000 per node"

    async def run(self, ctx: RunContext) -> list[RunResult]:
        p = ctx.params
        targets = [t for t in as_list(p.get("target")) if t in TARGETS] or list(TARGETS)
        backends = as_list(p.get("backend")) or ["memory"]
        steps = sorted({int(x) for x in as_list(p.get("n"))}) or (
            [5, 10] if ctx.quick else list(FULL_STEPS)
        )
        reps = int(p.get("reps") or (1 if ctx.quick else 3))
        results: list[RunResult] = []
        for rep in range(1, reps + 1):
            for backend in backends:
                runnable = list(targets)
                if backend != backends[0]:
                    runnable = [t for t in runnable if t == "huddle"]
                for target in runnable:
                    case = Case(target, "ws-json", backend, 1, max(steps))
                    for result in await run_case(ctx, case, steps, rep):
                        result.params["group"] = f"{ctx.run_id}/idle/{backend}/{result.n}/{rep}"
                        ctx.live.done(result)
                        results.append(result)
        return results


IDLE = IdleConnections()


def _cap(target: str, steps: list[int]) -> tuple[list[int], str | None]:
    top, why = cap_connections(max(steps))
    if target == "huddle" and top > HUDDLE_MAX_CONNECTIONS:
        top = HUDDLE_MAX_CONNECTIONS
        why = (
            f"N lowered from {max(steps)} to {top}: HUDDLE_WS_MAX_CONNECTIONS (production "
            f"default {HUDDLE_MAX_CONNECTIONS}) per node"
        )
    return sorted({min(s, top) for s in steps}), why


async def _stable_rss(pid: int, settle: float) -> int:
    """The RSS of `pid` once two readings `settle` seconds apart differ by under 0.5 %."""
    before = rss_of(pid)
    for _ in range(20):
        await asyncio.sleep(settle)
        now = rss_of(pid)
        if abs(now - before) <= before * 0.005:
            return now
        before = now
    return before


async def run_case(ctx: RunContext, case: Case, steps: list[int], rep: int) -> list[RunResult]:
    quick = ctx.quick
    steps, capped = _cap(case.target, steps)
    warmup = int(ctx.params.get("warmup") or (2 if quick else 100))
    warmup = min(warmup, max(1, steps[0] // 2))
    check_events = 5 if quick else 20
    settle = 0.2 if quick else 0.5
    plan = plan_cores(1)
    workers_k = max(1, math.ceil(max(steps) / PER_WORKER))
    if capped:
        print(f"capped: {capped}", file=sys.stderr)
    live = ctx.live
    results: list[RunResult] = []
    async with Procs() as procs:
        base_result = RunResult(
            scenario="idle",
            target=case.target,
            transport="ws-json",
            backend=case.backend
            if case.target == "huddle"
            else ("redis" if case.target == "socketio" else "-"),
            nodes=1,
            n=0,
            rep=rep,
        )
        live.phase(f"idle {case.target} {case.backend}: starting")
        urls, pids = await start_target(procs, case, plan, base_result)
        server_name = "node0" if case.target == "huddle" else "server"
        server_pid = pids[server_name]
        workers: list[Worker] = []
        for i in range(workers_k):
            w = await procs.spawn_worker(
                WORKER, name=f"idle{i}", args=["--worker"], cores=plan.clients
            )
            workers.append(w)
        target_url = urls[0]
        for i, w in enumerate(workers):
            w.send(
                {"target": case.target, "urls": urls, "secret": procs.secret, "first": i * 10**6}
            )
            await relay(w, "ready", live, 30.0)

        held = [0] * workers_k

        async def open_to(total: int) -> tuple[int, list[str], float]:
            """Open connections until `total` are held, spread over the workers."""
            want = [
                total // workers_k + (1 if i < total % workers_k else 0) for i in range(workers_k)
            ]
            t0 = time.monotonic()
            for w, have, goal in zip(workers, held, want, strict=True):
                if goal > have:
                    w.send({"op": "open", "count": goal - have})
            failed, errors = 0, []
            for i, (w, have, goal) in enumerate(zip(workers, held, want, strict=True)):
                if goal > have:
                    r = await relay(w, "opened", live, 60.0 + (goal - have) / 50)
                    failed += int(r["failed"])
                    errors += r["errors"]
                    held[i] = goal
            return failed, errors, time.monotonic() - t0

        async def gc_all() -> None:
            for w in workers:
                w.send({"op": "gc"})
            for w in workers:
                await relay(w, "gced", live, 30.0)

        live.phase(f"idle {case.target}: warm-up {warmup}")
        failed_total, errors_all, _ = await open_to(warmup)
        await gc_all()
        base_rss = await _stable_rss(server_pid, settle)
        base_redis = rss_of(pids["redis"]) if "redis" in pids else 0
        expected: dict[str, int] = {}
        published = 0
        current = warmup
        for step in steps:
            result = RunResult(
                scenario="idle",
                target=case.target,
                transport="ws-json",
                backend=base_result.backend,
                nodes=1,
                n=step,
                rep=rep,
                params={
                    "warmup": warmup,
                    "steps": steps,
                    "check_events": check_events,
                    "client_workers": workers_k,
                    "cores": plan.describe(),
                    "keepalive": "production defaults: uvicorn pings, answered by the client"
                    + ("; presence refreshed by the node" if case.target == "huddle" else ""),
                    "connection": {
                        "huddle": "token, subscribe, presence.join",
                        "starlette": "/ws/<room>",
                        "socketio": "connect, join room",
                    }[case.target],
                    "gc": "client gc.collect(); server RSS read once stable (no server gc hook)",
                    "quick": quick,
                    **{k: v for k, v in base_result.params.items() if k == "server_argv"},
                },
                capped=capped if step == max(steps) else None,
                machine=ctx.machine,
                started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                run_id=ctx.run_id,
            )
            live.phase(f"{result.label}: opening to {step}")
            watched = {**pids, **{w.name: w.pid for w in workers}}
            cpu0 = {k: cpu_of(pid) for k, pid in watched.items()}
            added = step - current
            failed, errors, seconds = await open_to(step)
            result.cpu = {
                k: round((cpu_of(pid) - cpu0[k]) / max(seconds, 1e-6), 3)
                for k, pid in watched.items()
            }
            failed_total += failed
            errors_all += errors
            current = step
            await gc_all()
            rss = await _stable_rss(server_pid, settle)
            measured = max(1, step - warmup)
            result.figures.update(
                connects_per_s=round(added / seconds, 1) if added > 0 and seconds > 0 else 0.0,
                kib_per_conn=round((rss - base_rss) / measured / 1024, 2),
                server_rss_mib=round(rss / 2**20, 1),
                base_rss_mib=round(base_rss / 2**20, 1),
            )
            if base_redis:
                result.figures["redis_kib_per_conn"] = round(
                    (rss_of(pids["redis"]) - base_redis) / measured / 1024, 2
                )
            result.checks["connect"] = (
                "ok" if not failed_total else f"{failed_total} connections failed"
            )
            if failed_total:
                result.checks["connect_errors"] = "; ".join(errors_all[:3])

            # still live: every idle connection gets the events published now
            live.phase(f"{result.label}: checking delivery")
            for w in workers:
                w.send({"op": "reset"})
            for w in workers:
                await relay(w, "reset_done", live, 30.0)
            workers[0].send({"op": "publish", "events": check_events, "pub": f"step{step}"})
            pub = await relay(workers[0], "published", live, 60.0 + check_events)
            result.checks["publish"] = "ok" if not pub["error"] else pub["error"]
            expected = pub["last"]
            published = max(expected.values(), default=0)
            for w in workers:
                w.send({"op": "drain", "total": published})
            received = 0
            for w in workers:
                received += int((await relay(w, "drained", live, 60.0))["received"])
            for w in workers:
                w.send({"op": "check", "expected": expected})
            counters: Counter[str] = Counter()
            closes: Counter[str] = Counter()
            for w in workers:
                r = await relay(w, "checked", live, 60.0)
                counters.update({k: int(v) for k, v in r["counters"].items()})
                closes.update({str(k): int(v) for k, v in r["closes"].items()})
            result.counters = dict(counters)
            result.closes = dict(closes)
            want = published * step
            result.checks["delivered"] = "ok" if received == want else f"{received} of {want}"
            if case.target == "huddle":
                result.checks["presence"] = await _presence_check(target_url, procs, step)
            results.append(result)
        for w in workers:
            w.send({"op": "close"})
        for w in workers:
            await relay(w, "closed", live, 60.0)
    return results


async def _presence_check(url: str, procs: Procs, step: int) -> str:
    token = make_token(procs.secret, "checker", ORG, WORKSPACE)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(
            f"{url}/v1/orgs/{ORG}/workspaces/{WORKSPACE}/sync/presence",
            headers={"Authorization": f"Bearer {token}"},
        )
    if answer.status_code != 200:
        return f"roster answered {answer.status_code}"
    doc = answer.json()
    if doc.get("sessions") != step or doc.get("count") != step:
        return f"roster: {doc.get('count')} users, {doc.get('sessions')} sessions; want {step}"
    return "ok"
