"""Tiny runs of scenarios 5-7 (REST pollers, idle connections, two nodes) pass with every
loss counter zero and every check ok. Figures are only reported, never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main
from loadtests.results import LOSS_COUNTERS, RunResult, load

pytestmark = pytest.mark.xdist_group("loadtests")


def _runs(tmp_path: Path, *argv: str) -> list[RunResult]:
    code = main(["run", *argv, "--quick", "--no-live", "--results", str(tmp_path)])
    runs = load(tmp_path)
    assert runs
    for r in runs:
        assert r.passed, (r.label, r.failures)
        assert all(r.counters.get(c, 0) == 0 for c in LOSS_COUNTERS), r.counters
        assert all(v == "ok" for v in r.checks.values()), r.checks
        assert r.cpu
        assert r.machine.get("fd_hard")
    assert code == 0
    return runs


@pytest.mark.parametrize("mode", ["rest-after", "rest-wait"])
def test_rest_pollers_tiny(tmp_path: Path, mode: str) -> None:
    runs = _runs(tmp_path, "rest_poll", "--n", "3", "--events", "120", "--transport", mode,
                 "--target", "huddle,starlette")  # fmt: skip
    assert {r.target for r in runs} == {"huddle", "starlette"}
    for r in runs:
        assert r.counters["received"] == 3 * 120
        assert r.figures["requests_per_s"] > 0
        assert "p99_ms" in r.figures
    huddle = next(r for r in runs if r.target == "huddle")
    assert huddle.changes == {"HUDDLE_PUBLISH_RATE": "1000000"}


def test_idle_connections_tiny(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "idle", "--n", "4,8", "--target", "huddle,starlette,socketio")
    assert {(r.target, r.n) for r in runs} == {
        (t, n) for t in ("huddle", "starlette", "socketio") for n in (4, 8)
    }
    for r in runs:
        assert "kib_per_conn" in r.figures
        assert r.figures["connects_per_s"] > 0
        # quick runs too spread their connections over workspaces (rooms), of 3 (full: 10)
        assert r.params["per_workspace"] == 3
        assert r.params["workspaces"] == -(-r.n // 3)
        assert r.counters["misrouted"] == 0
    assert all("presence" in r.checks for r in runs if r.target == "huddle")


def test_two_nodes_tiny(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "two_nodes", "--n", "3", "--events", "100")
    by_nodes = {r.nodes: r for r in runs}
    assert set(by_nodes) == {1, 2}
    cross, single = by_nodes[2], by_nodes[1]
    assert cross.params["pace_rate"] == single.params["pace_rate"]
    assert "p99_minus_single_ms" in cross.figures
    assert "nodes_shared_core" in cross.params
