"""Seed 001's JSON shapes: Base API v2 envelopes (`data`/`meta`, `items`/`meta`), snake_case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from ..records import StoredRecord

_EXAMPLE: JsonDict = {
    "id": 1,
    "creator_id": 1,
    "resource_type": "lead",
    "resource_id": 1,
    "collaborator_id": 2,
    "created_at": "2014-08-27T16:32:56Z",
    "updated_at": "2014-08-27T17:32:56Z",
}


def iso_seconds(ms: int) -> str:
    """Base's timestamps: UTC, ISO 8601, whole seconds, `Z`."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Collaboration(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    id: int
    creator_id: int
    resource_type: str = Field(description="lead, contact, sales_account or deal")
    resource_id: int
    collaborator_id: int
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, record: StoredRecord) -> Collaboration:
        data = record.data
        return cls(
            id=record.id,
            creator_id=data["creator_id"],
            resource_type=data["resource_type"],
            resource_id=data["resource_id"],
            collaborator_id=data["collaborator_id"],
            created_at=iso_seconds(record.created_at_ms),
            updated_at=iso_seconds(record.updated_at_ms),
        )


class CollaborationMeta(BaseModel):
    type: Literal["collaboration"] = "collaboration"


class CollaborationOut(BaseModel):
    """One collaboration in Base's resource envelope."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": _EXAMPLE, "meta": {"type": "collaboration"}}]}
    )

    data: Collaboration
    meta: CollaborationMeta = CollaborationMeta()

    @classmethod
    def of(cls, record: StoredRecord) -> CollaborationOut:
        return cls(data=Collaboration.of(record))


class Links(BaseModel):
    self: str
    first_page: str | None = None
    prev_page: str | None = None
    next_page: str | None = None


class CollectionMeta(BaseModel):
    type: Literal["collection"] = "collection"
    count: int = Field(description="Items on this page")
    links: Links


class CollaborationListOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [{"data": _EXAMPLE, "meta": {"type": "collaboration"}}],
                    "meta": {
                        "type": "collection",
                        "count": 1,
                        "links": {"self": "http://localhost:8000/v2/collaborations"},
                    },
                }
            ]
        }
    )

    items: list[CollaborationOut]
    meta: CollectionMeta


class CreateMeta(BaseModel):
    type: str


class CreateCollaborationIn(BaseModel):
    """`data` holds resource_type, resource_id and collaborator_id (numbers may be sent as
    strings; read-only fields are ignored). `meta` may be left out; if sent, its type must be
    `collaboration`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data": {"resource_type": "lead", "resource_id": 1, "collaborator_id": 2},
                    "meta": {"type": "collaboration"},
                }
            ]
        }
    )

    data: dict[str, Any]
    meta: CreateMeta | None = None
