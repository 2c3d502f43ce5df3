"""Scenario 3, presence churn, checked against the harness's model.

Per backend (memory://, redis://) and rep, fresh processes: Redis when asked, one node, K
user workers (`presence_churn_worker`, role "users": U users x S sessions, one WebSocket
connection per session) and one reader worker (R REST clients polling an entity's count and
a summary of every entity). The sessions join, view, switch, stop viewing, leave, rejoin,
and some connections are cut (TCP dropped, no close); each worker keeps the model of its
users from the replies it got.

At quiescence (the churn over, the node done with the cut connections) every entity's
viewers answer (`GET /presence/doc/{id}`), count answer and summary (`POST
/presence/summary`) must equal the model exactly (`checks.check_presence`), and the roster
(`GET .../sync/presence`) its users and sessions. The node may take a moment to end a cut
connection's session: the check is retried for `settle` seconds, and the time it took is
reported. Figures: presence ops/s over WS, reads/s over REST, CPU.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from typing import Final

import httpx

from .. import profiling
from ..checks import check_presence
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

WORKER: Final = "loadtests.scenarios.presence_churn_worker"
ENTITY_TYPE: Final = "doc"
SUMMARY_MAX: Final = 100  # HUDDLE_SUMMARY_MAX_ENTITIES, production default


class PresenceChurn:
    name = "presence"
    title = "Presence churn, checked against the harness's model"

    async def run(self, ctx: RunContext) -> list[RunResult]:
        return await per_backend_and_rep(ctx, run_case)


PRESENCE_CHURN = PresenceChurn()


async def run_case(ctx: RunContext, backend: str, rep: int) -> RunResult:
    p = ctx.params
    quick = ctx.quick
    per_user = int(p.get("sessions") or (2 if quick else 3))
    users = int(p.get("users") or (4 if quick else 500))
    if p.get("n"):
        users = max(1, int(str(p["n"]).split(",")[0]) // per_user)
    n, capped = cap_connections(users * per_user)
    users = max(1, n // per_user)
    n = users * per_user
    n_entities = int(p.get("entities") or (4 if quick else 100))
    ops = int(p.get("events") or (300 if quick else 0))
    seconds = float(p.get("seconds") or (0.0 if quick else 10.0))
    readers = int(p.get("readers") or (2 if quick else 8))
    settle = float(p.get("settle") or 10.0)
    plan = plan_cores(1)
    workers_k = max(1, min(len(plan.clients), math.ceil(n / 1000)))
    result = new_result(
        ctx,
        "presence",
        transport="ws-json",
        backend=backend,
        n=n,
        rep=rep,
        capped=capped,
        params={
            "users": users,
            "sessions_per_user": per_user,
            "entities": n_entities,
            "ops": ops,
            "seconds": seconds,
            "readers": readers,
            "cut_probability": 0.05,
            "client_workers": workers_k,
            "cores": plan.describe(),
        },
    )
    live = ctx.live
    live.phase(f"{result.label}: starting")
    entities = [f"e{i}" for i in range(1, n_entities + 1)]
    user_ids = [f"u{i}" for i in range(1, users + 1)]
    async with Procs(cprofile=profiling.tool(ctx) == "cprofile") as procs:
        url, server_pids = await start_node(procs, backend, plan, {})
        churners: list[Worker] = []
        for i in range(workers_k):
            w = await procs.spawn_worker(
                WORKER, name=f"users{i}", args=["--worker"], cores=plan.clients
            )
            w.send(
                {
                    "role": "users",
                    "urls": [url],
                    "secret": procs.secret,
                    "users": user_ids[i::workers_k],
                    "sessions": per_user,
                    "entities": entities,
                    "seed": rep * 100 + i,
                    "cut": 0.05,
                }
            )
            churners.append(w)
        reader = await procs.spawn_worker(
            WORKER, name="readers", args=["--worker"], cores=plan.clients
        )
        reader.send(
            {
                "role": "readers",
                "urls": [url],
                "secret": procs.secret,
                "entities": entities,
                "readers": readers,
                "seed": rep,
            }
        )
        workers = [*churners, reader]
        connect_check(result, await relay_all(workers, "ready", live, 60.0 + n / 50))

        live.phase(f"{result.label}: churn")
        async with profiling.phase(ctx, procs, server_pids, result, "churn", cores=plan.clients):
            cpu = CpuWindow({**server_pids, **{w.name: w.pid for w in workers}})
            reader.send({"op": "read"})
            share = [ops // workers_k + (1 if i < ops % workers_k else 0) for i in range(workers_k)]
            for w, mine in zip(churners, share, strict=True):
                w.send({"op": "churn", "ops": mine, "seconds": seconds})
            churned = await relay_all(churners, "churned", live, 120.0 + seconds * 4)
            reader.send({"op": "stop"})
            read = await relay(reader, "stopped", live, 60.0)
            result.cpu = cpu.stop()
        result.client_bound = client_bound(result.cpu, [w.name for w in workers], plan)

        span = max(
            (max(int(c["t1"]) for c in churned) - min(int(c["t0"]) for c in churned)) / 1e9, 1e-6
        )
        done_ops = sum(int(c["ops"]) for c in churned)
        by_op: Counter[str] = Counter()
        for c in churned:
            by_op.update(c["by_op"])
        result.figures.update(
            presence_ops_per_s=round(done_ops / span, 1),
            presence_ops=done_ops,
            churn_seconds=round(span, 3),
            reads_per_s=round(int(read["requests"]) / span, 1),
            reads=int(read["requests"]),
            **{f"ops_{k}": float(v) for k, v in sorted(by_op.items())},
        )
        failures = sum(int(c["failures"]) for c in churned)
        result.checks["presence_ops"] = "ok" if not failures else f"{failures} ops refused"
        if failures:
            result.checks["presence_op_errors"] = "; ".join(
                e for c in churned for e in c["errors"][:3]
            )
        bad_reads = int(read["failures"])
        result.checks["reads"] = "ok" if not bad_reads else f"{bad_reads} reads failed"
        if bad_reads:
            result.checks["read_errors"] = "; ".join(read["errors"][:3])

        model: dict[str, dict[str, int]] = {}
        roster: Counter[str] = Counter()
        for c in churned:
            for entity, viewers in c["model"].items():
                model.setdefault(entity, {}).update(viewers)  # users are split by worker
            roster.update(c["roster"])

        live.phase(f"{result.label}: quiescence check")
        token = make_token(procs.secret, "checker", ORG, WORKSPACE)
        t0 = time.monotonic()
        problems = await _converge(url, token, entities, model, dict(roster), settle)
        result.figures["settle_seconds"] = round(time.monotonic() - t0, 3)
        result.checks["presence_model"] = "ok" if not problems else "; ".join(problems[:10])
        result.figures["viewing_sessions"] = float(sum(sum(v.values()) for v in model.values()))
        result.figures["present_sessions"] = float(sum(roster.values()))

        for w in workers:
            w.send({"op": "finish"})
        add_counters(result, await relay_all(workers, "result", live, 60.0))
    return result


async def _converge(
    url: str,
    token: str,
    entities: list[str],
    model: dict[str, dict[str, int]],
    roster: dict[str, int],
    settle: float,
) -> list[str]:
    """Compare the node's answers with the model until they agree or `settle` seconds pass;
    the last comparison's problems (empty: all agree)."""
    deadline = time.monotonic() + settle
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
    ) as http:
        while True:
            problems = await _compare(http, entities, model, roster)
            if not problems or time.monotonic() > deadline:
                return problems
            await asyncio.sleep(0.1)  # the node is still ending cut connections' sessions


async def _compare(
    http: httpx.AsyncClient,
    entities: list[str],
    model: dict[str, dict[str, int]],
    roster: dict[str, int],
) -> list[str]:
    base = f"/v1/collaboration/presence/{ENTITY_TYPE}"
    keyed = {(ENTITY_TYPE, e): v for e, v in model.items()}
    viewers = {}
    counts = {}
    for e in entities:
        viewers[(ENTITY_TYPE, e)] = (await http.get(f"{base}/{e}")).raise_for_status().json()
        counts[(ENTITY_TYPE, e)] = (await http.get(f"{base}/{e}/count")).raise_for_status().json()
    problems = check_presence(keyed, viewers)
    problems += [f"count answer: {x}" for x in check_presence(keyed, counts)]
    for i in range(0, len(entities), SUMMARY_MAX):
        body = {
            "entities": [
                {"entityType": ENTITY_TYPE, "entityId": e} for e in entities[i : i + SUMMARY_MAX]
            ]
        }
        answer = await http.post("/v1/collaboration/presence/summary", json=body)
        summary = answer.raise_for_status().json()["entities"]
        problems += [f"summary: {x}" for x in check_presence(keyed, summary)]
    found = (
        (await http.get(f"/v1/orgs/{ORG}/workspaces/{WORKSPACE}/sync/presence"))
        .raise_for_status()
        .json()
    )
    seen = {
        str(u["user_id"]): len(u["sessions"])
        if isinstance(u["sessions"], list)
        else int(u["sessions"])
        for u in found["users"]
    }
    if seen != roster:
        diff = sorted(set(seen.items()) ^ set(roster.items()))[:5]
        problems.append(f"roster: {len(seen)} users, model {len(roster)} (differ: {diff})")
    if found.get("sessions") != sum(roster.values()):
        problems.append(f"roster: {found.get('sessions')} sessions, model {sum(roster.values())}")
    return problems
