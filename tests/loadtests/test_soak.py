"""`python -m loadtests soak`: a short soak passes its checks; its figures and report section."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main
from loadtests.report import build
from loadtests.results import LOSS_COUNTERS, RunResult, load
from loadtests.resuming import Track, tally
from loadtests.soak import fault_times, slope_per_hour, warmup_of

pytestmark = pytest.mark.xdist_group("loadtests")


def test_a_short_soak_passes_with_a_fault_and_no_leak(tmp_path: Path) -> None:
    """12 s, 2 + 2 visitors on two nodes, one pub/sub kill: gapless, back to baseline."""
    code = main(["soak", "--seconds", "12", "--ws", "2", "--sse", "2", "--sample-every", "1",
                 "--results", str(tmp_path)])  # fmt: skip
    (run,) = load(tmp_path)
    assert run.passed, run.failures
    assert code == 0
    assert all(run.counters[c] == 0 for c in LOSS_COUNTERS if c in run.counters)
    assert run.counters["received"] > 0
    assert set(run.checks) == {"gapless", "requests", "publish", "fault", "tasks_and_fds",
                               "redis_keys"}  # fmt: skip
    assert run.figures["faults"] == 1 and run.params["faults"][0]["killed"] >= 1
    assert run.figures["visits"] >= 4 and run.figures["events_published"] > 0
    for node in ("node0", "node1"):
        assert f"rss_slope_kib_per_h_{node}" in run.figures
        assert run.figures[f"rss_samples_{node}"] >= 5
    assert run.params["warmup_rule"] == "the first 10 % of the run"


def test_the_warm_up_is_ten_percent_or_two_minutes() -> None:
    assert warmup_of(60) == (6.0, "the first 10 % of the run")
    assert warmup_of(1800) == (120.0, "the first 2 minutes")


def test_faults_every_five_minutes_and_at_least_once() -> None:
    assert fault_times(1800, 300) == [300, 600, 900, 1200, 1500]
    assert fault_times(20, 300) == [10.0]


def test_the_slope_is_a_least_squares_fit_in_kib_per_hour() -> None:
    grow = [(t, 1_000_000 + 1024 * t) for t in range(0, 100, 10)]  # 1 KiB/s
    assert slope_per_hour(grow) == pytest.approx(3600.0)
    assert slope_per_hour([(0.0, 5), (10.0, 5)]) == 0.0
    assert slope_per_hour([(0.0, 5)]) == 0.0


def test_tally_counts_gaps_repeats_and_disorder_from_the_start_position() -> None:
    track = Track("c", "ep:10")
    for seq in (11, 12, 14, 14, 13):
        track.event(f"ep:{seq}", seq, "x.y")
    track.event(None, 0, "x.ephemeral")  # not logged: not counted
    counts = tally(track, last=16)
    assert counts == {"lost": 2, "duplicated": 1, "out_of_order": 1, "unexpected": 0,
                      "epoch_changes": 0, "resets": 0}  # fmt: skip
    clean = Track("d", "ep:3")
    for seq in (4, 5, 6):
        clean.event(f"ep:{seq}", seq, "x.y")
    assert not any(tally(clean).values())


def _soak(passed: bool) -> RunResult:
    return RunResult(
        scenario="soak", target="huddle", transport="ws-json+sse", backend="redis", nodes=2,
        n=12, rep=1,
        params={"ws": 6, "sse": 6, "command": "python -m loadtests soak --minutes 30",
                "warmup_s": 120.0, "warmup_rule": "the first 2 minutes",
                "publish_rate_per_node": 20.0, "faults": [{"at_s": 300.0, "killed": 2}]},
        figures={"duration_s": 1800.0, "events_published": 70000.0, "visits": 9000.0,
                 "faults": 5.0, "rss_slope_kib_per_h_node0": 12.5,
                 "rss_slope_kib_per_h_node1": -3.0, "rss_start_mib_node0": 80.0,
                 "rss_end_mib_node0": 81.0, "rss_start_mib_node1": 80.0,
                 "rss_end_mib_node1": 80.5, "rss_samples_node0": 168.0},
        checks={"gapless": "ok" if passed else "ws0 {'lost': 3}"},
        machine={"commit": "abc1234"}, started_at="2025-01-01T03:00:00+0000", run_id="soak1",
    )  # fmt: skip


def test_the_report_has_a_soak_section_beside_the_matrix(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    text = build([_soak(True)], out, tmp_path / "png")
    section = text.split("## Soak", 1)[1].split("## Reconnect storm", 1)[0]
    assert "| node0 |" in section and "+12 |" in section and "| node1 |" in section
    assert "30.0 min" in section and "python -m loadtests soak --minutes 30" in section
    assert "0 stored runs" in text  # a long run is not one of the matrix's runs
    assert "Not measured yet (`python -m loadtests storm`)" in text
    failed = build([_soak(False)], out, tmp_path / "png")
    assert "**FAILED**" in failed.split("## Soak", 1)[1]
    assert "soak huddle" in failed.split("## Failed runs", 1)[1]
