"""The contract suite's backends: every test here runs on memory:// and on a real redis://.

`backend` is the usual fixture. A test that needs other limits asks `make_backend` for one
(`await make_backend.open(event_log_length=10)`); one that needs a second node on the same
store asks `make_backend.twin(backend)` (a second client on the same Redis prefix; on memory,
where the store is the object, the same backend).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from huddle.backends.base import Backend
from tests.support.backends import BackendFactory
from tests.support.redis_server import RedisServer

BACKENDS = ["memory", "redis"]


@pytest.fixture(params=BACKENDS)
async def make_backend(request: pytest.FixtureRequest) -> AsyncIterator[BackendFactory]:
    """Opens backends of this test's kind; each test gets a store of its own."""
    redis: RedisServer | None = None
    if request.param == "redis":
        redis = request.getfixturevalue("redis_server")
    async with AsyncExitStack() as stack:
        yield BackendFactory(request.param, stack, redis)


@pytest.fixture
async def backend(make_backend: BackendFactory) -> Backend:
    """A backend with default settings on a store of this test's own."""
    return await make_backend.open()
