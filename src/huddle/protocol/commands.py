"""What a WebSocket client can ask for: one frozen dataclass per op, already validated.

`protocol.ws.parse_command` builds these from frames; nothing else should, except tests and
clients (`protocol.ws.encode_command` turns one back into a frame). Every command carries `id`,
the client's request id, which the reply repeats. Optional fields are `None` when the frame
left them out or sent `null`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeAlias

from ..ids import EntityRef, OrgId, SessionId, WorkspaceId, WorkspaceKey
from ..models import Audience

#: A value JSON can carry, and so every codec: what `Publish.data` may hold.
JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

Op = Literal[
    "subscribe",
    "unsubscribe",
    "presence.join",
    "presence.leave",
    "presence.view",
    "lock.acquire",
    "lock.refresh",
    "lock.release",
    "publish",
    "ping",
    "auth.refresh",
]


class _InWorkspace:
    """Commands addressed to one workspace."""

    __slots__ = ()
    org_id: OrgId
    workspace_id: WorkspaceId

    @property
    def workspace(self) -> WorkspaceKey:
        return WorkspaceKey(self.org_id, self.workspace_id)


class _OnEntity(_InWorkspace):
    """Commands about one entity (a lock) of a workspace."""

    __slots__ = ()
    entity_type: str
    entity_id: str

    @property
    def entity(self) -> EntityRef:
        return EntityRef(self.entity_type, self.entity_id)


@dataclass(frozen=True, slots=True)
class Subscribe(_InWorkspace):
    """Receive the workspace's events; from after `since` (a cursor) when given, else live."""

    op: ClassVar[Op] = "subscribe"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId
    since: str | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe(_InWorkspace):
    op: ClassVar[Op] = "unsubscribe"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId


@dataclass(frozen=True, slots=True)
class PresenceJoin(_InWorkspace):
    """Be present in the workspace; `session` names a presence session (default: the
    connection's own)."""

    op: ClassVar[Op] = "presence.join"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId
    session: SessionId | None = None


@dataclass(frozen=True, slots=True)
class PresenceLeave(_InWorkspace):
    op: ClassVar[Op] = "presence.leave"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId
    session: SessionId | None = None


@dataclass(frozen=True, slots=True)
class PresenceView(_InWorkspace):
    """View one entity; both resource fields `None` means stop viewing (never just one)."""

    op: ClassVar[Op] = "presence.view"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId
    resource_type: str | None = None
    resource_id: str | None = None
    session: SessionId | None = None

    @property
    def viewing(self) -> EntityRef | None:
        if self.resource_type is None or self.resource_id is None:
            return None
        return EntityRef(self.resource_type, self.resource_id)


@dataclass(frozen=True, slots=True)
class LockAcquire(_OnEntity):
    """Take (or extend, if already ours) the lease; `ttl` seconds, `None` for the default.
    Bounds are the lock service's business, not the parser's."""

    op: ClassVar[Op] = "lock.acquire"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId
    entity_type: str
    entity_id: str
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class LockRefresh(_OnEntity):
    op: ClassVar[Op] = "lock.refresh"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId
    entity_type: str
    entity_id: str
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class LockRelease(_OnEntity):
    op: ClassVar[Op] = "lock.release"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId
    entity_type: str
    entity_id: str


@dataclass(frozen=True, slots=True)
class Publish(_InWorkspace):
    """Broadcast a custom event. `persist=False` skips the log (cursor moves, typing).
    Reserved type prefixes are refused by the events service, not here."""

    op: ClassVar[Op] = "publish"
    id: int
    org_id: OrgId
    workspace_id: WorkspaceId
    type: str
    data: dict[str, JsonValue] = field(default_factory=dict, hash=False)
    persist: bool = True
    idempotency_key: str | None = None
    audience: Audience | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class Ping:
    op: ClassVar[Op] = "ping"
    id: int


@dataclass(frozen=True, slots=True)
class AuthRefresh:
    """Replace the connection's credentials before they expire (a JWT or an API key)."""

    op: ClassVar[Op] = "auth.refresh"
    id: int
    token: str = field(repr=False)


Command: TypeAlias = (
    Subscribe
    | Unsubscribe
    | PresenceJoin
    | PresenceLeave
    | PresenceView
    | LockAcquire
    | LockRefresh
    | LockRelease
    | Publish
    | Ping
    | AuthRefresh
)
