"""API keys: created and revoked by org admins, looked up on every request; and user tokens.

A key acts as one user (`user_id`) or, without one, as a service named after its key id. It may
use its own workspace, or every workspace of its org when it is an admin key.

A user token is a key in the other accepted shape, a UUID (`auth.new_user_token`), at most one
per user of an org: its key id is derived from the org and the user (`user_token_id`), so
issuing a user a new token replaces the previous one in the same atomic step, and under
concurrent issues exactly one survives. Who may issue one is the caller's decision (a module
answering its own routes); the service asks for no admin.

A key that stops working — revoked here or by the route, or a user token replaced — ends the
WebSocket connections and SSE streams it opened, on every node (`hub.credentials`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from typing import Final

from ..auth import (
    ADMIN,
    MEMBER,
    Principal,
    hash_api_key,
    key_fingerprint,
    new_api_key,
    new_user_token,
)
from ..errors import Conflict, NotFound, Unauthenticated
from ..hub.node import Node
from ..ids import is_tenant_id, is_user_id
from ..models import ApiKeyRecord

_USER_TOKEN_LABEL: Final = b"huddle user token v1\x00"
#: Rewrites of a user token's record lost to a concurrent issue before giving up (409).
_REWRITE_ROUNDS: Final = 3


def user_token_id(org_id: str, user_id: str) -> str:
    """The key id of `user_id`'s token in `org_id`: `ak_` and 16 hex of a SHA-256 over a
    label, the org and the user, NUL-separated (no id may hold a NUL). The same id every time,
    so a new token replaces the last; the shape of any key id, so the revoke route takes it."""
    digest = hashlib.sha256(
        _USER_TOKEN_LABEL + org_id.encode() + b"\x00" + user_id.encode()
    ).hexdigest()
    return f"ak_{digest[:16]}"


class ApiKeyService:
    def __init__(self, node: Node) -> None:
        self._keys = node.backend.keys

    async def create(
        self,
        creator: Principal,
        org_id: str,
        *,
        workspace_id: str,
        user_id: str | None,
        admin: bool,
        name: str | None,
    ) -> tuple[ApiKeyRecord, str]:
        """A new key and its record; the key itself is returned here and never again."""
        creator.require_admin("api_keys:create")
        key = new_api_key()
        record = ApiKeyRecord(
            id=f"ak_{secrets.token_hex(8)}",
            org_id=org_id,
            workspace_id=workspace_id,
            user_id=user_id,
            admin=admin,
            name=name,
            created_at_ms=time.time_ns() // 1_000_000,
            created_by=creator.user_id,
            key_hash=hash_api_key(key),
        )
        await self._keys.create(record)
        return record, key

    async def revoke(self, creator: Principal, org_id: str, key_id: str) -> None:
        """Delete the key: refused from now on, and its open streams end, on every node."""
        creator.require_admin("api_keys:revoke")
        if not await self._keys.revoke(org_id, key_id):
            raise NotFound(
                "No such API key",
                details={"resource_type": "api_key", "resource_id": key_id},
            )

    async def list(self, creator: Principal, org_id: str) -> list[ApiKeyRecord]:
        creator.require_admin("api_keys:list")
        return await self._keys.list(org_id)

    async def authenticate(self, key: str) -> Principal:
        """The principal of an API key or a user token (either shape; any letter case)."""
        record = await self._keys.lookup(hash_api_key(key))
        if record is None:
            raise Unauthenticated("unknown or revoked API key")
        return principal_of(record)

    async def current(self, org_id: str, key_id: str) -> ApiKeyRecord | None:
        """The record of key `key_id` of `org_id` now, or None (revoked, or never was)."""
        return await self._keys.get(org_id, key_id)

    # --- user tokens ------------------------------------------------------------------------

    async def issue_user_token(
        self,
        org_id: str,
        *,
        workspace_id: str,
        user_id: str,
        admin: bool,
        created_by: str,
        name: str | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """A new token of `user_id` (a UUID) and its record; the token is returned here and
        never again. The user's previous token, if any, stops working in the same step, and
        the connections it opened end. No permission check: the caller decides who may.
        ValueError for an org, workspace or user id of the wrong shape."""
        _check_ids(org_id, user_id, workspace_id)
        token = new_user_token()
        record = ApiKeyRecord(
            id=user_token_id(org_id, user_id),
            org_id=org_id,
            workspace_id=workspace_id,
            user_id=user_id,
            admin=admin,
            name=name,
            created_at_ms=time.time_ns() // 1_000_000,
            created_by=created_by,
            key_hash=hash_api_key(token),
        )
        await self._keys.create(record)
        return record, token

    async def set_user_token_admin(self, org_id: str, user_id: str, *, admin: bool) -> bool:
        """Make the user's current token an admin one or not, keeping the token itself; False
        when the user has none. Connections it opened keep the roles they started with until
        they reconnect. A token re-issued meanwhile is the one changed (Conflict after a few
        such races in a row)."""
        _check_ids(org_id, user_id)
        key_id = user_token_id(org_id, user_id)
        for _ in range(_REWRITE_ROUNDS):
            record = await self._keys.get(org_id, key_id)
            if record is None:
                return False
            if record.admin == admin:
                return True
            if await self._keys.update(dataclasses.replace(record, admin=admin)):
                return True
        raise Conflict(
            "The user's token kept being replaced while its role changed; retry",
            details={"resource_type": "api_key", "resource_id": key_id},
        )

    async def revoke_user_token(self, org_id: str, user_id: str) -> bool:
        """Delete the user's token: refused from now on, and its open streams end, on every
        node. False when the user has none."""
        _check_ids(org_id, user_id)
        return await self._keys.revoke(org_id, user_token_id(org_id, user_id))


def _check_ids(org_id: str, user_id: str, workspace_id: str | None = None) -> None:
    if not is_tenant_id(org_id) or (workspace_id is not None and not is_tenant_id(workspace_id)):
        raise ValueError(f"not an org or workspace id: {org_id!r}, {workspace_id!r}")
    if not is_user_id(user_id):
        raise ValueError(f"not a user id: {user_id!r}")


def principal_of(record: ApiKeyRecord) -> Principal:
    return Principal(
        kind="user" if record.user_id else "service",
        user_id=record.user_id or f"service:{record.id}",
        org_id=record.org_id,
        workspaces=None if record.admin else frozenset({record.workspace_id}),
        default_workspace=record.workspace_id,
        roles=frozenset({ADMIN, MEMBER} if record.admin else {MEMBER}),
        name=record.name,
        key_id=record.id,
        key_fingerprint=key_fingerprint(record.key_hash),
    )
