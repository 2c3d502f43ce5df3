"""The client side of scenario 6: `python -m loadtests.scenarios.idle_worker --worker`.

One spec line (target, urls, secret, first), then commands on stdin, reports on stdout:

- `open {count}` -> `opened {opened, failed, errors, seconds}`: `count` more idle connections,
  64 at a time. Huddle: WebSocket (JSON) with the user's token, `subscribe`, then
  `presence.join` (both answered ok); bare Starlette: `/ws/<room>`; python-socketio: connect
  and `join` the room. Every one then stays idle (keepalive pings answered by the client).
- `gc` -> `gced`: `gc.collect()` here (the server cannot be asked to).
- `publish {events}` -> `published {last}`: events to the room from this worker over REST
  (Huddle `POST …/events` with an admin token, Starlette `POST /pub/<room>`; no extra
  WebSocket, which would count against Huddle's per-node connection limit) or a Socket.IO
  `pub` with an ack.
- `drain {total}` -> `drained`; `check {expected}` -> `checked {counters, closes}` (cumulative,
  may be asked again later); `close` ends the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter
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
    worker_cli,
)

STALL: Final = 10.0


class Idle:
    """One idle connection that counts bench events into its Tally."""

    def __init__(self, spec: dict[str, Any], index: int, state: dict[str, int]) -> None:
        from ..counters import Tally

        self.spec = spec
        self.index = index
        self.tally = Tally()
        self.state = state
        self.client: Any = None

    def _tick(self, data: dict[str, Any], event_id: str | None) -> None:
        self.tally.record(data["p"], data["s"], WORKSPACE, event_id, None)
        self.state["received"] += 1

    async def connect(self) -> None:
        from ..wsclient import WsClient

        spec = self.spec
        url = spec["urls"][self.index % len(spec["urls"])]
        target = spec["target"]
        if target == "huddle":
            token = make_token(spec["secret"], f"u{self.index}", ORG, WORKSPACE)
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
                fut = replies.get(msg.get("id"))  # type: ignore[arg-type]
                if fut is not None and not fut.done():
                    fut.set_result(msg)

            ws = WsClient(on_message=on_message)
            self.client = ws
            await ws.connect(
                url.replace("http://", "ws://") + "/v1/ws",
                subprotocols=("huddle.v1.json",),
                headers={"Authorization": f"Bearer {token}"},
            )
            where = {"org_id": ORG, "workspace_id": WORKSPACE}
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
            await ws.connect(url.replace("http://", "ws://") + f"/ws/{WORKSPACE}")
            return
        if target == "socketio":
            from ..baselines.engineio_client import SioClient

            def on_sio(name: str, data: Any) -> None:
                if name == "event":
                    self._tick(data, None)

            sio = SioClient(on_event=on_sio)
            self.client = sio
            await sio.connect(url)
            joined = await asyncio.wait_for(sio.call("join", WORKSPACE), 30)
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


async def publish(spec: dict[str, Any], events: int, pub_id: str) -> int:
    """Publish `events` bench events from publisher `pub_id` (sequences from 1); returns the
    last sequence."""
    from ..payload import make

    target, url = spec["target"], spec["urls"][0]
    seq = 0
    if target == "socketio":
        from ..baselines.engineio_client import SioClient

        sio = SioClient()
        await sio.connect(url)
        try:
            for _ in range(events):
                seq += 1
                await asyncio.wait_for(
                    sio.call("pub", {"room": WORKSPACE, "data": make(pub_id, seq)}), 30
                )
        finally:
            sio.close()
        return seq
    if target == "huddle":
        token = make_token(spec["secret"], "publisher", ORG, WORKSPACE, admin=True)
        conn = HttpConn(url, {"Authorization": f"Bearer {token}"})
        path = f"/v1/orgs/{ORG}/workspaces/{WORKSPACE}/events"
    else:
        conn = HttpConn(url)
        path = f"/pub/{WORKSPACE}"
    try:
        for _ in range(events):
            seq += 1
            data = make(pub_id, seq)
            body = {"type": TICK, "data": data} if target == "huddle" else data
            status, answer = await conn.request("POST", path, orjson.dumps(body))
            if status not in (200, 201):
                raise RuntimeError(f"publish answered {status}: {answer[:200]!r}")
    finally:
        conn.close()
    return seq


async def _open_one(c: Idle, gate: asyncio.Semaphore, errors: list[str]) -> None:
    async with gate:
        try:
            await c.connect()
        except Exception as exc:  # reported to the harness, which fails the run
            errors.append(f"{type(exc).__name__}: {exc}")


async def worker_main() -> None:
    from ..machine import raise_fd_limit

    raise_fd_limit(say=False)
    commands = await open_commands()
    spec = await next_command(commands)
    state = {"received": 0}
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
            await asyncio.gather(*(_open_one(c, gate, errors) for c in batch))
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
            pub_id = str(cmd["pub"])
            try:
                last_seq = await publish(spec, int(cmd["events"]), pub_id)
                emit({"op": "published", "last": {pub_id: last_seq}, "error": ""})
            except Exception as exc:  # reported to the harness, which fails the run
                emit({"op": "published", "last": {pub_id: 0}, "error": repr(exc)})
        elif op == "reset":
            state["received"] = 0
            emit({"op": "reset_done"})
        elif op == "drain":
            target = int(cmd["total"]) * len(conns)
            while state["received"] < target:
                before = state["received"]
                for _ in range(int(STALL / 0.05)):
                    await asyncio.sleep(0.05)
                    if state["received"] >= target:
                        break
                if state["received"] == before:
                    break
            emit({"op": "drained", "received": state["received"]})
        elif op == "check":
            expected = {k: int(v) for k, v in cmd["expected"].items()}
            counters: Counter[str] = Counter()
            closes: Counter[str] = Counter()
            for c in conns:
                code = c.server_close()
                if code is not None and not c.tally.closes:
                    c.tally.server_close(code)
                counters.update(c.tally.finish(expected))
                closes.update({str(k): v for k, v in c.tally.closes.items()})
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
