"""Seed 002 bodies (camelCase, as the SalesOS API writes them), with examples."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from ..clock import iso_ms
from ..services.custom_objects import ObjectStats
from ..services.object_definitions import FieldDef, ObjectDef
from .declared.huddle_style import LOCK_TOKEN

_FIELD_EXAMPLE: JsonDict = {
    "apiName": "stage",
    "label": "Stage",
    "type": "single_select",
    "required": True,
    "options": ["lead", "active", "won", "lost"],
    "defaultValue": "lead",
}
_OBJECT_EXAMPLE: JsonDict = {
    "apiName": "project",
    "label": "Project",
    "pluralLabel": "Projects",
    "description": "Client projects",
    "fields": [
        {"apiName": "name", "label": "Name", "type": "text", "required": True, "unique": True},
        {"apiName": "budget", "label": "Budget", "type": "number"},
        _FIELD_EXAMPLE,
        {"apiName": "due_date", "label": "Due date", "type": "date"},
    ],
}

_FIELD_OUT_EXAMPLE: JsonDict = {
    "id": "3",
    "apiName": "stage",
    "label": "Stage",
    "type": "single_select",
    "required": True,
    "unique": False,
    "defaultValue": "lead",
    "options": ["lead", "active", "won", "lost"],
    "maxLength": None,
    "referenceObjectId": None,
    "description": None,
}
_OBJECT_OUT_EXAMPLE: JsonDict = {
    "id": "1",
    "apiName": "project",
    "label": "Project",
    "pluralLabel": "Projects",
    "description": "Client projects",
    "fields": [_FIELD_OUT_EXAMPLE],
    "version": 3,
    "createdAt": "2026-01-05T10:00:00.000Z",
    "updatedAt": "2026-01-05T10:02:00.000Z",
    "createdBy": "admin",
    "updatedBy": "admin",
}
_PAGE_EXAMPLE: JsonDict = {"page": 1, "limit": 20, "total": 1, "totalPages": 1}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_FIELD_EXAMPLE]})

    apiName: str = Field(description="Lowercase letters, digits and _, from a letter")
    label: str | None = Field(None, min_length=1, max_length=100)
    type: str = Field(description="One of the field types (see docs/api.md)")
    required: bool = False
    unique: bool = False
    defaultValue: Any = None
    options: list[str] | None = Field(None, description="For single_select and multi_select")
    maxLength: int | None = Field(None, description="For text and long_text")
    referenceObjectId: int | str | None = Field(None, description="For reference fields")
    description: str | None = Field(None, max_length=1000)

    def spec(self) -> dict[str, Any]:
        return _snake(self.model_dump(exclude_unset=True))


class NewFieldIn(FieldIn):
    """A field added to an existing object; `lock_token` as with the object's other writes."""

    lock_token: int | None = LOCK_TOKEN

    def spec(self) -> dict[str, Any]:
        return _snake(self.model_dump(exclude_unset=True, exclude={"lock_token"}))


class FieldPatch(_In):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"label": "Phase", "required": False}]}
    )

    apiName: str | None = None
    label: str | None = Field(None, min_length=1, max_length=100)
    type: str | None = None
    required: bool | None = None
    unique: bool | None = None
    defaultValue: Any = None
    options: list[str] | None = None
    maxLength: int | None = None
    referenceObjectId: int | str | None = None
    description: str | None = Field(None, max_length=1000)
    lock_token: int | None = LOCK_TOKEN

    def changes(self) -> dict[str, Any]:
        return _snake(self.model_dump(exclude_unset=True, exclude={"lock_token"}))


class ObjectIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_OBJECT_EXAMPLE]})

    apiName: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", examples=["project"])
    label: str = Field(min_length=1, max_length=100)
    pluralLabel: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=1000)
    fields: list[FieldIn] = Field(default_factory=list)

    def spec(self) -> dict[str, Any]:
        return {
            "api_name": self.apiName,
            "label": self.label,
            "plural_label": self.pluralLabel,
            "description": self.description,
            "fields": [f.spec() for f in self.fields],
        }


class ObjectPatch(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"label": "Project", "description": "Client work"}]},
    )

    apiName: str | None = None
    label: str | None = Field(None, min_length=1, max_length=100)
    pluralLabel: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=1000)
    lock_token: int | None = LOCK_TOKEN

    def changes(self) -> dict[str, Any]:
        return _snake(self.model_dump(exclude_unset=True, exclude={"lock_token"}))


class FieldOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_FIELD_OUT_EXAMPLE]})

    id: str
    apiName: str
    label: str
    type: str
    required: bool
    unique: bool
    defaultValue: Any
    options: list[str]
    maxLength: int | None
    referenceObjectId: str | None
    description: str | None

    @classmethod
    def of(cls, field: FieldDef) -> FieldOut:
        ref = field.reference_object_id
        return cls(
            id=str(field.id),
            apiName=field.api_name,
            label=field.label,
            type=field.type,
            required=field.required,
            unique=field.unique,
            defaultValue=field.default,
            options=list(field.options),
            maxLength=field.max_length,
            referenceObjectId=None if ref is None else str(ref),
            description=field.description,
        )


class ObjectOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_OBJECT_OUT_EXAMPLE]})

    id: str
    apiName: str
    label: str
    pluralLabel: str
    description: str | None
    fields: list[FieldOut]
    version: int
    createdAt: str
    updatedAt: str
    createdBy: str
    updatedBy: str

    @classmethod
    def of(cls, obj: ObjectDef) -> ObjectOut:
        record = obj.record
        return cls(
            id=str(obj.id),
            apiName=obj.api_name,
            label=obj.label,
            pluralLabel=obj.plural_label,
            description=obj.description,
            fields=[FieldOut.of(f) for f in obj.fields],
            version=record.version,
            createdAt=iso_ms(record.created_at_ms),
            updatedAt=iso_ms(record.updated_at_ms),
            createdBy=record.created_by,
            updatedBy=record.updated_by,
        )


class PageMeta(BaseModel):
    page: int
    limit: int
    total: int
    totalPages: int

    @classmethod
    def of(cls, page: int, limit: int, total: int) -> PageMeta:
        return cls(page=page, limit=limit, total=total, totalPages=-(-total // limit))


class ObjectListOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": [_OBJECT_OUT_EXAMPLE], "meta": _PAGE_EXAMPLE}]}
    )

    data: list[ObjectOut]
    meta: PageMeta


class FieldChangeOut(BaseModel):
    """The field as it is now, and the object it belongs to."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"field": _FIELD_OUT_EXAMPLE, "object": _OBJECT_OUT_EXAMPLE}]
        }
    )

    field: FieldOut
    object: ObjectOut


class ObjectStatsOut(BaseModel):
    id: str
    apiName: str
    label: str
    fields: int
    records: int
    recordsCreatedLast24h: int


class StatsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "objects": 1,
                    "fields": 4,
                    "records": 12,
                    "recordsCreatedLast24h": 3,
                    "byObject": [
                        {
                            "id": "1",
                            "apiName": "project",
                            "label": "Project",
                            "fields": 4,
                            "records": 12,
                            "recordsCreatedLast24h": 3,
                        }
                    ],
                }
            ]
        }
    )

    objects: int
    fields: int
    records: int
    recordsCreatedLast24h: int
    byObject: list[ObjectStatsOut]

    @classmethod
    def of(cls, stats: list[ObjectStats]) -> StatsOut:
        rows = [
            ObjectStatsOut(
                id=str(s.object.id),
                apiName=s.object.api_name,
                label=s.object.label,
                fields=len(s.object.fields),
                records=s.records.total,
                recordsCreatedLast24h=s.records.recent,
            )
            for s in stats
        ]
        return cls(
            objects=len(rows),
            fields=sum(row.fields for row in rows),
            records=sum(row.records for row in rows),
            recordsCreatedLast24h=sum(row.recordsCreatedLast24h for row in rows),
            byObject=rows,
        )


_SNAKE = {
    "apiName": "api_name",
    "pluralLabel": "plural_label",
    "defaultValue": "default",
    "maxLength": "max_length",
    "referenceObjectId": "reference_object_id",
}


def _snake(values: dict[str, Any]) -> dict[str, Any]:
    return {_SNAKE.get(key, key): value for key, value in values.items()}
