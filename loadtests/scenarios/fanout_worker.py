"""The client side of scenario 1: `python -m loadtests.scenarios.fanout_worker`.

One spec line on stdin makes it a subscriber worker ("subs": `count` receivers) or the
publisher worker ("pub": a publisher connection and a probe receiver); then commands, one JSON
line each, and reports on stdout (`procs.Worker`): ready, stats (every 0.5 s), phase_done,
drained, result. Receivers call back inline (no task per frame) and count into `Tally`.

Runs on the default asyncio loop: the lean clients assert an `asyncio.Transport`, which
uvloop's transports are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

from ..tokens import make_token
from .worker_common import (
    CONNECT_CONCURRENCY,
    ORG,
    TICK,
    WORKSPACE,
    bucket,
    emit,
    next_command,
    serve_roles,
    stats_loop,
    worker_cli,
)

# ---------------------------------------------------------------------------------------------


OnTick = Callable[[str, int, int, str | None, int], None]  # pub, seq, sent_ns, event id, size


class Receiver:
    """One subscriber connection to any target, calling `on_tick` for every bench event."""

    def __init__(self, spec: dict[str, Any], index: int, on_tick: OnTick) -> None:
        self.spec = spec
        self.index = index
        self.on_tick = on_tick
        self.client: Any = None
        self.subscribed: asyncio.Future[None] | None = None
        self.closed_by_server: int | None = None

    async def connect(self) -> None:
        from ..payload import parse

        spec = self.spec
        target, transport = spec["target"], spec["transport"]
        url = spec["urls"][self.index % len(spec["urls"])]
        user = f"u{self.index}"
        token = make_token(spec["secret"], user, ORG, WORKSPACE)
        loop = asyncio.get_running_loop()
        self.subscribed = loop.create_future()
        on_tick = self.on_tick
        binary = transport == "ws-msgpack"

        if target == "huddle" and transport == "sse":
            from ..sseclient import SseClient

            def on_event(event_id: str | None, event: str, data: str) -> None:
                if event != TICK:
                    return
                ev = orjson.loads(data)
                pub, seq, t = parse(ev["data"])
                on_tick(pub, seq, t, event_id, len(data) + len(event) + len(event_id or "") + 20)

            sse = SseClient(on_event=on_event)
            self.client = sse
            await sse.connect(
                f"{url}/v1/orgs/{ORG}/workspaces/{WORKSPACE}/sync/stream",
                headers={"Authorization": f"Bearer {token}"},
            )
            self.subscribed.set_result(None)
            return

        from ..wsclient import WsClient

        if target == "huddle":
            loads: Callable[[bytes], Any] = (
                (lambda b: msgpack.unpackb(b, raw=False)) if binary else orjson.loads
            )
            subscribed = self.subscribed

            def on_message(data: bytes, is_text: bool) -> None:
                msg = loads(data)
                if msg.get("op") == "event":
                    ev = msg["event"]
                    if ev.get("type") == TICK:
                        pub, seq, t = parse(ev["data"])
                        on_tick(pub, seq, t, ev.get("id"), len(data))
                elif msg.get("id") == 1 and not subscribed.done():
                    if msg.get("ok"):
                        subscribed.set_result(None)
                    else:
                        subscribed.set_exception(RuntimeError(f"subscribe refused: {msg}"))

            ws = WsClient(on_message=on_message)
            self.client = ws
            proto = "huddle.v1.msgpack" if binary else "huddle.v1.json"
            ws_url = url.replace("http://", "ws://") + "/v1/ws"
            await ws.connect(
                ws_url, subprotocols=(proto,), headers={"Authorization": f"Bearer {token}"}
            )
            op = {"id": 1, "op": "subscribe", "org_id": ORG, "workspace_id": WORKSPACE}
            if binary:
                ws.send_bytes(msgpack.packb(op))
            else:
                ws.send_text(orjson.dumps(op).decode())
            await asyncio.wait_for(self.subscribed, 30)
            return

        if target == "starlette" and transport == "sse":
            from ..sseclient import SseClient

            def on_plain(event_id: str | None, event: str, data: str) -> None:
                pub, seq, t = parse(data)
                on_tick(pub, seq, t, None, len(data) + len(event_id or "") + 20)

            sse = SseClient(on_event=on_plain)
            self.client = sse
            await sse.connect(f"{url}/sse/{WORKSPACE}")
            self.subscribed.set_result(None)
            return

        if target in ("raw-ws", "starlette") and transport.startswith("ws"):

            def on_raw(data: bytes, is_text: bool) -> None:
                body = orjson.loads(data) if is_text else msgpack.unpackb(data, raw=False)
                pub, seq, t = parse(body)
                on_tick(pub, seq, t, None, len(data))

            ws = WsClient(on_message=on_raw)
            self.client = ws
            path = f"/sub/{WORKSPACE}"
            if target == "starlette":
                path = f"/ws/{WORKSPACE}?codec={'msgpack' if binary else 'json'}"
            await ws.connect(url.replace("http://", "ws://") + path)
            self.subscribed.set_result(None)
            return

        if target == "socketio":
            from ..baselines.engineio_client import SioClient

            def on_sio(name: str, data: Any) -> None:
                if name == "event":
                    pub, seq, t = parse(data)
                    on_tick(pub, seq, t, None, len(orjson.dumps(data)) + 12)

            sio = SioClient(on_event=on_sio)
            self.client = sio
            await sio.connect(url)
            joined = await sio.call("join", WORKSPACE)
            if joined != [True]:
                raise RuntimeError(f"socket.io join refused: {joined}")
            self.subscribed.set_result(None)
            return
        raise NotImplementedError(f"{target} over {transport}: not wired yet")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


class Publisher:
    """A publisher connection: Huddle's `publish` op, or a baseline's `/pub` frames."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.binary = spec["transport"] == "ws-msgpack"
        self.errors: list[str] = []
        self.error_count = 0
        self.next_id = 1
        self.ws: Any = None
        self.sio: Any = None

    async def connect(self) -> None:
        from ..wsclient import WsClient

        spec = self.spec
        url = spec["urls"][0].replace("http://", "ws://")
        if spec["target"] == "socketio":
            from ..baselines.engineio_client import SioClient

            self.sio = SioClient()
            await self.sio.connect(spec["urls"][0])
            return
        ws = WsClient(on_message=self._reply)
        self.ws = ws
        if spec["target"] == "huddle":
            token = make_token(spec["secret"], "publisher", ORG, WORKSPACE, admin=True)
            proto = "huddle.v1.msgpack" if self.binary else "huddle.v1.json"
            await ws.connect(
                url + "/v1/ws", subprotocols=(proto,), headers={"Authorization": f"Bearer {token}"}
            )
        else:
            await ws.connect(url + "/pub")

    def _reply(self, data: bytes, is_text: bool) -> None:
        if self.spec["target"] != "huddle":
            return
        msg = orjson.loads(data) if is_text else msgpack.unpackb(data, raw=False)
        if msg.get("ok") is False:
            self.error_count += 1
            if len(self.errors) < 5:
                self.errors.append(str(msg.get("error")))

    def send(self, body: dict[str, Any]) -> None:
        if self.spec["target"] == "huddle":
            op = {
                "id": self.next_id,
                "op": "publish",
                "org_id": ORG,
                "workspace_id": WORKSPACE,
                "type": TICK,
                "data": body,
            }
            self.next_id += 1
            message: Any = op
        elif self.sio is not None:
            self.sio.emit("pub", {"room": WORKSPACE, "data": body})
            return
        else:
            message = {"room": WORKSPACE, "data": body}
        if self.binary:
            self.ws.send_bytes(msgpack.packb(message))
        else:
            self.ws.send_text(orjson.dumps(message).decode())


async def _connect_all(receivers: list[Receiver]) -> list[str]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    errors: list[str] = []

    async def one(r: Receiver) -> None:
        async with gate:
            try:
                await r.connect()
            except Exception as exc:  # reported to the harness, which fails the run
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(r) for r in receivers))
    return errors


async def subs_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    from ..counters import Tally

    first, count = int(spec["first"]), int(spec["count"])
    tallies = [Tally() for _ in range(count)]
    state = {"received": 0, "last_rx": 0, "target": 0}
    reached = asyncio.Event()
    hist: Counter[int] = Counter()
    sample_every = max(1, count // 200)  # latency from at most ~200 subscribers per worker

    def make_on_tick(i: int) -> OnTick:
        tally = tallies[i]
        sampled = i % sample_every == 0

        def on_tick(pub: str, seq: int, sent: int, event_id: str | None, size: int) -> None:
            now = time.monotonic_ns()
            tally.record(pub, seq, WORKSPACE, event_id, None)
            if sampled:
                us = (now - sent) // 1000
                hist[bucket(us)] += 1
            state["received"] += 1
            state["last_rx"] = now
            if state["target"] and state["received"] >= state["target"]:
                reached.set()

        return on_tick

    receivers = [Receiver(spec, first + i, make_on_tick(i)) for i in range(count)]
    errors = await _connect_all(receivers)
    emit(
        {
            "op": "ready",
            "connected": count - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
        }
    )
    stats = asyncio.create_task(
        stats_loop(lambda: {"connections": count, "received": state["received"]})
    )
    try:
        while True:
            cmd = await next_command(commands)
            if cmd["op"] == "drain":
                state["target"] = int(cmd["total"]) * count
                reached.clear()
                if state["received"] < state["target"]:
                    await _wait_progress(reached, state)
                emit(
                    {
                        "op": "drained",
                        "received": state["received"],
                        "last_rx_ns": state["last_rx"],
                        "lat_hist": {str(k): v for k, v in hist.items()},
                    }
                )
                hist.clear()
            elif cmd["op"] == "finish":
                pass  # the publisher answers first; then "tally" comes
            elif cmd["op"] == "tally":
                expected = {k: int(v) for k, v in cmd["expected"].items()}
                counters: Counter[str] = Counter()
                closes: Counter[str] = Counter()
                for r, tally in zip(receivers, tallies, strict=True):
                    code = _server_close(r)
                    if code is not None:
                        tally.server_close(code)
                    counters.update(tally.finish(expected))
                    closes.update({str(k): v for k, v in tally.closes.items()})
                for r in receivers:
                    r.close()
                emit({"op": "result", "counters": dict(counters), "closes": dict(closes)})
                return
    finally:
        stats.cancel()


def _server_close(r: Receiver) -> int | None:
    client = r.client
    if client is not None and getattr(client, "closed_by_server", False):
        code: int | None = client.close_code
        return code
    return None


async def _wait_progress(
    reached: asyncio.Event, state: dict[str, int], stall: float = 10.0
) -> None:
    """Until the target count arrived, or nothing arrived for `stall` seconds (then the
    final tally counts what is missing as lost)."""
    while not reached.is_set():
        before = state["received"]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reached.wait(), stall)
        if state["received"] == before:
            return


async def pub_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    from ..counters import Tally
    from ..payload import make

    window = int(spec["window"])
    waiters: dict[tuple[str, int], asyncio.Future[None]] = {}
    last: dict[str, int] = {}
    tally = Tally()
    sizes: list[int] = []

    def on_tick(pub: str, seq: int, sent: int, event_id: str | None, size: int) -> None:
        tally.record(pub, seq, WORKSPACE, event_id, None)
        sizes.append(size)
        fut = waiters.pop((pub, seq), None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    probe_spec = dict(spec, urls=spec["urls"][-1:])
    probe = Receiver(probe_spec, 10_000_000, on_tick)
    publisher = Publisher(spec)
    errors = await _connect_all([probe])
    if not errors:
        try:
            await publisher.connect()
        except Exception as exc:  # reported to the harness, which fails the run
            errors.append(f"publisher: {type(exc).__name__}: {exc}")
    emit({"op": "ready", "connected": 1 - len(errors), "failed": len(errors), "errors": errors})
    loop = asyncio.get_running_loop()
    pad = [int(spec["frame_bytes"]) // 2]
    frame_target = int(spec["frame_bytes"])

    def calibrate() -> None:
        if sizes and len(sizes) < 3:  # fit the pad to the frame size the probe saw
            pad[0] = max(0, pad[0] + frame_target - sizes[-1])

    def send(pub: str) -> asyncio.Future[None]:
        seq = last.get(pub, 0) + 1
        last[pub] = seq
        fut: asyncio.Future[None] = loop.create_future()
        waiters[(pub, seq)] = fut
        publisher.send(make(pub, seq, pad[0]))
        return fut

    while True:
        cmd = await next_command(commands)
        if cmd["op"] == "phase":
            t0 = time.monotonic_ns()
            sent = 0
            if cmd["mode"] == "closed":
                sent = await _closed_loop(
                    send, int(cmd["events"]), float(cmd["seconds"]), window, calibrate
                )
            else:
                rate, events = float(cmd["rate"]), int(cmd["events"])
                start = time.monotonic()
                futs = []
                while sent < events:
                    due = int((time.monotonic() - start) * rate) + 1
                    while sent < min(due, events):
                        futs.append(send("paced"))
                        sent += 1
                    await asyncio.sleep(max(0.0, (sent / rate) - (time.monotonic() - start)))
                await asyncio.wait_for(asyncio.gather(*futs), 30)
            t1 = time.monotonic_ns()
            frame = statistics.median(sizes[-50:]) if sizes else 0
            emit({"op": "phase_done", "sent": sent, "t0": t0, "t1": t1, "frame_bytes": frame})
        elif cmd["op"] == "finish":
            counters = tally.finish(dict(last))
            code = _server_close(probe)
            closes = {str(code): 1} if code is not None else {}
            emit(
                {
                    "op": "result",
                    "last": last,
                    "counters": counters,
                    "closes": closes,
                    "publish_errors": publisher.error_count,
                    "errors": publisher.errors,
                }
            )
            probe.close()
            return


async def _closed_loop(
    send: Callable[[str], asyncio.Future[None]],
    events: int,
    seconds: float,
    window: int,
    calibrate: Callable[[], None],
) -> int:
    """`window` slots, each sending its next event once the probe has its previous one; for
    `events` events in all, or (events 0) for `seconds`. Returns how many were sent."""
    deadline = time.monotonic() + seconds
    budget = [events]

    async def slot(pub: str) -> int:
        n = 0
        while (budget[0] > 0) if events else (time.monotonic() < deadline):
            budget[0] -= 1
            await asyncio.wait_for(send(pub), 30)
            n += 1
            calibrate()
        return n

    return sum(await asyncio.gather(*(slot(f"p{i}") for i in range(window))))


async def worker_main() -> None:
    await serve_roles("subs", subs_worker, pub_worker)


def main() -> None:
    worker_cli(__doc__, worker_main)


if __name__ == "__main__":
    main()
