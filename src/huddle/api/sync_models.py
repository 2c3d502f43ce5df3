"""Seed 003 bodies (snake_case) and the project's own workspace endpoints, with examples."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict

from ..clock import iso_ms
from ..ids import USER_ID_PATTERN
from ..models import (
    AUDIENCE_MAX,
    AUDIENCE_NAME_MAX,
    Audience,
    Event,
    PresenceSession,
    UserPresence,
)
from ..services.presence import RosterEntry, client_session_of

_SESSION_EXAMPLE: JsonDict = {
    "session_id": "tab-1",
    "user_id": "ana",
    "name": "Ana",
    "kind": "rest",
    "joined_at": "2026-01-05T10:01:12.345Z",
    "expires_at": "2026-01-05T10:01:42.345Z",
    "viewing": {
        "resource_type": "deal",
        "resource_id": "42",
        "since": "2026-01-05T10:01:12.345Z",
    },
    "new": True,
}
_EVENT_EXAMPLE: JsonDict = {
    "id": "3fa1b2c4:18",
    "seq": 18,
    "type": "lock.acquired",
    "org_id": "acme",
    "workspace_id": "ws1",
    "actor": {"type": "user", "id": "ben", "name": "Ben"},
    "data": {
        "entity_type": "deal",
        "entity_id": "42",
        "user_id": "ben",
        "name": "Ben",
        "session_id": None,
        "fencing_token": 17,
        "acquired_at_ms": 1767607320000,
        "expires_at_ms": 1767607350000,
    },
    "ts": "2026-01-05T10:02:00.000Z",
}


class ViewingOut(BaseModel):
    resource_type: str
    resource_id: str
    since: str


class SessionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SESSION_EXAMPLE]})

    session_id: str = Field(description="The caller's own name for the session (default)")
    user_id: str
    name: str | None
    kind: str
    joined_at: str
    expires_at: str = Field(description="Announce again before this to stay present")
    viewing: ViewingOut | None
    new: bool = Field(description="True when this call created the session")

    @classmethod
    def of(cls, session: PresenceSession, new: bool) -> SessionOut:
        viewing = None
        if session.viewing is not None:
            viewing = ViewingOut(
                resource_type=session.viewing.type,
                resource_id=session.viewing.id,
                since=iso_ms(session.viewing_since_ms or session.joined_at_ms),
            )
        return cls(
            session_id=client_session_of(session.session_id),
            user_id=session.user_id,
            name=session.name,
            kind=session.kind,
            joined_at=iso_ms(session.joined_at_ms),
            expires_at=iso_ms(session.expires_at_ms),
            viewing=viewing,
            new=new,
        )


class LeftOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"session_id": "tab-1", "left": True}]}
    )

    session_id: str
    left: bool = Field(description="False when the session was not present (nothing changed)")


UserIds = Annotated[
    list[Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]],
    Field(description="The users to look up (repeats are answered again, in order)"),
]


class UsersIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"user_ids": ["ana", "ben"]}]}
    )

    user_ids: UserIds


class UserOnlineOut(BaseModel):
    user_id: str
    online: bool = Field(description="True while the user has a live session in the workspace")
    sessions: int = Field(description="The user's live sessions (tabs, streams, connections)")

    @classmethod
    def of(cls, user: UserPresence) -> UserOnlineOut:
        return cls(user_id=user.user_id, online=user.online, sessions=user.sessions)


class UsersOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "users": [
                        {"user_id": "ana", "online": True, "sessions": 2},
                        {"user_id": "ben", "online": False, "sessions": 0},
                    ],
                    "online": 1,
                }
            ]
        }
    )

    users: list[UserOnlineOut]
    online: int = Field(description="How many of the users asked (distinct) are online")

    @classmethod
    def of(cls, users: list[UserPresence]) -> UsersOut:
        return cls(
            users=[UserOnlineOut.of(u) for u in users],
            online=len({u.user_id for u in users if u.online}),
        )


class RosterSessionOut(BaseModel):
    session_id: str = Field(description="The stored id `<user_id>/<name>`, as events name it")
    kind: str
    joined_at: str
    viewing: ViewingOut | None


def _viewing(session: PresenceSession) -> ViewingOut | None:
    if session.viewing is None:
        return None
    return ViewingOut(
        resource_type=session.viewing.type,
        resource_id=session.viewing.id,
        since=iso_ms(session.viewing_since_ms or session.joined_at_ms),
    )


class RosterUserOut(BaseModel):
    user_id: str
    name: str | None
    since: str
    sessions: int
    viewing: list[ViewingOut]
    session_details: list[RosterSessionOut] = Field(
        description="Each live session: a client folds presence events onto these by `session_id`"
    )

    @classmethod
    def of(cls, entry: RosterEntry) -> RosterUserOut:
        details = [
            RosterSessionOut(
                session_id=s.session_id,
                kind=s.kind,
                joined_at=iso_ms(s.joined_at_ms),
                viewing=_viewing(s),
            )
            for s in entry.sessions
        ]
        return cls(
            user_id=entry.user_id,
            name=entry.name,
            since=iso_ms(entry.since_ms),
            sessions=len(entry.sessions),
            viewing=[d.viewing for d in details if d.viewing is not None],
            session_details=details,
        )


class RosterOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "users": [
                        {
                            "user_id": "ana",
                            "name": "Ana",
                            "since": "2026-01-05T10:01:12.345Z",
                            "sessions": 2,
                            "viewing": [
                                {
                                    "resource_type": "deal",
                                    "resource_id": "42",
                                    "since": "2026-01-05T10:01:12.345Z",
                                }
                            ],
                            "session_details": [
                                {
                                    "session_id": "ana/tab-1",
                                    "kind": "ws",
                                    "joined_at": "2026-01-05T10:01:12.345Z",
                                    "viewing": {
                                        "resource_type": "deal",
                                        "resource_id": "42",
                                        "since": "2026-01-05T10:01:12.345Z",
                                    },
                                },
                                {
                                    "session_id": "ana/tab-2",
                                    "kind": "sse",
                                    "joined_at": "2026-01-05T10:03:40.120Z",
                                    "viewing": None,
                                },
                            ],
                        }
                    ],
                    "count": 1,
                    "sessions": 2,
                }
            ]
        }
    )

    users: list[RosterUserOut]
    count: int = Field(description="Distinct users present")
    sessions: int


class ActorOut(BaseModel):
    type: str
    id: str
    name: str | None


class EventOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EVENT_EXAMPLE]})

    id: str | None = Field(
        description="Opaque cursor `<epoch>:<seq>`: resume after it (null: an ephemeral "
        "broadcast, outside the log)"
    )
    seq: int = Field(description="Dense per workspace epoch: a hole means a missed event")
    type: str
    org_id: str
    workspace_id: str
    actor: ActorOut | None
    data: dict[str, Any]
    ts: str

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls.model_validate(event.to_wire())


class EventsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"events": [_EVENT_EXAMPLE], "next": "3fa1b2c4:18", "reset": False}]
        }
    )

    events: list[EventOut]
    next: str | None = Field(
        description="Pass as `after` to continue; `origin:0` while the workspace has no event"
    )
    reset: bool = Field(
        description="History you asked for is gone: reload state, then continue from `next`"
    )


class PositionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"position": "3fa1b2c4:18"}]})

    position: str = Field(description="The newest event's id; `origin:0` before the first")


GroupName = Annotated[str, Field(min_length=1, max_length=AUDIENCE_NAME_MAX)]


class MembershipIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"members_of": ["department:7", "location:3"]}]},
    )

    members_of: list[GroupName] = Field(
        max_length=AUDIENCE_MAX, description="The user's whole set of groups (replaces it)"
    )


class MembershipOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_id": "ana", "members_of": ["department:7"]}]}
    )

    user_id: str
    members_of: list[str] = Field(description="Sorted")


class AudienceIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"users": ["u-7", "u-9"]}]}
    )

    users: list[Annotated[str, Field(min_length=1, max_length=AUDIENCE_NAME_MAX)]] = Field(
        default_factory=list, max_length=AUDIENCE_MAX
    )
    members_of: list[Annotated[str, Field(min_length=1, max_length=AUDIENCE_NAME_MAX)]] = Field(
        default_factory=list, max_length=AUDIENCE_MAX
    )

    def to_audience(self) -> Audience:
        return Audience.of(self.users, self.members_of)


class PublishIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "type": "deal.stage_changed",
                    "data": {"deal_id": "42", "stage": "won"},
                    "idempotency_key": "crm-evt-8812",
                }
            ]
        },
    )

    type: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$")
    data: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    persist: bool = Field(
        True, description="false: an ephemeral broadcast to live subscribers, not in the log"
    )
    audience: AudienceIn | None = Field(
        None,
        description="Who may receive it (omitted: every member): the users named and the "
        "members of the groups named. Nobody else receives it, live or replayed; services "
        "always do.",
    )
