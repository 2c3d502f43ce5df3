"""End-to-end fixtures: real `huddle serve` processes, torn down whatever happens.

A failing test's report carries the logs of every node it started (section "huddle nodes").
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.nodes import STOP_TIMEOUT, NodeFactory


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[NodeFactory]:
    """Starts nodes for this test (`await nodes.start(url, name="a", presence_ttl=1)`), all on
    one fresh Redis key prefix; every node is stopped when the test ends."""
    factory = NodeFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()
    hung = [node for node in factory.nodes if node.hung_on_stop]
    if hung:
        # An orchestrator SIGKILLs a node that ignores SIGTERM for its grace period: a bug.
        pytest.fail(
            f"node(s) {', '.join(n.name for n in hung)} did not exit within "
            f"{STOP_TIMEOUT} s of SIGTERM (stacks dumped with SIGABRT at the end):\n"
            + "\n".join(n.log()[-6000:] for n in hung)
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    factory = getattr(item, "funcargs", {}).get("nodes")
    if report.failed and isinstance(factory, NodeFactory) and factory.nodes:
        report.sections.append(("huddle nodes", factory.logs()))
    return report
