"""What a module declares to the record engine: a `Collection`, its `Permissions`, a `Sort`.

A collection is data, not code: where its records are stored, their fields, the entity type
they are locked under, the prefix of their events, compound unique keys and who may write.
Collaborations (seed 001) are one such declaration; each custom object (seed 002) builds one
from its stored definition; a fixed-schema module of a later API is another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..auth import Principal
from ..errors import Forbidden, InvalidInput
from ..ids import EntityRef
from ..models import Audience
from ..store import IndexKind, Reference, StoredRecord
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
    creator (`owner`; admins too), or `admin`s only. Who may read is the collection's
    `audience`; a writer must be able to read the record first."""

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


AudienceRule = Callable[[Mapping[str, Any], str], Audience | None]
"""Who may read a record, from its public values (by field name; nested objects by their
fields' names) and the id of the user who created it: an `Audience`, or None for every member
of the workspace. Evaluated on every write; reads filter by what the last write stored."""


def everyone(values: Mapping[str, Any], owner: str) -> Audience | None:
    return None


def owner_only(values: Mapping[str, Any], owner: str) -> Audience | None:
    """Only the user who created the record (a draft, a personal note)."""
    return Audience.of([owner])


def members(field: str, *, with_owner: bool = True) -> AudienceRule:
    """The users the record itself lists in `field` (a list of user ids: a chat's members, a
    task's assignees), and its creator unless `with_owner=False`."""

    def rule(values: Mapping[str, Any], owner: str) -> Audience | None:
        listed = _names(_at(values, field))
        return Audience.of([*listed, owner] if with_owner else listed)

    return rule


def listed(
    *,
    users: str | None = None,
    groups: Mapping[str, str] | None = None,
    with_owner: bool = True,
    empty_is_everyone: bool = True,
) -> AudienceRule:
    """The users named in field `users` and the members of the groups named in the fields of
    `groups` (group kind -> field; `{"department": "permissions.departments"}` makes each id
    `d` the group `department:d`). Dotted paths reach into nested objects. When nothing is
    listed at all the record is everyone's (`empty_is_everyone`), as seed 004's `permissions`
    are; otherwise only its creator's."""
    kinds = dict(groups or {})

    def rule(values: Mapping[str, Any], owner: str) -> Audience | None:
        named = _names(_at(values, users)) if users else []
        of = [f"{kind}:{g}" for kind, path in kinds.items() for g in _names(_at(values, path))]
        if not named and not of and empty_is_everyone:
            return None
        return Audience.of([*named, owner] if with_owner else named, of)

    return rule


def _at(values: Mapping[str, Any], path: str) -> Any:
    here: Any = values
    for part in path.split("."):
        if not isinstance(here, Mapping):
            return None
        here = here.get(part)
    return here


def _names(value: Any) -> list[str]:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool)]
    return []


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
    public_ids: bool = False
    """Clients know the records by public ids (UUIDs, `public_ids.PublicIds`), so presence
    and locks name them by those too."""
    audience: AudienceRule | None = None
    """Who may read each record (None: every member, and no audience index is kept). With a
    rule, a reader outside a record's audience gets 404 for it, never finds it in a page or
    a total, and receives none of its events."""

    def field_named(self, name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None

    def lock_entity(self, record_id: int, public_id: str | None = None) -> EntityRef | None:
        """The entity the record is locked under: (`lock_type`, its public id when the
        module shows public ids, else its store id)."""
        if self.lock_type is None:
            return None
        if self.public_ids and public_id is None:
            raise ValueError(f"{self.name} is locked under public ids: give the record's")
        return EntityRef(self.lock_type, public_id or str(record_id))


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
