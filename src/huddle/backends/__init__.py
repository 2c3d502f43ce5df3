"""Backends by URL scheme, from a closed table; each implementation is imported lazily."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

from ..clock import Clock, SystemClock
from ..config import Settings
from ..errors import ConfigError
from .base import Backend


@asynccontextmanager
async def _memory(settings: Settings, clock: Clock) -> AsyncIterator[Backend]:
    from .memory import MemoryBackend

    backend = MemoryBackend(settings, clock)
    try:
        yield backend
    finally:
        await backend.aclose()


@asynccontextmanager
async def _redis(settings: Settings, clock: Clock) -> AsyncIterator[Backend]:
    from .redis import RedisBackend

    backend = RedisBackend(settings)
    try:
        yield backend
    finally:
        await backend.aclose()


_Opener = Callable[[Settings, Clock], AbstractAsyncContextManager[Backend]]
_OPENERS: Final[dict[str, _Opener]] = {
    "memory": _memory,
    "redis": _redis,
    "rediss": _redis,
    "unix": _redis,
}


def backend_scheme(url: str) -> str:
    scheme, found, _ = url.partition("://")
    if not found or scheme not in _OPENERS:
        raise ConfigError(f"backend {url!r}: the scheme must be one of {', '.join(_OPENERS)}")
    return scheme


def open_backend(
    settings: Settings, clock: Clock | None = None
) -> AbstractAsyncContextManager[Backend]:
    """Open the backend named by `settings.backend_url`; closed when the context exits."""
    return _OPENERS[backend_scheme(settings.backend_url)](settings, clock or SystemClock())


__all__ = ["Backend", "backend_scheme", "open_backend"]
