"""Scenario 6, idle connections: memory per connection and connects/s, stepped up to 10,000 per
node.

Per target (Huddle on each backend; bare Starlette on uvicorn-sansio; python-socketio with its
Redis manager) and rep, fresh processes: the server (Redis when it needs one) and idle client
workers (`idle_worker`). Huddle's connections are real ones: authenticated (a token per user),
subscribed to their workspace and joined to its presence, with the production keepalive
(uvicorn's default pings, answered by the client; the node refreshes the presence sessions).

Layout: connections live in workspaces of a fixed, realistic size, `per_workspace` (10; 3 in
quick runs, so those still span several): connection `i` (a global index, the workers' ranges
far apart) is in workspace `w1-<i // per_workspace>` (Huddle; the room of that name on the
baselines), the same on every target. One workspace for all N would make every
`presence.join` a broadcast to all N, O(N^2) frames to open N, which measures that broadcast
instead of idle connections. `kib_per_conn` therefore includes 1/`per_workspace` of a
workspace's state on the server (its subscription and presence roster).

1. warm-up: `warmup` connections opened (code paths, allocator arenas), client `gc`, settle;
   the server's RSS then is the base;
2. per step (total connections held, warm-up included): open the ones missing, measuring
   connects/s; client `gc`; settle until the server's RSS is stable; figure
   `kib_per_conn` = (RSS - base) / (step - warmup);
3. then `check_events` events (3; 5 in quick runs) are published to EVERY workspace in use, by
   the worker holding its connections (REST, or Socket.IO ack'd emits; 16 workspaces in flight
   per worker, each workspace's events in order), from a publisher of that workspace and step
   (`step<N>@<workspace>`). Every idle connection must get exactly its workspace's events,
   each once and in order (`delivered` compares the total received with exactly the total
   expected; lost, duplicated, out of order, misrouted, server closes), and for Huddle every
   workspace's presence roster must list one user and one session per connection in it.

Workers report progress (`stats`) while they open, publish and drain, so a slow phase is told
from a stuck one: a worker fails the run after STALL_SECONDS without a report or without
progress, however long the phase takes as a whole.

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
from collections.abc import Callable
from typing import Any, Final

import httpx

from ..machine import cap_connections, plan_cores
from ..procs import Procs, Worker, cpu_of, rss_of
from ..results import RunResult
from ..tokens import make_token
from . import RunContext
from .common import Case, as_list, relay, start_target
from .idle_worker import workspace_of
from .worker_common import ORG

WORKER: Final = "loadtests.scenarios.idle_worker"
TARGETS: Final = ("huddle", "starlette", "socketio")
FULL_STEPS: Final = (1000, 2500, 5000, 10_000)
HUDDLE_MAX_CONNECTIONS: Final = 10_000  # HUDDLE_WS_MAX_CONNECTIONS' default
PER_WORKER: Final = 5000
FIRST_STRIDE: Final = 10**6  # worker i's connections are i * FIRST_STRIDE, + 1, …
PER_WORKSPACE: Final = 10  # connections per workspace (room); QUICK_PER_WORKSPACE in quick runs
QUICK_PER_WORKSPACE: Final = 3
CHECK_EVENTS: Final = 3  # per workspace and step; QUICK_CHECK_EVENTS in quick runs
QUICK_CHECK_EVENTS: Final = 5
STALL_SECONDS: Final = 90.0  # > idle_worker.OPEN_TIMEOUT: no report or no progress that long
ROSTER_CONCURRENCY: Final = 16
MISMATCHES_SHOWN: Final = 3


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


async def expect(
    w: Worker,
    op: str,
    live: Any,
    stall: float = STALL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Report `op` from `w`, however long it takes while the worker's `stats` reports show
    progress; RuntimeError after `stall` seconds without a report or without progress."""
    progress, since = None, clock()
    while True:
        message = await w.recv(stall)
        if message.get("op") == op:
            return message
        if message.get("op") != "stats":
            continue
        live.stats(w.name, message)
        now = clock()
        if message.get("progress") != progress:
            progress, since = message.get("progress"), now
        elif now - since > stall:
            raise RuntimeError(
                f"worker {w.name} made no progress for {stall} s waiting for {op!r}: {message}"
            )


def layout(first: int, held: int, per_workspace: int) -> Counter[str]:
    """Connections per workspace of a worker holding connections `first`, … `first + held - 1`."""
    return Counter(workspace_of(i, per_workspace) for i in range(first, first + held))


async def run_case(ctx: RunContext, case: Case, steps: list[int], rep: int) -> list[RunResult]:
    quick = ctx.quick
    p = ctx.params
    steps, capped = _cap(case.target, steps)
    warmup = int(p.get("warmup") or (2 if quick else 100))
    warmup = min(warmup, max(1, steps[0] // 2))
    per_workspace = int(p.get("per_workspace") or (QUICK_PER_WORKSPACE if quick else PER_WORKSPACE))
    check_events = int(p.get("check_events") or (QUICK_CHECK_EVENTS if quick else CHECK_EVENTS))
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
        firsts = [i * FIRST_STRIDE for i in range(workers_k)]
        for w, first in zip(workers, firsts, strict=True):
            w.send(
                {
                    "target": case.target,
                    "urls": urls,
                    "secret": procs.secret,
                    "first": first,
                    "per_workspace": per_workspace,
                }
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
                    r = await expect(w, "opened", live)
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
                    "per_workspace": per_workspace,
                    "check_events": check_events,  # per workspace
                    "client_workers": workers_k,
                    "cores": plan.describe(),
                    "keepalive": "production defaults: uvicorn pings, answered by the client"
                    + ("; presence refreshed by the node" if case.target == "huddle" else ""),
                    "connection": {
                        "huddle": "token, subscribe, presence.join",
                        "starlette": "/ws/<room>",
                        "socketio": "connect, join room",
                    }[case.target],
                    "layout": f"connection i in workspace/room w1-<i // {per_workspace}>",
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
            layouts = [
                layout(first, have, per_workspace) for first, have in zip(firsts, held, strict=True)
            ]
            sizes: Counter[str] = Counter()
            for one in layouts:
                sizes.update(one)
            result.params["workspaces"] = len(sizes)
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

            # still live: every idle connection gets the events published now to its workspace
            live.phase(f"{result.label}: checking delivery to {len(sizes)} workspaces")
            for w in workers:
                w.send({"op": "reset"})
            for w in workers:
                await relay(w, "reset_done", live, 30.0)
            pub = f"step{step}"
            for w, one in zip(workers, layouts, strict=True):
                w.send({"op": "publish", "workspaces": sorted(one), "events": check_events,
                        "pub": pub})  # fmt: skip
            expected: list[dict[str, dict[str, int]]] = []
            publish_errors: list[str] = []
            for w in workers:
                r = await expect(w, "published", live)
                publish_errors += r["errors"]
                expected.append({ws: {f"{pub}@{ws}": int(n)} for ws, n in r["last"].items()})
            short = [ws for ws in sizes if all(ws not in e for e in expected)]
            short += [
                ws for e in expected for ws, pubs in e.items() if pubs[f"{pub}@{ws}"] < check_events
            ]
            result.checks["publish"] = (
                "ok"
                if not publish_errors and not short
                else f"{len(short)} workspaces short; " + "; ".join(publish_errors[:3])
            )
            for w, e in zip(workers, expected, strict=True):
                w.send({"op": "drain", "expected": e})
            received = misrouted = 0
            for w in workers:
                r = await expect(w, "drained", live)
                received += int(r["received"])
                misrouted += int(r["misrouted"])
            for w, e in zip(workers, expected, strict=True):
                w.send({"op": "check", "expected": e})
            counters: Counter[str] = Counter()
            closes: Counter[str] = Counter()
            for w in workers:
                r = await relay(w, "checked", live, 60.0)
                counters.update({k: int(v) for k, v in r["counters"].items()})
                closes.update({str(k): int(v) for k, v in r["closes"].items()})
            counters["misrouted"] = misrouted
            result.counters = dict(counters)
            result.closes = dict(closes)
            # exactly: every connection of every workspace, each event published there once
            want = check_events * sum(sizes.values())
            result.checks["delivered"] = delivered_verdict(received, want, misrouted)
            if case.target == "huddle":
                live.phase(f"{result.label}: checking {len(sizes)} presence rosters")
                result.checks["presence"] = await _presence_check(target_url, procs, sizes)
            results.append(result)
        for w in workers:
            w.send({"op": "close"})
        for w in workers:
            await relay(w, "closed", live, 60.0)
    return results


def delivered_verdict(received: int, want: int, misrouted: int) -> str:
    """Answers "ok" only when exactly `want` events arrived, none from another workspace."""
    if received == want and not misrouted:
        return "ok"
    return f"{received} of {want}" + (f", {misrouted} misrouted" if misrouted else "")


async def _presence_check(url: str, procs: Procs, sizes: Counter[str]) -> str:
    """Every workspace's roster lists one user with one session per connection in it."""
    gate = asyncio.Semaphore(ROSTER_CONCURRENCY)
    limits = httpx.Limits(max_connections=ROSTER_CONCURRENCY)

    async def roster(http: httpx.AsyncClient, ws: str) -> tuple[str, int, int, str]:
        token = make_token(procs.secret, "checker", ORG, ws)
        async with gate:
            answer = await http.get(
                f"{url}/v1/orgs/{ORG}/workspaces/{ws}/sync/presence",
                headers={"Authorization": f"Bearer {token}"},
            )
        if answer.status_code != 200:
            return ws, -1, -1, f"answered {answer.status_code}"
        doc = answer.json()
        return ws, int(doc.get("count", -1)), int(doc.get("sessions", -1)), ""

    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        rosters = await asyncio.gather(*(roster(http, ws) for ws in sorted(sizes)))
    return roster_verdict(sizes, rosters)


def roster_verdict(sizes: Counter[str], rosters: list[tuple[str, int, int, str]]) -> str:
    """Answers "ok" when each roster `(workspace, users, sessions, error)` lists
    `sizes[workspace]` users and sessions (one user per connection) and no workspace lacks one;
    else the count of wrong workspaces, the sums and the first MISMATCHES_SHOWN mismatches."""
    seen = {ws for ws, _, _, _ in rosters}
    bad = [f"{ws}: no roster, want {sizes[ws]}" for ws in sorted(set(sizes) - seen)]
    bad += [
        f"{ws}: {error or f'{users} users, {sessions} sessions'}, want {sizes[ws]}"
        for ws, users, sessions, error in rosters
        if error or users != sizes[ws] or sessions != sizes[ws]
    ]
    if not bad:
        return "ok"
    total = sum(max(0, s) for _, _, s, _ in rosters)
    return (
        f"{len(bad)} of {len(sizes)} workspaces wrong ({total} sessions in all, want "
        f"{sum(sizes.values())}): " + "; ".join(bad[:MISMATCHES_SHOWN])
    )
