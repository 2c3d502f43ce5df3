"""Fixtures every suite may use: real redis-server processes, per-test key prefixes, and real
`huddle serve` nodes.

A shared server (one per xdist worker) isolates tests by key prefix, never by FLUSHALL; a test
that takes Redis down gets its own server (`private_redis`). A failing test's report carries
the logs of every node it started (section "huddle nodes").
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support.key_hygiene import undocumented_keys_without_expiry
from tests.support.nodes import STOP_TIMEOUT, NodeFactory
from tests.support.redis_server import (
    MISSING_MESSAGE,
    RedisServer,
    RedisServerMissing,
    unique_prefix,
)


def _redis_server_or_fail(*, appendonly: bool = False) -> RedisServer:
    try:
        return RedisServer(appendonly=appendonly)
    except RedisServerMissing:
        pytest.fail(MISSING_MESSAGE, pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the whole session of this (xdist) worker. When the session
    ends, every key the tests' nodes left behind without an expiry must be a documented one
    (tests/support/key_hygiene.py): a leak fails the run at that teardown."""
    server = _redis_server_or_fail()
    with server:
        yield server
        leaked = undocumented_keys_without_expiry(server.port)
        if leaked:
            pytest.fail(
                f"{len(leaked)} Redis keys without an expiry that no document allows, e.g. "
                f"{leaked[:10]}",
                pytrace=False,
            )


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A fresh redis-server of this test's own, which it may stop and start again."""
    server = _redis_server_or_fail()
    with server:
        yield server


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses: isolation on a shared server without flushing."""
    return unique_prefix()


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own with an fsynced AOF: a restart keeps every write."""
    server = _redis_server_or_fail(appendonly=True)
    with server:
        yield server


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
