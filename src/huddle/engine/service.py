"""The record engine: a module declares a `Collection`; this validates, stores, pages, guards
and announces its records.

A collection is data, not code: its fields (`services.fields.FieldSpec`), the entity type its
records are locked under, the prefix of its events and any compound unique keys. Collaborations
(seed 001) are one fixed declaration; each custom object (seed 002) builds one from its stored
definition; a fixed-schema module of a later API is another declaration. Everything else —
validation with per-field 422s, unique values, references, lock-aware writes with fencing
tokens, optimistic retries, events carrying the record and the actor, paging without loading a
collection — is here once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, Literal

import msgpack

from ..auth import Principal
from ..errors import (
    Conflict,
    InvalidInput,
    NotEmptyConflict,
    Problem,
)
from ..hub.audience import Reader
from ..hub.node import Node
from ..ids import EntityRef, WorkspaceKey
from ..models import Actor, Audience
from ..public_ids import PublicIds, WorkspaceIds
from ..store import (
    BATCH_LIMIT,
    AnyOf,
    BatchOp,
    BatchRefused,
    Cascade,
    CreateOp,
    DeleteOp,
    Filter,
    Guard,
    IndexEntry,
    IndexKind,
    Missing,
    NotEmpty,
    Page,
    Query,
    RecordEvent,
    RecordWrite,
    StoredRecord,
    Taken,
    UniqueKey,
    Unresolved,
    UpdateOp,
    VersionChanged,
    guard_refusal,
)
from .audiences import AudienceService
from .declarations import SYSTEM_SORTS, Collection, Sort, index_kind
from .errors import not_found, refused, taken, unresolved
from .fields import (
    FieldSpec,
    filter_condition,
    index_entries,
    public_values,
    reference_target,
    referenced_ids,
    references,
    unique_keys,
    validate_record,
)
from .writes import Change, Gone, New, Outcome, Write

#: Offsets beyond this are past any collection: such a page is empty (and no backend is asked
#: to skip that far, which Lua numbers could not even represent exactly).
MAX_OFFSET: Final = 2**50

#: Optimistic rounds of an update before it gives up (another writer kept winning).
UPDATE_ROUNDS: Final = 8


class RecordService:
    """Reads and guarded writes of any declared collection.

    Reads and writes given a `caller` honour the collection's audience: a record the caller
    may not read is 404, absent from pages and totals. Without a caller (Huddle's own
    bookkeeping) nothing is filtered."""

    def __init__(self, node: Node, audiences: AudienceService | None = None) -> None:
        self._store = node.backend.records
        self._locks = node.backend.locks
        self._inline_bytes = node.settings.record_event_max_bytes
        self._audiences = audiences or AudienceService(node)
        self.ids = PublicIds(node.settings.id_secret.get_secret_value().encode())
        """The node's public ids of records (`HUDDLE_ID_SECRET`), for modules that show
        UUIDs instead of store ids."""

    # --- reads ------------------------------------------------------------------------------

    async def get(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        record_id: int,
        *,
        caller: Principal | None = None,
    ) -> StoredRecord:
        (found,) = await self._store.get(ws, collection.name, [record_id])
        if found is None:
            raise not_found(collection, record_id)
        if collection.audience is not None and caller is not None:
            reader = await self._audiences.reader(ws, caller)
            if reader is not None and not _admits(collection, found, reader):
                raise not_found(collection, record_id)
        return found

    async def get_many(
        self, ws: WorkspaceKey, collection: Collection, record_ids: Iterable[int]
    ) -> dict[int, StoredRecord]:
        """The records of `record_ids` that exist, by id: one backend read for all of them
        (embedded summaries of a whole page). No audience check: for what a module shows
        of records it already decided the caller may see."""
        ids = sorted(set(record_ids))
        if not ids:
            return {}
        found = await self._store.get(ws, collection.name, ids)
        return {rid: record for rid, record in zip(ids, found, strict=True) if record is not None}

    async def page(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        *,
        offset: int,
        limit: int,
        sort: Sort = Sort(),
        filters: Mapping[str, Any] | None = None,
        ids: Sequence[int] | None = None,
        loc: tuple[str | int, ...] = ("query",),
        caller: Principal | None = None,
    ) -> Page:
        """One page, ordered by `sort` (ties by id). `filters` are public field names with
        values as they would be written (checked like one); unknown names are refused. With
        a `caller`, only records it may read, and the total counts only those."""
        if offset > MAX_OFFSET:
            offset, limit = 0, 0
        index, kind = _sort_index(collection, sort.name, (*loc, "sort_by"))
        conditions, any_of = self._filters(collection, filters or {}, loc)
        query = Query(
            sort=index,
            sort_kind=kind,
            descending=sort.descending,
            offset=offset,
            limit=limit,
            filters=tuple(conditions),
            ids=None if ids is None else tuple(ids),
            any_of=tuple(any_of),
        )
        if collection.audience is not None and caller is not None:
            reader = await self._audiences.reader(ws, caller)
            if reader is not None:
                readable = AnyOf(AUDIENCE_INDEX, "m", reader_keys(reader))
                query = replace(query, any_of=(*query.any_of, readable))
        return await self._store.query(ws, collection.name, query)

    async def expand(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        records: Sequence[StoredRecord],
        field: str,
    ) -> dict[int, StoredRecord]:
        """The records that `field` (a reference field of `collection`, or a list of
        references) points to from `records`, by id: one backend read for a whole page (all
        the distinct ids of its lists), never one per record. A target that is gone is
        absent (its reference is answered as it is)."""
        spec = collection.field_named(field)
        target = None if spec is None else reference_target(spec)
        if spec is None or target is None:
            raise ValueError(f"{collection.name}.{field} is not a reference field")
        ids = sorted({ref for r in records for ref in referenced_ids(spec, r.data.get(spec.key))})
        if not ids:
            return {}
        found = await self._store.get(ws, target, ids)
        return {rid: record for rid, record in zip(ids, found, strict=True) if record is not None}

    def _filters(
        self, collection: Collection, filters: Mapping[str, Any], loc: tuple[str | int, ...]
    ) -> tuple[list[Filter], list[AnyOf]]:
        """Equality (a list field: membership) for one value; any of them for a list of
        values (`fields.filter_condition`)."""
        found: list[Filter] = []
        any_of: list[AnyOf] = []
        problems: list[Problem] = []
        for name, raw in filters.items():
            spec = collection.field_named(name)
            if spec is None or not spec.indexed:
                problems.append(Problem((*loc, name), "Not a filterable field", input=raw))
                continue
            match filter_condition(spec, raw, (*loc, name), _from_query):
                case Filter() as condition:
                    found.append(condition)
                case AnyOf() as condition:
                    any_of.append(condition)
                case errors:
                    problems.extend(errors)
        if problems:
            raise InvalidInput.of(problems)
        return found, any_of

    # --- writes -----------------------------------------------------------------------------

    async def create(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        values: Mapping[str, Any],
        principal: Principal,
        *,
        loc: tuple[str | int, ...] = ("body",),
    ) -> StoredRecord:
        """Validate and insert; 409 `ALREADY_EXISTS` when a unique value is taken."""
        outcome = await self.create_or_existing(ws, collection, values, principal, loc=loc)
        if isinstance(outcome, Taken):
            raise taken(collection, outcome, loc)
        return outcome

    async def create_or_existing(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        values: Mapping[str, Any],
        principal: Principal,
        *,
        loc: tuple[str | int, ...] = ("body",),
    ) -> StoredRecord | Taken:
        """Validate and insert, or answer which record holds a unique value (for modules
        whose duplicate create is idempotent)."""
        collection.permissions.check("create", principal, None)
        actor = principal.actor()
        data = validate_record(collection.fields, values, current=None, loc=loc)
        if collection.public_ids:
            # Its id first, so that its event names it by the public id clients know.
            (rid,) = await self._store.reserve(ws, collection.name, 1)
            write = self._write(ws, collection, data, actor, "created", changed=None, rid=rid)
            made = await self._store.batch(ws, [CreateOp(collection.name, write, rid)])
            if not isinstance(made, BatchRefused):
                return made[0]
            match made.outcome:
                case Taken() as clash:
                    return clash
                case Unresolved() as missing:
                    raise unresolved(collection, missing, loc)
                case other:
                    raise refused(collection, rid, other)
        write = self._write(ws, collection, data, actor, "created", changed=None)
        outcome = await self._store.create(ws, collection.name, write)
        if isinstance(outcome, Unresolved):
            raise unresolved(collection, outcome, loc)
        return outcome

    async def update(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        record_id: int,
        values: Mapping[str, Any],
        principal: Principal,
        *,
        token: int | None = None,
        loc: tuple[str | int, ...] = ("body",),
    ) -> StoredRecord:
        """Apply a partial update under the record's lock (423 another holder; 409 a stale
        fencing token), retried while other writers move the record's version. An update that
        changes no value writes nothing and answers the record as it is."""
        actor = principal.actor()
        for _ in range(UPDATE_ROUNDS):
            current = await self.get(ws, collection, record_id, caller=principal)
            collection.permissions.check("update", principal, current)
            data = validate_record(collection.fields, values, current=current.data, loc=loc)
            changed = _changed(collection, current.data, data)
            if not changed:
                await self.check_guard(ws, collection, record_id, actor, token)
                return current  # nothing to write: no new version, no event
            write = self._write(
                ws, collection, data, actor, "updated", changed=changed, before=current
            )
            outcome = await self._store.update(
                ws,
                collection.name,
                record_id,
                current.version,
                write,
                self._guard(ws, collection, record_id, actor, token),
            )
            match outcome:
                case StoredRecord():
                    return outcome
                case VersionChanged():
                    continue
                case Taken():
                    raise taken(collection, outcome, loc)
                case Unresolved():
                    raise unresolved(collection, outcome, loc)
                case _:
                    raise refused(collection, record_id, outcome)
        raise Conflict(
            "The record kept changing under this update; retry it",
            details={"id": record_id},
        )

    async def replace_data(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        current: StoredRecord,
        write: RecordWrite,
        principal: Principal,
        *,
        token: int | None,
        drop_indexes: Sequence[tuple[str, str]] = (),
    ) -> StoredRecord | None:
        """A raw compare-and-set update for modules that build their writes themselves
        (custom object definitions): None when the version moved (recompute and retry)."""
        collection.permissions.check("update", principal, current)
        actor = principal.actor()
        outcome = await self._store.update(
            ws,
            collection.name,
            current.id,
            current.version,
            write,
            self._guard(ws, collection, current.id, actor, token),
            drop_indexes,
        )
        match outcome:
            case StoredRecord():
                return outcome
            case VersionChanged():
                return None
            case Taken():
                raise taken(collection, outcome, ("body",))
            case Unresolved():
                raise unresolved(collection, outcome, ("body",))
            case _:
                raise refused(collection, current.id, outcome)

    async def delete(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        record_id: int,
        principal: Principal,
        *,
        token: int | None = None,
        cascade: Cascade | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> StoredRecord:
        """Delete under the record's lock; the event carries the record as it was."""
        actor = principal.actor()
        for _ in range(UPDATE_ROUNDS):
            current = await self.get(ws, collection, record_id, caller=principal)
            collection.permissions.check("delete", principal, current)
            event = self._deleted_event(ws, collection, current, actor, context)
            outcome = await self._store.delete(
                ws,
                collection.name,
                record_id,
                current.version,
                event,
                self._guard(ws, collection, record_id, actor, token),
                cascade,
            )
            match outcome:
                case StoredRecord():
                    return outcome
                case VersionChanged():
                    continue
                case NotEmpty():
                    raise NotEmptyConflict(
                        f"It still holds {outcome.count} records: delete with force=true to "
                        "delete them too",
                        details={"records": outcome.count},
                    )
                case _:
                    raise refused(collection, record_id, outcome)
        raise Conflict("The record kept changing under this delete; retry it")

    async def create_many(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        items: Sequence[Mapping[str, Any]],
        principal: Principal,
        *,
        loc: tuple[str | int, ...] = ("body",),
    ) -> list[StoredRecord]:
        """Validate and insert every item as one atomic step: all of them, or none (every
        problem of every item at `loc + (index, field)`; a unique value taken by another
        item or a stored record: 409 naming the item)."""
        if not 0 < len(items) <= BATCH_LIMIT:
            raise InvalidInput(
                f"send 1 to {BATCH_LIMIT} records at a time", loc=loc, input=len(items)
            )
        collection.permissions.check("create", principal, None)
        actor = principal.actor()
        problems: list[Problem] = []
        ops: list[BatchOp] = []
        rids: list[int | None] = [None] * len(items)
        if collection.public_ids:  # ids first: their events name them by public id
            rids = list(await self._store.reserve(ws, collection.name, len(items)))
        for i, (values, rid) in enumerate(zip(items, rids, strict=True)):
            try:
                data = validate_record(collection.fields, values, current=None, loc=(*loc, i))
            except InvalidInput as exc:
                problems += exc.problems
                continue
            write = self._write(ws, collection, data, actor, "created", changed=None, rid=rid)
            ops.append(CreateOp(collection.name, write, rid))
        if problems:
            raise InvalidInput.of(problems)
        outcome = await self._store.batch(ws, ops)
        if isinstance(outcome, BatchRefused):
            match outcome.outcome:
                case Taken() as clash:
                    raise taken(collection, clash, (*loc, outcome.index))
                case Unresolved() as missing:
                    raise unresolved(collection, missing, (*loc, outcome.index))
                case other:
                    raise refused(collection, 0, other)
        return list(outcome)

    async def delete_many(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        record_ids: Sequence[int],
        principal: Principal,
    ) -> list[StoredRecord]:
        """Delete every record as one atomic step, each under its lock: all of them, or none
        (404 naming the first id the caller cannot see; 423/409 the first locked one).
        Repeated ids count once."""
        ids = list(dict.fromkeys(record_ids))
        if not 0 < len(ids) <= BATCH_LIMIT:
            raise InvalidInput(
                f"send 1 to {BATCH_LIMIT} ids at a time", loc=("body",), input=len(ids)
            )
        actor = principal.actor()
        for _ in range(UPDATE_ROUNDS):
            found = await self._store.get(ws, collection.name, ids)
            reader = None
            if collection.audience is not None:
                reader = await self._audiences.reader(ws, principal)
            ops: list[BatchOp] = []
            for rid, current in zip(ids, found, strict=True):
                if current is None or (
                    reader is not None and not _admits(collection, current, reader)
                ):
                    raise not_found(collection, rid)
                collection.permissions.check("delete", principal, current)
                event = self._deleted_event(ws, collection, current, actor)
                guard = self._guard(ws, collection, rid, actor, None)
                ops.append(DeleteOp(collection.name, rid, current.version, event, guard))
            outcome = await self._store.batch(ws, ops)
            if not isinstance(outcome, BatchRefused):
                return list(outcome)
            if isinstance(outcome.outcome, VersionChanged | Missing):
                continue
            raise refused(collection, ids[outcome.index], outcome.outcome)
        raise Conflict("The records kept changing under this delete; retry it")

    async def reserve_ids(self, ws: WorkspaceKey, collection: Collection, count: int) -> list[int]:
        """`count` new ids of `collection`, for `New` writes (later writes of the batch may
        refer to them)."""
        return await self._store.reserve(ws, collection.name, count)

    async def write_many(
        self,
        ws: WorkspaceKey,
        writes: Sequence[Write],
        principal: Principal,
        *,
        keep: Iterable[StoredRecord] = (),
    ) -> Outcome | None:
        """Apply `writes` in order as one atomic step, each validated, guarded and announced as
        this service does it alone (a `Change` that changes nothing is left out): all of them,
        or none. None when a record moved since it was read (or went away, or a reference did):
        read again and recompute. A write with a `loc` carries values a client sent: a
        reference of it to nothing is that client's mistake (`InvalidInput` at `loc`). A
        taken unique value is `AlreadyExists`; a lock, 423/409. `keep` are records read for
        the answer, returned as read when the batch leaves them."""
        actor = principal.actor()
        out: Outcome = {(r.collection, r.id): r for r in keep}
        ops: list[BatchOp] = []
        made: list[Write] = []
        problems: list[Problem] = []
        for write in writes:
            match write:
                case New(collection, rid, values, loc):
                    collection.permissions.check("create", principal, None)
                    try:
                        data = validate_record(collection.fields, values, current=None, loc=loc)
                    except InvalidInput as exc:
                        problems += exc.problems
                        continue
                    made_write = self._write(
                        ws, collection, data, actor, "created", changed=None, rid=rid
                    )
                    ops.append(CreateOp(collection.name, made_write, rid))
                case Change(collection, current, values, loc):
                    collection.permissions.check("update", principal, current)
                    try:
                        data = validate_record(
                            collection.fields, values, current=current.data, loc=loc
                        )
                    except InvalidInput as exc:
                        problems += exc.problems
                        continue
                    changed = [
                        spec.name
                        for spec in collection.fields
                        if current.data.get(spec.key) != data.get(spec.key)
                    ]
                    out[(current.collection, current.id)] = current
                    if not changed:
                        continue
                    made_write = self._write(
                        ws, collection, data, actor, "updated", changed=changed, before=current
                    )
                    guard = self._guard(ws, collection, current.id, actor, None)
                    ops.append(
                        UpdateOp(collection.name, current.id, current.version, made_write, guard)
                    )
                case Gone(collection, current):
                    collection.permissions.check("delete", principal, current)
                    event = self._deleted_event(ws, collection, current, actor)
                    guard = self._guard(ws, collection, current.id, actor, None)
                    ops.append(DeleteOp(collection.name, current.id, current.version, event, guard))
            made.append(write)
        if problems:
            raise InvalidInput.of(problems)
        if not ops:
            return out
        outcome = await self._store.batch(ws, ops)
        if isinstance(outcome, BatchRefused):
            failed = made[outcome.index]
            match outcome.outcome:
                case Unresolved() as missing if failed.loc:
                    raise unresolved(failed.collection, missing, failed.loc)
                case VersionChanged() | Missing() | Unresolved():
                    return None
                case Taken() as clash:
                    raise taken(failed.collection, clash, failed.loc)
                case other:
                    rid = failed.record_id if isinstance(failed, New) else failed.current.id
                    raise refused(failed.collection, rid, other)
        for record in outcome:
            out[(record.collection, record.id)] = record
        return out

    async def check_guard(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        record_id: int,
        actor: Actor,
        token: int | None,
    ) -> None:
        """Refuse a write that changes nothing as the write itself would have been refused
        (423, or 409 for a stale token): a client must not learn that its lost lease still
        works. Nothing is written, so reading the lock first is enough."""
        guard = self._guard(ws, collection, record_id, actor, token)
        if guard is None:
            return
        (lease,) = await self._locks.get(ws, [guard.entity])
        verdict = guard_refusal(guard, lease)
        if verdict is not None:
            raise refused(collection, record_id, verdict)

    # --- pieces -----------------------------------------------------------------------------

    def _write(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        data: dict[str, Any],
        actor: Actor,
        action: Literal["created", "updated"],
        *,
        changed: list[str] | None,
        before: StoredRecord | None = None,
        rid: int | None = None,
    ) -> RecordWrite:
        """The store write of `data`. With an audience, the record's audience keys go in its
        audience index, and the event goes to whoever may read the record after the write —
        or, for an update, before it too (a user the update shuts out learns of it)."""
        fields = collection.fields
        unique = unique_keys(fields, data)
        for names in collection.compound_unique:
            specs = [spec for spec in fields if spec.name in names]
            parts = [repr(data.get(spec.key)) for spec in specs]
            unique.append(UniqueKey("+".join(names), "|".join(parts)))
        indexes = index_entries(fields, data)
        audience: Audience | None = None
        if collection.audience is not None:
            owner = actor.id if before is None else before.created_by
            audience = audience_of(collection, data, owner)
            indexes.append(IndexEntry(AUDIENCE_INDEX, "m", audience_keys(audience)))
            if before is not None:
                audience = either(audience, audience_of(collection, before.data, owner))
        event = None
        if collection.events is not None:
            event = RecordEvent(
                f"{collection.events}.{action}",
                actor,
                self._event_data(
                    ws, collection, data, changed, before.id if before is not None else rid
                ),
                audience,
            )
        # An update checks only the references it sets: one left dangling by a deleted target
        # does not block edits of the record's other fields.
        refs = references(fields, data)
        if changed is not None:
            keys = {spec.key for spec in fields if spec.name in changed}
            refs = [ref for ref in refs if ref.name in keys]
        refs = [*collection.requires, *refs]
        return RecordWrite(
            data=data,
            actor=actor,
            event=event,
            indexes=indexes,
            unique=unique,
            references=refs,
        )

    def _deleted_event(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        current: StoredRecord,
        actor: Actor,
        context: Mapping[str, Any] | None = None,
    ) -> RecordEvent | None:
        """The event of deleting `current` (None for a silent collection): the record as it
        was, to whoever could read it."""
        if collection.events is None:
            return None
        data = self._event_data(ws, collection, current.data, None, current.id)
        return RecordEvent(
            f"{collection.events}.deleted",
            actor,
            {**data, **(context or {})},
            audience_of(collection, current.data, current.created_by),
        )

    def _event_data(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        data: Mapping[str, Any],
        changed: list[str] | None,
        record_id: int | None,
    ) -> dict[str, Any]:
        """The record's public form, whole unless larger than `record_event_max_bytes`: then
        an update carries only the changed values (a create or delete, none), and
        `truncated: true` tells clients to read the record over REST. In a public-id
        collection, `publicId` is the record's and references are public ids too (the event's
        own `id` is the store's)."""
        values = public_values(collection.fields, data)
        out: dict[str, Any] = dict(collection.context)
        if collection.public_ids and record_id is not None:
            ids = self.ids.in_workspace(ws)
            out["publicId"] = ids.encode(collection.name, record_id)
            values = public_references(ids, collection.fields, values)
        if changed is not None:
            out["changed"] = changed
        if _size(values) > self._inline_bytes:
            values = {name: values[name] for name in changed or ()}
            out["truncated"] = True
        if collection.values_key is None:
            out.update(values)
        else:
            out[collection.values_key] = values
        return out

    def lock_entity(
        self, ws: WorkspaceKey, collection: Collection, record_id: int
    ) -> EntityRef | None:
        """The entity a record is locked under (by its public id in a public-id module)."""
        public = None
        if collection.public_ids:
            public = self.ids.in_workspace(ws).encode(collection.name, record_id)
        return collection.lock_entity(record_id, public)

    def _guard(
        self,
        ws: WorkspaceKey,
        collection: Collection,
        record_id: int,
        actor: Actor,
        token: int | None,
    ) -> Guard | None:
        entity = self.lock_entity(ws, collection, record_id)
        if entity is None:
            return None
        return Guard(entity, actor.id, token)


#: The multi-valued index of a collection with an audience: `*` (every member), `u:<user>`
#: and `g:<group>` keys; a reader's keys are any-of matched against it.
AUDIENCE_INDEX: Final = "_audience"
EVERYONE: Final = "*"


def public_references(
    ids: WorkspaceIds, fields: Sequence[FieldSpec], values: dict[str, Any]
) -> dict[str, Any]:
    """`values` (public form) with the store ids of reference fields, and of lists of them,
    as public ids."""
    for spec in fields:
        value = values.get(spec.name)
        target = reference_target(spec)
        if target is None or value is None:
            continue
        if isinstance(value, list):
            values[spec.name] = [ids.encode(target, v) if isinstance(v, int) else v for v in value]
        elif isinstance(value, int):
            values[spec.name] = ids.encode(target, value)
    return values


def audience_of(collection: Collection, data: Mapping[str, Any], owner: str) -> Audience | None:
    """The audience the collection's rule gives a record's stored `data` (None: everyone)."""
    if collection.audience is None:
        return None
    return collection.audience(public_values(collection.fields, data), owner)


def audience_keys(audience: Audience | None) -> tuple[str, ...]:
    if audience is None:
        return (EVERYONE,)
    users = (f"u:{user}" for user in audience.users)
    return (*sorted(users), *sorted(f"g:{group}" for group in audience.members_of))


def reader_keys(reader: Reader) -> tuple[str, ...]:
    return (EVERYONE, f"u:{reader.user_id}", *sorted(f"g:{g}" for g in reader.groups))


def either(a: Audience | None, b: Audience | None) -> Audience | None:
    """Whoever is in `a` or in `b` (None, everyone, absorbs)."""
    if a is None or b is None:
        return None
    return Audience(a.users | b.users, a.members_of | b.members_of)


def _admits(collection: Collection, record: StoredRecord, reader: Reader) -> bool:
    audience = audience_of(collection, record.data, record.created_by)
    return audience is None or audience.admits(reader.user_id, reader.groups)


def _sort_index(
    collection: Collection, name: str, loc: tuple[str | int, ...]
) -> tuple[str, IndexKind]:
    if name in SYSTEM_SORTS:
        return SYSTEM_SORTS[name], "n"
    spec = collection.field_named(name)
    if spec is None or not spec.indexed or index_kind(spec) == "m":
        sortable = (s for s in collection.fields if s.indexed and index_kind(s) != "m")
        allowed = [*SYSTEM_SORTS, *(s.name for s in sortable)]
        raise InvalidInput(
            f"Cannot sort by {name!r}; sortable: {', '.join(allowed)}",
            loc=loc,
            input=name,
        )
    return spec.key, index_kind(spec)


def _from_query(spec: FieldSpec, raw: Any) -> Any:
    """A filter value sent as a query string, as the field's JSON type (unparsable strings
    are left for the field's own check to refuse)."""
    if not isinstance(raw, str) or spec.type in ("text", "long_text", "email", "url", "phone"):
        return raw
    if raw == "null":
        return None
    if spec.type == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    if spec.type in ("integer", "reference") and raw.lstrip("-").isdigit():
        return int(raw)
    if spec.type == "number":
        try:
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
        except ValueError:
            return raw
    if spec.type == "multi_select":
        return [part for part in raw.split(",") if part]
    return raw


def _changed(
    collection: Collection, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[str]:
    return [spec.name for spec in collection.fields if before.get(spec.key) != after.get(spec.key)]


def _size(values: Mapping[str, Any]) -> int:
    return len(msgpack.packb(values, use_bin_type=True))
