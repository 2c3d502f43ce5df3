"""The node's open workspace channels: one per workspace that has local members or watchers,
closed (its backend subscription dropped) when the last one leaves. Each channel runs as a
supervised task (`Supervisor`): a failure nobody planned for restarts it, and the restart
catches up from the log, so its members miss nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ..backends.base import EventLog
from ..clock import Clock
from ..errors import BackendUnavailable
from ..ids import WorkspaceKey
from .channel import Member, WorkspaceChannel
from .metrics import Metrics
from .supervisor import Supervisor


class Channels:
    def __init__(
        self,
        log: EventLog,
        supervisor: Supervisor,
        *,
        ready_timeout: float,
        retry: float,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._log = log
        self._supervisor = supervisor
        self._clock = clock
        self._metrics = metrics
        self._ready_timeout = ready_timeout
        self._retry = retry
        self._open: dict[WorkspaceKey, tuple[WorkspaceChannel, asyncio.Task[None]]] = {}
        self._users: dict[WorkspaceKey, int] = {}

    def __len__(self) -> int:
        return len(self._open)

    def members(self) -> int:
        """Members of every open channel (a connection following N workspaces counts N)."""
        return sum(len(channel.members) for channel, _ in self._open.values())

    def get(self, ws: WorkspaceKey) -> WorkspaceChannel | None:
        found = self._open.get(ws)
        return found[0] if found else None

    async def _acquire(self, ws: WorkspaceKey) -> WorkspaceChannel:
        self._users[ws] = self._users.get(ws, 0) + 1
        if ws not in self._open:
            channel = WorkspaceChannel(
                ws, self._log, retry=self._retry, metrics=self._metrics, clock=self._clock
            )
            task = self._supervisor.start("channel", f"channel {ws.tag}", channel.run)
            self._open[ws] = (channel, task)
        channel = self._open[ws][0]
        try:
            async with asyncio.timeout(self._ready_timeout):
                await channel.ready.wait()
        except TimeoutError:
            self._release(ws)
            raise BackendUnavailable("the workspace's event stream is unavailable") from None
        except BaseException:
            self._release(ws)
            raise
        return channel

    def _release(self, ws: WorkspaceKey) -> None:
        left = self._users.get(ws, 1) - 1
        if left > 0:
            self._users[ws] = left
            return
        self._users.pop(ws, None)
        found = self._open.pop(ws, None)
        if found is not None:
            found[1].cancel()

    async def join(self, ws: WorkspaceKey, member: Member) -> tuple[WorkspaceChannel, str, int]:
        """Add a catching-up member once the channel is live; answers the channel and the
        position (epoch, seq) the member joined at. Raises BackendUnavailable when the
        channel cannot subscribe within the ready timeout."""
        channel = await self._acquire(ws)
        epoch, seq = channel.add(member)
        return channel, epoch, seq

    def leave(self, ws: WorkspaceKey, member: Member) -> None:
        channel = self.get(ws)
        if channel is not None:
            channel.remove(member)
            self._release(ws)

    @contextlib.asynccontextmanager
    async def watching(self, ws: WorkspaceKey) -> AsyncIterator[WorkspaceChannel]:
        """Keep the workspace's channel open without a member (for long polls)."""
        channel = await self._acquire(ws)
        try:
            yield channel
        finally:
            self._release(ws)

    def clear(self) -> None:
        """Forget every channel (their tasks are the supervisor's, cancelled with it)."""
        self._open.clear()
        self._users.clear()
