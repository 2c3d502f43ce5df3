"""Scenario 4, lock contention: many clients on few locks over WebSocket, REST reported apart.

Per backend (memory://, redis://) and rep, fresh processes: Redis when asked, one node, K
locker workers (`lock_contention_worker`, role "lockers": one client per user, a WebSocket
that is not subscribed and a REST client) and one observer (a WebSocket subscribed to the
workspace, reading the log as it grows). Clients acquire a random lock of L; a grant is
refreshed `refreshes` times and released, except that the "stoppers" abandon half of their
leases (no refresh, no release: they end by time, `lock.expired`).

1. WebSocket: for `seconds` (or `events` ops): acquires/s (every attempt), grants/s,
   refreshes/s, releases/s, lock ops/s (all of them), CPU of every process;
2. REST, apart: the same loop over `POST/DELETE /v1/collaboration/locks/...`;
3. check: an end marker event is published; once the observer has it, its stream is replayed
   (`checks.check_locks`): never two holders, fencing tokens strictly increasing, every
   refresh and end matching the holder, and every grant a client was told in the log. The
   REST log (`GET .../sync/events`), when still whole, must hold the same lock events.
"""

from __future__ import annotations

import math
from typing import Any, Final

import httpx

from .. import profiling
from ..machine import cap_connections, plan_cores
from ..procs import Procs, Worker
from ..results import RunResult
from ..tokens import make_token
from . import RunContext
from .common import (
    CpuWindow,
    add_counters,
    client_bound,
    connect_check,
    new_result,
    per_backend_and_rep,
    relay,
    relay_all,
    start_node,
)
from .worker_common import ORG, WORKSPACE

WORKER: Final = "loadtests.scenarios.lock_contention_worker"
MARKER: Final = "bench.end"


class LockContention:
    name = "locks"
    title = "Lock contention over WebSocket (REST apart)"

    async def run(self, ctx: RunContext) -> list[RunResult]:
        return await per_backend_and_rep(ctx, run_case)


LOCK_CONTENTION = LockContention()


async def run_case(ctx: RunContext, backend: str, rep: int) -> RunResult:
    p = ctx.params
    quick = ctx.quick
    clients = int(str(p.get("n") or (6 if quick else 200)).split(",")[0])
    clients, capped = cap_connections(clients)
    n_locks = int(p.get("locks") or (2 if quick else 8))
    ops = int(p.get("events") or (300 if quick else 0))
    rest_ops = int(p.get("rest_events") or (100 if quick else 0))
    seconds = float(p.get("seconds") or (0.0 if quick else 5.0))
    ttl = float(p.get("ttl") or 1.0)  # HUDDLE_LOCK_TTL_MIN: abandoned leases end soon
    refreshes = int(p.get("refreshes") or 2)
    n_stoppers = max(1, clients // 6)
    plan = plan_cores(1)
    workers_k = max(1, min(len(plan.clients), math.ceil(clients / 500)))
    result = new_result(
        ctx,
        "locks",
        transport="ws-json",
        backend=backend,
        n=clients,
        rep=rep,
        capped=capped,
        params={
            "locks": n_locks,
            "ops": ops,
            "rest_ops": rest_ops,
            "seconds": seconds,
            "ttl": ttl,
            "refreshes": refreshes,
            "stoppers": n_stoppers,
            "client_workers": workers_k,
            "cores": plan.describe(),
        },
    )
    live = ctx.live
    live.phase(f"{result.label}: starting")
    users = [f"u{i}" for i in range(1, clients + 1)]
    locks = [f"L{i}" for i in range(1, n_locks + 1)]
    async with Procs(cprofile=profiling.tool(ctx) == "cprofile") as procs:
        url, server_pids = await start_node(procs, backend, plan, {})
        observer = await procs.spawn_worker(
            WORKER, name="observer", args=["--worker"], cores=plan.clients
        )
        observer.send({"role": "observer", "urls": [url], "secret": procs.secret})
        await relay(observer, "ready", live, 60.0)
        lockers: list[Worker] = []
        for i in range(workers_k):
            w = await procs.spawn_worker(
                WORKER, name=f"lockers{i}", args=["--worker"], cores=plan.clients
            )
            w.send(
                {
                    "role": "lockers",
                    "urls": [url],
                    "secret": procs.secret,
                    "users": users[i::workers_k],
                    "stoppers": users[:n_stoppers],
                    "locks": locks,
                    "ttl": ttl,
                    "refreshes": refreshes,
                    "seed": rep * 100 + i,
                }
            )
            lockers.append(w)
        workers = [observer, *lockers]
        connect_check(result, await relay_all(lockers, "ready", live, 60.0 + clients / 50))

        told: set[tuple[str, str, int]] = set()
        unexpected: list[str] = []

        async def contend(via: str, ops: int) -> dict[str, float]:
            live.phase(f"{result.label}: {via}")
            async with profiling.phase(ctx, procs, server_pids, result, via, cores=plan.clients):
                cpu = CpuWindow({**server_pids, **{w.name: w.pid for w in workers}})
                share = [
                    ops // workers_k + (1 if i < ops % workers_k else 0) for i in range(workers_k)
                ]
                for w, mine in zip(lockers, share, strict=True):
                    w.send({"op": "contend", "via": via, "ops": mine, "seconds": seconds})
                done = await relay_all(lockers, "contended", live, 120.0 + seconds * 4)
                used = cpu.stop()
            span = max(
                (max(int(d["t1"]) for d in done) - min(int(d["t0"]) for d in done)) / 1e9, 1e-6
            )
            counts: dict[str, int] = {}
            for d in done:
                told.update((e, u, int(t)) for e, u, t in d["told"])
                for k, v in d["counts"].items():
                    counts[k] = counts.get(k, 0) + int(v)
                if d["unexpected"]:
                    unexpected.append(f"{d['unexpected']} unexpected answers: {d['errors'][:3]}")
            kinds = ("acquires", "grants", "refreshes", "releases")
            figures = {
                f"{via}_{k}_per_s": round(counts.get(f"{via}_{k}", 0) / span, 1) for k in kinds
            }
            all_ops = sum(
                counts.get(f"{via}_{k}", 0) for k in ("acquires", "refreshes", "releases")
            )
            figures[f"{via}_lock_ops_per_s"] = round(all_ops / span, 1)
            figures[f"{via}_seconds"] = round(span, 3)
            figures.update({k: float(v) for k, v in counts.items()})
            if via == "ws":
                result.cpu = used
                result.client_bound = client_bound(used, [w.name for w in workers], plan)
            else:
                result.params["rest_cpu"] = used
            return figures

        result.figures.update(await contend("ws", ops))
        if rest_ops or not quick:
            result.figures.update(await contend("rest", rest_ops))
        result.checks["answers"] = "ok" if not unexpected else "; ".join(unexpected)

        live.phase(f"{result.label}: replay")
        admin = make_token(procs.secret, "checker", ORG, WORKSPACE, admin=True)
        async with httpx.AsyncClient(
            base_url=f"{url}/v1/orgs/{ORG}/workspaces/{WORKSPACE}",
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30.0,
        ) as http:
            (await http.post("/events", json={"type": MARKER, "data": {}})).raise_for_status()
            observer.send({"op": "check", "told": sorted(told)})
            checked = await relay(observer, "checked", live, 60.0)
            log = await _read_log(http)
        result.figures["lock_events"] = float(checked["events"])
        result.figures["told_grants"] = float(len(told))
        if not checked["marker"]:
            result.checks["observer"] = "the end marker never reached the observer"
        problems = checked["problems"]
        result.checks["lock_replay"] = "ok" if not problems else "; ".join(problems[:10])
        if log is None:
            result.params["rest_log"] = "trimmed (HUDDLE_EVENT_LOG_LENGTH): observer stream only"
        else:
            result.checks["rest_log"] = (
                "ok"
                if len(log) == checked["events"]
                else f"log holds {len(log)} lock events, the observer got {checked['events']}"
            )

        for w in workers:
            w.send({"op": "finish"})
        add_counters(result, await relay_all(workers, "result", live, 60.0))
    return result


async def _read_log(http: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    """The lock events of the workspace log from its start to the end marker, or None when
    the log was trimmed."""
    after = "origin:0"
    found: list[dict[str, Any]] = []
    while True:
        page = (
            (await http.get("/sync/events", params={"after": after, "limit": 1000}))
            .raise_for_status()
            .json()
        )
        if page.get("reset"):
            return None
        if not page["events"]:
            return found
        for event in page["events"]:
            kind = str(event.get("type", ""))
            if kind == MARKER:
                return found  # what came later is not in the observer's count either
            if kind.startswith("lock."):
                found.append(event)
        after = page["next"]
