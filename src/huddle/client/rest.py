"""Requests over REST, for the SSE transport: the same commands and result shapes as the
WebSocket ops, sent to the REST routes that do the same thing.

Differences a caller may notice: publishing needs an API key or an admin token (the REST
route's rule); `session=None` means this client's own presence session (`hc-...`), as it
means the connection's own over WebSocket; stopping a view has no REST route and raises
ClientError("UNSUPPORTED"); locks taken over REST are not bound to a connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, assert_never
from urllib.parse import quote

import httpx

from ..protocol.ws import (
    AuthRefresh,
    Command,
    LockAcquire,
    LockRefresh,
    LockRelease,
    Ping,
    PresenceJoin,
    PresenceLeave,
    PresenceView,
    Publish,
    Subscribe,
    Unsubscribe,
)
from .errors import AuthError, ClientError, ConnectionLost, ServerProtocolError, error_from
from .transport import Credentials

#: Statuses after which a stream is opened again (with backoff) rather than given up.
RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    params: dict[str, str | float] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    wrap: str | None = None
    """Key under which the WebSocket reply carries this route's answer (publish: `event`)."""
    answer: dict[str, Any] | None = None
    """A fixed result instead of the response body (ping)."""


def workspace_path(org_id: str, workspace_id: str) -> str:
    return f"/v1/orgs/{quote(org_id, safe='')}/workspaces/{quote(workspace_id, safe='')}"


def route(command: Command, session: str) -> Route:
    """The REST call doing what `command` does over WebSocket."""
    match command:
        case PresenceJoin() | PresenceLeave():
            action = "join" if isinstance(command, PresenceJoin) else "leave"
            path = f"{workspace_path(command.org_id, command.workspace_id)}/sync/presence/{action}"
            return Route("POST", path, {"session_id": command.session or session})
        case PresenceView():
            if command.resource_type is None or command.resource_id is None:
                raise ClientError("UNSUPPORTED", "stopping a view has no REST route (SSE mode)")
            path = f"{workspace_path(command.org_id, command.workspace_id)}/sync/presence/viewing"
            params: dict[str, str | float] = {
                "resource_type": command.resource_type,
                "resource_id": command.resource_id,
                "session_id": command.session or session,
            }
            return Route("POST", path, params)
        case LockAcquire() | LockRefresh() | LockRelease():
            path = (
                f"/v1/collaboration/locks/{quote(command.entity_type, safe='')}"
                f"/{quote(command.entity_id, safe='')}"
            )
            headers: dict[str, str] = {"X-Workspace-Id": command.workspace_id}
            if isinstance(command, LockRelease):
                return Route("DELETE", path, headers=headers)
            ttl: dict[str, str | float] = {} if command.ttl is None else {"ttl": command.ttl}
            if isinstance(command, LockRefresh):
                # The session moves the lease to this client: a lock first taken over a
                # WebSocket that dropped is then not released after the node's grace period.
                return Route("POST", f"{path}/refresh", ttl, {"sessionId": session}, headers)
            return Route("POST", path, ttl, {"sessionId": session}, headers)
        case Publish():
            body: dict[str, Any] = {"type": command.type, "data": command.data}
            if command.idempotency_key is not None:
                body["idempotency_key"] = command.idempotency_key
            if not command.persist:  # sent only when asked: older nodes refuse the field
                body["persist"] = False
            if command.audience is not None:
                audience = command.audience
                body["audience"] = {
                    "users": sorted(audience.users),
                    "members_of": sorted(audience.members_of),
                }
            path = f"{workspace_path(command.org_id, command.workspace_id)}/events"
            return Route("POST", path, body=body, wrap="event")
        case Ping():
            return Route("GET", "/healthz", answer={"pong": True})
        case Subscribe() | Unsubscribe() | AuthRefresh():
            raise ValueError(f"{command.op} changes the client's state: the client handles it")
        case _:
            assert_never(command)


def http_error(response: httpx.Response) -> ClientError:
    """The error an HTTP answer carries: the `{"error", "message", "details"}` envelope, a
    422 `{"detail": [...]}` list (code VALIDATION_ERROR), or `HTTP_<status>`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        raw = {
            "code": body["error"],
            "message": body.get("message"),
            "details": body.get("details"),
        }
    elif isinstance(body, dict) and isinstance(body.get("detail"), list) and body["detail"]:
        first = body["detail"][0]
        message = first.get("msg") if isinstance(first, dict) else None
        raw = {
            "code": "VALIDATION_ERROR",
            "message": message,
            "details": {"errors": body["detail"]},
        }
    else:
        text = response.text[:200] if response.content else response.reason_phrase
        raw = {"code": f"HTTP_{response.status_code}", "message": text}
    return error_from(raw)


def auth_error(response: httpx.Response) -> AuthError:
    error = http_error(response)
    return AuthError(f"credentials refused: {error.code}: {error.message}", response.status_code)


class RestApi:
    """Commands as REST calls, authenticated with the client's current token."""

    def __init__(self, base_url: str, credentials: Credentials, timeout: float, session: str):
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._credentials = credentials
        self.session = session

    async def call(self, command: Command) -> dict[str, Any]:
        """The command's result, shaped like the WebSocket reply's `result`."""
        found = route(command, self.session)
        headers = {"Authorization": f"Bearer {self._credentials.current()}", **found.headers}
        try:
            response = await self._http.request(
                found.method, found.path, params=found.params, json=found.body, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"{found.method} {found.path}: no answer") from exc
        except httpx.TransportError as exc:
            raise ConnectionLost(f"{found.method} {found.path}: {exc!r}") from exc
        if response.is_error:
            raise http_error(response)
        if found.answer is not None:
            return dict(found.answer)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ServerProtocolError(f"{found.method} {found.path}: not a JSON object")
        return {found.wrap: body} if found.wrap else body

    async def aclose(self) -> None:
        await self._http.aclose()
