"""The client side of scenario 5: `python -m loadtests.scenarios.rest_poll_worker --worker`.

One spec line on stdin makes it a poller worker ("pollers": `count` REST pollers) or the
publisher worker ("pub"); then commands, one JSON line each, and reports on stdout
(`procs.Worker`): ready, stats, phase_done, drained, result.

A poller is one keep-alive HTTP/1.1 connection (`HttpConn`, a lean client on asyncio streams:
httpx would saturate first) looping `GET …/events?after=<next>&limit=1000[&wait=W]` and counting
every bench event into its `Tally`; mode "after" polls back to back (no `wait`), mode "wait"
long-polls. The publisher paces events over a WebSocket publisher connection
(`fanout_worker.Publisher`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from ..tokens import make_token
from .fanout_worker import Publisher
from .worker_common import (
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

LIMIT: Final = 1000
STALL: Final = 10.0


class HttpError(Exception):
    pass


class HttpConn:
    """One keep-alive HTTP/1.1 connection: `request(method, path, body)` -> (status, body).

    Reads `Content-Length` and chunked bodies; reconnects once when the server closed an idle
    connection."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.writer is None:
                await self.open()
            try:
                return await self._once(method, path, body, content_type)
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _once(
        self, method: str, path: str, body: bytes, content_type: str
    ) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.headers}"
        if body or method == "POST":
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "chunked" in fields.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                out += await self.reader.readexactly(size + 2)
                del out[-2:]
            data = bytes(out)
        else:
            data = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def events_path(target: str) -> str:
    if target == "huddle":
        return f"/v1/orgs/{ORG}/workspaces/{WORKSPACE}/sync/events"
    return f"/events/{WORKSPACE}"


class Poller:
    """One REST poller; `run()` loops until cancelled."""

    def __init__(self, spec: dict[str, Any], index: int, on_tick: Any, state: dict[str, Any]):
        self.spec = spec
        self.huddle = spec["target"] == "huddle"
        url = spec["urls"][index % len(spec["urls"])]
        headers = {}
        if self.huddle:
            token = make_token(spec["secret"], f"u{index}", ORG, WORKSPACE)
            headers["Authorization"] = f"Bearer {token}"
        self.conn = HttpConn(url, headers)
        self.on_tick = on_tick
        self.state = state
        self.cursor: str | None = None if self.huddle else "0"
        self.wait = float(spec.get("wait") or 0)

    async def run(self) -> None:
        state = self.state
        base = events_path(self.spec["target"])
        while True:
            query = f"?limit={LIMIT}"
            if self.cursor is not None:
                query += f"&after={self.cursor}"
            if self.wait:
                query += f"&wait={self.wait:g}"
            try:
                status, body = await self.conn.request("GET", base + query)
            except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
                state["errors"] += 1
                state["last_error"] = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.1)
                continue
            state["requests"] += 1
            if status != 200:
                state["errors"] += 1
                state["last_error"] = f"HTTP {status}: {body[:200]!r}"
                await asyncio.sleep(0.1)
                continue
            doc = orjson.loads(body)
            if doc.get("reset"):
                state["resets"] += 1
            for ev in doc["events"]:
                if self.huddle:
                    if ev.get("type") != TICK:
                        continue
                    self.on_tick(ev["data"], ev.get("id"))
                else:
                    self.on_tick(ev["data"], None)
            if not doc["events"]:
                state["empty"] += 1
            self.cursor = str(doc["next"])


async def pollers_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    from ..counters import Tally

    first, count = int(spec["first"]), int(spec["count"])
    tallies = [Tally() for _ in range(count)]
    state: dict[str, Any] = {
        "received": 0,
        "requests": 0,
        "errors": 0,
        "resets": 0,
        "empty": 0,
        "last_rx": 0,
        "target": 0,
        "last_error": "",
    }
    reached = asyncio.Event()
    hist: Counter[int] = Counter()

    def make_on_tick(i: int) -> Any:
        tally = tallies[i]

        def on_tick(data: dict[str, Any], event_id: str | None) -> None:
            now = time.monotonic_ns()
            tally.record(data["p"], data["s"], WORKSPACE, event_id, None)
            hist[bucket((now - data["t"]) // 1000)] += 1
            state["received"] += 1
            state["last_rx"] = now
            if state["target"] and state["received"] >= state["target"]:
                reached.set()

        return on_tick

    pollers = [Poller(spec, first + i, make_on_tick(i), state) for i in range(count)]
    errors: list[str] = []
    for p in pollers:
        try:
            await p.conn.open()
        except OSError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    tasks = [asyncio.create_task(p.run()) for p in pollers]
    emit({"op": "ready", "connected": count - len(errors), "failed": len(errors), "errors": errors})
    stats = asyncio.create_task(
        stats_loop(lambda: {"connections": count, "received": state["received"]})
    )
    try:
        while True:
            cmd = await next_command(commands)
            if cmd["op"] == "mark":
                state["requests"] = 0
                emit({"op": "marked", "t": time.monotonic_ns()})
            elif cmd["op"] == "drain":
                state["target"] = int(cmd["total"]) * count
                reached.clear()
                while state["received"] < state["target"]:
                    before = state["received"]
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(reached.wait(), STALL)
                    if state["received"] == before:
                        break
                emit(
                    {
                        "op": "drained",
                        "received": state["received"],
                        "requests": state["requests"],
                        "last_rx_ns": state["last_rx"],
                        "t": time.monotonic_ns(),
                        "lat_hist": {str(k): v for k, v in hist.items()},
                    }
                )
                hist.clear()
            elif cmd["op"] == "tally":
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                expected = {k: int(v) for k, v in cmd["expected"].items()}
                counters: Counter[str] = Counter()
                for tally in tallies:
                    counters.update(tally.finish(expected))
                for p in pollers:
                    p.conn.close()
                emit(
                    {
                        "op": "result",
                        "counters": dict(counters),
                        "http_errors": state["errors"],
                        "resets": state["resets"],
                        "empty": state["empty"],
                        "last_error": state["last_error"],
                    }
                )
                return
    finally:
        stats.cancel()


async def pub_worker(spec: dict[str, Any], commands: asyncio.StreamReader) -> None:
    """Paced publishing over a WebSocket publisher connection; `finish` waits for Huddle's
    replies (every publish answered) before it reports."""
    from ..payload import make

    answered = asyncio.Event()
    want = [0]

    class Counting(Publisher):
        replies = 0

        def _reply(self, data: bytes, is_text: bool) -> None:
            Counting.replies += 1
            if Counting.replies >= want[0]:
                answered.set()
            super()._reply(data, is_text)

    publisher = Counting(spec)
    errors: list[str] = []
    try:
        await publisher.connect()
    except Exception as exc:  # reported to the harness, which fails the run
        errors.append(f"publisher: {type(exc).__name__}: {exc}")
    emit({"op": "ready", "connected": 1 - len(errors), "failed": len(errors), "errors": errors})
    pad = max(0, int(spec.get("frame_bytes", 0)))
    seq = 0
    while True:
        cmd = await next_command(commands)
        if cmd["op"] == "phase":
            rate, events = float(cmd["rate"]), int(cmd["events"])
            t0 = time.monotonic_ns()
            start = time.monotonic()
            sent = 0
            while sent < events:
                due = min(events, int((time.monotonic() - start) * rate) + 1)
                while sent < due:
                    seq += 1
                    publisher.send(make("rest", seq, pad))
                    sent += 1
                await asyncio.sleep(max(0.0, sent / rate - (time.monotonic() - start)))
            emit({"op": "phase_done", "sent": sent, "t0": t0, "t1": time.monotonic_ns()})
        elif cmd["op"] == "finish":
            if spec["target"] == "huddle":
                want[0] = seq
                if Counting.replies < seq:
                    answered.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(answered.wait(), 30)
            emit(
                {
                    "op": "result",
                    "last": {"rest": seq} if seq else {},
                    "publish_errors": publisher.error_count,
                    "errors": publisher.errors,
                    "replies": Counting.replies,
                }
            )
            return


async def worker_main() -> None:
    await serve_roles("pollers", pollers_worker, pub_worker)


def main() -> None:
    worker_cli(__doc__, worker_main)


if __name__ == "__main__":
    main()
