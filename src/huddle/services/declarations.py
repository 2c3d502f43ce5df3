"""What a module declares to the record engine: a `Collection`, its `Permissions`, a `Sort`.

A collection is data, not code: where its records are stored, their fields, the entity type
they are locked under, the prefix of their events, compound unique keys and who may write.
Collaborations (seed 001) are one such declaration; each custom object (seed 002) builds one
from its stored definition; a fixed-schema module of a later API is another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..auth import Principal
from ..errors import Forbidden, InvalidInput
from ..ids import EntityRef
from ..records import IndexKind, Reference, StoredRecord
from .fields import FieldSpec
from .fields import index_kind as _index_kind

#: The sort keys every collection has, by public name.
SYSTEM_SORTS: Final[dict[str, str]] = {
    "id": "id",
    "created_at": "created_at",
    "updated_at": "updated_at",
}


Role = Literal["member", "owner", "admin"]


@dataclass(frozen=True, slots=True)
class Permissions:
    """Who may write a collection's records: any `member` of the workspace, the record's
    creator (`owner`; admins too), or `admin`s only. Every member may read."""

    create: Literal["member", "admin"] = "member"
    update: Role = "member"
    delete: Role = "member"

    def check(
        self,
        action: Literal["create", "update", "delete"],
        principal: Principal,
        record: StoredRecord | None,
    ) -> None:
        role: Role = getattr(self, action)
        if role == "member" or principal.is_admin:
            return
        if role == "owner" and record is not None and record.created_by == principal.user_id:
            return
        raise Forbidden(
            f"Only {'its creator or ' if role == 'owner' else ''}an admin may {action} this",
            details={"required_permission": f"records:{action}:{role}"},
        )


ADMINS_ONLY: Final = Permissions(create="admin", update="admin", delete="admin")


@dataclass(frozen=True, slots=True)
class Collection:
    """A declaration: everything the engine needs to serve one kind of record: where it is
    stored, its fields, the entity type its records are locked under, the prefix of its events
    (None: silent), extra event context, compound unique keys and who may write.

    `values_key` is where an event carries the record's values (`"values"`), or None to put
    them at the top of the event data beside `context` (fixed schemas with few fields).
    """

    name: str
    fields: tuple[FieldSpec, ...]
    events: str | None
    lock_type: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    values_key: str | None = "values"
    compound_unique: tuple[tuple[str, ...], ...] = ()
    permissions: Permissions = Permissions()
    requires: tuple[Reference, ...] = ()
    """Records every write of this collection checks atomically (a custom object's
    definition at the version its fields were read from); a miss is `DefinitionChanged`."""

    def field_named(self, name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None

    def lock_entity(self, record_id: int) -> EntityRef | None:
        return None if self.lock_type is None else EntityRef(self.lock_type, str(record_id))


@dataclass(frozen=True, slots=True)
class Sort:
    """A public sort key (`id`, `created_at`, `updated_at` or a field name) and direction."""

    name: str = "id"
    descending: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> Sort:
        """`sort_by` as both dialects send it: `field`, `field:asc` or `field:desc`."""
        if raw is None:
            return cls()
        name, _, direction = raw.partition(":")
        if direction not in ("", "asc", "desc"):
            raise InvalidInput(
                "the sort order must be asc or desc", loc=("query", "sort_by"), input=raw
            )
        return cls(name, descending=direction == "desc")


def index_kind(spec: FieldSpec) -> IndexKind:
    """The kind of an indexed field's index (`m` for a list)."""
    return _index_kind(spec)
