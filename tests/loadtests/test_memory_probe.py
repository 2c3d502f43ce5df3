"""`python -m loadtests.memory_probe` runs a node under tracemalloc and breaks an idle
connection's memory down by layer."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from loadtests.machine import REPO

pytestmark = pytest.mark.xdist_group("loadtests")


def test_the_probe_charges_idle_connections_to_layers() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.memory_probe", "--n", "10", "--top", "40"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    headline = re.search(r"10 idle connections: ([\d.]+) KiB traced per connection", done.stdout)
    assert headline is not None, done.stdout
    assert float(headline.group(1)) > 1.0  # a connection is never free
    assert "uvicorn + websockets (below Huddle)" in done.stdout
    assert "huddle/api/ws_connection.py:" in done.stdout
