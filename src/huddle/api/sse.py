"""Seed 003's workspace stream over Server-Sent Events, and the stream ticket for browsers.

EventSource cannot send headers, so besides `Authorization` the stream accepts an
`access_token` query parameter (a token, an API key, or better a ticket from
`POST .../sync/ticket`, see `huddle.tickets`) and a `huddle_token` cookie checked together
with `Origin`. A stream ends by itself at its `timeout`, at `HUDDLE_SSE_MAX_LIFETIME`, when its
credential expires, or at once when the API key or user token it was opened with is revoked or
replaced (`hub.credentials`), each time with a final `sync.reconnect` event saying why.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from ..auth import Principal
from ..errors import BackendUnavailable, BadRequest, CredentialsMissing, Forbidden
from ..hub.credentials import Verdict
from ..hub.limits import Slot
from ..hub.outbox import Outbox
from ..ids import SESSION_ID_PATTERN, WorkspaceKey
from ..protocol.cursor import parse_cursor
from ..protocol.sse import sse_comment, sse_event, sse_position, sse_retry
from .deps import (
    CurrentPrincipal,
    OrgIdPath,
    PathWorkspace,
    Runtime,
    WorkspaceIdPath,
    authenticate_stream,
    runtime,
    workspace_key,
)
from .error_models import errors

router = APIRouter(prefix="/v1/orgs/{org_id}/workspaces/{workspace_id}", tags=["Workspace Sync"])

COOKIE = "huddle_token"


class TicketOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ticket": "eyJhbGciOiJIUzI1NiIsInR5cCI6Imh1ZGRsZS1zdHJlYW0tdGlja2V0In0.e30.s",
                    "expires_in": 60,
                    "resumable_for": 3540,
                }
            ]
        }
    )
    ticket: str
    expires_in: int = Field(description="Seconds left to open a stream with this ticket")
    resumable_for: int = Field(
        description="Seconds the stream it opened may reconnect with it (with Last-Event-ID): "
        "until the caller's own token expires"
    )


@router.post(
    "/sync/ticket",
    response_model=TicketOut,
    responses=errors(400, 403, 404),
    summary="Issue Stream Ticket",
)
async def create_stream_ticket(
    request: Request, ws: PathWorkspace, caller: CurrentPrincipal
) -> TicketOut:
    """A ticket that opens this workspace's stream as the caller, for an EventSource URL
    (`?access_token=<ticket>`) instead of a real token: it opens a new stream within
    `HUDDLE_STREAM_TICKET_TTL` seconds, and the browser's own reconnects of that stream (they
    carry Last-Event-ID) keep working with it until the caller's token expires."""
    rt = runtime(request)
    if rt.tickets is None:
        raise BadRequest("Stream tickets need HUDDLE_JWT_SECRET on the node")
    now = time.time()
    ticket = rt.tickets.mint(caller, ws.workspace_id, now)
    return TicketOut(
        ticket=ticket.token,
        expires_in=max(0, int(ticket.opens_until - now)),
        resumable_for=max(0, int(ticket.resumes_until - now)),
    )


async def stream_principal(
    request: Request,
    rt: Runtime,
    authorization: str | None,
    access_token: str | None,
    resuming: bool,
) -> Principal:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        return await authenticate_stream(rt, credential.strip(), resuming=resuming)
    if api_key := request.headers.get("x-api-key"):
        return await authenticate_stream(rt, api_key, resuming=resuming)
    if access_token:
        return await authenticate_stream(rt, access_token, resuming=resuming)
    if cookie := request.cookies.get(COOKIE):
        if not rt.origins.cookie_allows(request):
            origin = request.headers.get("origin", "")
            raise Forbidden(
                f"Origin {origin[:100]!r} may not use cookie authentication",
                details={"required_permission": "origin:allowed"},
            )
        return await authenticate_stream(rt, cookie, resuming=resuming)
    raise CredentialsMissing("no Authorization, X-API-KEY, access_token or cookie")


@router.get(
    "/sync/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "example": 'retry: 3000\n\nid: 3fa1b2c4:18\nevent: lock.acquired\ndata: {"id":'
                    '"3fa1b2c4:18","seq":18,"type":"lock.acquired",...}\n\n'
                }
            },
            "description": "An event stream; ends at `timeout` with a `sync.reconnect` event.",
        },
        **errors(400, 403, 404, 429),
    },
    summary="Stream Workspace Events",
)
async def stream_workspace_events(
    request: Request,
    org_id: OrgIdPath,
    workspace_id: WorkspaceIdPath,
    # seed 003 names the parameter `timeout`
    timeout: Annotated[int, Query(ge=60, le=7200, description="Stream timeout in seconds")] = 3600,  # noqa: ASYNC109
    authorization: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[
        str | None,
        Query(max_length=64, description="Resume after this id (or the Last-Event-ID header)"),
    ] = None,
    access_token: Annotated[
        str | None, Query(max_length=8192, description="A stream ticket, token or API key")
    ] = None,
    session_id: Annotated[
        str | None,
        Query(
            pattern=SESSION_ID_PATTERN,
            description="Your name for this stream's presence session (a tab id): it stays "
            "one session across the stream's reconnects",
        ),
    ] = None,
    presence: Annotated[
        bool, Query(description="false: the stream is not a presence session of the caller")
    ] = True,
) -> StreamingResponse:
    """Every event of the workspace as it happens, resuming after `Last-Event-ID`. The open
    stream keeps the caller present in the workspace. A session the stream named itself
    leaves when it closes; one named by `session_id` outlives it by up to one presence TTL,
    so that a reconnecting tab stays one session. A user holds at most
    `HUDDLE_SSE_MAX_STREAMS_PER_USER` streams per node: one more answers 429."""
    rt = runtime(request)
    since = request.headers.get("last-event-id") or last_event_id
    caller = await stream_principal(
        request, rt, authorization, access_token, resuming=since is not None
    )
    ws = workspace_key(caller, org_id, workspace_id)
    if since is not None:
        parse_cursor(since)
    # Admitted before the first byte: over the limit is a 429 envelope, not a stream that
    # ends (an EventSource would retry that forever).
    slot = rt.services.node.limits.admit("sse", (caller.org_id, caller.user_id))
    if session_id is None and caller.ticket_id is not None:
        # The browser's reconnects present the same ticket: naming the session after it
        # keeps a native EventSource one presence session across them.
        session_id = f"sse-{caller.ticket_id}"
    plan = StreamPlan(ws, caller, since, _ending(rt, caller, timeout), session_id, presence)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    body = _stream(rt, plan) if not rt.services.node.sessions.draining else _turned_away(rt)
    return _HeldStream(body, slot, media_type="text/event-stream", headers=headers)


@dataclass(frozen=True, slots=True)
class StreamPlan:
    ws: WorkspaceKey
    caller: Principal
    since: str | None
    ending: tuple[float, str]
    """(seconds from now, the reason the final event gives then)."""
    client_session: str | None
    presence: bool


def _ending(rt: Runtime, caller: Principal, timeout: int) -> tuple[float, str]:
    """When the stream ends by itself and why: its `timeout` (capped by
    `HUDDLE_SSE_MAX_LIFETIME`), or its credential's expiry if that comes first."""
    lifetime = min(float(timeout), rt.settings.sse_max_lifetime)
    if caller.expires_at is not None:
        left = caller.expires_at + rt.settings.jwt_leeway - time.time()
        if left < lifetime:
            return max(0.0, left), "credential_expired"
    return lifetime, "timeout"


class _HeldStream(StreamingResponse):
    """A stream that frees its connection slot when the response ends, however it ends:
    also when the body never started (the client left before the first byte)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        slot: Slot,
        *,
        media_type: str,
        headers: dict[str, str],
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


async def _stream(rt: Runtime, plan: StreamPlan) -> AsyncIterator[bytes]:
    settings, svc = rt.settings, rt.services
    ws, caller = plan.ws, plan.caller
    yield sse_retry(round(settings.sse_retry * 1000))
    outbox = Outbox(settings.outbox_limit)
    name = plan.client_session or f"sse-{secrets.token_hex(4)}"
    live = svc.node.sessions.open(name, "sse", caller.user_id, outbox.nudge)
    verdict: Verdict | None = None

    def credential_ended(why: Verdict) -> None:
        nonlocal verdict
        verdict = why
        outbox.nudge()

    def started_at(position: str | None) -> None:
        # Without a cursor the stream starts live: an id-only block gives the browser's
        # Last-Event-ID that position, so a reconnect before any event misses nothing.
        if plan.since is None and position is not None:
            outbox.offer(sse_position(position))

    try:
        following = svc.streams.follow(ws, outbox, "sse", plan.since, caller, started_at)
        async with svc.node.credentials.following(caller, credential_ended), following:
            if plan.presence and not live.stopping and verdict is None:
                joined = await svc.presence.join(ws, caller, name, kind="sse")
                live.present(ws, name, joined.session, own=plan.client_session is None)
            # One timer per stream, re-armed only when it rings, wakes the loop for a due
            # heartbeat and for the end of the stream's lifetime: a timeout on every take
            # cost a timer per frame per stream (a quarter of the node's time in fan-out).
            loop = asyncio.get_running_loop()
            heartbeat = settings.sse_heartbeat
            lifetime, reason = plan.ending
            deadline = loop.time() + lifetime
            last_write = loop.time()
            rang = False

            def ring() -> None:
                nonlocal rang
                rang = True
                outbox.nudge()

            timer = loop.call_at(min(last_write + heartbeat, deadline), ring)
            try:
                while loop.time() < deadline and not live.stopping and verdict is None:
                    frames = await outbox.take()
                    if verdict is not None:
                        break  # nothing more for a revoked credential, not even what queued
                    now = loop.time()
                    if frames:
                        yield b"".join(f if isinstance(f, bytes) else f.encode() for f in frames)
                        last_write = now
                    elif outbox.closed:
                        svc.node.metrics.slow_consumer("sse")
                        yield _closing("slow_consumer")
                        return
                    if rang:
                        rang = False
                        if now - last_write >= heartbeat and now < deadline:
                            yield sse_comment("heartbeat")
                            last_write = now
                        timer = loop.call_at(min(last_write + heartbeat, deadline), ring)
            finally:
                timer.cancel()
            if verdict == "unverified":
                # The node cannot vouch for the key any more: as when the backend is down,
                # end without a final event; the reconnect authenticates again.
                yield sse_comment("credential unverified: reconnect")
                return
            if verdict == "revoked":
                yield _closing("credential_revoked")
            else:
                yield _closing("shutdown" if live.stopping else reason)
    except BackendUnavailable:
        svc.node.metrics.backend_error("sse")
        yield sse_comment("backend unavailable: reconnect")
    finally:
        await svc.node.sessions.end(live)


async def _turned_away(rt: Runtime) -> AsyncIterator[bytes]:
    """A stream opened while the node drains: 200 (a browser would give up for good on an
    error) with a `retry:` hint and the final event at once; it reconnects elsewhere."""
    yield sse_retry(round(rt.settings.sse_retry * 1000))
    yield _closing("shutdown")


def _closing(reason: str) -> bytes:
    """The last frame: no `id:`, so the browser's Last-Event-ID stays on the last event."""
    return sse_event(None, "sync.reconnect", orjson.dumps({"reason": reason}))
