"""The client side of scenario 2: `python -m loadtests.scenarios.workspaces_worker --worker`.

Role "subs": `clients` receivers, client i subscribed to workspace `workspaces[i % W]` (WS JSON,
WS msgpack or SSE), each counting into its own `Tally`. Role "pub": `publishers` connections
(a token for every workspace of the org), each keeping `window` publishes in flight, on
random workspaces. The publisher id of a payload is `<publisher>@<workspace>`, its sequence
dense per workspace, so every receiver checks exactly its workspace's events.

Commands (one JSON line each): pub `phase` {events, seconds} -> phase_done {sent, t0, t1,
last, errors}; subs `drain` {expected} -> drained {received, last_rx_ns, lat_hist}; subs
`tally` {expected} -> result {counters, closes}; pub `finish` -> result.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from typing import Any, Final

import orjson

from ..counters import Tally
from ..payload import make, parse
from ..tokens import make_token
from .control_worker import WsRpc, org_token
from .worker_common import (
    CONNECT_CONCURRENCY,
    ORG,
    TICK,
    bucket,
    emit,
    next_command,
    serve_roles,
    stats_loop,
    worker_cli,
)

PAD: Final = 200
STALL: Final = 10.0


def _expected_for(expected: dict[str, int], ws: str) -> dict[str, int]:
    return {k: v for k, v in expected.items() if k.rpartition("@")[2] == ws}


class Sub:
    """One receiver of one workspace."""

    def __init__(self, spec: dict[str, Any], index: int, state: dict[str, Any]) -> None:
        self.spec = spec
        self.index = index
        workspaces = spec["workspaces"]
        self.ws = workspaces[index % len(workspaces)]
        self.tally = Tally()
        self.state = state
        self.client: Any = None

    def tick(self, data: Any, event_id: str | None) -> None:
        pub, seq, t = parse(data)
        now = time.monotonic_ns()
        self.tally.record(pub, seq, self.ws, event_id, None)
        state = self.state
        state["hist"][bucket((now - t) // 1000)] += 1
        state["received"] += 1
        state["last_rx"] = now
        if state["target"] and state["received"] >= state["target"]:
            state["reached"].set()

    async def connect(self) -> None:
        spec = self.spec
        url = spec["urls"][self.index % len(spec["urls"])]
        user = f"u{spec['first'] + self.index}"
        token = make_token(spec["secret"], user, ORG, self.ws)
        if spec["transport"] == "sse":
            from ..sseclient import SseClient

            def on_event(event_id: str | None, event: str, data: str) -> None:
                if event == TICK:
                    self.tick(orjson.loads(data)["data"], event_id)

            sse = SseClient(on_event=on_event)
            self.client = sse
            await sse.connect(
                f"{url}/v1/orgs/{ORG}/workspaces/{self.ws}/sync/stream",
                # from the workspace's first event: the stream may start after the headers
                headers={"Authorization": f"Bearer {token}", "Last-Event-ID": "origin:0"},
            )
            return
        rpc = WsRpc(url, token, binary=spec["transport"] == "ws-msgpack")
        self.client = rpc

        def on_event(event: dict[str, Any], size: int) -> None:
            if event.get("type") == TICK:
                self.tick(event["data"], event.get("id"))

        rpc.on_event = on_event
        await rpc.connect()
        await rpc.call("subscribe", org_id=ORG, workspace_id=self.ws)

    def server_close(self) -> int | None:
        client = self.client
        if isinstance(client, WsRpc):
            return client.closed_by_server
        if client is not None and getattr(client, "closed_by_server", False):
            code: int | None = client.close_code
            return code
        return None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


async def subs_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    state: dict[str, Any] = {
        "received": 0,
        "last_rx": 0,
        "target": 0,
        "reached": asyncio.Event(),
        "hist": Counter(),
    }
    subs = [Sub(spec, i, state) for i in range(int(spec["count"]))]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    errors: list[str] = []

    async def one(s: Sub) -> None:
        async with gate:
            try:
                await s.connect()
            except Exception as exc:  # reported to the harness, which fails the run
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(s) for s in subs))
    emit(
        {
            "op": "ready",
            "connected": len(subs) - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
        }
    )
    stats = asyncio.create_task(
        stats_loop(lambda: {"connections": len(subs), "received": state["received"]})
    )
    try:
        while True:
            cmd = await next_command(commands)
            expected = {k: int(v) for k, v in cmd.get("expected", {}).items()}
            per_ws = Counter(
                {ws: sum(_expected_for(expected, ws).values()) for ws in {s.ws for s in subs}}
            )
            if cmd["op"] == "drain":
                state["target"] = sum(per_ws[s.ws] for s in subs)
                state["reached"].clear()
                while state["received"] < state["target"]:
                    before = state["received"]
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(state["reached"].wait(), STALL)
                    if state["received"] == before:
                        break  # nothing more comes: the tally counts the rest as lost
                emit(
                    {
                        "op": "drained",
                        "received": state["received"],
                        "last_rx_ns": state["last_rx"],
                        "lat_hist": {str(k): v for k, v in state["hist"].items()},
                    }
                )
                state["hist"].clear()
            elif cmd["op"] == "tally":
                counters: Counter[str] = Counter()
                closes: Counter[str] = Counter()
                for s in subs:
                    code = s.server_close()
                    if code is not None:
                        s.tally.server_close(code)
                    counters.update(s.tally.finish(_expected_for(expected, s.ws)))
                    closes.update({str(k): v for k, v in s.tally.closes.items()})
                for s in subs:
                    s.close()
                emit({"op": "result", "counters": dict(counters), "closes": dict(closes)})
                return
    finally:
        stats.cancel()


async def pub_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    workspaces: list[str] = spec["workspaces"]
    urls: list[str] = spec["urls"]
    window = int(spec["window"])
    rng = random.Random(int(spec.get("seed", 1)))
    binary = spec["transport"] == "ws-msgpack"
    pubs = [
        WsRpc(
            urls[i % len(urls)],
            org_token(spec["secret"], f"publisher{i}", admin=True),
            binary=binary,
        )
        for i in range(int(spec["publishers"]))
    ]
    errors: list[str] = []
    for rpc in pubs:
        try:
            await rpc.connect()
        except Exception as exc:  # reported to the harness, which fails the run
            errors.append(f"publisher: {type(exc).__name__}: {exc}")
    emit(
        {
            "op": "ready",
            "connected": len(pubs) - len(errors),
            "failed": len(errors),
            "errors": errors,
        }
    )
    last: dict[str, int] = {}
    refused: list[str] = []
    refused_count = [0]
    sent_total = [0]
    stats = asyncio.create_task(
        stats_loop(lambda: {"connections": len(pubs), "sent": sent_total[0]})
    )

    async def publish(i: int, rpc: WsRpc) -> None:
        ws = rng.choice(workspaces)
        key = f"p{i}@{ws}"
        seq = last.get(key, 0) + 1
        last[key] = seq
        try:
            await rpc.call(
                "publish", org_id=ORG, workspace_id=ws, type=TICK, data=make(key, seq, PAD)
            )
        except Exception as exc:  # a refused publish fails the run
            refused_count[0] += 1
            if len(refused) < 5:
                refused.append(f"{type(exc).__name__}: {exc}")
        sent_total[0] += 1

    try:
        while True:
            cmd = await next_command(commands)
            if cmd["op"] == "phase":
                events, seconds = int(cmd["events"]), float(cmd["seconds"])
                budget = [events]
                deadline = time.monotonic() + seconds
                before = sent_total[0]

                async def slot(
                    i: int,
                    rpc: WsRpc,
                    budget: list[int] = budget,
                    deadline: float = deadline,
                    events: int = events,
                ) -> None:
                    while (budget[0] > 0) if events else (time.monotonic() < deadline):
                        budget[0] -= 1
                        await publish(i, rpc)

                t0 = time.monotonic_ns()
                await asyncio.gather(
                    *(slot(i, rpc) for i, rpc in enumerate(pubs) for _ in range(window))
                )
                t1 = time.monotonic_ns()
                emit(
                    {
                        "op": "phase_done",
                        "sent": sent_total[0] - before,
                        "t0": t0,
                        "t1": t1,
                        "last": last,
                    }
                )
            elif cmd["op"] == "finish":
                closes = Counter(str(c) for c in (r.closed_by_server for r in pubs) if c)
                emit(
                    {
                        "op": "result",
                        "last": last,
                        "publish_errors": refused_count[0],
                        "errors": refused,
                        "closes": dict(closes),
                        "counters": {},
                    }
                )
                for rpc in pubs:
                    rpc.close()
                return
    finally:
        stats.cancel()


async def worker_main() -> None:
    await serve_roles("subs", subs_worker, pub_worker)


def main() -> None:
    worker_cli(__doc__, worker_main)


if __name__ == "__main__":
    main()
