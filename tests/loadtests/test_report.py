"""The report: Markdown and PNGs from stored JSON, never a figure without a run behind it."""

from __future__ import annotations

from pathlib import Path

from loadtests.report import build
from loadtests.results import RunResult, load, save

MACHINE = {"cpu_model": "Test CPU", "cpu_count": 2, "python": "3.11.7", "fd_hard": 20000}


def _run(target: str, delivered: float, p99: float, rep: int, **extra: object) -> RunResult:
    backend = "memory" if target == "huddle" else "-"
    return RunResult(
        scenario="fanout",
        target=target,
        transport="ws-json",
        backend=backend,
        nodes=1,
        n=1000,
        rep=rep,
        params={"group": f"run1/ws-json/memory/1000/{rep}", "cores": "node0: 0"},
        figures={"delivered_per_s": delivered, "p50_ms": p99 / 4, "p99_ms": p99, "p999_ms": p99},
        counters={"lost": 0, "duplicated": 0},
        cpu={"node0" if target == "huddle" else "server": 1.0},
        checks={"connect": "ok"},
        machine=MACHINE,
        started_at=f"2025-01-01T00:0{rep}:{'00' if target == 'raw-ws' else '30'}+0000",
        run_id="run1",
        **extra,  # type: ignore[arg-type]  # the fixture's optional fields
    )


def _fixture(tmp_path: Path) -> list[RunResult]:
    runs = [
        _run("raw-ws", 100_000.0, 10.0, 1),
        _run("huddle", 80_000.0, 12.0, 1),
        _run("raw-ws", 110_000.0, 11.0, 2),
        _run("huddle", 90_000.0, 13.0, 2),
    ]
    for r in runs:
        save(r, tmp_path / "results")
    return load(tmp_path / "results")


def test_results_round_trip_through_json(tmp_path: Path) -> None:
    """What `save` writes, `load` gives back equal, oldest first."""
    runs = _fixture(tmp_path)
    assert [r.target for r in runs] == ["raw-ws", "huddle", "raw-ws", "huddle"]
    assert runs[1].figures["delivered_per_s"] == 80_000.0
    assert all(r.passed for r in runs)


def test_report_builds_markdown_and_a_png_from_fixture_json(tmp_path: Path) -> None:
    """Tables, same-run ratios, target verdicts and a PNG come from the stored runs."""
    out = tmp_path / "docs" / "benchmarks.md"
    text = build(_fixture(tmp_path), out, tmp_path / "docs" / "benchmarks")
    assert out.read_text() == text
    # same-run ratios 0.8 and 0.818..: median 0.809 >= 0.75, a pass
    assert (
        "| WS JSON fan-out at N = 1,000: delivered/s >= 0.75 x raw websockets | **pass** |" in text
    )
    assert "0.81 x (median of 2)" in text
    assert "85,000 [80,000-90,000]" in text
    pngs = sorted((tmp_path / "docs" / "benchmarks").glob("*.png"))
    assert pngs
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert "](benchmarks/fanout-ws-json-delivered.png)" in text
    assert "Test CPU" in text


def test_a_scenario_not_run_is_not_measured_yet(tmp_path: Path) -> None:
    """Without runs the page invents nothing: every target and scenario says so."""
    text = build([], tmp_path / "benchmarks.md", tmp_path / "png")
    assert text.count("not measured yet") == 8
    assert "Not measured yet." in text
    assert "| **pass** |" not in text


def test_a_failed_run_is_listed_and_counts_for_no_target(tmp_path: Path) -> None:
    """A run with a nonzero loss counter fails, shows under Failed runs, and is left out."""
    runs = [_run("raw-ws", 100_000.0, 10.0, 1), _run("huddle", 90_000.0, 12.0, 1)]
    runs[1].counters["lost"] = 3
    assert not runs[1].passed
    text = build(runs, tmp_path / "benchmarks.md", tmp_path / "png")
    assert "lost=3" in text
    assert (
        "| WS JSON fan-out at N = 1,000: delivered/s >= 0.75 x raw websockets | **no verdict** "
        "| every run of it failed a check |" in text
    )


def _other(
    scenario: str, target: str, figures: dict[str, float], rep: int = 1, **kw: object
) -> RunResult:
    backend = str(kw.pop("backend", "memory" if target == "huddle" else "-"))
    n = int(kw.pop("n", 10))  # type: ignore[call-overload]
    nodes = int(kw.pop("nodes", 1))  # type: ignore[call-overload]
    group = str(kw.pop("group", f"run2/{scenario}/{n}/{rep}"))
    return RunResult(
        scenario=scenario,
        target=target,
        transport=str(kw.pop("transport", "ws-json")),
        backend=backend,
        nodes=nodes,
        n=n,
        rep=rep,
        params={"group": group, "cores": "node0: 0"},
        figures=figures,
        counters={"lost": 0},
        cpu={"node0" if target == "huddle" else "server": 1.0},
        checks={"connect": "ok"},
        machine=MACHINE,
        started_at=f"2025-01-02T00:0{rep}:00+0000",
        run_id="run2",
    )


def _scenarios_2_7(tmp_path: Path) -> list[RunResult]:
    """Fixture JSON of every scenario after fan-out, at the issue's sizes."""
    runs = [
        _other("workspaces", "huddle", {"events_per_s": 900.0, "delivered_per_s": 9000.0,
                                        "p50_ms": 1.0, "p99_ms": 4.0}, n=10_000),
        _other("presence", "huddle", {"presence_ops_per_s": 1500.0, "reads_per_s": 300.0},
               n=1500),
        _other("rest_poll", "huddle", {"requests_per_s": 2000.0, "events_per_s": 950.0,
                                       "p50_ms": 2.0, "p99_ms": 9.0}, transport="rest-after"),
        _other("rest_poll", "starlette", {"requests_per_s": 4000.0, "events_per_s": 990.0},
               transport="rest-after"),
    ]  # fmt: skip
    for rep, ops in ((1, 12_000.0), (2, 9_000.0), (3, 11_000.0)):
        runs.append(_other("locks", "huddle", {"ws_lock_ops_per_s": ops}, rep, backend="redis"))
    # a memory-backend lock run does not count for the Redis target
    runs.append(_other("locks", "huddle", {"ws_lock_ops_per_s": 1.0}, backend="memory"))
    for target, kib in (("huddle", 20.0), ("starlette", 16.0), ("socketio", 40.0)):
        runs.append(_other("idle", target, {"kib_per_conn": kib}, n=10_000))
        runs.append(_other("idle", target, {"kib_per_conn": kib * 3}, n=100))
    for rep, delta in ((1, 2.0), (2, 3.0)):
        group = f"run2/two_nodes/{rep}"
        cross = {"p99_ms": 6.0 + delta, "p99_minus_single_ms": delta, "rate_vs_single": 0.9}
        runs.append(
            _other("two_nodes", "huddle", cross, rep, backend="redis", nodes=2, n=1000, group=group)
        )
        runs.append(
            _other(
                "two_nodes", "huddle", {"p99_ms": 6.0}, rep, backend="redis", n=1000, group=group
            )
        )
    # SSE and WS fan-out at N = 1,000 for the SSE target
    for transport, rate in (("ws-json", 100_000.0), ("sse", 80_000.0)):
        runs.append(_other("fanout", "huddle", {"delivered_per_s": rate}, n=1000,
                           transport=transport))  # fmt: skip
    for r in runs:
        save(r, tmp_path / "results2")
    return load(tmp_path / "results2")


def test_report_judges_the_targets_of_scenarios_2_to_7(tmp_path: Path) -> None:
    """Lock ops from Redis `locks` runs, idle KiB/conn beside the baselines, cross-node p99
    minus single-node p99, SSE vs WS: each target is judged from the fixture runs."""
    text = build(_scenarios_2_7(tmp_path), tmp_path / "b.md", tmp_path / "png")
    row = "| Lock ops >= 10,000/s on one node with Redis, over WebSocket | **pass** | "
    assert row + "11,000 ops/s (median of 3, N = 10)" in text
    assert "| Memory per idle connection <= 0.6 x python-socketio's | **pass** | 0.50 x" in text
    assert (
        "| 10,000 idle connections per node at <= 30 KiB each | **pass** | memory:// 20.0 "
        "KiB/conn at N = 10,000; 1.25 x bare uvicorn" in text
    )
    assert "| SSE fan-out >= 0.75 x Huddle's WS figure at N = 1,000 | **pass** | 0.80 x" in text
    cross = "| Cross-node p99 <= single-node p99 + 5 ms at the same paced rate | **pass** | +2.5 ms"
    assert cross in text
    assert text.count("not measured yet") == 3  # the three fan-out ratio targets


def test_report_builds_a_table_for_every_scenario(tmp_path: Path) -> None:
    """Scenarios 2-7 each get a table of their own figures; the idle table shows same-run
    ratios to bare uvicorn and python-socketio."""
    text = build(_scenarios_2_7(tmp_path), tmp_path / "b.md", tmp_path / "png")
    assert "Not measured yet." not in text
    assert "| WS lock ops/s |" in text and "| presence ops/s |" in text
    assert "| p99 - single-node p99 ms |" in text and "| requests/s |" in text
    # huddle idle at N = 10,000: 20 KiB, 1.25 x bare uvicorn, 0.5 x python-socketio
    assert "| huddle | ws-json | memory | 1 | 10,000 | 20.0 | - | - | 1.25 | 0.5 |" in text
    assert "| huddle | ws-json | redis | 1 | 10 | 11,000 [9,000-12,000] |" in text


def test_a_missed_lock_target_says_miss(tmp_path: Path) -> None:
    run = _other("locks", "huddle", {"ws_lock_ops_per_s": 4000.0}, backend="redis")
    text = build([run], tmp_path / "b.md", tmp_path / "png")
    assert "| Lock ops >= 10,000/s on one node with Redis, over WebSocket | **miss** |" in text


def test_a_lock_target_whose_every_run_failed_has_no_verdict(tmp_path: Path) -> None:
    run = _other("locks", "huddle", {"ws_lock_ops_per_s": 4000.0}, backend="redis")
    run.checks["answers"] = "3 unexpected answers: SERVICE_UNAVAILABLE"
    text = build([run], tmp_path / "b.md", tmp_path / "png")
    assert (
        "| Lock ops >= 10,000/s on one node with Redis, over WebSocket | **no verdict** |" in text
    )
    assert "| 10,000 idle connections per node at <= 30 KiB each | not measured yet |" in text


def test_the_idle_memory_target_is_judged_on_the_heavier_backend(tmp_path: Path) -> None:
    """20 KiB on memory:// and 31 KiB on redis:// is a miss: the target holds for a node on
    either backend, not for their median."""
    runs = [
        _other("idle", "huddle", {"kib_per_conn": 20.0}, n=10_000),
        _other("idle", "huddle", {"kib_per_conn": 31.0}, n=10_000, backend="redis"),
    ]
    for r in runs:
        save(r, tmp_path / "results")
    text = build(load(tmp_path / "results"), tmp_path / "b.md", tmp_path / "png")
    assert (
        "| 10,000 idle connections per node at <= 30 KiB each | **miss** | memory:// 20.0, "
        "redis:// 31.0 KiB/conn at N = 10,000" in text
    )
