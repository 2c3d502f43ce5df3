"""`python -m loadtests run | quick | all | soak | storm | report` (from the repository root,
in the venv).

    python -m loadtests run fanout --transport ws-msgpack --n 5000 --backend redis \\
        --nodes 2 --reps 3
    python -m loadtests quick            # every scenario and baseline, tiny; exit 1 on any failure
    python -m loadtests all              # make bench: the full matrix, then the report
    python -m loadtests report           # docs/benchmarks.md from the stored JSON
    python -m loadtests soak --minutes 30 --ws 6 --sse 6   # RSS slope under churn and faults
    python -m loadtests storm --ws 500 --sse 500           # SIGTERM + restart: every client resumes
    python -m loadtests run locks --backend redis --n 50 --reps 1 --profile

`run --profile` also profiles the server process(es) under test (Huddle nodes or the baseline
server, never Redis or the clients) over the measured phase only: `py-spy record --format raw
--rate 200 --nonblocking`, or, where py-spy may not attach (ptrace refused) or with
`--profiler cprofile`, cProfile switched on and off around the phase. Each result then holds
`profile[<phase>]`: the share of samples per layer (Huddle's hub, api, services, backends,
protocol; uvicorn, Starlette, websockets, redis, the event loop, encoding, ...) and the top
functions; `report` shows them under "Where the time goes" (loadtests/profiling.py).

Exit status: 0 when every run passed its correctness checks, 1 when one failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .machine import REPO, machine_facts, raise_fd_limit
from .results import DEFAULT_DIR, RunResult, crashed, save

#: `make bench`: every scenario of issue 6 and every baseline, about 45 minutes on the reference
#: machine (2 cores). Three interleaved reps where a throughput target is judged (fan-out, locks,
#: two nodes at N = 1,000); one rep for the N sweep, idle memory and the other scenarios. Baselines
#: that ignore the backend run beside Huddle on memory://; on redis:// Huddle runs beside
#: raw websockets (which paces the latency run) and python-socketio with its Redis manager.
#: Last, one profiled run (py-spy, else cProfile) of each case with a target; the report keeps
#: profiled runs out of its figures.
FULL_PLAN: list[tuple[str, dict[str, Any]]] = [
    # (1) fan-out: the targets at N = 1,000, three reps
    ("fanout", {"transport": "ws-json", "backend": "memory", "n": 1000, "reps": 3,
                "target": "huddle,raw-ws,starlette"}),
    ("fanout", {"transport": "ws-json", "backend": "redis", "n": 1000, "reps": 3,
                "target": "huddle,raw-ws,socketio"}),
    ("fanout", {"transport": "ws-msgpack", "backend": "memory", "n": 1000, "reps": 3,
                "target": "huddle,raw-ws"}),
    ("fanout", {"transport": "sse", "backend": "memory", "n": 1000, "reps": 3,
                "target": "huddle,starlette"}),
    ("fanout", {"transport": "ws-msgpack,sse", "backend": "redis", "n": 1000, "reps": 1,
                "target": "huddle"}),
    # (1) fan-out: N = 100 and 5,000, one rep
    ("fanout", {"transport": "ws-json", "backend": "memory", "n": "100,5000", "reps": 1,
                "target": "huddle,raw-ws,starlette"}),
    ("fanout", {"transport": "ws-json", "backend": "redis", "n": "100,5000", "reps": 1,
                "target": "huddle,raw-ws,socketio"}),
    # (2) 1,000 workspaces x 10 clients
    ("workspaces", {"backend": "memory,redis", "reps": 1}),
    # (3) presence churn
    ("presence", {"backend": "memory,redis", "reps": 1}),
    # (4) lock contention: 200 clients on 8 locks
    ("locks", {"backend": "redis", "n": 200, "reps": 3}),
    ("locks", {"backend": "memory", "n": 200, "reps": 1}),
    # (5) REST pollers (1,000 back-to-back pollers saturate the node: the paced publisher's
    #     events then wait minutes; `run rest_poll --n 1000` measures it on its own)
    ("rest_poll", {"transport": "rest-after,rest-wait", "backend": "memory,redis",
                   "n": "10,100", "reps": 1}),
    # (6) idle connections stepped to 10,000
    ("idle", {"target": "huddle", "backend": "memory,redis", "n": "1000,2500,5000,10000",
              "reps": 1}),
    ("idle", {"target": "starlette,socketio", "n": "1000,2500,5000,10000", "reps": 1}),
    # (7) two nodes on one Redis
    ("two_nodes", {"transport": "ws-json", "n": 1000, "reps": 3}),
    ("two_nodes", {"transport": "ws-json", "n": 100, "reps": 1}),
    # where the time goes: one profiled run per case with a target
    ("fanout", {"transport": "ws-json", "backend": "memory", "n": 1000, "reps": 1,
                "target": "huddle", "profile": "auto"}),
    ("fanout", {"transport": "ws-json", "backend": "redis", "n": 1000, "reps": 1,
                "target": "huddle", "profile": "auto"}),
    ("fanout", {"transport": "sse", "backend": "memory", "n": 1000, "reps": 1,
                "target": "huddle", "profile": "auto"}),
    ("locks", {"backend": "redis", "n": 200, "reps": 1, "profile": "auto"}),
    ("two_nodes", {"transport": "ws-json", "n": 1000, "reps": 1, "profile": "auto"}),
]  # fmt: skip


#: `make bench-quick`: every scenario and baseline tiny, on memory:// (the baselines ignore the
#: backend), with one redis:// case for fan-out and one for locks; two nodes need Redis.
QUICK_PLAN: list[tuple[str, dict[str, Any]]] = [
    ("fanout", {"transport": "ws-json,ws-msgpack,sse", "backend": "memory"}),
    ("fanout", {"target": "huddle", "transport": "ws-json", "backend": "redis"}),
    ("workspaces", {"backend": "memory"}),
    ("presence", {"backend": "memory"}),
    ("locks", {"backend": "memory,redis"}),
    ("rest_poll", {"backend": "memory"}),
    ("idle", {"backend": "memory"}),
    ("two_nodes", {}),
]


def _parser() -> argparse.ArgumentParser:
    from .scenarios import SCENARIOS

    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m loadtests", description=__doc__, formatter_class=raw
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--results", type=Path, help=f"where JSON goes (default {DEFAULT_DIR})")
        p.add_argument("--no-live", action="store_true", help="plain lines, no rich display")

    run = sub.add_parser("run", help="measure one scenario")
    run.add_argument("scenario", choices=sorted(SCENARIOS))
    run.add_argument("--target", help="huddle, raw-ws, starlette, socketio (comma list; all)")
    run.add_argument("--transport", help="ws-json, ws-msgpack, sse (comma list)")
    run.add_argument("--n", help="subscribers (comma list)")
    run.add_argument("--backend", help="memory, redis (comma list)")
    run.add_argument("--nodes", type=int, default=1, choices=(1, 2))
    run.add_argument("--reps", type=int)
    run.add_argument("--events", type=int, help="a fixed count instead of --seconds")
    run.add_argument("--seconds", type=float, help="length of the throughput phase")
    run.add_argument("--quick", action="store_true", help="the tiny version")
    run.add_argument(
        "--profile", action="store_true", help="profile the server(s) over the measured phase"
    )
    run.add_argument(
        "--profiler",
        choices=("auto", "py-spy", "cprofile"),
        default="auto",
        help="with --profile: py-spy, or cProfile where py-spy may not attach (auto)",
    )
    common(run)

    quick = sub.add_parser("quick", help="every scenario and baseline, tiny (make bench-quick)")
    common(quick)
    full = sub.add_parser("all", help="the full matrix, then the report (make bench)")
    full.add_argument(
        "--resume-at", type=int, default=1, metavar="K",
        help="start at the K-th entry of FULL_PLAN (1-based): the tail of an interrupted run",
    )  # fmt: skip
    common(full)

    soak = sub.add_parser("soak", help="two nodes under churn and pub/sub faults: RSS slope")
    soak.add_argument("--minutes", type=float, default=30.0)
    soak.add_argument("--seconds", type=float, help="instead of --minutes (short runs, tests)")
    soak.add_argument("--ws", type=int, default=6, help="WebSocket visitors")
    soak.add_argument("--sse", type=int, default=6, help="SSE visitors")
    soak.add_argument("--backend", choices=("redis",), default="redis", help="two nodes: redis")
    soak.add_argument("--rate", type=float, default=20.0, help="events/s per node's publisher")
    soak.add_argument("--sample-every", type=float, default=10.0, help="RSS sample, seconds")
    soak.add_argument("--fault-every", type=float, default=300.0, help="pub/sub kill, seconds")
    soak.add_argument("--results", type=Path, help=f"where JSON goes (default {DEFAULT_DIR})")

    storm = sub.add_parser("storm", help="SIGTERM and restart a node under N clients: resume")
    storm.add_argument("--ws", type=int, default=500, help="WebSocket clients on the node")
    storm.add_argument("--sse", type=int, default=500, help="SSE clients on the node")
    storm.add_argument("--rate", type=float, default=20.0, help="events/s of the publisher")
    storm.add_argument("--results", type=Path, help=f"where JSON goes (default {DEFAULT_DIR})")

    report = sub.add_parser("report", help="rebuild docs/benchmarks.md from the stored JSON")
    report.add_argument("--results", type=Path, default=DEFAULT_DIR)
    report.add_argument("--out", type=Path, default=Path("docs") / "benchmarks.md")
    return parser


async def _measure(
    plan: list[tuple[str, dict[str, Any]]], *, quick: bool, live: Any, results_dir: Path
) -> list[RunResult]:
    from .scenarios import SCENARIOS, RunContext

    facts = machine_facts()
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    out: list[RunResult] = []
    for name, params in plan:
        ctx = RunContext(params=params, quick=quick, live=live, run_id=run_id, machine=facts)
        try:
            results = await SCENARIOS[name].run(ctx)
        except Exception as exc:  # one broken entry fails the run, not the rest of the plan
            print(f"FAILED: {name} {params}: {type(exc).__name__}: {exc}", file=sys.stderr)
            results = [_crashed_entry(name, params, exc, run_id=run_id, machine=facts)]
        for result in results:
            save(result, results_dir)
            out.append(result)
    return out


def _crashed_entry(
    name: str, params: dict[str, Any], exc: BaseException, *, run_id: str, machine: Any
) -> RunResult:
    """A failed result standing for a whole plan entry that raised."""

    def first(key: str, default: str) -> str:
        value = params.get(key)
        return str(value).split(",")[0] if value else default

    return crashed(
        exc,
        scenario=name,
        target=first("target", "huddle"),
        transport=first("transport", "ws-json"),
        backend=first("backend", "memory"),
        nodes=int(params.get("nodes") or 1),
        n=int(first("n", "0")),
        rep=0,
        params={k: v for k, v in params.items() if isinstance(v, str | int | float)},
        machine=machine,
        run_id=run_id,
    )


def _execute(plan: list[tuple[str, dict[str, Any]]], args: argparse.Namespace, quick: bool) -> int:
    from .live import make_live

    raise_fd_limit()
    temp = None
    if args.results is not None:
        results_dir = args.results
    elif quick:
        temp = tempfile.TemporaryDirectory(prefix="hd-quick-")
        results_dir = Path(temp.name)
    else:
        results_dir = REPO / DEFAULT_DIR
    live = make_live(not args.no_live)
    try:
        with live:
            results = asyncio.run(_measure(plan, quick=quick, live=live, results_dir=results_dir))
    except KeyboardInterrupt:
        print("interrupted: every child process was stopped", file=sys.stderr)
        return 130
    finally:
        if temp is not None:
            temp.cleanup()
    live.summary(results)
    failed = [r for r in results if not r.passed]
    if not quick or args.results is not None:
        print(f"results: {results_dir}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(results)} runs FAILED a correctness check", file=sys.stderr)
        return 1
    return 0


def _long_run(args: argparse.Namespace, argv: list[str]) -> int:
    """`soak` and `storm`: one run, its JSON saved, a summary printed; 1 if a check failed."""
    raise_fd_limit()
    facts = machine_facts()
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    command = shlex.join(["python", "-m", "loadtests", *argv])
    if args.command == "soak":
        from .soak import SoakPlan, run_soak
        from .soak import summary as soak_summary

        seconds = args.seconds if args.seconds is not None else args.minutes * 60
        soak_plan = SoakPlan(seconds=seconds, ws=args.ws, sse=args.sse, rate=args.rate,
                             sample_every=args.sample_every, fault_every=args.fault_every,
                             command=command)  # fmt: skip
        coro = run_soak(soak_plan, machine=facts, run_id=run_id)
        summarise = soak_summary
    else:
        from .storm import StormPlan, run_storm
        from .storm import summary as storm_summary

        storm_plan = StormPlan(ws=args.ws, sse=args.sse, rate=args.rate, command=command)
        coro = run_storm(storm_plan, machine=facts, run_id=run_id)
        summarise = storm_summary
    try:
        result = asyncio.run(coro)
    except KeyboardInterrupt:
        print("interrupted: every child process was stopped", file=sys.stderr)
        return 130
    path = save(result, args.results or REPO / DEFAULT_DIR)
    print(summarise(result))
    print(f"result: {path}", file=sys.stderr)
    return 0 if result.passed else 1


def main(argv: Sequence[str] | None = None) -> int:

    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "report":
        from .report import build_from

        out = build_from(args.results, args.out)
        print(f"wrote {out}")
        return 0
    if args.command in ("soak", "storm"):
        return _long_run(args, argv)
    if args.command == "run":
        params = {k: getattr(args, k) for k in ("target", "transport", "n", "backend", "nodes",
                                               "reps", "events", "seconds")}  # fmt: skip
        if args.profile:
            from .profiling import choose

            params["profile"], why = choose(args.profiler)
            params["command"] = shlex.join(["python", "-m", "loadtests", *argv])
            print(f"profile: {params['profile']} ({why})", file=sys.stderr)
        elif args.profiler != "auto":
            print("--profiler does nothing without --profile", file=sys.stderr)
            return 2
        return _execute([(args.scenario, params)], args, quick=args.quick)
    if args.command == "quick":
        plan = QUICK_PLAN
        return _execute(plan, args, quick=True)
    # all: the full plan (or its tail, --resume-at), then the page
    plan = [(name, dict(params)) for name, params in FULL_PLAN][args.resume_at - 1 :]
    profiled = [params for _, params in plan if params.get("profile") == "auto"]
    if profiled:
        from .profiling import choose

        chosen, why = choose("auto")
        print(f"profile: {chosen} ({why})", file=sys.stderr)
        for params in profiled:
            params["profile"] = chosen
            params["command"] = "python -m loadtests all"
    code = _execute(plan, args, quick=False)
    from .report import build_from

    build_from(args.results or REPO / DEFAULT_DIR, REPO / "docs" / "benchmarks.md")
    return code


if __name__ == "__main__":
    sys.exit(main())
