"""Custom object definitions as values: an object, its fields, and how they are stored.

An object definition is a record of the `custom_object` collection (`OBJECTS`); the records of
object 7 are the collection `obj:7` (`records_of`), declared for the record engine by
`ObjectDef.collection()`. Values are stored under `f<field number>` (`FieldDef.key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..engine.declarations import ADMINS_ONLY, Collection
from ..engine.fields import FieldSpec, FieldType, check_field_definition
from ..errors import NotFound, Problem
from ..store import Reference, StoredRecord

OBJECT_ENTITY: Final = "custom_object"
#: The collection of the definitions themselves.
OBJECTS_COLLECTION: Final = "custom_object"


@dataclass(frozen=True, slots=True)
class FieldDef:
    id: int
    api_name: str
    label: str
    type: FieldType
    required: bool = False
    unique: bool = False
    default: Any = None
    options: tuple[str, ...] = ()
    max_length: int | None = None
    reference_object_id: int | None = None
    description: str | None = None

    @property
    def key(self) -> str:
        return f"f{self.id}"

    def spec(self) -> FieldSpec:
        return FieldSpec(
            key=self.key,
            name=self.api_name,
            type=self.type,
            required=self.required,
            unique=self.unique,
            default=self.default,
            options=self.options,
            max_length=self.max_length,
            reference=(
                None if self.reference_object_id is None else records_of(self.reference_object_id)
            ),
            indexed=self.type != "long_text",
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api_name": self.api_name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "unique": self.unique,
            "default": self.default,
            "options": list(self.options),
            "max_length": self.max_length,
            "reference_object_id": self.reference_object_id,
            "description": self.description,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> FieldDef:
        return cls(
            id=data["id"],
            api_name=data["api_name"],
            label=data["label"],
            type=data["type"],
            required=data.get("required", False),
            unique=data.get("unique", False),
            default=data.get("default"),
            options=tuple(data.get("options") or ()),
            max_length=data.get("max_length"),
            reference_object_id=data.get("reference_object_id"),
            description=data.get("description"),
        )


@dataclass(frozen=True, slots=True)
class ObjectDef:
    """A custom object as stored, with the record it lives in."""

    record: StoredRecord
    api_name: str
    label: str
    plural_label: str
    description: str | None
    fields: tuple[FieldDef, ...]
    next_field: int

    @property
    def id(self) -> int:
        return self.record.id

    @classmethod
    def of(cls, record: StoredRecord) -> ObjectDef:
        data = record.data
        return cls(
            record=record,
            api_name=data["api_name"],
            label=data["label"],
            plural_label=data["plural_label"],
            description=data.get("description"),
            fields=tuple(FieldDef.from_data(f) for f in data.get("fields", ())),
            next_field=data.get("next_field", 1),
        )

    def to_data(self, **changes: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "api_name": self.api_name,
            "label": self.label,
            "plural_label": self.plural_label,
            "description": self.description,
            "fields": [f.to_data() for f in self.fields],
            "next_field": self.next_field,
        }
        data.update(changes)
        return data

    def collection(self) -> Collection:
        """The record engine's declaration of this object's records."""
        return Collection(
            name=records_of(self.id),
            fields=tuple(f.spec() for f in self.fields),
            events="record",
            lock_type=self.api_name,
            context={"object_id": self.id, "object": self.api_name},
            requires=(Reference("definition", OBJECTS_COLLECTION, self.id, self.record.version),),
        )

    def field(self, ref: str) -> FieldDef:
        """A field by its number or its API name; 404 otherwise."""
        for f in self.fields:
            if str(f.id) == ref or f.api_name == ref:
                return f
        raise NotFound(
            "The requested resource was not found",
            details={"resource_type": "field", "resource_id": ref, "object_id": self.id},
        )


def records_of(object_id: int) -> str:
    return f"obj:{object_id}"


#: The definitions' own collection: the engine serves their reads and guarded writes; the
#: service builds their data, index entries and events itself.
OBJECTS: Final = Collection(
    name=OBJECTS_COLLECTION,
    fields=(),
    events="object",
    lock_type=OBJECT_ENTITY,
    values_key=None,
    permissions=ADMINS_ONLY,
)


def object_event(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "api_name": data["api_name"],
        "label": data["label"],
        "plural_label": data["plural_label"],
        "description": data.get("description"),
        "fields": data.get("fields", []),
    }


def field_kwargs(field: FieldDef) -> dict[str, Any]:
    return {
        "id": field.id,
        "api_name": field.api_name,
        "label": field.label,
        "type": field.type,
        "required": field.required,
        "unique": field.unique,
        "default": field.default,
        "options": field.options,
        "max_length": field.max_length,
        "reference_object_id": field.reference_object_id,
        "description": field.description,
    }


#: Definition attributes by the names clients use (for error locations).
_PUBLIC_ATTRIBUTES: Final = {
    "name": "apiName",
    "default": "defaultValue",
    "max_length": "maxLength",
}


def definition_problems(spec: Mapping[str, Any], loc: tuple[str | int, ...]) -> list[Problem]:
    """Every problem of a field definition (snake_case keys), located by the public names."""
    problems = check_field_definition(
        spec.get("api_name"),
        spec.get("type"),
        list(spec["options"]) if spec.get("options") is not None else None,
        spec.get("default"),
        spec.get("max_length"),
        spec.get("required", False),
        spec.get("unique", False),
        loc,
    )
    return [_public_loc(problem, len(loc)) for problem in problems]


def _public_loc(problem: Problem, at: int) -> Problem:
    loc = list(problem.loc)
    if len(loc) > at and isinstance(name := loc[at], str):
        loc[at] = _PUBLIC_ATTRIBUTES.get(name, name)
    return Problem(tuple(loc), problem.msg, problem.type, problem.input, problem.ctx)
