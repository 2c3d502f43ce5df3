"""Tiny runs of scenarios 2-4 (many workspaces, presence churn, lock contention) pass with
every loss counter zero and every check ok. Figures are only reported, never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main
from loadtests.results import LOSS_COUNTERS, load

pytestmark = pytest.mark.xdist_group("loadtests")


def _run(tmp_path: Path, *args: str) -> list:
    code = main(
        [
            "run",
            *args,
            "--quick",
            "--no-live",
            "--backend",
            "memory",
            "--reps",
            "1",
            "--results",
            str(tmp_path),
        ]
    )
    runs = load(tmp_path)
    assert code == 0, [r.failures for r in runs]
    assert runs
    for r in runs:
        assert r.passed, r.failures
        assert all(r.counters.get(c, 0) == 0 for c in LOSS_COUNTERS), r.counters
        assert all(v == "ok" for v in r.checks.values()), r.checks
        assert r.cpu.get("node0") is not None
        assert r.machine
    return runs


def test_workspaces_tiny_run_delivers_everything(tmp_path: Path) -> None:
    """5 workspaces x 2 clients, 200 events on random workspaces: nothing lost or repeated."""
    (run,) = _run(tmp_path, "workspaces", "--events", "200")
    assert run.n == 10
    assert run.counters["received"] > 0
    assert run.changes == {"HUDDLE_PUBLISH_RATE": "1000000"}


def test_presence_churn_tiny_run_matches_the_model(tmp_path: Path) -> None:
    """4 users x 2 sessions churning 200 ops (cuts included): answers equal the model."""
    (run,) = _run(tmp_path, "presence", "--events", "200")
    assert run.n == 8
    assert run.checks["presence_model"] == "ok"
    assert run.figures["presence_ops"] == 200


def test_lock_contention_tiny_run_replays_clean(tmp_path: Path) -> None:
    """6 clients on 2 locks, 200 WS ops then REST: one holder at a time, tokens increasing."""
    (run,) = _run(tmp_path, "locks", "--events", "200")
    assert run.n == 6
    assert run.checks["lock_replay"] == "ok"
    assert run.figures["ws_grants"] > 0
    assert "rest_acquires_per_s" in run.figures
