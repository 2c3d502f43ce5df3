"""The values the layers hand each other: frozen dataclasses, no I/O, no HTTP.

Wire shapes (JSON bodies) live with the routers; these are the facts behind them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .clock import iso_ms
from .ids import EntityRef, OrgId, WorkspaceId, WorkspaceKey

ActorKind = Literal["user", "service", "system"]
SessionKind = Literal["rest", "ws", "sse"]
#: Why a presence session ended: its client left, it expired, or its node shut down.
LeaveReason = Literal["leave", "timeout", "shutdown"]

#: Event type prefixes only Huddle itself may emit; a custom publish using one is refused.
RESERVED_EVENT_PREFIXES = (
    "presence.",
    "lock.",
    "sync.",
    "collaboration.",
    "object.",
    "field.",
    "record.",
    "membership.",
    "user.",
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused an event: a user, a service (API key without a user) or Huddle itself."""

    kind: ActorKind
    id: str
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "id": self.id, "name": self.name}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Actor | None:
        if raw is None:
            return None
        return cls(kind=raw["type"], id=raw["id"], name=raw.get("name"))


SYSTEM = Actor("system", "huddle", "Huddle")
RESET: Final = "sync.reset"
#: The position of a workspace that has no event yet (`protocol.cursor.ORIGIN`).
ORIGIN_CURSOR: Final = "origin:0"
#: An offset beyond any real head: reading the log after it answers only its epoch and head.
BEYOND_HEAD: Final = 2**53


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see an event, or the item it is about: the `users` named, and every member of
    the groups named in `members_of` (opaque names such as `department:7`, `location:3`; a
    user's groups are their `membership.changed` set). An event without an audience is for
    every member of the workspace. Services (keys without a user) see everything.

    An empty audience is valid and reaches no user: an item only services may see."""

    users: frozenset[str] = frozenset()
    members_of: frozenset[str] = frozenset()

    @classmethod
    def of(cls, users: Iterable[str] = (), members_of: Iterable[str] = ()) -> Audience:
        return cls(frozenset(users), frozenset(members_of))

    def admits(self, user_id: str, groups: frozenset[str]) -> bool:
        return user_id in self.users or not self.members_of.isdisjoint(groups)

    def to_wire(self) -> list[list[str]]:
        """The stored form, `[users, members_of]`, each sorted (equal audiences, equal bytes)."""
        return [sorted(self.users), sorted(self.members_of)]

    @classmethod
    def from_wire(cls, raw: Any) -> Audience | None:
        if raw is None:
            return None
        users, members_of = (list(part) if part else [] for part in raw)
        return cls(frozenset(users), frozenset(members_of))


#: An audience names at most this many users and this many groups, each of at most
#: `AUDIENCE_NAME_MAX` characters.
AUDIENCE_MAX: Final = 1000
AUDIENCE_NAME_MAX: Final = 200


def audience_problem(raw: object) -> str | None:
    """Why `raw` (a map `{"users": [...], "members_of": [...]}` from a client) is not an
    audience, or None. Both lists are optional; other keys are refused."""
    if not isinstance(raw, dict):
        return "an audience is a map with `users` and/or `members_of`"
    unknown = sorted(str(key) for key in raw if key not in ("users", "members_of"))
    if unknown:
        return f"an audience has only `users` and `members_of`, not {', '.join(unknown)}"
    for key in ("users", "members_of"):
        names = raw.get(key) or []
        if not isinstance(names, list) or len(names) > AUDIENCE_MAX:
            return f"`{key}` is a list of at most {AUDIENCE_MAX} names"
        if not all(isinstance(n, str) and 0 < len(n) <= AUDIENCE_NAME_MAX for n in names):
            return f"`{key}` holds names of 1 to {AUDIENCE_NAME_MAX} characters"
    return None


#: The event a user's groups change by (`data`: user_id, members_of): streams that follow
#: the user apply it in log order, so a membership change takes effect from that event on.
MEMBERSHIP_CHANGED: Final = "membership.changed"


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before the log gives it an offset and a timestamp."""

    type: str
    data: dict[str, Any]
    actor: Actor | None
    idempotency_key: str | None = None
    audience: Audience | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a workspace's log. `seq` is dense per workspace epoch (1, 2, 3 ...)."""

    workspace: WorkspaceKey
    epoch: str
    seq: int
    type: str
    actor: Actor | None
    data: dict[str, Any]
    ts_ms: int
    audience: Audience | None = None
    """Who may see it (None: the whole workspace). Never sent: readers outside it never
    receive the event at all."""

    @property
    def id(self) -> str:
        """The opaque cursor clients hold: `<epoch>:<seq>`, the same on every transport;
        `origin:0` for a position before any epoch (a reset of a workspace that has no
        event any more)."""
        return f"{self.epoch}:{self.seq}" if self.epoch else ORIGIN_CURSOR

    @property
    def ephemeral(self) -> bool:
        """A broadcast outside the log (seq 0): no cursor, never replayed. A `sync.reset`
        always has a cursor, even at seq 0."""
        return self.seq == 0 and self.type != RESET

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": None if self.ephemeral else self.id,
            "seq": self.seq,
            "type": self.type,
            "org_id": self.workspace.org_id,
            "workspace_id": self.workspace.workspace_id,
            "actor": None if self.actor is None else self.actor.to_dict(),
            "data": self.data,
            "ts": iso_ms(self.ts_ms),
        }


def reset_event(
    ws: WorkspaceKey,
    epoch: str,
    oldest: int,
    head: int,
    reason: str,
    requested: str | None,
    ts_ms: int,
) -> Event:
    """The synthetic `sync.reset` (never stored), sent at `ts_ms`: history the reader needs
    is gone, so it reloads state over REST and continues from the reset's id, `<epoch>:<head>`
    (`origin:0` when the workspace has no event any more). `reason` is `epoch_changed` (the
    backend lost its history), `cursor_expired` (older than the bounded log) or
    `history_rewound` (the backend came back from an older state under the same epoch)."""

    def cursor(seq: int) -> str | None:
        return f"{epoch}:{seq}" if epoch else None

    return Event(
        workspace=ws,
        epoch=epoch,
        seq=head,
        type=RESET,
        actor=SYSTEM,
        data={
            "reason": reason,
            "requested": requested,
            "epoch": epoch,
            "oldest": cursor(oldest),
            "head": cursor(head),
        },
        ts_ms=ts_ms,
    )


@dataclass(frozen=True, slots=True)
class LogSlice:
    """A consistent read of a log: its epoch, the retained range and events after a point.

    `oldest` is the first retained offset (`head + 1` when nothing is retained); `head` is the
    last offset ever assigned in this epoch (0 before the first event).
    """

    epoch: str
    head: int
    oldest: int
    events: tuple[Event, ...]


# --- locks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holder:
    user_id: str
    name: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Lock:
    """A live lease. `token` is the fencing token: it grows with every new grant."""

    entity: EntityRef
    user_id: str
    name: str | None
    session_id: str | None
    acquired_at_ms: int
    expires_at_ms: int
    token: int
    audience: Audience | None = None
    """Who may see the lock's events (the entity's audience when it was acquired); None:
    every member."""


@dataclass(frozen=True, slots=True)
class Granted:
    """The caller holds the lease. `fresh` is False when an existing lease of the same user was
    extended (re-entrant acquire, or refresh)."""

    lock: Lock
    fresh: bool


@dataclass(frozen=True, slots=True)
class Held:
    """Another user holds a live lease; nothing changed."""

    lock: Lock


@dataclass(frozen=True, slots=True)
class NotHeld:
    """Nobody holds a live lease on the entity; nothing changed."""


@dataclass(frozen=True, slots=True)
class Released:
    lock: Lock


# --- presence --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Who a presence session is; the store adds times and what it views."""

    session_id: str
    user_id: str
    name: str | None = None
    kind: SessionKind = "rest"


@dataclass(frozen=True, slots=True)
class PresenceSession:
    session_id: str
    user_id: str
    name: str | None
    kind: SessionKind
    joined_at_ms: int
    expires_at_ms: int
    viewing: EntityRef | None = None
    viewing_since_ms: int | None = None
    viewing_audience: Audience | None = None
    """Who may see that the session views `viewing` (the entity's audience); None: every
    member."""


@dataclass(frozen=True, slots=True)
class Joined:
    session: PresenceSession
    new: bool


@dataclass(frozen=True, slots=True)
class EntityPresence:
    """Live sessions viewing one entity, and its live lock if any."""

    entity: EntityRef
    sessions: tuple[PresenceSession, ...]
    lock: Lock | None


@dataclass(frozen=True, slots=True)
class UserPresence:
    """One user's live sessions in a workspace: the user is online while there is one."""

    user_id: str
    sessions: int

    @property
    def online(self) -> bool:
        return self.sessions > 0


@dataclass(frozen=True, slots=True)
class SweepResult:
    sessions_expired: int = 0
    locks_expired: int = 0
    idle: bool = False
    """True when the workspace has no sessions and no locks left (it may leave the index)."""


# --- api keys --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as stored: never the key itself, only its SHA-256 (`key_hash`)."""

    id: str
    org_id: str
    workspace_id: str
    user_id: str | None
    admin: bool
    name: str | None
    created_at_ms: int
    created_by: str
    key_hash: str = field(repr=False, default="")


#: A key stopped working: revoked, or replaced by a new key of the same id (a user's token
#: issued again). `data`: `key_id`, and `key_hash` of the key that stopped. The `KeyStore`
#: emits it on the org's `credentials_stream`, in the step that made the change.
CREDENTIAL_REVOKED: Final = "credential.revoked"
#: The workspace id of every org's credential stream: outside `TENANT_ID_PATTERN` (it starts
#: with `~`), so no client can subscribe to it, read it or publish into it.
CREDENTIALS_WORKSPACE: Final = "~credentials"


def credentials_stream(org_id: str) -> WorkspaceKey:
    """Where the org's `credential.revoked` events go: an internal workspace, followed by
    the nodes that hold connections authenticated with the org's keys (`hub.credentials`)."""
    return WorkspaceKey(OrgId(org_id), WorkspaceId(CREDENTIALS_WORKSPACE))
