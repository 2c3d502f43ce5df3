"""`python -m loadtests soak`: does a node's memory grow over a long run of churn and faults?

Redis and two nodes (real processes, `Procs`), a paced REST publisher on each node, and
WebSocket and SSE visitors. A visit: connect to a random node, resume from the client's own
cursor (WS `subscribe` with `since`, SSE `Last-Event-ID`), join presence (WS `presence.join`;
an SSE stream is a presence session), take a lock (WS `lock.acquire`; SSE clients over REST),
read a random number of logged events, release the lock, leave, stay away a moment, come
back. Every `fault_every` seconds (and at least once) Redis kills the nodes' pub/sub
connections (`CLIENT KILL TYPE pubsub`); the nodes re-subscribe and read the gap from the log.

Each node's RSS is sampled every `sample_every` seconds; the result holds the least-squares
RSS slope (KiB/hour) over the samples after a warm-up (the first 10 % of the run or two
minutes, whichever is smaller). Checks: every client's offsets over all its visits are one
gapless, duplicate-free run; no request failed; when the clients are gone, each node's asyncio
tasks (`huddle_tasks`) and open fds (`process_open_fds`) are back within 2 of their level
before the run, no connection is left, and the Redis keys of presence and leases are gone
(no new key under the prefix but idempotency records), as tests/e2e/test_soak.py allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis

from .machine import plan_cores
from .paced import PacedPublisher
from .procs import Node, Procs, cpu_of, rss_of
from .results import RunResult
from .resuming import WS_ARGS, HuddleSse, HuddleWs, Track, tally
from .scenarios.worker_common import ORG, WORKSPACE
from .sseclient import SseError
from .wsclient import WsError

PREFIX = "hd"  # the nodes' default HUDDLE_REDIS_PREFIX
LOCKS = "/v1/collaboration/locks/deal"
TOLERANCE = 2  # tasks and fds may sit this far above their level before the run (test_soak)
FAILURES = (ConnectionError, OSError, WsError, SseError, TimeoutError, httpx.HTTPError)


@dataclass(frozen=True)
class SoakPlan:
    seconds: float
    ws: int = 6
    sse: int = 6
    rate: float = 20.0  # events/s per publisher (one per node)
    sample_every: float = 10.0
    fault_every: float = 300.0
    events_per_visit: tuple[int, int] = (10, 100)
    away: tuple[float, float] = (0.0, 2.0)  # seconds between two visits
    settle_within: float = 60.0
    seed: int = 7
    command: str = ""


def warmup_of(seconds: float) -> tuple[float, str]:
    """The warm-up left out of the RSS fit: 10 % of the run or 2 minutes, the smaller."""
    if 0.1 * seconds <= 120.0:
        return 0.1 * seconds, "the first 10 % of the run"
    return 120.0, "the first 2 minutes"


def slope_per_hour(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, bytes) samples, in KiB per hour."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mt) * (v - mv) for t, v in samples)
    return cov / var * 3600 / 1024


def fault_times(seconds: float, every: float) -> list[float]:
    """Every `every` seconds strictly inside the run; at least one, at the middle."""
    times = [every * k for k in range(1, int(seconds // every) + 1) if every * k < seconds]
    return times or [seconds / 2]


async def gauges(node: Node) -> dict[str, float]:
    """huddle_tasks, process_open_fds and the open connections, from the node's /metrics."""
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    out = {"ws": 0.0, "sse": 0.0}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("huddle_tasks", "process_open_fds"):
            out[name] = float(value)
        elif name == 'huddle_connections{transport="ws"}':
            out["ws"] = float(value)
        elif name == 'huddle_connections{transport="sse"}':
            out["sse"] = float(value)
    return out


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when `stop` is set (the harness's pacing, not a test's)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()


class Soak:
    def __init__(self, plan: SoakPlan, procs: Procs, nodes: list[Node], start_id: str) -> None:
        self.plan = plan
        self.procs = procs
        self.nodes = nodes
        self.stop = asyncio.Event()
        self.rng = random.Random(plan.seed)
        names = [f"ws{i}" for i in range(plan.ws)] + [f"sse{i}" for i in range(plan.sse)]
        self.tracks = {name: Track(name, start_id) for name in names}
        self.errors: list[str] = []
        self.visits = {"ws": 0, "sse": 0}

    def failed(self, name: str, what: str) -> None:
        self.errors.append(f"{name}: {what}")
        print(f"soak: {name}: {what}", file=sys.stderr)

    async def read_some(self, track: Track, closed: asyncio.Future[Any]) -> bool:
        """Until the client has `want` more logged events, the run stops or the connection
        ends (False: it ended, or nothing came for a minute)."""
        lo, hi = self.plan.events_per_visit
        goal = len(track.seqs) + self.rng.randint(lo, hi)
        enough = asyncio.get_running_loop().create_future()

        def on_logged(t: Track, seq: int) -> None:
            if len(t.seqs) >= goal and not enough.done():
                enough.set_result(None)

        track.on_logged = on_logged
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            done, _ = await asyncio.wait(
                [enough, stopping, closed], timeout=60, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            track.on_logged = None
            stopping.cancel()
            if not enough.done():
                enough.cancel()
        if closed in done:
            return False
        return bool(done)

    async def ws_visitor(self, i: int) -> None:
        name = f"ws{i}"
        track, token = self.tracks[name], self.procs.token(name, ORG, WORKSPACE)
        lock = {"entity_type": "deal", "entity_id": name}
        while not self.stop.is_set():
            node = self.rng.choice(self.nodes)
            client = HuddleWs(track)
            try:
                async with asyncio.timeout(30):
                    await client.connect(node.url, token)
                    await client.subscribe()
                    for op, args in (("presence.join", {}), ("lock.acquire", {**lock, "ttl": 30})):
                        reply = await client.request(op, **WS_ARGS, **args)
                        if not reply.get("ok"):
                            self.failed(name, f"{op} on {node.name}: {reply}")
                if not await self.read_some(track, client.closed):
                    self.failed(name, f"the connection to {node.name} ended or stalled")
                    continue
                async with asyncio.timeout(30):
                    for op, args in (("lock.release", lock), ("presence.leave", {})):
                        reply = await client.request(op, **WS_ARGS, **args)
                        if not reply.get("ok"):
                            self.failed(name, f"{op} on {node.name}: {reply}")
                self.visits["ws"] += 1
            except FAILURES as exc:
                self.failed(name, f"on {node.name}: {type(exc).__name__}: {exc}")
            finally:
                await close_within(client, 10)
            await pause(self.stop, self.rng.uniform(*self.plan.away))

    async def sse_visitor(self, i: int) -> None:
        name = f"sse{i}"
        track, token = self.tracks[name], self.procs.token(name, ORG, WORKSPACE)
        auth = {"Authorization": f"Bearer {token}"}
        while not self.stop.is_set():
            node = self.rng.choice(self.nodes)
            client = HuddleSse(track)
            try:
                async with httpx.AsyncClient(base_url=node.url, headers=auth, timeout=30) as http:
                    async with asyncio.timeout(30):
                        await client.connect(node.url, token)  # a presence session while open
                        taken = await http.post(f"{LOCKS}/{name}", params={"ttl": 30})
                        if taken.status_code != 200:
                            self.failed(name, f"lock on {node.name}: {taken.status_code}")
                    if not await self.read_some(track, client.closed):
                        self.failed(name, f"the stream on {node.name} ended ({client.ended})")
                        continue
                    freed = await http.delete(f"{LOCKS}/{name}")
                    if freed.status_code != 200:
                        self.failed(name, f"unlock on {node.name}: {freed.status_code}")
                self.visits["sse"] += 1
            except FAILURES as exc:
                self.failed(name, f"on {node.name}: {type(exc).__name__}: {exc}")
            finally:
                await close_within(client, 10)
            await pause(self.stop, self.rng.uniform(*self.plan.away))


async def redis_keys(raw: aioredis.Redis) -> set[bytes]:
    return {k async for k in raw.scan_iter(match=f"{PREFIX}:*", count=1000)}


async def held_keys(raw: aioredis.Redis) -> list[str]:
    """Presence and lease keys of the workspace, and the active index, still present."""
    base = f"{PREFIX}:{{{ORG}/{WORKSPACE}}}:".encode()
    live = (b"ps", b"pexp", b"locks", b"lexp")
    held = []
    async for key in raw.scan_iter(match=base + b"*"):
        rest = key[len(base) :]
        if rest in live or rest.startswith((b"pv:", b"ul:")):
            held.append(key.decode())
    if await raw.zcard(f"{PREFIX}:active"):
        held.append(f"{PREFIX}:active")
    return held


async def close_within(client: HuddleWs | HuddleSse, seconds: float) -> None:
    """Close a visitor's connection and wait (a bounded time) until it is closed."""
    client.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await client.closed


async def run_soak(plan: SoakPlan, *, machine: dict[str, Any], run_id: str) -> RunResult:
    cores = plan_cores(2)
    warmup, warmup_rule = warmup_of(plan.seconds)
    result = RunResult(
        scenario="soak",
        target="huddle",
        transport="ws-json+sse",
        backend="redis",
        nodes=2,
        n=plan.ws + plan.sse,
        rep=1,
        params={
            "seconds": plan.seconds,
            "minutes": round(plan.seconds / 60, 2),
            "ws": plan.ws,
            "sse": plan.sse,
            "publish_rate_per_node": plan.rate,
            "sample_every": plan.sample_every,
            "fault_every": plan.fault_every,
            "warmup_s": round(warmup, 1),
            "warmup_rule": warmup_rule,
            "events_per_visit": list(plan.events_per_visit),
            "away_s": list(plan.away),
            "cores": cores.describe(),
            "command": plan.command,
        },
        machine=machine,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        run_id=run_id,
    )
    async with Procs() as procs:
        redis = await procs.redis(cores=cores.redis)
        nodes = [
            await procs.huddle(redis.url, name=f"node{i}", cores=cores.nodes[i]) for i in range(2)
        ]
        admin = procs.token("svc", ORG, WORKSPACE, admin=True)
        # the log, the lock fence and the active index exist before the baseline is taken
        warm = PacedPublisher(nodes[0].url, admin, rate=1, name="warm")
        auth = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(base_url=nodes[0].url, headers=auth, timeout=10) as http:
            await warm.publish_one(http, 0)
            for verb in ("POST", "DELETE"):
                answer = await http.request(verb, f"{LOCKS}/warm")
                if answer.status_code != 200:
                    raise RuntimeError(f"warm-up lock: {answer.status_code} {answer.text}")
        if warm.errors:
            raise RuntimeError(f"warm-up publish failed: {warm.errors}")
        async with aioredis.Redis.from_url(redis.url) as raw:
            before = {node.name: await gauges(node) for node in nodes}
            keys_before = await redis_keys(raw)
            soak = Soak(plan, procs, nodes, warm.last_id)
            publishers = [
                PacedPublisher(node.url, admin, rate=plan.rate, name=node.name) for node in nodes
            ]
            rss: dict[str, list[tuple[float, int]]] = {node.name: [] for node in nodes}
            faults: list[dict[str, Any]] = []
            cpu0 = {node.name: cpu_of(node.pid) for node in nodes}
            t0 = time.monotonic()

            async def sampler() -> None:
                k = 0
                while True:
                    for node in nodes:
                        rss[node.name].append((time.monotonic() - t0, rss_of(node.pid)))
                    k += 1
                    await pause(soak.stop, t0 + k * plan.sample_every - time.monotonic())
                    if soak.stop.is_set():
                        return

            async def faulter() -> None:
                for at in fault_times(plan.seconds, plan.fault_every):
                    await pause(soak.stop, t0 + at - time.monotonic())
                    if soak.stop.is_set():
                        return
                    # a node follows the workspace only while a client of it does: if neither
                    # has a pub/sub connection this instant, try again until one does
                    tried = time.monotonic()
                    while True:
                        killed = await raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
                        if killed or soak.stop.is_set() or time.monotonic() - tried > 10:
                            break
                        await pause(soak.stop, 0.1)
                    faults.append({"at_s": round(time.monotonic() - t0, 1), "killed": killed})
                    print(f"soak: fault at {faults[-1]['at_s']} s: killed {killed} pub/sub "
                          "connection(s)", file=sys.stderr)  # fmt: skip

            async def progress() -> None:
                while not soak.stop.is_set():
                    await pause(soak.stop, 60)
                    mib = ", ".join(f"{k} {v[-1][1] / 2**20:.1f} MiB" for k, v in rss.items())
                    print(f"soak: {time.monotonic() - t0:.0f} s, published "
                          f"{sum(p.published for p in publishers)}, visits "
                          f"{sum(soak.visits.values())}, RSS {mib}", file=sys.stderr)  # fmt: skip

            work = [
                asyncio.create_task(coro)
                for coro in (
                    sampler(),
                    faulter(),
                    progress(),
                    *(p.run() for p in publishers),
                    *(soak.ws_visitor(i) for i in range(plan.ws)),
                    *(soak.sse_visitor(i) for i in range(plan.sse)),
                )
            ]
            await asyncio.wait(work, timeout=plan.seconds, return_when=asyncio.FIRST_EXCEPTION)
            elapsed = time.monotonic() - t0
            soak.stop.set()
            for p in publishers:
                p.stop.set()
            await asyncio.gather(*work, return_exceptions=True)
            for task in work:
                if task.exception() is not None:
                    soak.failed("harness", f"{type(task.exception()).__name__}: "
                                f"{task.exception()}")  # fmt: skip
            for node in nodes:  # the last sample: after the clients left
                rss[node.name].append((time.monotonic() - t0, rss_of(node.pid)))
            cpu = {n.name: round((cpu_of(n.pid) - cpu0[n.name]) / elapsed, 3) for n in nodes}

            # -- back to the level before the run? ---------------------------------------
            settle_start = time.monotonic()
            after: dict[str, dict[str, float]] = {}
            held: list[str] = []
            while True:
                after = {node.name: await gauges(node) for node in nodes}
                held = await held_keys(raw)
                if not held and all(
                    a["ws"] == 0
                    and a["sse"] == 0
                    and a["huddle_tasks"] <= before[k]["huddle_tasks"] + TOLERANCE
                    and a["process_open_fds"] <= before[k]["process_open_fds"] + TOLERANCE
                    for k, a in after.items()
                ):
                    break
                if time.monotonic() - settle_start > plan.settle_within:
                    break
                await pause(asyncio.Event(), 0.2)
            settled_s = time.monotonic() - settle_start
            keys_after = await redis_keys(raw)

    # -- the result --------------------------------------------------------------------------
    checks: dict[str, str] = {}
    counters: dict[str, int] = {"lost": 0, "duplicated": 0, "out_of_order": 0,
                                "epoch_changes": 0, "received": 0}  # fmt: skip
    broken = []
    for name, track in soak.tracks.items():
        counts = tally(track)
        for key in ("lost", "duplicated", "out_of_order", "epoch_changes"):
            counters[key] += counts[key]
        counters["received"] += len(track.seqs)
        bad = {k: v for k, v in counts.items() if v}
        if bad or not track.seqs:
            broken.append(f"{name} {bad or 'received nothing'}")
    checks["gapless"] = "ok" if not broken else "; ".join(broken)[:500]
    checks["requests"] = (
        "ok" if not soak.errors else f"{len(soak.errors)} failed: " + "; ".join(soak.errors[:5])
    )[:500]
    publish_errors = [e for p in publishers for e in p.errors]
    checks["publish"] = (
        "ok"
        if not publish_errors
        else f"{len(publish_errors)} failed: " + ("; ".join(publish_errors[:3]))
    )
    checks["fault"] = (
        "ok"
        if faults and all(f["killed"] >= 1 for f in faults)
        else f"faults {faults}: no pub/sub connection killed"
    )
    leftovers = []
    for name, a in after.items():
        b = before[name]
        if a["ws"] or a["sse"]:
            leftovers.append(f"{name}: {a['ws']:.0f} WS, {a['sse']:.0f} SSE still open")
        for gauge in ("huddle_tasks", "process_open_fds"):
            if a[gauge] > b[gauge] + TOLERANCE:
                leftovers.append(f"{name}: {gauge} {b[gauge]:.0f} -> {a[gauge]:.0f}")
    checks["tasks_and_fds"] = "ok" if not leftovers else "; ".join(leftovers)
    new_keys = {k for k in keys_after - keys_before if b":idem:" not in k}
    redis_left = held + sorted(k.decode() for k in new_keys)
    checks["redis_keys"] = "ok" if not redis_left else f"left: {redis_left[:10]}"
    result.checks = checks
    result.counters = counters
    result.cpu = cpu
    result.params["faults"] = faults
    result.params["tolerance"] = TOLERANCE
    figures: dict[str, float] = {
        "duration_s": round(elapsed, 1),
        "events_published": float(sum(p.published for p in publishers)),
        "visits": float(sum(soak.visits.values())),
        "ws_visits": float(soak.visits["ws"]),
        "sse_visits": float(soak.visits["sse"]),
        "faults": float(len(faults)),
        "settled_s": round(settled_s, 2),
        "redis_keys_before": float(len(keys_before)),
        "redis_keys_after": float(len(keys_after)),
    }
    for name, samples in rss.items():
        fit = [(t, v) for t, v in samples[:-1] if t >= warmup]  # the run itself, warm
        figures[f"rss_slope_kib_per_h_{name}"] = round(slope_per_hour(fit), 1)
        figures[f"rss_start_mib_{name}"] = round(samples[0][1] / 2**20, 2)
        figures[f"rss_warm_mib_{name}"] = round(fit[0][1] / 2**20, 2) if fit else 0.0
        figures[f"rss_end_mib_{name}"] = round(samples[-1][1] / 2**20, 2)
        figures[f"rss_samples_{name}"] = float(len(fit))
        for gauge in ("huddle_tasks", "process_open_fds"):
            figures[f"{gauge}_before_{name}"] = before[name][gauge]
            figures[f"{gauge}_after_{name}"] = after[name][gauge]
    result.figures = figures
    result.params["rss_samples"] = {k: [[round(t, 1), v] for t, v in s] for k, s in rss.items()}
    return result


def summary(result: RunResult) -> str:
    f = result.figures
    lines = [
        f"soak: {f['duration_s'] / 60:.1f} min, {f['events_published']:.0f} events published, "
        f"{f['visits']:.0f} visits, {f['faults']:.0f} pub/sub fault(s); warm-up "
        f"{result.params['warmup_s']} s ({result.params['warmup_rule']})",
    ]
    for node in ("node0", "node1"):
        lines.append(
            f"  {node}: RSS {f[f'rss_start_mib_{node}']} -> {f[f'rss_end_mib_{node}']} MiB, "
            f"slope {f[f'rss_slope_kib_per_h_{node}']:+.1f} KiB/h over "
            f"{f[f'rss_samples_{node}']:.0f} samples"
        )
    lines += [f"  check {k}: {v}" for k, v in result.checks.items()]
    lines.append("PASSED" if result.passed else "FAILED: " + "; ".join(result.failures))
    return "\n".join(lines)
