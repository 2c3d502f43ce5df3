"""Opening backends for a test: one kind (memory or redis) and one store per test."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from huddle.backends import open_backend
from huddle.backends.base import Backend
from huddle.clock import Clock
from huddle.config import Settings
from tests.support.redis_server import RedisServer, unique_prefix


class BackendFactory:
    """Opens backends of one kind for one test; all are closed when the test ends."""

    def __init__(self, kind: str, stack: AsyncExitStack, redis: RedisServer | None) -> None:
        self.kind = kind
        self._stack = stack
        self._redis = redis
        self._prefix = unique_prefix()
        self._settings: dict[int, Settings] = {}

    def settings(self, **overrides: Any) -> Settings:
        """Settings for this test's store: its own Redis prefix, and `overrides`."""
        values: dict[str, Any] = {"backend_url": "memory://"}
        if self._redis is not None:
            values = {
                "backend_url": self._redis.url(),
                "redis_prefix": self._prefix,
                "redis_timeout": 2.0,
            }
        values.update(overrides)
        return Settings(**values)

    async def open(self, clock: Clock | None = None, **overrides: Any) -> Backend:
        """A backend on this test's store (a fresh one on memory), with settings `overrides`."""
        settings = self.settings(**overrides)
        backend = await self._stack.enter_async_context(open_backend(settings, clock))
        self._settings[id(backend)] = settings
        return backend

    async def twin(self, backend: Backend, **overrides: Any) -> Backend:
        """Another client of the same store as `backend`, as a second node would have."""
        if self.kind == "memory":
            return backend
        settings = self._settings[id(backend)].model_copy(update=overrides)
        twin = await self._stack.enter_async_context(open_backend(settings))
        self._settings[id(twin)] = settings
        return twin
