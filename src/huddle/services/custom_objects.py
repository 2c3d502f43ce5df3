"""Custom objects (seed 002): definitions stored as records, and a collection per object.

An object definition is a record of the `custom_object` collection: its API name (unique,
fixed once created), labels, description and fields, each field with a number that is never
reused within the object. The records of object 7 are the collection `obj:7`; a record's
values are stored under `f<field number>`, so renaming a field is free and a deleted field's
values can never reappear under a new field of the same name.

What changing a definition does to existing records (never a rewrite, never a corrupt record):

* a **new field** reads null on older records (its default applies to records created later);
* **label, description, required, default, options, max_length** of a field apply to writes
  from then on; stored values stay as they are and read back unchanged;
* a field's **type** and **unique** never change (add a new field instead): existing values
  could neither be converted nor made unique without rewriting records, and a check of "no
  records yet" could not be atomic with the change;
* a **deleted field** disappears from every record at once: its values are no longer read,
  its index and unique values are dropped in the same step, and each record sheds the stored
  value at its next write;
* deleting an **object** that has records needs `force=true`, and then deletes them with it.

Definitions are edited by admins; records by any member. Writes to an object (and its fields)
respect the lock on (`custom_object`, id); writes to a record the lock on (`<api name>`, id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..auth import Principal
from ..engine.service import RecordService
from ..errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    LimitReached,
    NotFound,
    Problem,
)
from ..hub.node import Node
from ..ids import WorkspaceKey
from ..models import Actor
from ..store import (
    Cascade,
    CollectionCount,
    IndexEntry,
    RecordEvent,
    RecordWrite,
    StoredRecord,
    Taken,
    UniqueKey,
)
from .object_definitions import (
    OBJECT_ENTITY,
    OBJECTS,
    FieldDef,
    ObjectDef,
    definition_problems,
    field_kwargs,
    object_event,
    records_of,
)

#: API names an object may not take: they are entity types of Huddle's own records, and a
#: record's lock entity type is its object's API name.
RESERVED_NAMES: Final = frozenset(
    {OBJECT_ENTITY, "collaboration", "lead", "contact", "sales_account", "deal", "user_number"}
)

DAY_MS: Final = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class ObjectStats:
    object: ObjectDef
    records: CollectionCount


class CustomObjectService:
    def __init__(self, node: Node, records: RecordService) -> None:
        self._records = records
        self._store = node.backend.records
        self._settings = node.settings

    # --- objects ----------------------------------------------------------------------------

    async def list_objects(
        self, ws: WorkspaceKey, *, page: int, limit: int
    ) -> tuple[list[ObjectDef], int]:
        found = await self._records.page(ws, OBJECTS, offset=(page - 1) * limit, limit=limit)
        return [ObjectDef.of(record) for record in found.records], found.total

    async def get_object(self, ws: WorkspaceKey, ref: str) -> ObjectDef:
        """An object by id or by API name; 404 otherwise (another org's ids included)."""
        if ref.isascii() and ref.isdigit() and len(ref) <= 16:
            (record,) = await self._store.get(ws, OBJECTS.name, [int(ref)])
        else:
            record = await self._store.find(ws, OBJECTS.name, UniqueKey("api_name", ref))
        if record is None:
            raise NotFound(
                "The requested resource was not found",
                details={"resource_type": OBJECT_ENTITY, "resource_id": ref},
            )
        return ObjectDef.of(record)

    async def create_object(
        self, ws: WorkspaceKey, principal: Principal, spec: Mapping[str, Any]
    ) -> ObjectDef:
        principal.require_admin("custom_objects:write")
        api_name = spec["api_name"]
        self._check_api_name(api_name)
        fields: list[FieldDef] = []
        problems: list[Problem] = []
        for i, field_spec in enumerate(spec.get("fields") or ()):
            loc = ("body", "fields", i)
            if any(f.api_name == field_spec.get("api_name") for f in fields):
                problems.append(
                    Problem((*loc, "apiName"), "Field names must be unique in an object")
                )
                continue
            found = await self._field_def(ws, len(fields) + 1, field_spec, loc, problems)
            if found is not None:
                fields.append(found)
        if problems:
            raise InvalidInput.of(problems)
        if len(fields) > self._settings.custom_fields_max:
            raise InvalidInput(
                f"An object has at most {self._settings.custom_fields_max} fields",
                loc=("body", "fields"),
            )
        counts = await self._store.count(ws, [OBJECTS.name], DAY_MS)
        if counts[0].total >= self._settings.custom_objects_max:
            raise LimitReached(
                f"This workspace has its {self._settings.custom_objects_max} custom objects",
                details={"limit": self._settings.custom_objects_max},
            )
        data: dict[str, Any] = {
            "api_name": api_name,
            "label": spec["label"],
            "plural_label": spec.get("plural_label") or spec["label"],
            "description": spec.get("description"),
            "fields": [f.to_data() for f in fields],
            "next_field": len(fields) + 1,
        }
        actor = principal.actor()
        outcome = await self._store.create(
            ws, OBJECTS.name, self._object_write(data, actor, "object.created", {})
        )
        if isinstance(outcome, Taken):
            raise AlreadyExists(
                f"An object named {api_name!r} exists already",
                details={"field": "apiName", "existing_id": outcome.holder.id},
            )
        if not isinstance(outcome, StoredRecord):
            raise Conflict(f"The object was refused: {outcome!r}")
        return ObjectDef.of(outcome)

    async def update_object(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        ref: str,
        changes: Mapping[str, Any],
        token: int | None,
    ) -> ObjectDef:
        """Labels and description; the API name is fixed."""
        principal.require_admin("custom_objects:write")

        def change(obj: ObjectDef) -> tuple[dict[str, Any], str, dict[str, Any]]:
            if "api_name" in changes and changes["api_name"] != obj.api_name:
                raise InvalidInput(
                    "An object's apiName cannot change (records are locked and announced "
                    "under it); create a new object instead",
                    loc=("body", "apiName"),
                    input=changes["api_name"],
                )
            updates = {
                key: changes[key]
                for key in ("label", "plural_label", "description")
                if key in changes
            }
            changed = [key for key, value in updates.items() if getattr(obj, key) != value]
            return obj.to_data(**updates), "object.updated", {"changed": changed}

        return await self._change(ws, principal, ref, token, change)

    async def delete_object(
        self, ws: WorkspaceKey, principal: Principal, ref: str, *, force: bool, token: int | None
    ) -> ObjectDef:
        principal.require_admin("custom_objects:write")
        obj = await self.get_object(ws, ref)
        collection = records_of(obj.id)
        cascade = Cascade(drop=[collection]) if force else Cascade(require_empty=[collection])
        record = await self._records.delete(
            ws,
            OBJECTS,
            obj.id,
            principal,
            token=token,
            cascade=cascade,
            context=object_event(obj.to_data()),
        )
        return ObjectDef.of(record)

    # --- fields -----------------------------------------------------------------------------

    async def add_field(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        ref: str,
        spec: Mapping[str, Any],
        token: int | None,
    ) -> tuple[ObjectDef, FieldDef]:
        principal.require_admin("custom_objects:write")
        obj = await self.get_object(ws, ref)
        problems: list[Problem] = []
        new = await self._field_def(ws, obj.next_field, spec, ("body",), problems)
        if problems or new is None:
            raise InvalidInput.of(problems)
        added = new

        def change(obj: ObjectDef) -> tuple[dict[str, Any], str, dict[str, Any]]:
            if any(f.api_name == added.api_name for f in obj.fields):
                raise AlreadyExists(
                    f"The object has a field named {added.api_name!r} already",
                    details={"field": "apiName"},
                )
            if len(obj.fields) >= self._settings.custom_fields_max:
                raise InvalidInput(
                    f"An object has at most {self._settings.custom_fields_max} fields",
                    loc=("body",),
                )
            field = FieldDef(**{**field_kwargs(added), "id": obj.next_field})
            data = obj.to_data(
                fields=[f.to_data() for f in (*obj.fields, field)], next_field=obj.next_field + 1
            )
            return data, "field.created", {"field": field.to_data()}

        updated = await self._change(ws, principal, ref, token, change)
        return updated, updated.fields[-1]

    async def update_field(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        ref: str,
        field_ref: str,
        changes: Mapping[str, Any],
        token: int | None,
    ) -> tuple[ObjectDef, FieldDef]:
        principal.require_admin("custom_objects:write")
        obj = await self.get_object(ws, ref)
        target_id = obj.field(field_ref).id

        def change(obj: ObjectDef) -> tuple[dict[str, Any], str, dict[str, Any]]:
            old = obj.field(str(target_id))
            merged = {**field_kwargs(old), **changes}
            if (reference := _object_id(merged.get("reference_object_id"))) is not None:
                merged["reference_object_id"] = reference  # sent back as the API shows it
            problems = definition_problems(merged, ("body",))
            if merged["type"] != old.type:
                problems.append(
                    Problem(
                        ("body", "type"),
                        "A field's type cannot change: add a new field instead",
                        input=merged["type"],
                    )
                )
            if merged["unique"] != old.unique:
                problems.append(
                    Problem(
                        ("body", "unique"),
                        "unique is fixed when a field is created: add a new field instead",
                        input=merged["unique"],
                    )
                )
            if merged.get("reference_object_id") != old.reference_object_id:
                problems.append(
                    Problem(
                        ("body", "referenceObjectId"),
                        "A reference field's target cannot change",
                        input=merged.get("reference_object_id"),
                    )
                )
            if merged["api_name"] != old.api_name and any(
                f.api_name == merged["api_name"] for f in obj.fields
            ):
                problems.append(
                    Problem(("body", "apiName"), "The object has a field with this name")
                )
            if problems:
                raise InvalidInput.of(problems)
            merged["options"] = tuple(merged.get("options") or ())
            field = FieldDef(**merged)
            fields = [field if f.id == old.id else f for f in obj.fields]
            changed = [
                key for key, value in field.to_data().items() if old.to_data().get(key) != value
            ]
            data = obj.to_data(fields=[f.to_data() for f in fields])
            return data, "field.updated", {"field": field.to_data(), "changed": changed}

        updated = await self._change(ws, principal, ref, token, change)
        return updated, updated.field(str(target_id))

    async def delete_field(
        self, ws: WorkspaceKey, principal: Principal, ref: str, field_ref: str, token: int | None
    ) -> ObjectDef:
        principal.require_admin("custom_objects:write")
        obj = await self.get_object(ws, ref)
        target = obj.field(field_ref)

        def change(obj: ObjectDef) -> tuple[dict[str, Any], str, dict[str, Any]]:
            old = obj.field(str(target.id))
            fields = [f.to_data() for f in obj.fields if f.id != old.id]
            return obj.to_data(fields=fields), "field.deleted", {"field": old.to_data()}

        return await self._change(
            ws, principal, ref, token, change, drop=[(records_of(obj.id), target.key)]
        )

    # --- stats ------------------------------------------------------------------------------

    async def stats(self, ws: WorkspaceKey) -> list[ObjectStats]:
        found = await self._records.page(
            ws, OBJECTS, offset=0, limit=self._settings.custom_objects_max
        )
        objects = [ObjectDef.of(record) for record in found.records]
        counts = await self._store.count(ws, [records_of(obj.id) for obj in objects], DAY_MS)
        return [ObjectStats(obj, count) for obj, count in zip(objects, counts, strict=True)]

    # --- pieces -----------------------------------------------------------------------------

    def _check_api_name(self, api_name: str) -> None:
        if api_name in RESERVED_NAMES:
            raise InvalidInput(
                f"{api_name!r} is reserved: records are locked under their object's apiName",
                loc=("body", "apiName"),
                input=api_name,
            )

    async def _field_def(
        self,
        ws: WorkspaceKey,
        field_id: int,
        spec: Mapping[str, Any],
        loc: tuple[str | int, ...],
        problems: list[Problem],
    ) -> FieldDef | None:
        found = definition_problems(spec, loc)
        raw = spec.get("reference_object_id")
        reference = _object_id(raw)
        if spec.get("type") == "reference":
            if raw is None:
                found.append(
                    Problem((*loc, "referenceObjectId"), "A reference field names its object")
                )
            elif reference is None:
                found.append(Problem((*loc, "referenceObjectId"), "Not an object id", input=raw))
            else:
                (target,) = await self._store.get(ws, OBJECTS.name, [reference])
                if target is None:
                    found.append(
                        Problem(
                            (*loc, "referenceObjectId"),
                            f"No custom object {reference}",
                            input=reference,
                        )
                    )
        elif raw is not None:
            found.append(
                Problem(
                    (*loc, "referenceObjectId"),
                    "Only reference fields name an object",
                    input=reference,
                )
            )
        if found:
            problems.extend(found)
            return None
        return FieldDef(
            id=field_id,
            api_name=spec["api_name"],
            label=spec.get("label") or spec["api_name"],
            type=spec["type"],
            required=spec.get("required", False),
            unique=spec.get("unique", False),
            default=spec.get("default"),
            options=tuple(spec.get("options") or ()),
            max_length=spec.get("max_length"),
            reference_object_id=reference,
            description=spec.get("description"),
        )

    def _object_write(
        self, data: dict[str, Any], actor: Actor, event_type: str, extra: Mapping[str, Any]
    ) -> RecordWrite:
        return RecordWrite(
            data=data,
            actor=actor,
            event=RecordEvent(event_type, actor, {**object_event(data), **extra}),
            indexes=[
                IndexEntry("api_name", "s", data["api_name"]),
                IndexEntry("label", "s", data["label"]),
            ],
            unique=[UniqueKey("api_name", data["api_name"])],
        )

    async def _change(
        self,
        ws: WorkspaceKey,
        principal: Principal,
        ref: str,
        token: int | None,
        change: Any,
        drop: Sequence[tuple[str, str]] = (),
    ) -> ObjectDef:
        """Apply `change(obj) -> (data, event type, extra event data)` to the current
        definition, as a compare-and-set under the object's lock; recomputed when another
        write moved the object in between."""
        actor = principal.actor()
        for _ in range(8):
            obj = await self.get_object(ws, ref)
            data, event_type, extra = change(obj)
            if data == obj.to_data():
                await self._records.check_guard(ws, OBJECTS, obj.id, actor, token)
                return obj  # nothing changes: no new version, no event
            write = self._object_write(data, actor, event_type, extra)
            written = await self._records.replace_data(
                ws, OBJECTS, obj.record, write, principal, token=token, drop_indexes=drop
            )
            if written is not None:
                return ObjectDef.of(written)
        raise Conflict("The object kept changing under this update; retry it")


def _object_id(raw: Any) -> int | None:
    """An object id sent as a number or a string of digits; None for anything else."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 15:
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw < 2**53:
        return raw
    return None
