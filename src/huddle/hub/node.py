"""The node: owns the backend handle, its identity and its background tasks."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from ..backends.base import Backend
from ..config import Settings
from .sweeper import Sweeper


class Node:
    """One Huddle process. Services reach the shared state through `node.backend`."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings
        self.node_id = settings.node_id or f"node-{secrets.token_hex(3)}"
        self.sweeper = Sweeper(
            backend, interval=settings.sweep_interval, batch=settings.sweep_batch
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Node]:
        """Run the background tasks while the context is open; cancel and await them after."""
        stop = asyncio.Event()
        sweeper = asyncio.create_task(self.sweeper.run(stop), name=f"{self.node_id}-sweeper")
        try:
            yield self
        finally:
            stop.set()
            sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await sweeper
