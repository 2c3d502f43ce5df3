"""The workspaces a client follows and, for each, the cursor it resumes from.

A subscription's cursor is the id of the last event put in the inbox for that workspace (or,
before any, the position the server reported, or the caller's `since`). Every reconnect
re-subscribes with `since` = that cursor, and `accept` drops any event at or before it in the
same epoch: no gap, no repeat, whatever the transport replays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Final

from ..ids import WorkspaceKey
from ..protocol.cursor import Cursor
from .errors import ClientError
from .events import ClientEvent, cursor_or_none
from .inbox import Inbox

#: The cursor "before the first event" of a log that had none when subscribed, for a server
#: that reports no position (current servers report `origin:0`, which resumes exactly). The
#: server continues it while the log is still empty, and answers a `sync.reset` once it is
#: not: never a silent gap. (No real epoch contains "m" or "t".)
EMPTY_LOG: Final = "empty:0"


class Subscription:
    """One followed workspace. `established` resolves when a connection first confirmed it
    (a subscribe reply over WebSocket, the first event over SSE) or fails when refused."""

    __slots__ = ("cursor", "established", "from_empty", "workspace")

    def __init__(self, workspace: WorkspaceKey, since: Cursor | None) -> None:
        self.workspace = workspace
        self.cursor = since
        self.from_empty = False
        """The server reported no position: the workspace's log was empty."""
        self.established: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def since(self) -> str | None:
        """What to resume after: the cursor as the server wrote it, EMPTY_LOG, or None (from
        now: nothing was promised yet)."""
        if self.cursor is not None:
            return str(self.cursor)
        return EMPTY_LOG if self.from_empty else None


class Subscriptions:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self._by_workspace: dict[WorkspaceKey, Subscription] = {}

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._by_workspace.values()))

    def __len__(self) -> int:
        return len(self._by_workspace)

    def get(self, workspace: WorkspaceKey) -> Subscription | None:
        return self._by_workspace.get(workspace)

    def add(self, workspace: WorkspaceKey, since: Cursor | None) -> Subscription:
        """The workspace's subscription, made if it did not exist (`since` is then ignored)."""
        found = self._by_workspace.get(workspace)
        if found is None:
            found = self._by_workspace[workspace] = Subscription(workspace, since)
        return found

    def remove(self, workspace: WorkspaceKey) -> Subscription | None:
        sub = self._by_workspace.pop(workspace, None)
        if sub is not None and not sub.established.done():
            sub.established.cancel()
        return sub

    def is_current(self, sub: Subscription) -> bool:
        return self._by_workspace.get(sub.workspace) is sub

    def confirm(self, sub: Subscription, position: str | None = None, *, reported: bool) -> None:
        """A connection follows `sub` now. With `reported` (a WebSocket subscribe reply),
        `position` is where it starts when the subscription has no cursor yet."""
        if not self.is_current(sub):
            return
        if reported and sub.cursor is None:
            sub.cursor = cursor_or_none(position)
            sub.from_empty = sub.cursor is None
        if not sub.established.done():
            sub.established.set_result(None)

    def refuse(self, sub: Subscription, error: ClientError) -> None:
        """The server refused `sub`: it ends. A caller still waiting in `subscribe()` gets the
        error; otherwise (a refusal on reconnect) the reader of `events()` does."""
        if not self.is_current(sub):
            return
        del self._by_workspace[sub.workspace]
        if sub.established.done():
            self.inbox.fail(error)
        else:
            sub.established.set_exception(error)

    def accept(self, raw: object) -> bool:
        """Deliver one wire event to the inbox unless it is a repeat or not subscribed; False
        only when the inbox is full (nothing changed: resume from the cursor)."""
        event = ClientEvent.from_wire(raw)
        sub = self._by_workspace.get(event.workspace)
        if sub is None:
            return True  # unsubscribed meanwhile: nobody wants it
        if event.ephemeral:  # outside the log: no cursor to dedupe on or move
            return self.inbox.offer(event)
        cursor = event.cursor
        last = sub.cursor
        if (
            not event.is_reset
            and cursor is not None
            and last is not None
            and cursor.epoch == last.epoch
            and cursor.seq <= last.seq
        ):
            return True  # already delivered
        if not self.inbox.offer(event):
            return False
        if cursor is not None or event.is_reset:
            sub.cursor = cursor  # a reset of an emptied log has no cursor: go on from now
        return True
