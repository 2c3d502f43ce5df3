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
        "| WS JSON fan-out at N = 1,000: delivered/s >= 0.75 x raw websockets | not measured yet"
        in text
    )
