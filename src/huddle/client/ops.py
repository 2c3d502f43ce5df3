"""The WebSocket ops as methods: presence, publish, locks and ping, each one `request`."""

from __future__ import annotations

from typing import Any

from ..ids import OrgId, SessionId, WorkspaceId, WorkspaceKey
from ..models import Audience
from ..protocol.ws import (
    Command,
    LockAcquire,
    LockRefresh,
    LockRelease,
    Ping,
    PresenceJoin,
    PresenceLeave,
    PresenceView,
    Publish,
)
from .backoff import Backoff
from .events import ClientEvent
from .locks import HeldLock
from .transport import Connections


class Ops:
    """Every op a client may ask for, over whichever transport `request` uses."""

    async def request(self, command: Command) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def backoff(self) -> Backoff:
        """The delays between retries (HeldLock retries a refresh with them)."""
        raise NotImplementedError

    @property
    def connections(self) -> Connections:
        """The connections opened so far (HeldLock refreshes on each new one)."""
        raise NotImplementedError

    async def ping(self) -> dict[str, Any]:
        return await self.request(Ping(0))

    async def join(
        self, org_id: str, workspace_id: str, session: str | None = None
    ) -> dict[str, Any]:
        """Be present in the workspace; the session defaults to this connection's own."""
        ws = workspace(org_id, workspace_id)
        return await self.request(PresenceJoin(0, ws.org_id, ws.workspace_id, _session(session)))

    async def leave(
        self, org_id: str, workspace_id: str, session: str | None = None
    ) -> dict[str, Any]:
        ws = workspace(org_id, workspace_id)
        return await self.request(PresenceLeave(0, ws.org_id, ws.workspace_id, _session(session)))

    async def view(
        self,
        org_id: str,
        workspace_id: str,
        resource_type: str | None,
        resource_id: str | None,
        session: str | None = None,
    ) -> dict[str, Any]:
        """Say what you look at; both resource fields None to stop (WebSocket only)."""
        ws = workspace(org_id, workspace_id)
        command = PresenceView(
            0, ws.org_id, ws.workspace_id, resource_type, resource_id, _session(session)
        )
        return await self.request(command)

    async def publish(
        self,
        org_id: str,
        workspace_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        *,
        persist: bool = True,
        audience: Audience | None = None,
    ) -> ClientEvent:
        """Append a custom event and return it as stored; with `persist=False` broadcast it
        to live subscribers only (an ephemeral event: no id, never replayed); with an
        `audience`, only the users it admits receive it. Over SSE this is the REST route,
        which needs an API key or an admin token."""
        ws = workspace(org_id, workspace_id)
        command = Publish(
            0,
            ws.org_id,
            ws.workspace_id,
            event_type,
            data or {},
            persist=persist,
            idempotency_key=idempotency_key,
            audience=audience,
        )
        result = await self.request(command)
        return ClientEvent.from_wire(result.get("event"))

    async def acquire(
        self,
        org_id: str,
        workspace_id: str,
        entity_type: str,
        entity_id: str,
        ttl: float | None = None,
    ) -> dict[str, Any]:
        """Take (or extend, if yours) the entity's lock; the lock, camelCase as over REST.
        Raises LockHeldError (`holder`, `expires_at`) when another user holds it."""
        ws = workspace(org_id, workspace_id)
        command = LockAcquire(0, ws.org_id, ws.workspace_id, entity_type, entity_id, ttl)
        return await self.request(command)

    async def refresh(
        self,
        org_id: str,
        workspace_id: str,
        entity_type: str,
        entity_id: str,
        ttl: float | None = None,
    ) -> dict[str, Any]:
        """Extend your lease; ClientError LOCK_NOT_HELD when it is gone."""
        ws = workspace(org_id, workspace_id)
        command = LockRefresh(0, ws.org_id, ws.workspace_id, entity_type, entity_id, ttl)
        return await self.request(command)

    async def release(
        self, org_id: str, workspace_id: str, entity_type: str, entity_id: str
    ) -> dict[str, Any]:
        ws = workspace(org_id, workspace_id)
        command = LockRelease(0, ws.org_id, ws.workspace_id, entity_type, entity_id)
        return await self.request(command)

    def lock(
        self,
        org_id: str,
        workspace_id: str,
        entity_type: str,
        entity_id: str,
        ttl: float = 30.0,
    ) -> HeldLock:
        """`async with client.lock(...) as lock:` holds the lock for the block, refreshing it
        every `ttl / 3` seconds; see HeldLock."""
        return HeldLock(self, org_id, workspace_id, entity_type, entity_id, ttl)


def workspace(org_id: str, workspace_id: str) -> WorkspaceKey:
    return WorkspaceKey(OrgId(org_id), WorkspaceId(workspace_id))


def _session(session: str | None) -> SessionId | None:
    return None if session is None else SessionId(session)
