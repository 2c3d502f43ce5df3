"""`python -m loadtests storm`: a small reconnect storm passes; its report section."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main
from loadtests.report import build
from loadtests.results import LOSS_COUNTERS, RunResult, load

pytestmark = pytest.mark.xdist_group("loadtests")


def test_a_small_storm_resumes_every_client_gapless(tmp_path: Path) -> None:
    """25 WS + 25 SSE clients on node A; SIGTERM, restart on the same port: all told to
    reconnect (4002 / shutdown), all resumed, every run of offsets gapless to the last event."""
    code = main(["storm", "--ws", "25", "--sse", "25", "--results", str(tmp_path)])
    (run,) = load(tmp_path)
    assert run.passed, run.failures
    assert code == 0
    assert all(run.counters[c] == 0 for c in LOSS_COUNTERS if c in run.counters)
    assert run.closes == {"ws:4002": 25, "sse:shutdown": 25}
    assert set(run.checks) == {"told_to_reconnect", "resumed", "gapless", "caught_up", "publish"}
    f = run.figures
    assert 0 < f["node_exit_s"] < f["node_ready_s"] <= f["resumed_s"] <= f["caught_up_s"]
    assert run.counters["received"] >= 50 * (f["last_seq"] - f["start_seq"])


def _storm(ws: int, passed: bool) -> RunResult:
    figures = {
        "node_exit_s": 0.5,
        "node_ready_s": 3.0,
        "attempts": 3000.0,
        "failed_attempts": 1000.0,
    }
    if passed:
        figures |= {"resumed_s": 7.25, "caught_up_s": 7.5}
    return RunResult(
        scenario="storm", target="huddle", transport="ws-json+sse", backend="redis", nodes=2,
        n=2 * ws, rep=1, params={"ws": ws, "sse": ws, "publish_rate": 20.0,
                                 "command": f"python -m loadtests storm --ws {ws} --sse {ws}"},
        figures=figures, cpu={"clients": 0.5},
        checks={"resumed": "ok" if passed else "3 of 1000 did not resume within 120.0 s"},
        machine={"commit": "abc1234"}, started_at=f"2025-01-01T0{ws // 100}:00:00+0000",
        run_id=f"storm{ws}",
    )  # fmt: skip


def test_the_report_has_a_reconnect_storm_section(tmp_path: Path) -> None:
    text = build([_storm(250, True), _storm(500, False)], tmp_path / "b.md", tmp_path / "png")
    section = text.split("## Reconnect storm", 1)[1].split("## Where the time goes", 1)[0]
    assert "| 250 + 250 | 20.0/s | 0.50 | 3.00 | never / never | 7.25 | 7.50 | 3,000 (1,000) |" in (
        section
    )
    assert "- 500 + 500 clients: passed 0 of 1 runs" in section
    assert "| 500 + 500 |" in section and "never" in section and "**FAILED**" in section
    assert "Largest storm that passed here: 250 WebSocket + 250 SSE clients." in section
    assert "python -m loadtests storm --ws 500 --sse 500" in section
