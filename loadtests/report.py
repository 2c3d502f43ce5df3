"""`docs/benchmarks.md`, generated from the stored JSON of the runs (never from memory).

`build(results, out_md, png_dir)` writes the page and its PNGs and returns the Markdown: method,
machine facts, the targets of issue 6 (pass, miss, or "not measured yet"), per scenario a table
of Huddle beside the same-run baselines (median and range over reps, same-run ratios), plots,
failed runs, pitfalls. A figure with no run behind it is never written.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .results import RunResult, load

SCENARIO_TITLES = {
    "fanout": "1. Fan-out: one publisher, N subscribers of one workspace",
    "workspaces": "2. 1,000 workspaces x 10 clients, publishers on random workspaces",
    "presence": "3. Presence churn, checked against the harness's model",
    "locks": "4. Lock contention over WebSocket (REST apart)",
    "rest_poll": "5. REST pollers on `?after=` and `wait=`",
    "idle": "6. Idle connections stepped to 10,000 per node: memory per connection",
    "two_nodes": "7. Two nodes on one Redis: cross-node rate and latency",
}
TARGET_ORDER = ("huddle", "raw-ws", "starlette", "socketio")

METHOD = """\
Every figure below comes from a JSON file in `loadtests/results/` written by
`python -m loadtests`; this page is rebuilt from them with `python -m loadtests report`
(`make bench` measures the full matrix and rebuilds it). The harness starts everything it
measures as child processes (its own `redis-server` without persistence on a free port,
`huddle serve` with production defaults, the baseline servers, the client workers) and
stops each by its pid.

- **Clients in separate processes**, lean receivers shared by Huddle and the baselines (an
  `asyncio.Protocol` WebSocket client and SSE reader, no task per frame). On >= 4 cores each
  node has a core, Redis one, clients the rest; on fewer, the node(s) take the first core and
  Redis and the clients the others.
- **Fan-out** (scenario 1): after a warm-up, throughput is closed-loop: four publisher slots
  each send their next event only once a probe subscriber received the previous one, so no
  queue or Redis buffer grows. delivered/s = events x N / (last delivery - start). Latency
  (p50/p99/p99.9, from the monotonic send time inside each payload) comes from a separate
  phase paced at 50 % of the raw-ws baseline's rate of the same rep (capped at 90 % of the
  target's own rate). Every target gets the same frame size on the wire (~400 bytes).
- **CPU** is process time / wall time over the throughput phase. A throughput figure counts
  only with the server at >= 0.9 and every client process below 0.85 (and the client core not
  saturated); otherwise the run is marked *client-bound*: the figure is a lower bound.
- **Correctness counters everywhere**: each event carries its publisher id and sequence; every
  receiver counts lost, duplicated and out-of-order events after a final drain, checks that
  Huddle's event ids only grow, and records server-initiated closes. Any nonzero counter or
  failed check fails the run (nonzero exit, listed below).
- **Same-run ratios**: each Huddle run is interleaved with its baselines (3 reps); a ratio is
  taken between runs of the same invocation, case and rep, then the median is shown.
"""

PITFALLS = """\
- **Client saturation.** A Python client process saturates before a good server does; a
  receiver that falls behind makes the server look slow. Check the CPU column: a run marked
  client-bound is a lower bound, not the server's figure. Add client cores before reading it.
- **Noise.** Two runs of the same case on the same machine differ by 10-20 % (CPU frequency,
  scheduler, other tenants). Compare same-run ratios only; never a figure from one page with
  a figure from another run or machine.
- **uvicorn's legacy WebSocket implementation** (`--ws websockets`) sends its keepalive pings
  back-to-back when started with `--ws-ping-interval 0`, which looks like a throughput drop
  of the server under test. Huddle and the Starlette baseline run `websockets-sansio` with
  uvicorn's default ping interval.
- **Small N flatters nobody.** At N = 10 the publisher's own round trip dominates; fan-out
  cost shows from N = 1,000 on.
"""


@dataclass(frozen=True)
class Target:
    text: str
    check: Callable[[list[RunResult]], tuple[str, str] | None]  # (verdict, evidence) or None


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _groups(runs: list[RunResult]) -> dict[str, dict[str, RunResult]]:
    by: dict[str, dict[str, RunResult]] = defaultdict(dict)
    for r in runs:
        group = str(r.params.get("group", f"{r.run_id}/{r.transport}/{r.backend}/{r.n}/{r.rep}"))
        by[group][r.target] = r
    return by


def same_run_ratios(
    runs: list[RunResult],
    num: Callable[[RunResult], bool],
    den_target: str,
    figure: str,
) -> list[float]:
    """Ratios num.figure / den.figure over groups (same invocation, case and rep) holding both."""
    out = []
    for group in _groups(runs).values():
        for r in group.values():
            den = group.get(den_target)
            if num(r) and den is not None and den.figures.get(figure) and r.figures.get(figure):
                out.append(r.figures[figure] / den.figures[figure])
    return out


def _ratio_target(
    transport: str, backend: str, n: int, num: str, den: str, figure: str, op: str, bound: float
) -> Callable[[list[RunResult]], tuple[str, str] | None]:
    def check(runs: list[RunResult]) -> tuple[str, str] | None:
        chosen = [r for r in runs if r.scenario == "fanout" and r.transport == transport
                  and r.n == n and r.nodes == 1 and r.passed]  # fmt: skip
        ratios = same_run_ratios(
            chosen, lambda r: r.target == num and r.backend == backend, den, figure
        )
        if not ratios:
            return None
        ratio = _median(ratios)
        ok = ratio >= bound if op == ">=" else ratio <= bound
        bound_runs = any(r.client_bound for r in chosen if r.target in (num, den))
        note = " (a run was client-bound: lower bound)" if bound_runs else ""
        return ("pass" if ok else "miss"), f"{ratio:.2f} x (median of {len(ratios)}){note}"

    return check


def _sse_vs_ws(runs: list[RunResult]) -> tuple[str, str] | None:
    def med(transport: str) -> float | None:
        values = [
            r.figures["delivered_per_s"]
            for r in runs
            if (r.scenario, r.target, r.transport, r.n, r.backend)
            == ("fanout", "huddle", transport, 1000, "memory")
            and r.passed
            and "delivered_per_s" in r.figures
        ]
        return _median(values) if values else None

    sse, ws = med("sse"), med("ws-json")
    if sse is None or ws is None:
        return None
    ratio = sse / ws
    return ("pass" if ratio >= 0.75 else "miss"), f"{ratio:.2f} x Huddle's WS JSON"


def _passed(runs: list[RunResult], scenario: str) -> list[RunResult]:
    return [r for r in runs if r.scenario == scenario and r.passed]


def _lock_ops(runs: list[RunResult]) -> tuple[str, str] | None:
    chosen = [
        r
        for r in _passed(runs, "locks")
        if r.backend == "redis" and r.nodes == 1 and "ws_lock_ops_per_s" in r.figures
    ]
    if not chosen:
        return None
    rate = _median(r.figures["ws_lock_ops_per_s"] for r in chosen)
    note = " (a run was client-bound: lower bound)" if any(r.client_bound for r in chosen) else ""
    verdict = "pass" if rate >= 10_000 else "miss"
    return verdict, f"{_fmt(rate)} ops/s (median of {len(chosen)}, N = {chosen[0].n:,}){note}"


def _idle_top(runs: list[RunResult]) -> list[RunResult]:
    """Passed idle runs at the largest N Huddle reached."""
    ok = _passed(runs, "idle")
    huddle = [r for r in ok if r.target == "huddle" and "kib_per_conn" in r.figures]
    if not huddle:
        return []
    top = max(r.n for r in huddle)
    return [r for r in ok if r.n == top and "kib_per_conn" in r.figures]


def _idle_vs_socketio(runs: list[RunResult]) -> tuple[str, str] | None:
    chosen = _idle_top(runs)
    ratios = same_run_ratios(chosen, lambda r: r.target == "huddle", "socketio", "kib_per_conn")
    if not ratios:
        return None
    ratio = _median(ratios)
    return ("pass" if ratio <= 0.6 else "miss"), (
        f"{ratio:.2f} x (median of {len(ratios)}, N = {chosen[0].n:,})"
    )


def _idle_10k(runs: list[RunResult]) -> tuple[str, str] | None:
    chosen = [r for r in _idle_top(runs) if r.target == "huddle"]
    if not chosen:
        return None
    # judged on the heavier backend: the target holds for a node on either
    per_backend = {
        backend: _median(r.figures["kib_per_conn"] for r in chosen if r.backend == backend)
        for backend in sorted({r.backend for r in chosen})
    }
    kib = max(per_backend.values())
    n = chosen[0].n
    each = ", ".join(f"{b}:// {_fmt(v)}" for b, v in per_backend.items())
    ratios = same_run_ratios(_idle_top(runs), lambda r: r.target == "huddle", "starlette",
                             "kib_per_conn")  # fmt: skip
    beside = f"; {_median(ratios):.2f} x bare uvicorn" if ratios else ""
    capped = "; capped" if any(r.capped for r in chosen) else ""
    ok = kib <= 30 and n >= 10_000
    return ("pass" if ok else "miss"), f"{each} KiB/conn at N = {n:,}{beside}{capped}"


def _cross_node(runs: list[RunResult]) -> tuple[str, str] | None:
    chosen = [r for r in _passed(runs, "two_nodes")
              if r.nodes == 2 and "p99_minus_single_ms" in r.figures]  # fmt: skip
    if not chosen:
        return None
    top = max(r.n for r in chosen)
    deltas = [r.figures["p99_minus_single_ms"] for r in chosen if r.n == top]
    delta = _median(deltas)
    return ("pass" if delta <= 5.0 else "miss"), (
        f"+{_fmt(delta)} ms (median of {len(deltas)}, N = {top:,})"
        if delta >= 0
        else f"{_fmt(delta)} ms (median of {len(deltas)}, N = {top:,})"
    )


TARGETS = [
    Target(
        "WS JSON fan-out at N = 1,000: delivered/s >= 0.75 x raw websockets",
        _ratio_target("ws-json", "memory", 1000, "huddle", "raw-ws", "delivered_per_s", ">=", 0.75),
    ),
    Target(
        "WS JSON fan-out at N = 1,000: p99 <= 1.5 x raw websockets",
        _ratio_target("ws-json", "memory", 1000, "huddle", "raw-ws", "p99_ms", "<=", 1.5),
    ),
    Target(
        ">= 5 x python-socketio's delivered/s at N = 1,000, both on one node with Redis",
        _ratio_target("ws-json", "redis", 1000, "huddle", "socketio", "delivered_per_s", ">=", 5),
    ),
    Target("Memory per idle connection <= 0.6 x python-socketio's", _idle_vs_socketio),
    Target("Lock ops >= 10,000/s on one node with Redis, over WebSocket", _lock_ops),
    Target("10,000 idle connections per node at <= 30 KiB each", _idle_10k),
    Target("SSE fan-out >= 0.75 x Huddle's WS figure at N = 1,000", _sse_vs_ws),
    Target("Cross-node p99 <= single-node p99 + 5 ms at the same paced rate", _cross_node),
]

#: Per scenario 2-7: the figures its table shows, as (column header, figure name).
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "workspaces": [("events/s", "events_per_s"), ("delivered/s", "delivered_per_s"),
                   ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms")],
    "presence": [("presence ops/s", "presence_ops_per_s"), ("reads/s", "reads_per_s")],
    "locks": [("WS lock ops/s", "ws_lock_ops_per_s"), ("WS acquires/s", "ws_acquires_per_s"),
              ("WS refreshes/s", "ws_refreshes_per_s"), ("REST lock ops/s", "rest_lock_ops_per_s")],
    "rest_poll": [("requests/s", "requests_per_s"), ("events/s", "events_per_s"),
                  ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"),
                  ("events/request", "events_per_request")],
    "idle": [("KiB/conn", "kib_per_conn"), ("connects/s", "connects_per_s"),
             ("server RSS MiB", "server_rss_mib")],
    "two_nodes": [("events/s", "events_per_s"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"),
                  ("p99 - single-node p99 ms", "p99_minus_single_ms"),
                  ("rate vs single node", "rate_vs_single")],
}  # fmt: skip
#: Same-run ratios a scenario's table adds: (column header, figure, denominator target).
RATIOS: dict[str, list[tuple[str, str, str]]] = {
    "idle": [("KiB/conn vs bare uvicorn", "kib_per_conn", "starlette"),
             ("KiB/conn vs python-socketio", "kib_per_conn", "socketio")],
}  # fmt: skip


def _notes(tr: list[RunResult]) -> str:
    notes = []
    if any(r.client_bound for r in tr):
        notes.append("client-bound")
    if any(not r.passed for r in tr):
        notes.append(f"{sum(not r.passed for r in tr)} FAILED")
    if any(r.capped for r in tr):
        notes.append("capped")
    tools = sorted({str(r.params["profiled"]) for r in tr if r.params.get("profiled")})
    if tools:
        notes.append(f"profiled ({', '.join(tools)})")
    return ", ".join(notes)


def _scenario_section(name: str, runs: list[RunResult]) -> list[str]:
    """Scenarios 2-7: one row per (target, transport, backend, nodes, N), median [min-max]
    over reps of the passed runs, plus the scenario's same-run ratios."""
    columns = COLUMNS[name]
    ratios = RATIOS.get(name, [])
    heads = [h for h, _ in columns] + [h for h, _, _ in ratios]
    lines = [
        "| target | transport | backend | nodes | N | " + " | ".join(heads)
        + " | server CPU | reps | note |",
        "|" + "---|" * (len(heads) + 8),
    ]  # fmt: skip
    rows: dict[tuple[int, str, str, int, int], list[RunResult]] = defaultdict(list)
    for r in runs:
        order = TARGET_ORDER.index(r.target) if r.target in TARGET_ORDER else len(TARGET_ORDER)
        rows[(order, r.transport, r.backend, r.nodes, r.n)].append(r)
    for key in sorted(rows, key=lambda k: (k[1], k[2], k[4], k[3], k[0])):
        tr = rows[key]
        ok = [r for r in tr if r.passed]
        cells = [_cell([r.figures[f] for r in ok if f in r.figures]) for _, f in columns]
        groups = {str(r.params.get("group")) for r in tr}
        beside = [r for r in runs if str(r.params.get("group")) in groups]
        target = tr[0].target
        for _, figure, den in ratios:
            if target == den:
                cells.append("1")
                continue
            found = same_run_ratios(beside, lambda r, t=target: r.target == t, den, figure)
            cells.append(_cell(found))
        cpu = [v for r in ok for k, v in r.cpu.items() if k.startswith(("node", "server"))]
        lines.append(
            f"| {target} | {key[1]} | {key[2]} | {key[3]} | {key[4]:,} | "
            + " | ".join(cells)
            + f" | {_cell(cpu)} | {len(tr)} | {_notes(tr)} |"
        )
    lines += ["", "Median [min-max] over reps; ratios are same-run (see Method).", ""]
    return lines


ACCOUNT = """\
### Where the time per frame and per op goes, and what was changed

The profiles above and `python -m loadtests.memory_probe` (memory by layer) are the evidence;
this is the reading of them. Figures are in the tables; none is repeated here.

- **WebSocket fan-out.** Most of the node's samples are in uvicorn's sans-I/O `send`: the
  `websockets` frame builder and the transport write, once per frame per connection, which
  the raw `websockets` broadcast pays as well. Huddle's own layer (the hub: channel loop,
  outbox, inline send) comes next, well behind it, then Starlette's send wrappers. What
  was fixed: each event is encoded once per encoding; a frame is written
  inline while the connection's outbox is empty (`hub/eager.py` runs the ASGI send in the
  fan-out loop), so there is no writer-task wake-up per frame, and a queue only under
  backpressure. What is left is the ASGI layering itself (Starlette's `WebSocket.send` and two
  exception-handling wrappers per frame): bypassing it, or writing one pre-framed buffer per
  event (server frames are unmasked, so every subscriber gets the same bytes), needs the
  transport, which ASGI does not expose.
- **SSE fan-out.** A stream drains its outbox in its own task and writes through
  Starlette's `StreamingResponse`, a wake-up per stream per batch of frames, where the bare
  Starlette baseline writes to each stream's ASGI `send` inline. What was fixed: the stream
  waited for frames with an `asyncio.timeout` (its heartbeat) on every take, a timer created
  and cancelled per frame per stream, which the profile showed as about a quarter of the
  node's time; one heartbeat timer per stream, re-armed only when it rings, replaced it.
  Writing SSE frames inline, as the WebSocket path does, would remove the wake-ups too: it
  needs the stream served as a raw ASGI response with its own disconnect watch.
- **Fan-out on redis:// beside python-socketio.** Each event also costs Huddle a Lua script
  (store, id, publish) and a pub/sub read before the fan-out; python-socketio starts a task
  per recipient for every emit. Every Redis call of a node goes over one pipelined connection
  (`backends/redis_link.py`): calls of one loop turn leave in one write, later ones follow
  before earlier replies are back, and the publisher's WebSocket requests are pipelined too
  (`HUDDLE_WS_PIPELINE_DEPTH`), so its next publish does not wait for the previous round trip.
- **Lock ops.** Per op the node parses a frame, runs one Lua script (with the workspace's
  activity touch in the same write), builds the reply and writes it. The samples spread over
  the event loop, the coroutine chain from the WebSocket reader down to the link (each layer
  resumed once per reply), the receive path and the reply: no single hot spot. What was cut:
  redis-py's pool and per-call packing (hiredis packs directly), the timer per call and per
  reply (one watchdog per connection keeps every deadline), a cheaper timestamp format
  (`clock.iso_ms`). The earlier `SERVICE_UNAVAILABLE` answers under load came from redis-py's
  pool ("Too many connections") and calls timing out in a queue; neither can happen on one
  pipelined connection, and past `HUDDLE_REDIS_MAX_WAITING` calls a node refuses at once
  instead. 10,000 ops/s on one core means about 100 µs per op in all; the WS figure above
  (at the node's CPU) gives what it spends.
- **REST polling on redis://.** The earlier runs lost deliveries at drain because the paced
  publisher's WebSocket requests were answered one at a time, each waiting a loop turn of a
  node busy with polls: publishes fell minutes behind. Pipelined requests fixed it.
- **Idle memory.** By `memory_probe`, most of an idle connection is uvicorn's protocol object
  and the `websockets` state machine below Huddle (the bare Starlette baseline pays it too).
  Huddle's part was cut to about a sixth of it: `/v1/ws` is handed its connection before
  FastAPI's middleware stack (ten frames held for the connection's life, about 6 KiB), the
  expiry watch is a timer, the slow-consumer guard and the writer's watch are callbacks (no
  TaskGroup), the writer task starts only when a frame has to queue or the connection
  closes, the outbox holds a list and a future, a subscription keeps its
  context manager without an exit stack, the handshake's token and parsed headers die with the
  handshake, and principals share their role sets.
- **Client-bound figures.** On two cores the clients share one core with Redis, so most
  fan-out figures are lower bounds for every target alike; ratios between targets of one rep
  are the comparable figures.

"""

PROFILE_INTRO = """\
Profiles of the server process(es) under test over a run's measured phase, taken with
`python -m loadtests run … --profile` (loadtests/profiling.py): py-spy samples at 200 Hz
without pausing the server, or cProfile where py-spy may not attach. Each layer's share is
by the file of the innermost Python frame; time in C (the uvloop transport's socket writes,
orjson, hiredis) counts for the Python function that called it, and "event loop" holds
uvloop's own C work (polling, socket reads, callback dispatch), seen as the runner frame.
py-spy leaves out ticks where the server was idle, but counts a runnable thread waiting for
a CPU as active: where its "active" share is well above the server's CPU (a shared core),
much of the difference shows as "event loop" (the wait after a wake-up). The latest
profiled run of each case:
"""

#: The figure shown beside a profile of each (scenario, phase).
PHASE_FIGURES: dict[tuple[str, str], tuple[str, str]] = {
    ("fanout", "throughput"): ("delivered/s", "delivered_per_s"),
    ("workspaces", "throughput"): ("delivered/s", "delivered_per_s"),
    ("two_nodes", "throughput"): ("events/s", "events_per_s"),
    ("locks", "ws"): ("WS lock ops/s", "ws_lock_ops_per_s"),
    ("locks", "rest"): ("REST lock ops/s", "rest_lock_ops_per_s"),
    ("presence", "churn"): ("presence ops/s", "presence_ops_per_s"),
    ("rest_poll", "polling"): ("requests/s", "requests_per_s"),
}
PHASE_ORDER = ("throughput", "churn", "polling", "ws", "rest")
PROFILE_TOP_SELF = 10
PROFILE_TOP_INCLUSIVE = 15


def _profile_section(results: list[RunResult]) -> list[str]:
    """Per case, the latest run with a profile: per phase the layer shares, the top
    functions by self time (the inclusive ones folded) and the command behind it."""
    latest: dict[tuple[str, str, str, str, int, int], RunResult] = {}
    for r in results:  # oldest first: the last one stays
        if r.profile:
            latest[(r.scenario, r.target, r.transport, r.backend, r.nodes, r.n)] = r
    if not latest:
        return ["No profiled run stored yet (`python -m loadtests run … --profile`).", ""]
    order = list(SCENARIO_TITLES)

    def rank(key: tuple[str, str, str, str, int, int]) -> tuple[int, int, str, str, int, int]:
        scenario, target, transport, backend, nodes, n = key
        known = TARGET_ORDER.index(target) if target in TARGET_ORDER else len(TARGET_ORDER)
        where = order.index(scenario) if scenario in order else len(order)
        return where, known, transport, backend, nodes, n

    lines = [PROFILE_INTRO]
    for key in sorted(latest, key=rank):
        r = latest[key]
        # the JSON keeps keys sorted: the phases in the order they ran
        phases = sorted(r.profile, key=lambda p: (PHASE_ORDER.index(p) if p in PHASE_ORDER
                                                   else len(PHASE_ORDER), p))  # fmt: skip
        for phase in phases:
            lines += _profile_block(r, phase, r.profile[phase])
    return [*lines, ACCOUNT]


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _profile_block(r: RunResult, phase: str, entry: dict[str, Any]) -> list[str]:
    nodes = f", {r.nodes} nodes" if r.nodes > 1 else ""
    title = f"{r.scenario}: {r.target}, {r.transport}, {r.backend}, N = {r.n:,}{nodes}"
    lines = [f"### {title} ({phase} phase, {r.started_at})", ""]
    if entry.get("run_command"):
        lines += [f"`{entry['run_command']}`", ""]
    seconds = float(entry.get("seconds", 0.0))
    processes: dict[str, dict[str, Any]] = entry.get("processes") or {}
    names = list(processes) or [k for k in r.cpu if k.startswith(("node", "server"))][:1]
    if entry.get("tool") == "py-spy":
        rate = int(entry.get("rate", 200))
        counts = {k: int(v.get("samples", 0)) for k, v in processes.items()} or {
            name: int(entry.get("samples", 0)) for name in names
        }
        active = ", ".join(
            f"{k} in {100.0 * v / (rate * seconds):.0f} %" for k, v in counts.items() if seconds
        )
        said = (
            f"py-spy, {int(entry.get('samples', 0)):,} samples at {rate} Hz over {seconds:.2f} s"
            + (f" (active, i.e. running or runnable: {active} of the ticks)" if active else "")
        )
        own = entry.get("profiler_cpu") or {}
        if own:
            said += "; py-spy's own CPU " + ", ".join(f"{v:.2f}" for v in own.values())
    else:
        said = (
            f"cProfile, {float(entry.get('profiled_seconds', 0.0)):.2f} s profiled in "
            f"{int(entry.get('calls', 0)):,} calls over {seconds:.2f} s (cProfile slows every "
            "call: this run's figures are not comparable)"
        )
    facts = [said]
    label, figure = PHASE_FIGURES.get((r.scenario, phase), ("", ""))
    if figure in r.figures:
        facts.append(f"{label} {_fmt(r.figures[figure])}")
    cpu = entry.get("server_cpu") or {}
    if cpu:
        facts.append(", ".join(f"{k} CPU {v:.2f}" for k, v in cpu.items()))
    lines += ["; ".join(facts) + ".", ""]
    if entry.get("errors"):
        errors = "; ".join(f"{k}: {v}" for k, v in entry["errors"].items())
        lines += [f"Profiler errors: {_md(errors)}", ""]
    groups = dict(sorted((entry.get("groups") or {}).items(), key=lambda kv: -kv[1]))
    if not groups:
        return [*lines, "No samples.", ""]
    heads = ["all", *processes] if processes else names or ["share"]
    columns = [groups, *processes.values()] if processes else [groups]
    lines += ["| layer | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for layer in groups:
        cells = [
            f"{c['groups'][layer]:.1f} %" if layer in c.get("groups", {}) else "-"
            for c in columns[1:]
        ]
        lines.append(f"| {layer} | {groups[layer]:.1f} % | " + " | ".join(cells) + " |"
                     if cells else f"| {layer} | {groups[layer]:.1f} % |")  # fmt: skip
    lines += ["", "| self | function |", "|---|---|"]
    lines += [f"| {pct:.1f} % | `{_md(frame)}` |" for pct, frame in
              entry.get("self", [])[:PROFILE_TOP_SELF]]  # fmt: skip
    inclusive = entry.get("inclusive", [])[:PROFILE_TOP_INCLUSIVE]
    if inclusive:
        lines += ["", "<details><summary>Top functions by inclusive share</summary>", ""]
        lines += ["| inclusive | function |", "|---|---|"]
        lines += [f"| {pct:.1f} % | `{_md(frame)}` |" for pct, frame in inclusive]
        lines += ["", "</details>"]
    files = entry.get("collapsed_files")
    if files:
        lines += ["", "Collapsed stacks (flamegraph.pl, speedscope): " + ", ".join(files)]
    return [*lines, ""]


def _machine_section(runs: list[RunResult]) -> list[str]:
    if not runs:
        return ["No run stored yet."]
    m = runs[-1].machine
    packages = ", ".join(f"{k} {v}" for k, v in sorted(m.get("packages", {}).items()))
    dirty = " (uncommitted changes)" if m.get("tree_dirty") else ""
    return [
        "| fact | value |",
        "|---|---|",
        f"| CPU | {m.get('cpu_model', '?')} ({m.get('cpu_count', '?')} cores, "
        f"{m.get('cpus_usable', '?')} usable) |",
        f"| RAM | {m.get('ram_gib', '?')} GiB |",
        f"| kernel | {m.get('kernel', '?')} |",
        f"| Python | {m.get('python', '?')} |",
        f"| commit | {m.get('commit', '?')}{dirty} |",
        f"| redis-server | {m.get('redis_server', '?')} |",
        f"| fd limits | soft {m.get('fd_soft', '?')}, hard {m.get('fd_hard', '?')} |",
        f"| packages | {packages} |",
        f"| cores | {runs[-1].params.get('cores', '?')} |",
    ]


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return _fmt(values[0])
    return f"{_fmt(_median(values))} [{_fmt(min(values))}-{_fmt(max(values))}]"


def _fanout_section(runs: list[RunResult], png_dir: Path, md_dir: Path) -> list[str]:
    lines: list[str] = []
    cases: dict[tuple[str, str, int, int], list[RunResult]] = defaultdict(list)
    for r in runs:
        # a case is what one `run` measures: Huddle on a backend, with the baselines beside it
        backend = r.backend if r.target == "huddle" else "*"
        cases[(r.transport, backend, r.nodes, r.n)].append(r)
    lines += [
        "| transport | Huddle backend | N | target | delivered/s | ratio to raw-ws | p50 ms | "
        "p99 ms | p99.9 ms | server CPU | reps | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    huddle_cases = sorted({k for k in cases if k[1] != "*"})
    for transport, backend, nodes, n in huddle_cases:
        groups = {str(r.params.get("group")) for r in cases[(transport, backend, nodes, n)]}
        beside = [r for r in runs if str(r.params.get("group")) in groups]
        by_target: dict[str, list[RunResult]] = defaultdict(list)
        for r in beside:
            by_target[r.target].append(r)
        for target in TARGET_ORDER:
            tr = by_target.get(target, [])
            if not tr:
                continue
            ok = [r for r in tr if r.passed]
            ratios = same_run_ratios(beside, lambda r, t=target: r.target == t, "raw-ws",
                                     "delivered_per_s")  # fmt: skip
            cpu = [v for r in ok for k, v in r.cpu.items() if k.startswith(("node", "server"))]
            label = f"{target} ({nodes} nodes)" if nodes > 1 else target

            def fig(name: str, ok: list[RunResult] = ok) -> str:
                return _cell([r.figures[name] for r in ok if name in r.figures])

            lines.append(
                f"| {transport} | {backend} | {n:,} | {label} | {fig('delivered_per_s')} | "
                f"{_cell(ratios) if target != 'raw-ws' else '1'} | "
                f"{fig('p50_ms')} | {fig('p99_ms')} | {fig('p999_ms')} | "
                f"{_cell(cpu)} | {len(tr)} | {_notes(tr)} |"
            )
    lines.append("")
    lines.append("Median [min-max] over reps; ratios are same-run (see Method).")
    lines.append("")
    for png in _fanout_plots(runs, png_dir):
        rel = os.path.relpath(png, md_dir)
        lines.append(f"![{png.stem}]({rel})")
        lines.append("")
    return lines


def _fanout_plots(runs: list[RunResult], png_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png_dir.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    ok = [r for r in runs if r.passed and "delivered_per_s" in r.figures and r.nodes == 1]
    for transport in sorted({r.transport for r in ok}):
        series: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in ok:
            if r.transport == transport:
                name = f"huddle {r.backend}" if r.target == "huddle" else r.target
                series[name][r.n].append(r.figures["delivered_per_s"])
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, points in sorted(series.items()):
            xs = sorted(points)
            ax.plot(xs, [_median(points[x]) for x in xs], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("subscribers (N)")
        ax.set_ylabel("delivered events / s")
        ax.set_title(f"Fan-out over {transport}: delivered/s vs N")
        ax.legend()
        ax.grid(True, alpha=0.3)
        path = png_dir / f"fanout-{transport}-delivered.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path)
    lat = [r for r in ok if "p99_ms" in r.figures]
    if lat:
        biggest = max(r.n for r in lat)
        names: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in lat:
            if r.n == biggest:
                name = f"{r.target} {r.transport}" + (
                    f" {r.backend}" if r.target == "huddle" else ""
                )
                for q in ("p50_ms", "p99_ms", "p999_ms"):
                    if q in r.figures:
                        names[name][q].append(r.figures[q])
        fig, ax = plt.subplots(figsize=(8, 4))
        labels = sorted(names)
        width = 0.27
        for i, q in enumerate(("p50_ms", "p99_ms", "p999_ms")):
            xs = [j + (i - 1) * width for j in range(len(labels))]
            ys = [_median(names[name][q]) if names[name][q] else 0.0 for name in labels]
            ax.bar(xs, ys, width, label=q.replace("_ms", "").replace("p999", "p99.9"))
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("ms")
        ax.set_title(f"Fan-out latency at N = {biggest:,} (paced)")
        ax.legend()
        fig.tight_layout()
        path = png_dir / "fanout-latency.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path)
    return made


#: Long runs, each its own section (not part of the matrix, its machine table or run count).
LONG_RUNS = ("soak", "storm")

SOAK_INTRO = """\
`python -m loadtests soak` (loadtests/soak.py): Redis and two nodes, a paced REST publisher on
each node, WebSocket and SSE visitors that connect to a random node, resume from their own
cursor, join presence, take and release a lock, read a random number of events, leave and
come back; every 5 minutes (at least once) Redis kills the nodes' pub/sub connections
(`CLIENT KILL TYPE pubsub`). Each node's RSS is sampled every 10 s; the slope is a
least-squares fit over the samples after the warm-up (the first 10 % of the run or 2 minutes,
whichever is smaller). Checks: every client's offsets over all its visits are gapless and
duplicate-free, no request failed, and once the clients left each node's `huddle_tasks` and
`process_open_fds` are back within 2 of their level before the run, with no presence or lease
key left in Redis and no new key under the prefix but idempotency records. The second-half
column fits the samples of the run's second half only: growth that goes on once the node is
warm, not the allocator and caches filling up.
"""

STORM_INTRO = """\
`python -m loadtests storm` (loadtests/storm.py): Redis, node A and node B; a paced REST
publisher on B the whole time; N WebSocket and M SSE clients on A (the lean clients, all in
one process), each recording the `seq` of every logged event. Node A gets SIGTERM (it drains:
WS close 4002, SSE `sync.reconnect` `shutdown`) and starts again on the same port; every
client reconnects with full-jitter exponential backoff (first delay up to 0.5 s, doubling
per failed attempt, capped at 5 s) and resumes from its cursor (`subscribe` with `since`,
`Last-Event-ID`). Times are from the SIGTERM: node A exited, node A ready again, every client
resumed (subscribe answered / stream open on the new A), every client caught up (had an event
at least as new as the newest published at that moment). Checks: every client was told to
reconnect, resumed, and got a gapless, duplicate-free run of offsets up to the last published
event. SSE streams are opened with `presence=false` (resuming is measured, not presence).
"""


def _result_cell(r: RunResult) -> str:
    return "passed" if r.passed else "**FAILED**: " + _md("; ".join(r.failures))[:300]


def _commit(r: RunResult) -> str:
    dirty = " (uncommitted changes)" if r.machine.get("tree_dirty") else ""
    return f"{r.machine.get('commit', '?')}{dirty}"


def _second_half_slope(r: RunResult, node: str) -> str:
    """The least-squares RSS slope over the second half of the run (the stored samples, the
    last one taken after the clients left excluded): does the growth go on once warm?"""
    samples = (r.params.get("rss_samples") or {}).get(node) or []
    half = float(r.figures.get("duration_s", 0)) / 2
    points = [(float(t), float(v)) for t, v in samples[:-1] if float(t) >= half]
    n = len(points)
    if n < 2:
        return "-"
    mt, mv = sum(t for t, _ in points) / n, sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if not var:
        return "-"
    slope = sum((t - mt) * (v - mv) for t, v in points) / var * 3600 / 1024
    return f"{slope:+,.0f}"


def _soak_section(runs: list[RunResult]) -> list[str]:
    lines = [SOAK_INTRO]
    if not runs:
        return [*lines, "Not measured yet (`python -m loadtests soak`).", ""]
    lines += [
        "| started | duration | WS + SSE visitors | events published | visits | pub/sub faults "
        "| node | RSS start / warm / end MiB | RSS slope KiB/hour | second half KiB/hour "
        "| node CPU | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        f, p = r.figures, r.params
        nodes = sorted({k.rsplit("_", 1)[1] for k in f if k.startswith("rss_slope_kib_per_h_")})
        for node in nodes:
            lines.append(
                f"| {r.started_at} | {f.get('duration_s', 0) / 60:.1f} min | "
                f"{p.get('ws')} + {p.get('sse')} | {f.get('events_published', 0):,.0f} | "
                f"{f.get('visits', 0):,.0f} | {f.get('faults', 0):.0f} | {node} | "
                f"{f.get(f'rss_start_mib_{node}', 0):.1f} / {f.get(f'rss_warm_mib_{node}', 0):.1f}"
                f" / {f.get(f'rss_end_mib_{node}', 0):.1f} | "
                f"{f.get(f'rss_slope_kib_per_h_{node}', 0):+,.0f} | "
                f"{_second_half_slope(r, node)} | {r.cpu.get(node, 0):.2f} | "
                f"{_result_cell(r)} |"
            )
    lines.append("")
    for r in runs:
        p = r.params
        lines.append(
            f"- {r.started_at}: `{p.get('command') or 'python -m loadtests soak'}` at commit "
            f"{_commit(r)}; RSS fit over {r.figures.get('rss_samples_node0', 0):.0f} samples "
            f"per node after a warm-up of {p.get('warmup_s')} s ({p.get('warmup_rule')}); "
            f"publishers {p.get('publish_rate_per_node')} events/s per node; faults at "
            + ", ".join(f"{x['at_s']} s" for x in p.get("faults", []))
            + f"; back to baseline {r.figures.get('settled_s', 0):.1f} s after the clients left."
        )
    return [*lines, ""]


def _storm_section(runs: list[RunResult]) -> list[str]:
    lines = [STORM_INTRO]
    if not runs:
        return [*lines, "Not measured yet (`python -m loadtests storm`).", ""]
    lines += [
        "| started | WS + SSE clients | publish rate | node A exited s | node A ready s "
        "| resumed p50 / p90 s | all resumed s | all caught up s | attempts (failed) "
        "| client CPU | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def sec(r: RunResult, name: str) -> str:
        return f"{r.figures[name]:.2f}" if name in r.figures else "never"

    for r in runs:
        f, p = r.figures, r.params
        lines.append(
            f"| {r.started_at} | {p.get('ws')} + {p.get('sse')} | {p.get('publish_rate')}/s | "
            f"{sec(r, 'node_exit_s')} | {sec(r, 'node_ready_s')} | "
            f"{sec(r, 'resumed_p50_s')} / {sec(r, 'resumed_p90_s')} | {sec(r, 'resumed_s')} | "
            f"{sec(r, 'caught_up_s')} | {f.get('attempts', 0):,.0f} "
            f"({f.get('failed_attempts', 0):,.0f}) | {r.cpu.get('clients', 0):.2f} | "
            f"{_result_cell(r)} |"
        )
    lines.append("")
    commands = sorted({(str(r.params.get("command")), _commit(r)) for r in runs})
    lines += [f"- `{c}` at commit {commit}" for c, commit in commands]
    sizes: dict[tuple[int, int], list[RunResult]] = defaultdict(list)
    for r in runs:
        sizes[(int(r.params.get("ws", 0)), int(r.params.get("sse", 0)))].append(r)
    lines.append("")
    lines += [
        f"- {ws} + {sse} clients: passed {sum(r.passed for r in tr)} of {len(tr)} runs"
        for (ws, sse), tr in sorted(sizes.items())
    ]
    passed = [r for r in runs if r.passed]
    if passed:
        top = max(passed, key=lambda r: r.n)
        lines += [
            "",
            f"Largest storm that passed here: {top.params.get('ws')} WebSocket + "
            f"{top.params.get('sse')} SSE clients.",
        ]
    return [*lines, "", STORM_NOTES] if STORM_NOTES else [*lines, ""]


#: What the stored storm runs showed on the reference machine (hand-written, kept with the code
#: that renders it so `report` never drops it).
STORM_NOTES = """\
What decides these times on the 2-core reference machine (the host was shared with other work
during the runs, load average about 3): node A is back within a few seconds of the SIGTERM, so
most of "all resumed" is working through the reconnects. Node A is pinned to core 0 and got
about half to two thirds of it (`params.cpu_per_s`), the 1,000 clients share core 1 with Redis
in one process, and while node A replays each returning client's backlog and fans out live
events, new connections wait in its accept queue (`ss` showed about 400 of 2,048 queued in one
run): some handshakes then outlast the clients' 15 s attempt timeout and are retried, each
retry a new replay. The reconnect-time spread (p50 against the last client) is that queue, plus
the 5 s backoff cap. The same command passed at 500 + 500 in every stored run, but not always
during development: run while the 30-minute soak and other tests shared both cores, 4 of 6 runs
at 500 + 500 failed. Their clients needed more than a minute to come back (in three, some not
within the 120 s limit), and those that came back more than `HUDDLE_OUTBOX_LIMIT` (1,000)
events behind, 50 s of the 20 events/s publisher, got `sync.reset` (`cursor_expired`) instead
of a replay, as the protocol says (docs/protocol.md, "Resume rules"): a gap for the harness, a
REST reload for a real client. Node B's publisher also saw one `503` (Redis did not answer
within 2 s) in two of those runs. 250 + 250 passed both times it ran. Read these as the floor
of a shared 2-core box, not the node's capacity: the clients are in one process (client-bound),
and node B and Redis share cores.
"""


def _as_passed(r: RunResult) -> RunResult:
    """`r` with its checks and loss counters cleared: would a target have had a figure?"""
    return dataclasses.replace(r, checks={}, counters={})


def build(stored: list[RunResult], out_md: Path, png_dir: Path) -> str:
    """Write the page (and its PNGs) for `stored`; returns the Markdown. Profiled runs feed
    only "Where the time goes" (and "Failed runs"): a sampler shares the machine, so their
    figures stay out of the tables and the targets."""
    results = [r for r in stored if not r.params.get("profiled") and r.scenario not in LONG_RUNS]
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m loadtests report` from loadtests/results/*.json. "
        "Do not edit by hand. -->",
        "",
        f"{len(results)} stored runs"
        + (f", from {results[0].started_at} to {results[-1].started_at}." if results else "."),
        "",
        "## Method",
        "",
        METHOD,
        "## Machine",
        "",
        *_machine_section(results),
        "",
        "## Targets (issue 6; reported, not asserted)",
        "",
        "| target | result | evidence |",
        "|---|---|---|",
    ]
    for target in TARGETS:
        found = target.check(results)
        if found is None and target.check([_as_passed(r) for r in results]) is not None:
            lines.append(f"| {target.text} | **no verdict** | every run of it failed a check |")
        elif found is None:
            lines.append(f"| {target.text} | not measured yet | - |")
        else:
            lines.append(f"| {target.text} | **{found[0]}** | {found[1]} |")
    lines.append("")
    by_scenario: dict[str, list[RunResult]] = defaultdict(list)
    for r in results:
        by_scenario[r.scenario].append(r)
    for name, title in SCENARIO_TITLES.items():
        lines += [f"## {title}", ""]
        runs = by_scenario.get(name, [])
        if not runs:
            lines += ["Not measured yet.", ""]
            continue
        if name == "fanout":
            lines += _fanout_section(runs, png_dir, out_md.parent)
        else:
            lines += _scenario_section(name, runs)
    lines += ["## Soak", "", *_soak_section([r for r in stored if r.scenario == "soak"])]
    lines += ["## Reconnect storm", ""]
    lines += _storm_section([r for r in stored if r.scenario == "storm"])
    lines += ["## Where the time goes", "", *_profile_section(stored)]
    failed = [r for r in stored if not r.passed]
    lines += ["## Failed runs", ""]
    if failed:
        lines += [f"- {r.label}: {'; '.join(r.failures)}" for r in failed]
    else:
        lines.append("None: every stored run passed its correctness checks.")
    lines += ["", "## Pitfalls", "", PITFALLS]
    text = "\n".join(lines).rstrip() + "\n"
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(text)
    return text


def build_from(results_dir: Path, out_md: Path) -> Path:
    """`python -m loadtests report`: the page from every JSON in `results_dir`."""
    build(load(results_dir), out_md, out_md.parent / "benchmarks")
    return out_md
