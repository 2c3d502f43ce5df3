"""Fixtures every suite may use: real redis-server processes and per-test key prefixes.

A shared server (one per xdist worker) isolates tests by key prefix, never by FLUSHALL; a test
that takes Redis down gets its own server (`private_redis`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
    """One real redis-server for the whole session of this (xdist) worker."""
    server = _redis_server_or_fail()
    with server:
        yield server


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
