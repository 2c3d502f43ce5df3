"""The client side of scenario 3: `python -m loadtests.scenarios.presence_churn_worker --worker`.

Role "users": `users` users with `sessions` WebSocket connections each (a connection is a
presence session: the ops name no `session`), churning one op after another per session:
view an entity (a switch when it viewed another), stop viewing, leave, join again, or cut
the connection (TCP dropped without a close; a new connection then joins). The model is
updated once each reply came: per session, joined or not and what it views.

Role "readers": `readers` REST clients polling an entity's count and a summary of every
entity while the churn runs (answers are not checked mid-churn, only counted).

Commands: `churn` {ops, seconds} -> churned {ops, by_op, t0, t1, errors, model, roster};
readers `read` -> (until `stop`) stopped {requests, errors, by_route}; `finish` -> result.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any, Final

import httpx

from ..tokens import make_token
from .control_worker import WsRpc
from .worker_common import ORG, WORKSPACE, emit, next_command, serve_roles, stats_loop, worker_cli

ENTITY_TYPE: Final = "doc"
COLLAB: Final = "/v1/collaboration"


class Session:
    """One connection and what the model says of its presence session."""

    def __init__(self, url: str, secret: str, user: str, binary: bool) -> None:
        self.url, self.secret, self.user, self.binary = url, secret, user, binary
        self.rpc: WsRpc | None = None
        self.joined = False
        self.viewing: str | None = None

    async def connect(self) -> None:
        token = make_token(self.secret, self.user, ORG, WORKSPACE)
        self.rpc = WsRpc(self.url, token, binary=self.binary)
        await self.rpc.connect()
        self.joined = False
        self.viewing = None

    async def op(self, name: str, **args: Any) -> Any:
        assert self.rpc is not None
        return await self.rpc.call(name, org_id=ORG, workspace_id=WORKSPACE, **args)


async def users_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    rng = random.Random(int(spec.get("seed", 1)))
    entities: list[str] = spec["entities"]
    binary = spec.get("transport") == "ws-msgpack"
    url = spec["urls"][0]
    sessions = [
        Session(url, spec["secret"], user, binary)
        for user in spec["users"]
        for _ in range(int(spec["sessions"]))
    ]
    errors: list[str] = []
    for s in sessions:
        try:
            await s.connect()
            await s.op("presence.join")
            s.joined = True
        except Exception as exc:  # reported to the harness, which fails the run
            errors.append(f"{type(exc).__name__}: {exc}")
    emit(
        {
            "op": "ready",
            "connected": len(sessions) - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
        }
    )
    by_op: Counter[str] = Counter()
    failures: list[str] = []
    failure_count = [0]
    cut_p = float(spec.get("cut", 0.05))
    stats = asyncio.create_task(
        stats_loop(lambda: {"connections": len(sessions), "ops": sum(by_op.values())})
    )

    async def one_op(s: Session) -> None:
        roll = rng.random()
        try:
            if roll < cut_p:
                assert s.rpc is not None
                s.rpc.abort()  # the node ends its session when it sees the connection gone
                s.joined, s.viewing = False, None
                await s.connect()
                await s.op("presence.join")
                s.joined = True
                by_op["cut"] += 1
            elif not s.joined and roll < 0.5:
                await s.op("presence.join")
                s.joined = True
                by_op["join"] += 1
            elif roll < 0.7:
                entity = rng.choice(entities)
                await s.op("presence.view", resource_type=ENTITY_TYPE, resource_id=entity)
                by_op["switch" if s.viewing not in (None, entity) else "view"] += 1
                s.joined, s.viewing = True, entity
            elif roll < 0.85:
                await s.op("presence.view", resource_type=None, resource_id=None)
                s.joined, s.viewing = True, None
                by_op["stop_viewing"] += 1
            else:
                await s.op("presence.leave")
                s.joined, s.viewing = False, None
                by_op["leave"] += 1
        except Exception as exc:  # a refused op fails the run
            failure_count[0] += 1
            if len(failures) < 5:
                failures.append(f"{type(exc).__name__}: {exc}")

    try:
        while True:
            cmd = await next_command(commands)
            if cmd["op"] == "churn":
                ops, seconds = int(cmd["ops"]), float(cmd["seconds"])
                budget = [ops]
                deadline = time.monotonic() + seconds

                async def run(
                    s: Session,
                    budget: list[int] = budget,
                    ops: int = ops,
                    deadline: float = deadline,
                ) -> None:
                    while (budget[0] > 0) if ops else (time.monotonic() < deadline):
                        budget[0] -= 1
                        await one_op(s)

                t0 = time.monotonic_ns()
                await asyncio.gather(*(run(s) for s in sessions))
                t1 = time.monotonic_ns()
                model: dict[str, Counter[str]] = {}
                roster: Counter[str] = Counter()
                for s in sessions:
                    if s.joined:
                        roster[s.user] += 1
                    if s.viewing is not None:
                        model.setdefault(s.viewing, Counter())[s.user] += 1
                emit(
                    {
                        "op": "churned",
                        "ops": sum(by_op.values()),
                        "by_op": dict(by_op),
                        "t0": t0,
                        "t1": t1,
                        "failures": failure_count[0],
                        "errors": failures,
                        "model": {e: dict(v) for e, v in model.items()},
                        "roster": dict(roster),
                    }
                )
            elif cmd["op"] == "finish":
                closes = Counter(
                    str(c) for c in (s.rpc.closed_by_server for s in sessions if s.rpc) if c
                )
                for s in sessions:
                    if s.rpc is not None:
                        s.rpc.close()
                emit({"op": "result", "counters": {}, "closes": dict(closes)})
                return
    finally:
        stats.cancel()


async def readers_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    rng = random.Random(int(spec.get("seed", 1)) + 7)
    entities: list[str] = spec["entities"]
    token = make_token(spec["secret"], "reader", ORG, WORKSPACE)
    by_route: Counter[str] = Counter()
    errors: list[str] = []
    error_count = [0]
    stop = asyncio.Event()
    summary_body = {
        "entities": [{"entityType": ENTITY_TYPE, "entityId": e} for e in entities[:100]]
    }
    async with httpx.AsyncClient(
        base_url=spec["urls"][0] + COLLAB,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    ) as http:

        async def reader() -> None:
            while not stop.is_set():
                try:
                    if rng.random() < 0.7:
                        entity = rng.choice(entities)
                        answer = await http.get(f"/presence/{ENTITY_TYPE}/{entity}/count")
                        route = "count"
                    else:
                        answer = await http.post("/presence/summary", json=summary_body)
                        route = "summary"
                    answer.raise_for_status()
                    by_route[route] += 1
                except Exception as exc:  # a failed read fails the run
                    error_count[0] += 1
                    if len(errors) < 5:
                        errors.append(f"{type(exc).__name__}: {exc}")

        emit({"op": "ready", "connected": int(spec["readers"]), "failed": 0, "errors": []})
        tasks: list[asyncio.Task[None]] = []
        while True:
            cmd = await next_command(commands)
            if cmd["op"] == "read":
                stop.clear()
                tasks = [asyncio.create_task(reader()) for _ in range(int(spec["readers"]))]
            elif cmd["op"] == "stop":
                stop.set()
                await asyncio.gather(*tasks)
                emit(
                    {
                        "op": "stopped",
                        "requests": sum(by_route.values()),
                        "by_route": dict(by_route),
                        "failures": error_count[0],
                        "errors": errors,
                    }
                )
            elif cmd["op"] == "finish":
                emit({"op": "result", "counters": {}, "closes": {}})
                return


async def worker_main() -> None:
    await serve_roles("users", users_worker, readers_worker)


def main() -> None:
    worker_cli(__doc__, worker_main)


if __name__ == "__main__":
    main()
