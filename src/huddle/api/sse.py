"""Seed 003's workspace stream over Server-Sent Events, and the stream ticket for browsers.

EventSource cannot send headers, so besides `Authorization` the stream accepts an
`access_token` query parameter (a token, an API key, or better a short-lived ticket from
`POST .../sync/ticket`) and a `huddle_token` cookie checked together with `Origin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.types import Receive, Scope, Send

from ..auth import Principal, issue_stream_ticket
from ..errors import BackendUnavailable, BadRequest, Forbidden, Unauthenticated
from ..hub.limits import Slot
from ..hub.outbox import Outbox
from ..ids import SESSION_ID_PATTERN, WorkspaceKey
from ..protocol.cursor import parse_cursor
from ..protocol.sse import sse_comment, sse_event, sse_retry
from .deps import (
    CurrentPrincipal,
    OrgIdPath,
    PathWorkspace,
    Runtime,
    WorkspaceIdPath,
    authenticate,
    origin_allowed,
    runtime,
    workspace_key,
)
from .error_models import errors

router = APIRouter(prefix="/v1/orgs/{org_id}/workspaces/{workspace_id}", tags=["Workspace Sync"])

COOKIE = "huddle_token"


class TicketOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ticket": "eyJhbGciOiJIUzI1NiJ9.e30.sig", "expires_in": 60}]
        }
    )
    ticket: str
    expires_in: int


@router.post(
    "/sync/ticket",
    response_model=TicketOut,
    responses=errors(400, 403, 404),
    summary="Issue Stream Ticket",
)
async def create_stream_ticket(
    request: Request, ws: PathWorkspace, caller: CurrentPrincipal
) -> TicketOut:
    """A token valid for `HUDDLE_STREAM_TICKET_TTL` seconds that only opens this workspace's
    streams: put it in the EventSource URL (`?access_token=<ticket>`) instead of a real token."""
    rt = runtime(request)
    if rt.ticket_secret is None:
        raise BadRequest("Stream tickets need HUDDLE_JWT_SECRET on the node")
    ticket, _ = issue_stream_ticket(
        rt.ticket_secret, caller, ws.workspace_id, rt.settings.stream_ticket_ttl
    )
    return TicketOut(ticket=ticket, expires_in=int(rt.settings.stream_ticket_ttl))


async def stream_principal(
    request: Request, rt: Runtime, authorization: str | None, access_token: str | None
) -> Principal:
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        return await authenticate(rt, credential.strip())
    if api_key := request.headers.get("x-api-key"):
        return await authenticate(rt, api_key)
    if access_token:
        return await authenticate(rt, access_token)
    if cookie := request.cookies.get(COOKIE):
        if not origin_allowed(request, rt.settings):
            origin = request.headers.get("origin", "")
            raise Forbidden(
                f"Origin {origin[:100]!r} may not use cookie authentication",
                details={"required_permission": "origin:allowed"},
            )
        return await authenticate(rt, cookie)
    raise Unauthenticated("Authentication required")


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
        Query(pattern=SESSION_ID_PATTERN, description="Presence session name for this stream"),
    ] = None,
) -> StreamingResponse:
    """Every event of the workspace as it happens, resuming after `Last-Event-ID`. The open
    stream keeps the caller present in the workspace and leaves when it closes. A user holds
    at most `HUDDLE_SSE_MAX_STREAMS_PER_USER` streams per node: one more answers 429."""
    rt = runtime(request)
    caller = await stream_principal(request, rt, authorization, access_token)
    ws = workspace_key(caller, org_id, workspace_id)
    since = request.headers.get("last-event-id") or last_event_id
    if since is not None:
        parse_cursor(since)
    # Admitted before the first byte: over the limit is a 429 envelope, not a stream that
    # ends (an EventSource would retry that forever).
    slot = rt.services.node.limits.admit("sse", (caller.org_id, caller.user_id))
    body = _stream(rt, ws, caller, since, timeout, session_id)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return _HeldStream(body, slot, media_type="text/event-stream", headers=headers)


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


async def _stream(
    rt: Runtime,
    ws: WorkspaceKey,
    caller: Principal,
    since: str | None,
    lifetime: int,
    client_session: str | None,
) -> AsyncIterator[bytes]:
    settings, svc = rt.settings, rt.services
    yield sse_retry(round(settings.sse_retry * 1000))
    outbox = Outbox(settings.outbox_limit)
    session = client_session or f"sse-{secrets.token_hex(4)}"
    keeper = svc.node.keeper
    joined = None
    try:
        async with svc.streams.follow(ws, outbox, "sse", since):
            joined = await svc.presence.join(ws, caller, session, kind="sse")
            keeper.keep(ws, joined.session.session_id)
            # One timer per stream, re-armed only when it rings, wakes the loop for a due
            # heartbeat and for the end of the stream's lifetime: a timeout on every take
            # cost a timer per frame per stream (a quarter of the node's time in fan-out).
            loop = asyncio.get_running_loop()
            heartbeat = settings.sse_heartbeat
            deadline = loop.time() + lifetime
            last_write = loop.time()
            rang = False

            def ring() -> None:
                nonlocal rang
                rang = True
                outbox.nudge()

            timer = loop.call_at(min(last_write + heartbeat, deadline), ring)
            try:
                while loop.time() < deadline:
                    frames = await outbox.take()
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
            yield _closing("timeout")
    except BackendUnavailable:
        svc.node.metrics.backend_error("sse")
        yield sse_comment("backend unavailable: reconnect")
    finally:
        if joined is not None:
            keeper.drop(ws, joined.session.session_id)
            # The stream's task is being cancelled (Starlette's task group cancels on
            # disconnect, level-triggered), so the goodbye runs in a shielded, bounded scope.
            # Unreachable now, the session still ends by itself within one presence TTL.
            with (
                anyio.move_on_after(settings.redis_timeout, shield=True),
                contextlib.suppress(BackendUnavailable),
            ):
                await svc.presence.leave(ws, caller, session)


def _closing(reason: str) -> bytes:
    """The last frame: no `id:`, so the browser's Last-Event-ID stays on the last event."""
    return sse_event(None, "sync.reconnect", orjson.dumps({"reason": reason}))
