"""Typed accessors for handlers: the runtime, the caller, and the workspace a request is in.

401 (who are you?), 403 (you may not), 404 (not yours, or not there: another org's things are
always 404 so that existence is never leaked) are decided here and in the services only.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from ..auth import Principal, TokenVerifier, key_fingerprint, looks_like_api_key
from ..config import Settings
from ..errors import (
    BadRequest,
    CredentialsMissing,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from ..ids import TENANT_ID_PATTERN, OrgId, WorkspaceId, WorkspaceKey
from ..services import Services
from ..tickets import StreamTickets, is_ticket
from .origins import OriginPolicy


@dataclass(frozen=True, slots=True)
class Runtime:
    """What one app instance serves with; made by the lifespan, fresh per app."""

    settings: Settings
    services: Services
    verifier: TokenVerifier
    tickets: StreamTickets | None
    """Mints and checks stream tickets; None when only a public key is configured."""
    origins: OriginPolicy
    dev_secret: str | None
    """The generated dev secret of a memory:// node (it mints demo tokens); None otherwise."""
    operator_key: str | None = None
    """The platform operator's key (`auth.resolve_operator_key`); None: nobody creates
    organizations on this node."""


def runtime(connection: HTTPConnection) -> Runtime:
    found: Runtime = connection.app.state.runtime
    return found


async def services(request: Request) -> Services:
    """A dependency: async, so FastAPI calls it inline instead of in its thread pool."""
    return runtime(request).services


_bearer = HTTPBearer(auto_error=False, description="A JWT, a 64-hex API key or a UUID user token")
_api_key = APIKeyHeader(
    name="X-API-KEY", auto_error=False, description="A 64-hex API key or a UUID user token"
)


async def authenticate(runtime: Runtime, credential: str) -> Principal:
    """A principal from a bearer credential: API keys and user tokens by shape (64 hex, a
    UUID), JWTs otherwise. A stream ticket is refused: it opens event streams and nothing
    else (`authenticate_stream`)."""
    if looks_like_api_key(credential):
        return await runtime.services.apikeys.authenticate(credential)
    if is_ticket(credential):
        raise Unauthenticated("a stream ticket only opens event streams")
    return runtime.verifier.verify(credential)


async def authenticate_stream(runtime: Runtime, credential: str, *, resuming: bool) -> Principal:
    """`authenticate`, where a stream ticket is good too: for a new stream in its first
    minute, for a reconnect (`resuming`: it carries Last-Event-ID) until its own expiry, and
    only while the API key it was minted from, if any, is neither revoked nor replaced."""
    if not is_ticket(credential):
        return await authenticate(runtime, credential)
    if runtime.tickets is None:
        raise Unauthenticated("a stream ticket, but this node mints none (no HS256 secret)")
    found = runtime.tickets.verify(credential, resuming=resuming, now=time.time())
    if found.key_id is None:
        return found
    record = await runtime.services.apikeys.current(found.org_id, found.key_id)
    fingerprint = None if record is None else key_fingerprint(record.key_hash)
    if fingerprint is None or found.key_fingerprint not in (None, fingerprint):
        raise Unauthenticated("the API key this ticket was minted from is revoked")
    if found.key_fingerprint is None:  # minted before tickets named it: the key of that id now
        return dataclasses.replace(found, key_fingerprint=fingerprint)
    return found


async def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Principal:
    credential = api_key or (bearer.credentials if bearer else None)
    if not credential:
        raise CredentialsMissing("no Authorization or X-API-KEY header")
    return await authenticate(runtime(request), credential)


CurrentPrincipal = Annotated[Principal, Depends(principal)]
OrgIdPath = Annotated[str, Path(pattern=TENANT_ID_PATTERN, examples=["acme"])]
WorkspaceIdPath = Annotated[str, Path(pattern=TENANT_ID_PATTERN, examples=["ws1"])]


def org_of(caller: Principal, org_id: str) -> OrgId:
    """The org in the path, if it is the caller's; 404 otherwise."""
    if caller.org_id != org_id:
        raise NotFound(
            "The requested resource was not found",
            details={"resource_type": "org", "resource_id": org_id},
        )
    return OrgId(org_id)


def workspace_key(caller: Principal, org_id: str, workspace_id: str) -> WorkspaceKey:
    """The workspace the caller may use; 404 for another org, 403 for a workspace of its own
    org that it is not a member of."""
    org = org_of(caller, org_id)
    if not caller.may_use(workspace_id):
        raise Forbidden(
            "You are not a member of this workspace",
            details={"required_permission": f"workspace:{workspace_id}"},
        )
    return WorkspaceKey(org, WorkspaceId(workspace_id))


async def path_workspace(
    caller: CurrentPrincipal, org_id: OrgIdPath, workspace_id: WorkspaceIdPath
) -> WorkspaceKey:
    return workspace_key(caller, org_id, workspace_id)


async def principal_workspace(
    caller: CurrentPrincipal,
    x_workspace_id: Annotated[
        str | None,
        Header(
            pattern=TENANT_ID_PATTERN,
            description="Choose among the caller's workspaces; default: the credential's own.",
        ),
    ] = None,
) -> WorkspaceKey:
    """Seeds 000/001/002 carry no workspace in the path: it comes from the credential."""
    chosen = x_workspace_id or caller.default_workspace
    if chosen is None:
        raise BadRequest(
            "This credential spans several workspaces: choose one with X-Workspace-Id",
            details={"header": "X-Workspace-Id"},
        )
    return workspace_key(caller, caller.org_id, chosen)


async def organization_workspace(caller: CurrentPrincipal) -> WorkspaceKey:
    """WorkDrive's routes (seed 004) carry no workspace: an organization's data live in its
    own workspace, whose id is the organization's (`/v1/orgs/{id}/workspaces/{id}/...`)."""
    return workspace_key(caller, caller.org_id, caller.org_id)


PathWorkspace = Annotated[WorkspaceKey, Depends(path_workspace)]
CallerWorkspace = Annotated[WorkspaceKey, Depends(principal_workspace)]
CurrentServices = Annotated[Services, Depends(services)]


_IF_MATCH = re.compile(r'^(?:W/)?"?lock:([0-9]{1,16})"?$')


async def if_match_token(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description="`lock:<fencing token>` of the lock the writer holds: a stale token "
            "is refused (409), so a lost lease cannot overwrite the next holder's edit.",
            examples=["lock:17"],
        ),
    ] = None,
) -> int | None:
    if if_match is None:
        return None
    found = _IF_MATCH.fullmatch(if_match.strip())
    if found is None:
        raise InvalidInput(
            "If-Match must be lock:<fencing token>", loc=("header", "If-Match"), input=if_match
        )
    return int(found.group(1))


IfMatchToken = Annotated[int | None, Depends(if_match_token)]


def fencing_token(header: int | None, field: int | None) -> int | None:
    """The writer's fencing token, from `If-Match` or a `lock_token` field (both: equal)."""
    if header is not None and field is not None and header != field:
        raise InvalidInput(
            "If-Match and lock_token name different fencing tokens",
            loc=("header", "If-Match"),
            input=header,
        )
    return header if header is not None else field
