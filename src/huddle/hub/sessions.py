"""Every live connection of the node — a WebSocket or an SSE stream — as a `Session`: what it
holds in the backend (presence sessions, locks taken over it), and how it ends.

`api/` adapts a transport to a session and keeps no rules of its own. When a connection ends
(`Sessions.end`):

* the presence sessions it named itself end with it (`presence.left`, reason `leave`, or
  `shutdown` when the node drains);
* the sessions its client named (a tab id) are no longer refreshed by this node: they end by
  expiry within a presence TTL unless the client joins them again, here or on another node,
  so a reconnecting tab stays one session;
* the locks taken over it are released `HUDDLE_LOCK_RELEASE_GRACE` seconds later unless the
  same user re-took or refreshed them meanwhile — but when the node drains they are kept until
  their lease ends: the deferred release would die with the node, and a client reconnecting
  to another node refreshes them.

On SIGTERM the node drains (`Sessions.drain`): new connections are turned away, each open one
is asked to end (WebSocket close 4002, SSE `sync.reconnect` with reason `shutdown`), and the
node waits for them at most `HUDDLE_DRAIN_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import anyio

from ..backends.base import Backend
from ..config import Settings
from ..errors import BackendUnavailable
from ..ids import EntityRef, WorkspaceKey
from ..models import LeaveReason, PresenceSession
from .deferred import Deferred
from .keepalive import PresenceKeeper
from .limits import Transport

log = logging.getLogger("huddle.hub")


class Session:
    """One live connection. `stop` asks its transport to end (it then calls `Sessions.end`)."""

    __slots__ = (
        "_sessions",
        "_stop",
        "id",
        "locks",
        "presence",
        "stopping",
        "transport",
        "user_id",
    )

    def __init__(
        self,
        sessions: Sessions,
        session_id: str,
        transport: Transport,
        user_id: str,
        stop: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._stop = stop
        self.id = session_id
        self.transport = transport
        self.user_id = user_id
        #: (workspace, the client's name for it) -> (stored id, named by this connection)
        self.presence: dict[tuple[WorkspaceKey, str], tuple[str, bool]] = {}
        self.locks: dict[tuple[WorkspaceKey, EntityRef], None] = {}
        #: True once the node asked the transport to end (it drains).
        self.stopping = False

    def present(
        self, ws: WorkspaceKey, client_session: str, session: PresenceSession, *, own: bool
    ) -> None:
        """A presence session joined or changed over this connection: the node keeps it alive
        while the connection lives (and announces it again if the backend loses it). `own`:
        the connection named it, so it ends with the connection."""
        self.presence[(ws, client_session)] = (session.session_id, own)
        self._sessions.keeper.keep(ws, session)

    def absent(self, ws: WorkspaceKey, client_session: str) -> None:
        """A presence session left over this connection: no longer kept."""
        found = self.presence.pop((ws, client_session), None)
        if found is not None:
            self._sessions.keeper.drop(ws, found[0])

    def took(self, ws: WorkspaceKey, entity: EntityRef) -> None:
        """A lock taken or refreshed over this connection."""
        self.locks[(ws, entity)] = None

    def released(self, ws: WorkspaceKey, entity: EntityRef) -> None:
        self.locks.pop((ws, entity), None)

    def stop(self) -> None:
        self.stopping = True
        self._stop()


class Sessions:
    def __init__(
        self, backend: Backend, keeper: PresenceKeeper, deferred: Deferred, settings: Settings
    ) -> None:
        self._backend = backend
        self.keeper = keeper
        self._deferred = deferred
        self._settings = settings
        self._live: dict[Session, None] = {}
        self._none_left = asyncio.Event()
        self._none_left.set()
        self._draining = asyncio.Event()

    def __len__(self) -> int:
        return len(self._live)

    def count(self, transport: Transport) -> int:
        return sum(1 for session in self._live if session.transport == transport)

    @property
    def draining(self) -> bool:
        """True once the node drains: new connections are turned away."""
        return self._draining.is_set()

    async def until_draining(self) -> None:
        """Return when the node starts draining (for waits that must not outlive it)."""
        await self._draining.wait()

    def open(
        self, session_id: str, transport: Transport, user_id: str, stop: Callable[[], None]
    ) -> Session:
        """A new live connection, until `end`."""
        session = Session(self, session_id, transport, user_id, stop)
        self._live[session] = None
        self._none_left.clear()
        if self.draining:
            session.stop()
        return session

    async def end(self, session: Session) -> None:
        """The connection is over: settle what it held (see the module's rules). Shielded and
        bounded: the caller is usually being cancelled, and a goodbye the backend cannot take
        now is replaced by the sessions' own expiry."""
        if self._live.pop(session, "gone") == "gone":
            return
        if not self._live:
            self._none_left.set()
        reason: LeaveReason = "shutdown" if session.stopping else "leave"
        with anyio.move_on_after(self._settings.redis_timeout, shield=True):
            for (ws, _), (stored, own) in list(session.presence.items()):
                self.keeper.drop(ws, stored)
                if own:
                    with contextlib.suppress(BackendUnavailable):
                        await self._backend.presence.leave(ws, stored, reason)
        session.presence.clear()
        if not session.stopping:
            self._release_locks_later(session)
        session.locks.clear()

    def _release_locks_later(self, session: Session) -> None:
        settings = self._settings
        if not settings.lock_release_on_disconnect:
            return
        locks = self._backend.locks
        for ws, entity in session.locks:

            def release(ws: WorkspaceKey = ws, entity: EntityRef = entity) -> Awaitable[object]:
                return locks.release(ws, entity, session.user_id, session.id)

            what = f"release of {entity.field} after {session.id} dropped"
            self._deferred.after(settings.lock_release_grace, release, what)

    async def drain(self, within: float) -> int:
        """Turn new connections away, ask every open one to end, and wait up to `within`
        seconds for them; answers how many were still open then."""
        self._draining.set()
        live = list(self._live)
        log.info("draining: asking %d connection(s) to reconnect elsewhere", len(live))
        for session in live:
            session.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._none_left.wait()
        if self._live:
            log.warning("drain: %d connection(s) still open after %.1f s", len(self._live), within)
        return len(self._live)
