"""`python -m loadtests storm`: a node restarts under its clients; do they all come back whole?

Redis, node A (the one restarted) and node B; a paced REST publisher on node B the whole time.
N WebSocket and M SSE clients (the lean `WsClient`/`SseClient`, all in this process) connect
to A, each starting from the same cursor and recording the `seq` of every logged event it
gets. Then A gets SIGTERM: it drains (WS close 4002, SSE a final `sync.reconnect` with reason
`shutdown`) and exits; A starts again on the same port. Every client reconnects as a real one
would, with full-jitter exponential backoff (a first delay up to 0.5 s, doubling per failed
attempt, capped at 5 s; a stream that ends within a second counts as a failed attempt), and
resumes from its cursor (WS `subscribe` with `since`, SSE `Last-Event-ID`). Once all have
resumed the publisher goes on for `tail` seconds, stops, and every client must get the last
published event.

Checks: every client was told to reconnect (4002 / `shutdown`), every client resumed, each
client's offsets are gapless and duplicate-free from its start to the last published event,
no publish failed. Figures: seconds from SIGTERM until A exited, until the new A was ready,
until every client had resumed (its subscribe answered / its stream open on the new A) and
until every client had caught up (had an event at least as new as the newest one published
at that moment).

SSE clients open their streams with `presence=false`: the storm measures resuming, not
presence (each stream would otherwise be a session joined, left and joined again, a thousand
more events for every client to read).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .machine import plan_cores
from .paced import PacedPublisher
from .procs import Procs, Server, cpu_of, free_port, huddle_command
from .results import RunResult
from .resuming import HuddleSse, HuddleWs, Track, backoff, tally
from .scenarios.worker_common import ORG, WORKSPACE
from .soak import FAILURES, pause

CONNECT_CONCURRENCY = 100
RESUME_WITHIN = 120.0
CATCH_UP_WITHIN = 120.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 5.0


@dataclass(frozen=True)
class StormPlan:
    ws: int = 500
    sse: int = 500
    rate: float = 20.0
    live_before: float = 2.0  # seconds of publishing before SIGTERM
    tail: float = 3.0  # seconds of publishing after every client resumed
    command: str = ""


class Storm:
    """What every client needs to know of the run: its phase times and the publisher."""

    def __init__(self, publisher: PacedPublisher) -> None:
        self.publisher = publisher
        self.t_sigterm = float("inf")
        self.t_down = float("inf")
        self.stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        self.failures: Counter[str] = Counter()  # why connection attempts failed


class StormClient:
    def __init__(self, storm: Storm, kind: str, i: int, token: str, url: str, start: str) -> None:
        self.storm = storm
        self.kind = kind
        self.name = f"{kind}{i}"
        self.token = token
        self.url = url
        self.track = Track(self.name, start, on_logged=self._on_logged)
        self.open = False
        self.opened_at = 0.0
        self.caught_at: float | None = None
        self.attempts = 0
        self.failed_attempts = 0
        self.ends: list[tuple[float, str]] = []  # (when, how): "4002", "shutdown", "lost", …

    @property
    def resumed(self) -> bool:
        """Its stream is open on the new node (opened after the old one exited)."""
        return self.open and self.opened_at > self.storm.t_down

    def _on_logged(self, track: Track, seq: int) -> None:
        if self.caught_at is None and self.resumed and seq >= self.storm.publisher.last_seq:
            self.caught_at = time.monotonic()

    async def _open(self) -> HuddleWs | HuddleSse:
        self.attempts += 1
        if self.kind == "ws":
            ws = HuddleWs(self.track)
            stage = "the upgrade"
            try:
                async with asyncio.timeout(15):
                    await ws.connect(self.url, self.token)
                    stage = "subscribe"
                    await ws.subscribe()
            except TimeoutError:
                ws.ws.abort()
                raise TimeoutError(f"no answer within 15 s to {stage}") from None
            except BaseException:
                ws.ws.abort()
                raise
            return ws
        sse = HuddleSse(self.track)
        try:
            async with asyncio.timeout(15):
                await sse.connect(self.url, self.token, query={"presence": "false"})
        except TimeoutError:
            sse.reader.close()
            raise TimeoutError("no stream within 15 s") from None
        except BaseException:
            sse.reader.close()
            raise
        return sse

    async def run(self) -> None:
        attempt = 0
        first = True
        while not self.storm.stopped.done():
            try:
                if first:  # the initial connections: no backoff, a bounded number at once
                    async with self.storm.gate:
                        conn = await self._open()
                else:
                    conn = await self._open()
            except FAILURES as exc:
                self.failed_attempts += 1
                why = str(exc).split("\n")[0][:80]
                self.storm.failures[f"{self.kind}: {type(exc).__name__}: {why}"] += 1
                await pause_until(self.storm.stopped, backoff(attempt, base=BACKOFF_BASE,
                                                              cap=BACKOFF_CAP))  # fmt: skip
                attempt += 1
                continue
            first = False
            self.opened_at = conn.opened_at
            self.caught_at = None
            self.open = True
            await asyncio.wait([conn.closed, self.storm.stopped], return_when="FIRST_COMPLETED")
            self.open = False
            if self.storm.stopped.done():
                conn.close()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await conn.closed
                return
            if isinstance(conn, HuddleWs):
                code = conn.ws.close_code
                how = str(code) if code is not None else "lost"
            else:
                how = conn.ended or "lost"
            self.ends.append((time.monotonic(), how))
            short = time.monotonic() - conn.opened_at < 1.0
            attempt = attempt + 1 if short else 0
            await pause_until(self.storm.stopped, backoff(attempt, base=BACKOFF_BASE,
                                                          cap=BACKOFF_CAP))  # fmt: skip


async def pause_until(stopped: asyncio.Future[None], seconds: float) -> None:
    """A client's backoff: `seconds`, or less when the run stops."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await asyncio.shield(stopped)


async def until(check: Any, within: float, every: float = 0.02) -> bool:
    """Poll `check()` (the harness's own wait: no single event says "all 1,000 resumed")."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await pause(asyncio.Event(), every)
    return True


async def cpu_sampler(pids: dict[str, int], out: list[dict[str, float]]) -> None:
    """Each second, the CPU share of each watched process over that second (`pids` may
    change: node A's new pid after its restart)."""
    last = {name: cpu_of(pid) for name, pid in pids.items()}
    seen = dict(pids)
    while True:
        await pause(asyncio.Event(), 1.0)
        now = {name: cpu_of(pid) for name, pid in pids.items()}
        out.append({
            name: round(max(0.0, now[name] - (last[name] if seen[name] == pids[name] else 0.0)), 2)
            for name in pids
        })  # fmt: skip
        last, seen = now, dict(pids)


async def start_node_a(procs: Procs, redis_url: str, port: int, cores: set[int]) -> Server:
    """Node A on its fixed `port` (a restart must come back where the clients look)."""
    env = {
        "HUDDLE_BACKEND_URL": redis_url,
        "HUDDLE_HOST": "127.0.0.1",
        "HUDDLE_PORT": str(port),
        "HUDDLE_JWT_SECRET": procs.secret,
        "HUDDLE_NODE_ID": "nodeA",
    }
    url = f"http://127.0.0.1:{port}"
    return await procs.server(
        huddle_command(), name="nodeA", ready_url=f"{url}/readyz", env=env, cores=cores
    )


async def run_storm(plan: StormPlan, *, machine: dict[str, Any], run_id: str) -> RunResult:
    cores = plan_cores(2)
    result = RunResult(
        scenario="storm",
        target="huddle",
        transport="ws-json+sse",
        backend="redis",
        nodes=2,
        n=plan.ws + plan.sse,
        rep=1,
        params={
            "ws": plan.ws,
            "sse": plan.sse,
            "publish_rate": plan.rate,
            "live_before_s": plan.live_before,
            "tail_s": plan.tail,
            "backoff": f"full jitter, first <= {BACKOFF_BASE} s, doubling, cap {BACKOFF_CAP} s",
            "sse_presence": False,
            "cores": cores.describe(),
            "command": plan.command,
        },
        machine=machine,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        run_id=run_id,
    )
    figures: dict[str, float] = {}
    checks: dict[str, str] = {}
    async with Procs() as procs:
        redis = await procs.redis(cores=cores.redis)
        port = free_port()
        node_a = await start_node_a(procs, redis.url, port, cores.nodes[0])
        node_b = await procs.huddle(redis.url, name="nodeB", cores=cores.nodes[1])
        admin = procs.token("svc", ORG, WORKSPACE, admin=True)
        publisher = PacedPublisher(node_b.url, admin, rate=plan.rate, name="nodeB")
        warm = PacedPublisher(node_b.url, admin, rate=1, name="warm")
        await warm.once()
        if not warm.last_id:
            raise RuntimeError(f"warm-up publish failed: {warm.errors}")
        storm = Storm(publisher)
        clients = [
            StormClient(storm, kind, i, procs.token(f"{kind}{i}", ORG, WORKSPACE), node_a.url,
                        warm.last_id)
            for kind, count in (("ws", plan.ws), ("sse", plan.sse))
            for i in range(count)
        ]  # fmt: skip
        tasks = [asyncio.create_task(c.run()) for c in clients]
        t_connect = time.monotonic()
        if not await until(lambda: all(c.open for c in clients), RESUME_WITHIN):
            raise RuntimeError(f"only {sum(c.open for c in clients)} of {len(clients)} connected")
        figures["connect_all_s"] = round(time.monotonic() - t_connect, 2)
        print(f"storm: {len(clients)} clients on node A in {figures['connect_all_s']} s",
              file=sys.stderr)  # fmt: skip

        publishing = asyncio.create_task(publisher.run())
        await pause(publisher.stop, plan.live_before)
        head = publisher.last_seq
        if not await until(lambda: all(c.track.last >= head for c in clients), 60):
            raise RuntimeError("the clients did not get the live events before the SIGTERM")

        # -- the storm ---------------------------------------------------------------------
        old = next(c for c in procs.children if c.pid == node_a.pid)
        published_before = publisher.published
        cpu_self = sum(os.times()[:2])
        watched = {"nodeA": node_a.pid, "nodeB": node_b.pid, "redis": redis.pid,
                   "clients": os.getpid()}  # fmt: skip
        per_second: list[dict[str, float]] = []
        sampling = asyncio.create_task(cpu_sampler(watched, per_second))
        storm.t_sigterm = t0 = time.monotonic()
        os.kill(node_a.pid, signal.SIGTERM)
        exit_code = await asyncio.wait_for(old.proc.wait(), timeout=60)
        storm.t_down = time.monotonic()
        figures["node_exit_s"] = round(storm.t_down - t0, 2)
        print(f"storm: SIGTERM; node A exited ({exit_code}) after {figures['node_exit_s']} s",
              file=sys.stderr)  # fmt: skip
        node_a2 = await start_node_a(procs, redis.url, port, cores.nodes[0])
        watched["nodeA"] = node_a2.pid
        figures["node_ready_s"] = round(time.monotonic() - t0, 2)
        all_resumed = await until(lambda: all(c.resumed for c in clients), RESUME_WITHIN)
        not_resumed = [c.name for c in clients if not c.resumed]
        t_resumed = max((c.opened_at for c in clients if c.resumed), default=t0)
        if all_resumed:
            figures["resumed_s"] = round(t_resumed - t0, 2)
        waits = sorted(c.opened_at - t0 for c in clients if c.resumed)
        for q in (50, 90, 99):
            if waits:
                figures[f"resumed_p{q}_s"] = round(
                    waits[min(len(waits) - 1, len(waits) * q // 100)], 2
                )
        print(f"storm: node A ready after {figures['node_ready_s']} s; "
              f"{sum(c.resumed for c in clients)} of {len(clients)} resumed "
              f"(last at {t_resumed - t0:.2f} s)", file=sys.stderr)  # fmt: skip
        figures["published_while_away"] = float(publisher.published - published_before)
        await pause(publisher.stop, plan.tail)
        publisher.stop.set()
        await publishing
        last = publisher.last_seq
        caught = await until(lambda: all(c.track.last >= last for c in clients), CATCH_UP_WITHIN)
        if caught and all(c.caught_at is not None for c in clients):
            figures["caught_up_s"] = round(max(c.caught_at or t0 for c in clients) - t0, 2)
        cpu_clients = sum(os.times()[:2]) - cpu_self
        storm_wall = time.monotonic() - t0
        print(f"storm: caught up: {caught} ({figures.get('caught_up_s')} s)", file=sys.stderr)
        sampling.cancel()
        storm.stopped.set_result(None)
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            if task.exception() is not None:
                checks["harness"] = f"{type(task.exception()).__name__}: {task.exception()}"
        node_a_log = next(c for c in procs.children if c.pid == node_a2.pid).output()
        result.cpu = {
            "nodeA": round(cpu_of(node_a2.pid) / storm_wall, 3),
            "nodeB": round((cpu_of(node_b.pid)) / storm_wall, 3),
            "clients": round(cpu_clients / storm_wall, 3),
        }
        # CPU per second from the SIGTERM on: what saturated while the clients came back
        result.params["cpu_per_s"] = per_second
        for name in watched:
            figures[f"cpu_peak_{name}"] = max((x[name] for x in per_second), default=0.0)

    # -- the result --------------------------------------------------------------------------
    told_want = {"ws": "4002", "sse": "shutdown"}
    not_told = [
        c.name
        for c in clients
        if not any(how == told_want[c.kind] and when < storm.t_down for when, how in c.ends)
    ]
    checks["told_to_reconnect"] = (
        "ok"
        if not not_told
        else (f"{len(not_told)} not told (WS 4002 / SSE shutdown): {not_told[:5]}")
    )
    checks["resumed"] = (
        "ok"
        if all_resumed and not not_resumed
        else (
            f"{len(not_resumed)} of {len(clients)} did not resume within {RESUME_WITHIN} s: "
            f"{not_resumed[:5]}"
        )
    )
    counters = {"lost": 0, "duplicated": 0, "out_of_order": 0, "epoch_changes": 0,
                "received": 0}  # fmt: skip
    broken = []
    for c in clients:
        counts = tally(c.track, last)
        for key in ("lost", "duplicated", "out_of_order", "epoch_changes"):
            counters[key] += counts[key]
        counters["received"] += len(c.track.seqs)
        bad = {k: v for k, v in counts.items() if v}
        if bad:
            broken.append(f"{c.name} {bad}")
    checks["gapless"] = "ok" if not broken else f"{len(broken)} clients: " + "; ".join(broken[:5])
    checks["caught_up"] = (
        "ok"
        if caught
        else (
            f"{sum(c.track.last < last for c in clients)} clients short of seq {last} after "
            f"{CATCH_UP_WITHIN} s"
        )
    )
    checks["publish"] = (
        "ok"
        if not publisher.errors
        else (f"{len(publisher.errors)} failed: {publisher.errors[:3]}")
    )
    result.checks = checks
    result.counters = counters
    ends: dict[str, int] = {}
    for c in clients:
        for _, how in c.ends:
            ends[f"{c.kind}:{how}"] = ends.get(f"{c.kind}:{how}", 0) + 1
    result.closes = ends
    result.params["failed_attempts_by_kind"] = dict(storm.failures.most_common(12))
    resets: Counter[str] = Counter(r for c in clients for r in c.track.resets)
    result.params["resets_by_reason"] = dict(resets)
    figures.update(
        events_published=float(publisher.published + warm.published),
        last_seq=float(last),
        start_seq=float(clients[0].track.start),
        attempts=float(sum(c.attempts for c in clients)),
        failed_attempts=float(sum(c.failed_attempts for c in clients)),
        node_exit_code=float(exit_code),
    )
    result.figures = figures
    if not result.passed:  # what the restarted node said, for the post-mortem
        result.params["nodeA_log_tail"] = node_a_log.splitlines()[-40:]
    return result


def summary(result: RunResult) -> str:
    f = result.figures
    lines = [
        f"storm: {result.params['ws']} WS + {result.params['sse']} SSE clients; node A exited "
        f"{f.get('node_exit_s')} s after SIGTERM, ready again at {f.get('node_ready_s')} s; "
        f"all resumed at {f.get('resumed_s', 'never')} s, all caught up at "
        f"{f.get('caught_up_s', 'never')} s; {f['attempts']:.0f} connection attempts "
        f"({f['failed_attempts']:.0f} failed); {f['events_published']:.0f} events",
        f"  ends: {result.closes}; CPU {result.cpu}",
        f"  failed attempts: {result.params.get('failed_attempts_by_kind')}",
        f"  resets: {result.params.get('resets_by_reason')}",
    ]
    lines += [f"  check {k}: {v}" for k, v in result.checks.items()]
    lines.append("PASSED" if result.passed else "FAILED: " + "; ".join(result.failures))
    return "\n".join(lines)
