"""Seed 003 presence routes and the project's own workspace reads, under
/v1/orgs/{org_id}/workspaces/{workspace_id}/."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import StringConstraints

from ..errors import RateLimited
from ..ids import (
    ENTITY_ID_PATTERN,
    ENTITY_TYPE_PATTERN,
    SESSION_ID_PATTERN,
    USER_ID_PATTERN,
    EntityRef,
)
from .deps import CurrentPrincipal, CurrentServices, PathWorkspace
from .disconnect import until_disconnected
from .error_models import errors
from .sync_models import (
    EventOut,
    EventsOut,
    LeftOut,
    MembershipIn,
    MembershipOut,
    PositionOut,
    PublishIn,
    RosterOut,
    RosterUserOut,
    SessionOut,
    UsersIn,
    UsersOut,
)

router = APIRouter(prefix="/v1/orgs/{org_id}/workspaces/{workspace_id}", tags=["Workspace Sync"])

ClientSession = Annotated[
    str | None,
    Query(
        pattern=SESSION_ID_PATTERN,
        description="Your name for this session (a tab id); default `default`",
        examples=["tab-1"],
    ),
]


@router.post(
    "/sync/presence/join",
    response_model=SessionOut,
    responses=errors(403, 404),
    summary="Announce Presence Join",
)
async def announce_presence_join(
    ws: PathWorkspace,
    caller: CurrentPrincipal,
    svc: CurrentServices,
    session_id: ClientSession = None,
) -> SessionOut:
    """Join the workspace, or keep your session alive (announce again before `expires_at`)."""
    joined = await svc.presence.join(ws, caller, session_id)
    return SessionOut.of(joined.session, joined.new)


@router.post(
    "/sync/presence/leave",
    response_model=LeftOut,
    responses=errors(403, 404),
    summary="Announce Presence Leave",
)
async def announce_presence_leave(
    ws: PathWorkspace,
    caller: CurrentPrincipal,
    svc: CurrentServices,
    session_id: ClientSession = None,
) -> LeftOut:
    left = await svc.presence.leave(ws, caller, session_id)
    return LeftOut(session_id=session_id or "default", left=left)


@router.post(
    "/sync/presence/viewing",
    response_model=SessionOut,
    responses=errors(403, 404),
    summary="Announce Presence Viewing",
)
async def announce_presence_viewing(
    ws: PathWorkspace,
    caller: CurrentPrincipal,
    svc: CurrentServices,
    resource_type: Annotated[
        str,
        Query(
            pattern=ENTITY_TYPE_PATTERN,
            description="Type of resource being viewed",
            examples=["deal"],
        ),
    ],
    resource_id: Annotated[
        str,
        Query(
            pattern=ENTITY_ID_PATTERN, description="ID of resource being viewed", examples=["42"]
        ),
    ],
    session_id: ClientSession = None,
) -> SessionOut:
    """Say what you are looking at; joins your session first if needed."""
    joined = await svc.presence.view(ws, caller, EntityRef(resource_type, resource_id), session_id)
    return SessionOut.of(joined.session, joined.new)


@router.delete(
    "/sync/presence/viewing",
    response_model=SessionOut,
    responses=errors(403, 404),
    summary="Stop Viewing",
)
async def stop_viewing(
    ws: PathWorkspace,
    caller: CurrentPrincipal,
    svc: CurrentServices,
    session_id: ClientSession = None,
) -> SessionOut:
    """Say you no longer look at anything (`presence.viewing` with a null resource); the
    session stays present (joined first if needed)."""
    joined = await svc.presence.view(ws, caller, None, session_id)
    return SessionOut.of(joined.session, joined.new)


@router.get(
    "/sync/presence",
    response_model=RosterOut,
    responses=errors(403, 404),
    summary="Workspace Presence Roster",
)
async def workspace_roster(
    ws: PathWorkspace, caller: CurrentPrincipal, svc: CurrentServices
) -> RosterOut:
    """Everyone present in the workspace, with their session count and what they view (what
    the caller may see of it)."""
    entries = await svc.presence.roster(ws, caller)
    return RosterOut(
        users=[RosterUserOut.of(e) for e in entries],
        count=len(entries),
        sessions=sum(len(e.sessions) for e in entries),
    )


@router.get(
    "/sync/presence/users",
    response_model=UsersOut,
    responses=errors(403, 404, 422),
    summary="Which Users Are Online",
)
async def users_online(
    ws: PathWorkspace,
    svc: CurrentServices,
    user_id: Annotated[
        list[Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]],
        Query(description="A user to look up; repeat the parameter for more", examples=["ana"]),
    ],
) -> UsersOut:
    """For each user asked, whether they are online in the workspace (a live session on any
    node) and how many sessions they have. Costs O(users asked), never a scan; at most
    `HUDDLE_SUMMARY_MAX_ENTITIES` users (else `422`). `user.online` and `user.offline`
    events tell the changes."""
    return UsersOut.of(await svc.presence.users(ws, user_id))


@router.post(
    "/sync/presence/users",
    response_model=UsersOut,
    responses=errors(403, 404, 422),
    summary="Which Users Are Online (Body)",
)
async def users_online_body(ws: PathWorkspace, svc: CurrentServices, body: UsersIn) -> UsersOut:
    """As `GET`, for lists too long for a URL: `{"user_ids": [...]}`."""
    return UsersOut.of(await svc.presence.users(ws, body.user_ids))


UserPath = Annotated[str, Path(pattern=USER_ID_PATTERN, examples=["ana"])]


@router.get(
    "/sync/memberships/{user_id}",
    response_model=MembershipOut,
    responses=errors(403, 404),
    summary="A User's Groups",
)
async def membership_of(
    ws: PathWorkspace, user_id: UserPath, caller: CurrentPrincipal, svc: CurrentServices
) -> MembershipOut:
    """The groups the user belongs to in this workspace, which event audiences name in
    `members_of`. The user themself, admins and services may read it."""
    if caller.kind == "user" and caller.user_id != user_id:
        caller.require_admin("memberships:read")
    groups = await svc.audiences.groups_of(ws, user_id)
    return MembershipOut(user_id=user_id, members_of=sorted(groups))


@router.put(
    "/sync/memberships/{user_id}",
    response_model=MembershipOut,
    responses=errors(403, 404, 422),
    summary="Set A User's Groups",
)
async def set_membership(
    ws: PathWorkspace,
    user_id: UserPath,
    body: MembershipIn,
    caller: CurrentPrincipal,
    svc: CurrentServices,
) -> MembershipOut:
    """Replace the user's groups (admins and services). A change is one `membership.changed`
    event for that user alone, and applies at once to their open streams: events for a
    group they left stop, events for a group they joined start, from that event on."""
    if caller.kind == "user":
        caller.require_admin("memberships:write")
    groups = await svc.audiences.set_groups(ws, user_id, body.members_of, caller.actor())
    return MembershipOut(user_id=user_id, members_of=sorted(groups))


@router.get(
    "/sync/events",
    response_model=EventsOut,
    responses=errors(400, 403, 404),
    summary="Read Workspace Events",
)
async def read_events(
    request: Request,
    ws: PathWorkspace,
    caller: CurrentPrincipal,
    svc: CurrentServices,
    after: Annotated[
        str | None,
        Query(
            max_length=64,
            description="An event id (`next` of the last answer); omitted: the oldest kept",
            examples=["3fa1b2c4:17"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=300,
            description="Long poll: seconds to wait for an event when there is none yet "
            "(capped by HUDDLE_POLL_WAIT_MAX)",
        ),
    ] = 0,
) -> EventsOut:
    """The workspace's events after a cursor, oldest first — the same ids and order as the
    streams. A cursor whose history is gone answers one `sync.reset` event: reload state,
    then continue from `next`."""
    polling = svc.streams.poll(ws, after, limit, wait, caller)
    if wait > 0:
        draining = svc.node.sessions.until_draining()
        replay = await until_disconnected(request, polling, or_until=draining)
    else:
        replay = await polling
    if replay is None:  # the client left, or the node drains: an empty page, poll again
        return EventsOut(events=[], next=after, reset=False)
    return EventsOut(
        events=[EventOut.of(e) for e in replay.events], next=replay.next, reset=replay.reset
    )


@router.get(
    "/sync/position",
    response_model=PositionOut,
    responses=errors(403, 404),
    summary="Workspace Position",
)
async def workspace_position(ws: PathWorkspace, svc: CurrentServices) -> PositionOut:
    """The id of the workspace's newest event (`origin:0` before the first): subscribe,
    stream or poll after it to get everything from now on, with no event missed between."""
    return PositionOut(position=await svc.events.position(ws))


@router.post(
    "/events",
    response_model=EventOut,
    status_code=201,
    responses=errors(403, 404, 413, 429),
    summary="Publish Custom Event",
)
async def publish_event(
    body: PublishIn, ws: PathWorkspace, caller: CurrentPrincipal, svc: CurrentServices
) -> EventOut:
    """Append a custom event and publish it to the workspace (any member, as over the
    WebSocket). Huddle's own type prefixes are refused; a repeated `idempotency_key` answers
    the first event instead of a second one; `persist: false` broadcasts it outside the log.
    A member publishes at most `HUDDLE_PUBLISH_RATE` per second on a node (429
    `RATE_LIMITED`); services (API keys) and admins are not limited."""
    limited = not (caller.is_api_key or caller.is_admin)
    if limited and not svc.node.publish_budgets.take((caller.org_id, caller.user_id)):
        rate = svc.node.settings.publish_rate
        raise RateLimited(
            f"at most {rate:g} publishes per second per user; slow down", details={"limit": rate}
        )
    event = await svc.events.publish_custom(
        ws,
        caller.actor(),
        body.type,
        body.data,
        body.idempotency_key,
        persist=body.persist,
        audience=None if body.audience is None else body.audience.to_audience(),
    )
    return EventOut.of(event)
