"""Who may read what below the workspace: readers for the streams, and users' groups.

A user's *groups* are opaque names (`department:7`, `location:3`, `group:12` ...) that an
`Audience` may name in `members_of`. The module that owns the facts (a directory of departments,
say) sets a user's groups here; each change is one record write with a `membership.changed`
event addressed to that user, so every stream following the user applies it in log order
(`hub.audience.Reader`). The groups live in the system collection `membership`, one record per
user, found by its unique key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..auth import Principal
from ..errors import InvalidInput
from ..hub.audience import Reader
from ..hub.node import Node
from ..ids import WorkspaceKey
from ..models import MEMBERSHIP_CHANGED, Actor, Audience
from ..store import (
    Missing,
    RecordEvent,
    RecordWrite,
    StoredRecord,
    Taken,
    UniqueKey,
    VersionChanged,
)

MEMBERSHIPS: Final = "membership"
#: At most this many groups per user (a reader's any-of over a record audience index holds
#: them and two more keys, within `records.ANY_OF_LIMIT`), each of at most `GROUP_NAME_MAX`
#: characters.
GROUPS_MAX: Final = 500
GROUP_NAME_MAX: Final = 200
_ROUNDS: Final = 8


def _key(user_id: str) -> UniqueKey:
    return UniqueKey("user", user_id)


class AudienceService:
    def __init__(self, node: Node) -> None:
        self._records = node.backend.records

    async def reader(self, ws: WorkspaceKey, caller: Principal) -> Reader | None:
        """The reader a stream or a poll of `caller` filters events with; None for a service
        (an API key without a user), which sees every event."""
        if caller.kind == "service":
            return None
        return Reader(caller.user_id, await self.groups_of(ws, caller.user_id))

    async def groups_of(self, ws: WorkspaceKey, user_id: str) -> frozenset[str]:
        found = await self._records.find(ws, MEMBERSHIPS, _key(user_id))
        return frozenset() if found is None else _groups(found)

    async def set_groups(
        self, ws: WorkspaceKey, user_id: str, groups: Iterable[str], actor: Actor
    ) -> frozenset[str]:
        """Make `groups` the user's whole set of groups; emits `membership.changed` (for the
        user alone) when it differs from the current set. Answers the new set."""
        wanted = _checked(groups)
        data = {"user_id": user_id, "members_of": sorted(wanted)}
        event = RecordEvent(MEMBERSHIP_CHANGED, actor, data, audience=Audience.of([user_id]))
        write = RecordWrite(data, actor, event, unique=(_key(user_id),))
        for _ in range(_ROUNDS):
            current = await self._records.find(ws, MEMBERSHIPS, _key(user_id))
            if current is None:
                created = await self._records.create(ws, MEMBERSHIPS, write)
                if not isinstance(created, Taken):
                    return wanted
                continue  # created meanwhile: update it
            if _groups(current) == wanted:
                return wanted
            outcome = await self._records.update(
                ws, MEMBERSHIPS, current.id, current.version, write
            )
            if not isinstance(outcome, VersionChanged | Missing):
                return wanted
        raise RuntimeError(f"the groups of {user_id} kept changing under {_ROUNDS} writes")


def _groups(record: StoredRecord) -> frozenset[str]:
    return frozenset(str(g) for g in record.data.get("members_of") or ())


def _checked(groups: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(groups)
    if len(wanted) > GROUPS_MAX:
        raise InvalidInput(f"at most {GROUPS_MAX} groups per user", loc=("body", "members_of"))
    for name in wanted:
        if not isinstance(name, str) or not 0 < len(name) <= GROUP_NAME_MAX:
            raise InvalidInput(
                f"a group is a name of 1 to {GROUP_NAME_MAX} characters",
                loc=("body", "members_of"),
                input=name,
            )
    return wanted
