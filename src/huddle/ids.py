"""Identifiers that cannot be swapped by accident, and the shapes every id must have.

Ids end up inside Redis key names and hash tags (`hd:{org/ws}:...`), so the patterns exclude
`/`, `{`, `}` and whitespace; each is bounded so a request cannot make a key of any size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, NewType

OrgId = NewType("OrgId", str)
WorkspaceId = NewType("WorkspaceId", str)
UserId = NewType("UserId", str)
SessionId = NewType("SessionId", str)

TENANT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"
USER_ID_PATTERN: Final = r"^[A-Za-z0-9_.:@|+-]{1,128}$"
ENTITY_TYPE_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
ENTITY_ID_PATTERN: Final = r"^[A-Za-z0-9_.:@~+-]{1,128}$"
SESSION_ID_PATTERN: Final = r"^[A-Za-z0-9_.:@|+-]{1,128}$"

_TENANT: Final = re.compile(TENANT_ID_PATTERN)
_USER: Final = re.compile(USER_ID_PATTERN)


def is_tenant_id(value: str) -> bool:
    return _TENANT.fullmatch(value) is not None


def is_user_id(value: str) -> bool:
    return _USER.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class WorkspaceKey:
    """The unit of tenancy: every key, event and lock belongs to exactly one workspace."""

    org_id: OrgId
    workspace_id: WorkspaceId

    @property
    def tag(self) -> str:
        """`org/ws`: the Redis Cluster hash tag and the bus channel suffix."""
        return f"{self.org_id}/{self.workspace_id}"

    @classmethod
    def from_tag(cls, tag: str) -> WorkspaceKey:
        org, _, ws = tag.partition("/")
        return cls(OrgId(org), WorkspaceId(ws))


@dataclass(frozen=True, slots=True, order=True)
class EntityRef:
    """Something people view and lock: `(entity_type, entity_id)` inside a workspace."""

    type: str
    id: str

    @property
    def field(self) -> str:
        """`type/id`: unique because neither part may contain `/`."""
        return f"{self.type}/{self.id}"

    @classmethod
    def from_field(cls, field: str) -> EntityRef:
        entity_type, _, entity_id = field.partition("/")
        return cls(entity_type, entity_id)
