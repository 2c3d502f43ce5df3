"""The client side of scenario 6: `python -m loadtests.scenarios.idle_worker --worker`.

One spec line (target, urls, secret, first, per_workspace), then commands on stdin, reports on
stdout. Connection `i` (a global index: this worker's are `first`, `first + 1`, …, and the
workers' `first` are far apart) belongs to workspace (room) `workspace_of(i, per_workspace)`,
`w1-<i // per_workspace>`: workspaces of a fixed size, as users have them, the same layout on
every target.

- `open {count}` -> `opened {opened, failed, errors, seconds}`: `count` more idle connections,
  64 at a time, each bounded by OPEN_TIMEOUT. Huddle: WebSocket (JSON) with the user's token
  for its workspace, `subscribe`, then `presence.join` (both answered ok); bare Starlette:
  `/ws/<room>`; python-socketio: connect and `join` the room. Every one then stays idle
  (keepalive pings answered by the client).
- `gc` -> `gced`: `gc.collect()` here (the server cannot be asked to).
- `publish {workspaces, events, pub}` -> `published {last, errors}`: `events` events to each
  workspace listed, from publisher `<pub>@<workspace>` (sequences from 1, in order per
  workspace), at most PUBLISH_CONCURRENCY workspaces in flight; over REST (Huddle
  `POST …/events` with an admin token for that workspace, Starlette `POST /pub/<room>`; no extra
  WebSocket, which would count against Huddle's per-node connection limit) or Socket.IO `pub`
  calls with an ack. `last` maps each workspace to its last sequence sent.
- `drain {expected}` -> `drained {received, misrouted}`; `check {expected}` -> `checked
  {counters, closes}` (cumulative, may be asked again later): `expected` maps a workspace to
  `{publisher: last sequence}`, and each connection is held to its own workspace's entry. An
  event from another workspace's publisher is `misrouted`.
- `close` ends the worker.

While `open`, `publish` and `drain` run, `stats` reports (every STATS_EVERY s) carry
`progress` (connections tried + events published + events received), so the harness can tell a
slow phase from a stuck one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import orjson

from ..tokens import make_token
from .rest_poll_worker import HttpConn
from .worker_common import (
    CONNECT_CONCURRENCY,
    ORG,
    TICK,
    WORKSPACE,
    emit,
    next_command,
    open_commands,
    stats_loop,
    worker_cli,
)

STALL: Final = 10.0
OPEN_TIMEOUT: Final = 60.0  # one connection: connect, upgrade, subscribe and presence.join
PUBLISH_TIMEOUT: Final = 30.0  # one publish request
PUBLISH_CONCURRENCY: Final = 16  # workspaces published to at once (one event each in flight)


def workspace_of(index: int, per_workspace: int) -> str:
    """The workspace (room) of connection `index` when each holds `per_workspace`."""
    return f"{WORKSPACE}-{index // per_workspace}"


class Idle:
    """One idle connection of workspace `ws` that counts bench events into its Tally."""

    def __init__(self, spec: dict[str, Any], index: int, state: dict[str, int]) -> None:
        from ..counters import Tally

        self.spec = spec
        self.index = index
        self.ws = workspace_of(index, int(spec["per_workspace"]))
        self.tally = Tally()
        self.state = state
        self.client: Any = None

    def _tick(self, data: dict[str, Any], event_id: str | None) -> None:
        pub: str = data["p"]
        if pub.rpartition("@")[2] != self.ws:
            self.state["misrouted"] += 1
        self.tally.record(pub, data["s"], self.ws, event_id, None)
        self.state["received"] += 1

    async def connect(self) -> None:
        from ..wsclient import WsClient

        spec = self.spec
        url = spec["urls"][self.index % len(spec["urls"])]
        target = spec["target"]
        if target == "huddle":
            token = make_token(spec["secret"], f"u{self.index}", ORG, self.ws)
            loop = asyncio.get_running_loop()
            replies: dict[int, asyncio.Future[dict[str, Any]]] = {
                1: loop.create_future(),
                2: loop.create_future(),
            }

            def on_message(data: bytes, is_text: bool) -> None:
                msg = orjson.loads(data)
                if msg.get("op") == "event":
                    ev = msg["event"]
                    if ev.get("type") == TICK:
                        self._tick(ev["data"], ev.get("id"))
                    return
                fut = replies.get(msg.get("id"))
                if fut is not None and not fut.done():
                    fut.set_result(msg)

            ws = WsClient(on_message=on_message)
            self.client = ws
            await ws.connect(
                url.replace("http://", "ws://") + "/v1/ws",
                subprotocols=("huddle.v1.json",),
                headers={"Authorization": f"Bearer {token}"},
            )
            where = {"org_id": ORG, "workspace_id": self.ws}
            ws.send_text(orjson.dumps({"id": 1, "op": "subscribe", **where}).decode())
            ws.send_text(orjson.dumps({"id": 2, "op": "presence.join", **where}).decode())
            for op_id, name in ((1, "subscribe"), (2, "presence.join")):
                answer = await asyncio.wait_for(replies[op_id], 30)
                if not answer.get("ok"):
                    raise RuntimeError(f"{name} refused: {answer.get('error')}")
            return
        if target == "starlette":
            ws = WsClient(on_message=lambda data, is_text: self._tick(orjson.loads(data), None))
            self.client = ws
            await ws.connect(url.replace("http://", "ws://") + f"/ws/{self.ws}")
            return
        if target == "socketio":
            from ..baselines.engineio_client import SioClient

            def on_sio(name: str, data: Any) -> None:
                if name == "event":
                    self._tick(data, None)

            sio = SioClient(on_event=on_sio)
            self.client = sio
            await sio.connect(url)
            joined = await asyncio.wait_for(sio.call("join", self.ws), 30)
            if joined != [True]:
                raise RuntimeError(f"socket.io join refused: {joined}")
            return
        raise NotImplementedError(target)

    def server_close(self) -> int | None:
        ws = getattr(self.client, "ws", self.client)  # SioClient wraps a WsClient
        if ws is not None and getattr(ws, "closed_by_server", False):
            code: int | None = ws.close_code
            return code
        return None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


Send = Callable[[str, dict[str, Any]], Awaitable[None]]


async def publish(
    spec: dict[str, Any],
    workspaces: list[str],
    events: int,
    pub: str,
    state: dict[str, int],
) -> tuple[dict[str, int], list[str]]:
    """Publish `events` bench events to each workspace of `workspaces`, from publisher
    `<pub>@<workspace>` (sequences from 1, each awaited before the next so they stay in order),
    at most PUBLISH_CONCURRENCY workspaces at once. Returns the last sequence sent per workspace
    and the errors (a workspace whose publish failed stops there)."""
    from ..payload import make

    target, url = spec["target"], spec["urls"][0]
    last = dict.fromkeys(workspaces, 0)
    errors: list[str] = []
    todo = iter(workspaces)

    async def run_slot(send: Send) -> None:
        for ws in todo:  # shared: each workspace goes to one slot
            try:
                for seq in range(1, events + 1):
                    await send(ws, make(f"{pub}@{ws}", seq))
                    last[ws] = seq
                    state["published"] += 1
            except Exception as exc:  # reported to the harness, which fails the run
                errors.append(f"{ws}: {exc!r}")

    slots = min(PUBLISH_CONCURRENCY, len(workspaces))
    if target == "socketio":
        from ..baselines.engineio_client import SioClient

        sio = SioClient()

        async def sio_send(ws: str, data: dict[str, Any]) -> None:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                ack = await sio.call("pub", {"room": ws, "data": data})
            if ack != [True]:
                raise RuntimeError(f"pub answered {ack}")

        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                await sio.connect(url)
            await asyncio.gather(*(run_slot(sio_send) for _ in range(slots)))
        finally:
            sio.close()
        return last, errors

    async def http_slot() -> None:
        conn = HttpConn(url)
        auth: dict[str, str] = {}  # workspace -> its header line (Huddle)

        async def http_send(ws: str, data: dict[str, Any]) -> None:
            if target == "huddle":
                if ws not in auth:
                    token = make_token(spec["secret"], "publisher", ORG, ws, admin=True)
                    auth[ws] = f"Authorization: Bearer {token}\r\n"
                conn.headers = auth[ws]  # a token per workspace, on one keep-alive connection
                path = f"/v1/orgs/{ORG}/workspaces/{ws}/events"
                body = orjson.dumps({"type": TICK, "data": data})
            else:
                path, body = f"/pub/{ws}", orjson.dumps(data)
            try:
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    status, answer = await conn.request("POST", path, body)
            except BaseException:
                conn.close()  # a request cut short would leave its answer for the next one
                raise
            if status not in (200, 201):
                raise RuntimeError(f"publish answered {status}: {answer[:200]!r}")

        try:
            await run_slot(http_send)
        finally:
            conn.close()

    await asyncio.gather(*(http_slot() for _ in range(slots)))
    return last, errors


async def _open_one(
    c: Idle, gate: asyncio.Semaphore, errors: list[str], state: dict[str, int]
) -> None:
    async with gate:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                await c.connect()
            state["connected"] += 1
        except Exception as exc:  # reported to the harness, which fails the run
            errors.append(f"{type(exc).__name__}: {exc}")
        state["tried"] += 1


@contextlib.asynccontextmanager
async def reporting(state: dict[str, int]) -> AsyncIterator[None]:
    """`stats` reports while the block runs, with a `progress` that grows as work gets done."""

    def values() -> dict[str, Any]:
        return {
            "connections": state["connected"],
            "received": state["received"],
            "progress": state["tried"] + state["published"] + state["received"],
        }

    task = asyncio.create_task(stats_loop(values))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def check_all(
    conns: list[Idle], expected: dict[str, dict[str, int]]
) -> tuple[Counter[str], Counter[str]]:
    """Summed counters and server closes of `conns`, each held to its own workspace's entry of
    `expected` (workspace -> {publisher: last sequence}); a server close is recorded first."""
    counters: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    for c in conns:
        code = c.server_close()
        if code is not None and not c.tally.closes:
            c.tally.server_close(code)
        counters.update(c.tally.finish(expected.get(c.ws, {})))
        closes.update({str(k): v for k, v in c.tally.closes.items()})
    return counters, closes


def _expected_of(cmd: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        ws: {pub: int(last) for pub, last in pubs.items()} for ws, pubs in cmd["expected"].items()
    }


async def worker_main() -> None:
    from ..machine import raise_fd_limit

    raise_fd_limit(say=False)
    commands = await open_commands()
    spec = await next_command(commands)
    state = {"received": 0, "misrouted": 0, "connected": 0, "tried": 0, "published": 0}
    conns: list[Idle] = []
    next_index = int(spec.get("first", 0))
    emit({"op": "ready", "connected": 0, "failed": 0, "errors": []})
    while True:
        cmd = await next_command(commands)
        op = cmd["op"]
        if op == "open":
            batch = [Idle(spec, next_index + i, state) for i in range(int(cmd["count"]))]
            next_index += len(batch)
            gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
            errors: list[str] = []
            t0 = time.monotonic()
            async with reporting(state):
                await asyncio.gather(*(_open_one(c, gate, errors, state) for c in batch))
            seconds = time.monotonic() - t0
            conns.extend(batch)
            emit(
                {
                    "op": "opened",
                    "opened": len(batch) - len(errors),
                    "failed": len(errors),
                    "errors": errors[:5],
                    "seconds": seconds,
                }
            )
        elif op == "gc":
            gc.collect()
            emit({"op": "gced"})
        elif op == "publish":
            # a new publisher id per check: connections opened later never saw the earlier ones
            try:
                async with reporting(state):
                    last, errors = await publish(
                        spec, list(cmd["workspaces"]), int(cmd["events"]), str(cmd["pub"]), state
                    )
                emit({"op": "published", "last": last, "errors": errors[:5]})
            except Exception as exc:  # reported to the harness, which fails the run
                emit({"op": "published", "last": {}, "errors": [repr(exc)]})
        elif op == "reset":
            state["received"] = state["misrouted"] = 0
            emit({"op": "reset_done"})
        elif op == "drain":
            expected = _expected_of(cmd)
            target = sum(sum(expected.get(c.ws, {}).values()) for c in conns)
            async with reporting(state):
                while state["received"] < target:
                    before = state["received"]
                    for _ in range(int(STALL / 0.05)):
                        await asyncio.sleep(0.05)
                        if state["received"] >= target:
                            break
                    if state["received"] == before:
                        break
            emit({"op": "drained", "received": state["received"], "misrouted": state["misrouted"]})
        elif op == "check":
            counters, closes = check_all(conns, _expected_of(cmd))
            emit({"op": "checked", "counters": dict(counters), "closes": dict(closes)})
        elif op == "close":
            for c in conns:
                with contextlib.suppress(Exception):
                    c.close()
            emit({"op": "closed"})
            return


def main() -> None:
    worker_cli(__doc__, worker_main)


if __name__ == "__main__":
    main()
