"""Following a workspace live from a cursor, for every transport, with no gap and no repeat.

A follower joins the workspace's channel first (so live events start queueing), then reads the
backlog between its cursor and the position it joined at, then goes live: backlog and live
events meet exactly at that position. A cursor the log cannot serve becomes one `sync.reset`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from ..auth import Principal
from ..engine.audiences import AudienceService
from ..hub.channel import Encoding, Member
from ..hub.node import Node
from ..hub.outbox import Outbox
from ..ids import WorkspaceKey
from ..models import Event, reset_event
from ..protocol.cursor import ORIGIN, parse_cursor
from .events import EventService, Replay


class StreamService:
    def __init__(self, node: Node, events: EventService, audiences: AudienceService) -> None:
        self._channels = node.channels
        self._events = events
        self._audiences = audiences
        self._settings = node.settings
        self._clock = node.clock

    @asynccontextmanager
    async def follow(
        self,
        ws: WorkspaceKey,
        outbox: Outbox,
        encoding: Encoding,
        since: str | None,
        caller: Principal,
        on_ready: Callable[[str | None], None] | None = None,
    ) -> AsyncIterator[Member]:
        """Queue into `outbox` every event after `since` (None: from now) that `caller` may
        see, then live ones, until the context exits. `on_ready(position)` runs just before
        the first event is queued (a WebSocket reply goes first that way). Raises BadCursor
        for a malformed cursor and BackendUnavailable when the workspace cannot be followed
        now.

        The caller's groups are read after joining the channel, so a membership change made
        after that read reaches the stream as an event and applies from there on."""
        if since is not None:
            parse_cursor(since)
        member = Member(outbox, encoding, self._settings.outbox_limit)
        _, epoch, upto = await self._channels.join(ws, member)
        try:
            member.reader = await self._audiences.reader(ws, caller)
            backlog = await self._backlog(ws, since, epoch, upto)
            if on_ready is not None:
                on_ready(f"{epoch}:{upto}" if epoch else str(ORIGIN))
            member.go_live(backlog)
            yield member
        finally:
            self._channels.leave(ws, member)

    async def _backlog(
        self, ws: WorkspaceKey, since: str | None, epoch: str, upto: int
    ) -> list[Event]:
        if since is None:
            return []
        backlog: list[Event] = []
        after = since
        while True:
            replay = await self._events.replay(ws, after, self._settings.replay_limit_max)
            if replay.reset:
                return list(replay.events)
            page = [e for e in replay.events if e.epoch == epoch and e.seq <= upto]
            backlog += page
            if len(backlog) > self._settings.outbox_limit:
                # Further behind than a connection may lag: reload beats a flood.
                oldest = backlog[0].seq
                now = self._clock.now_ms()
                return [reset_event(ws, epoch, oldest, upto, "cursor_expired", since, now)]
            if len(page) < len(replay.events) or not replay.events:
                return backlog
            after = replay.next

    async def poll(
        self, ws: WorkspaceKey, after: str | None, limit: int, wait: float, caller: Principal
    ) -> Replay:
        """A replay of what `caller` may see; when it is empty, wait up to `wait` seconds for
        the next event first."""
        reader = await self._audiences.reader(ws, caller)
        replay = await self._events.replay(ws, after, limit, reader)
        if replay.events or wait <= 0:
            return replay
        # An empty answer means `next` is the head (or everything up to it was withheld):
        # wait for the channel to pass it, then answer what follows it.
        head = parse_cursor(replay.next).seq
        async with self._channels.watching(ws) as channel:
            await channel.advanced(head, min(wait, self._settings.poll_wait_max))
        return await self._events.replay(ws, replay.next, limit, reader)
