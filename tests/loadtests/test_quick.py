"""A tiny fan-out run of Huddle and the raw baseline passes with every counter zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main
from loadtests.results import LOSS_COUNTERS, load

pytestmark = pytest.mark.xdist_group("loadtests")


def test_quick_fanout_passes_with_all_counters_zero(tmp_path: Path) -> None:
    """N = 5, 60 events over WS JSON: exit 0, every run delivered all, no loss counter set."""
    code = main(
        ["run", "fanout", "--quick", "--no-live", "--n", "5", "--events", "60",
         "--target", "huddle,raw-ws", "--transport", "ws-json", "--results", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    runs = load(tmp_path)
    assert {r.target for r in runs} == {"huddle", "raw-ws"}
    for r in runs:
        assert r.passed, r.failures
        assert all(r.counters.get(c, 0) == 0 for c in LOSS_COUNTERS)
        assert r.counters["received"] > 0
        assert r.figures["delivered_per_s"] > 0
        assert "p99_ms" in r.figures
