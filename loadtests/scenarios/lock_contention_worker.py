"""The client side of scenario 4: `python -m loadtests.scenarios.lock_contention_worker --worker`.

Role "lockers": one client per user, over WebSocket (not subscribed) or REST, contending for
a few locks: acquire a random lock; when granted, refresh it `refreshes` times and release it,
except the "stoppers", which abandon every other lease they get (no refresh, no release: it
ends by time). Every grant a client is told (`fencingToken` of an acquire or refresh reply) is
kept as (entity, user, token) for the replay check.

Role "observer": one WebSocket subscribed to the workspace, keeping every `lock.*` event; on
`check` it waits for the harness's end marker event and replays what it got
(`checks.check_locks`) against the grants the clients were told.

Commands: lockers `contend` {ops, seconds, via} -> contended {counts, t0, t1, told, errors};
observer `check` {told, marker} -> checked {events, problems, id_problems}; `finish` -> result.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any, Final

import httpx

from ..checks import check_locks
from ..counters import Tally
from ..tokens import make_token
from .control_worker import CallError, WsRpc
from .worker_common import ORG, WORKSPACE, emit, next_command, serve_roles, stats_loop, worker_cli

ENTITY_TYPE: Final = "doc"
MARKER: Final = "bench.end"


class Locker:
    """One user's client; `op` answers (granted lock or None, error code or None)."""

    def __init__(self, spec: dict[str, Any], user: str, stopper: bool) -> None:
        self.spec = spec
        self.user = user
        self.stopper = stopper
        self.rpc: WsRpc | None = None
        self.http: httpx.AsyncClient | None = None
        self.token = make_token(spec["secret"], user, ORG, WORKSPACE)

    async def connect(self) -> None:
        self.rpc = WsRpc(
            self.spec["urls"][0], self.token, binary=self.spec.get("transport") == "ws-msgpack"
        )
        await self.rpc.connect()
        self.http = httpx.AsyncClient(
            base_url=self.spec["urls"][0] + "/v1/collaboration/locks",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30.0,
        )

    async def op(self, via: str, name: str, entity: str, ttl: float) -> tuple[Any, str | None]:
        if via == "ws":
            assert self.rpc is not None
            try:
                args: dict[str, Any] = {"entity_type": ENTITY_TYPE, "entity_id": entity}
                if name != "release":
                    args["ttl"] = ttl
                return await self.rpc.call(
                    f"lock.{name}", org_id=ORG, workspace_id=WORKSPACE, **args
                ), None
            except CallError as exc:
                return None, exc.code
        assert self.http is not None
        path = f"/{ENTITY_TYPE}/{entity}"
        if name == "acquire":
            answer = await self.http.post(path, params={"ttl": ttl})
        elif name == "refresh":
            answer = await self.http.post(path + "/refresh", params={"ttl": ttl})
        else:
            answer = await self.http.delete(path)
        if answer.is_success:
            return answer.json(), None
        body = answer.json()
        return None, str(body.get("error") or answer.status_code)

    async def close(self) -> None:
        if self.rpc is not None:
            self.rpc.close()
        if self.http is not None:
            await self.http.aclose()


async def lockers_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    rng = random.Random(int(spec.get("seed", 1)))
    locks: list[str] = spec["locks"]
    ttl = float(spec["ttl"])
    refreshes = int(spec["refreshes"])
    stoppers = set(spec["stoppers"])
    clients = [Locker(spec, u, u in stoppers) for u in spec["users"]]
    errors: list[str] = []
    for c in clients:
        try:
            await c.connect()
        except Exception as exc:  # reported to the harness, which fails the run
            errors.append(f"{type(exc).__name__}: {exc}")
    emit(
        {
            "op": "ready",
            "connected": len(clients) - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
        }
    )
    counts: Counter[str] = Counter()
    told: set[tuple[str, str, int]] = set()
    unexpected: list[str] = []
    unexpected_count = [0]
    stats = asyncio.create_task(
        stats_loop(lambda: {"connections": len(clients), "ops": sum(counts.values())})
    )

    def tell(lock: dict[str, Any], user: str) -> None:
        holder = (lock.get("holder") or {}).get("userId")
        told.add(
            (
                f"{lock['entityType']}/{lock['entityId']}",
                str(holder or user),
                int(lock["fencingToken"]),
            )
        )

    def odd(via: str, what: str, code: str | None) -> None:
        unexpected_count[0] += 1
        if len(unexpected) < 5:
            unexpected.append(f"{via} {what}: {code}")

    async def round_of(c: Locker, via: str, budget: list[int]) -> None:
        entity = rng.choice(locks)
        budget[0] -= 1
        counts[f"{via}_acquires"] += 1
        lock, code = await c.op(via, "acquire", entity, ttl)
        if lock is None:
            if code == "LOCK_HELD":
                counts[f"{via}_held"] += 1
            else:
                odd(via, "acquire", code)
            return
        counts[f"{via}_grants"] += 1
        tell(lock, c.user)
        if c.stopper and rng.random() < 0.5:
            counts[f"{via}_abandoned"] += 1  # stops refreshing: the lease ends by time
            return
        for _ in range(refreshes):
            budget[0] -= 1
            counts[f"{via}_refreshes"] += 1
            lock, code = await c.op(via, "refresh", entity, ttl)
            if lock is None:
                if code == "LOCK_NOT_HELD":  # the lease ran out meanwhile (a slow client)
                    counts[f"{via}_leases_lost"] += 1
                    return
                odd(via, "refresh", code)
                return
            tell(lock, c.user)
        budget[0] -= 1
        counts[f"{via}_releases"] += 1
        _, code = await c.op(via, "release", entity, ttl)
        if code is not None:
            odd(via, "release", code)

    try:
        while True:
            cmd = await next_command(commands)
            if cmd["op"] == "contend":
                via, ops, seconds = cmd["via"], int(cmd["ops"]), float(cmd["seconds"])
                budget = [ops]
                deadline = time.monotonic() + seconds
                before = Counter(counts)

                async def run(
                    c: Locker,
                    via: str = via,
                    budget: list[int] = budget,
                    ops: int = ops,
                    deadline: float = deadline,
                ) -> None:
                    while (budget[0] > 0) if ops else (time.monotonic() < deadline):
                        try:
                            await round_of(c, via, budget)
                        except Exception as exc:  # a broken connection fails the run
                            odd(via, "op", f"{type(exc).__name__}: {exc}")
                            return

                t0 = time.monotonic_ns()
                await asyncio.gather(*(run(c) for c in clients))
                t1 = time.monotonic_ns()
                emit(
                    {
                        "op": "contended",
                        "t0": t0,
                        "t1": t1,
                        "counts": dict(counts - before),
                        "told": sorted(told),
                        "unexpected": unexpected_count[0],
                        "errors": unexpected,
                    }
                )
            elif cmd["op"] == "finish":
                closes = Counter(
                    str(c) for c in (x.rpc.closed_by_server for x in clients if x.rpc) if c
                )
                for c in clients:
                    await c.close()
                emit({"op": "result", "counters": {}, "closes": dict(closes)})
                return
    finally:
        stats.cancel()


async def observer_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    token = make_token(spec["secret"], "observer", ORG, WORKSPACE)
    rpc = WsRpc(spec["urls"][0], token)
    events: list[dict[str, Any]] = []
    tally = Tally()
    marker = asyncio.Event()
    position = [0]

    def on_event(event: dict[str, Any], size: int) -> None:
        position[0] += 1
        tally.record("log", position[0], WORKSPACE, event.get("id"), None)
        kind = event.get("type", "")
        if kind.startswith("lock.") and not marker.is_set():
            events.append(event)
        elif kind == MARKER:
            marker.set()

    rpc.on_event = on_event
    errors: list[str] = []
    try:
        await rpc.connect()
        await rpc.call("subscribe", org_id=ORG, workspace_id=WORKSPACE)
    except Exception as exc:  # reported to the harness, which fails the run
        errors.append(f"observer: {type(exc).__name__}: {exc}")
    emit({"op": "ready", "connected": 1 - len(errors), "failed": len(errors), "errors": errors})
    while True:
        cmd = await next_command(commands)
        if cmd["op"] == "check":
            seen_marker = True
            try:
                await asyncio.wait_for(marker.wait(), 30)
            except TimeoutError:
                seen_marker = False
            told = [(e, u, int(t)) for e, u, t in cmd["told"]]
            problems = check_locks(events, told)
            emit(
                {
                    "op": "checked",
                    "events": len(events),
                    "marker": seen_marker,
                    "problems": problems,
                }
            )
        elif cmd["op"] == "finish":
            code = rpc.closed_by_server
            if code is not None:
                tally.server_close(code)
            counters = tally.finish({})
            rpc.close()
            emit(
                {
                    "op": "result",
                    "counters": counters,
                    "closes": {str(k): v for k, v in tally.closes.items()},
                }
            )
            return


async def worker_main() -> None:
    await serve_roles("lockers", lockers_worker, observer_worker)


def main() -> None:
    worker_cli(__doc__, worker_main)


if __name__ == "__main__":
    main()
