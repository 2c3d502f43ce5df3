"""API keys: created and revoked by org admins, looked up on every request.

A key acts as one user (`user_id`) or, without one, as a service named after its key id. It may
use its own workspace, or every workspace of its org when it is an admin key.
"""

from __future__ import annotations

import secrets
import time

from ..auth import ADMIN, MEMBER, Principal, hash_api_key, new_api_key
from ..errors import NotFound, Unauthenticated
from ..hub.node import Node
from ..models import ApiKeyRecord


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
        record = await self._keys.lookup(hash_api_key(key))
        if record is None:
            raise Unauthenticated("unknown or revoked API key")
        return principal_of(record)

    async def is_active(self, org_id: str, key_id: str) -> bool:
        """True while the key `key_id` of `org_id` exists (it was not revoked)."""
        return any(record.id == key_id for record in await self._keys.list(org_id))


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
    )
