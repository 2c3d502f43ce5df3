"""JSON schemas of declared fields, for the OpenAPI document of declared modules.

The engine validates every value (`services.fields`); these schemas describe what it accepts,
derived from the same `FieldSpec`s, so the document cannot drift from the checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ...engine.field_types import LIST_MAX_ITEMS
from ...engine.fields import FieldSpec
from .style import JsonSchema

_STRING_FORMATS = {
    "date": "date",
    "datetime": "date-time",
    "email": "email",
    "url": "uri",
    "uuid": "uuid",
}


def field_schema(spec: FieldSpec, reference: Callable[[FieldSpec], JsonSchema]) -> JsonSchema:
    """The schema of one field's value. `reference` gives the schema of a reference's id (a
    number or a public id, as the style writes it)."""
    kind = spec.type
    schema: JsonSchema
    if kind == "reference":
        schema = reference(spec)
    elif kind in ("number",):
        schema = {"type": "number"}
    elif kind == "integer":
        schema = {"type": "integer"}
    elif kind == "boolean":
        schema = {"type": "boolean"}
    elif kind == "single_select":
        schema = {"type": "string", "enum": list(spec.options)}
    elif kind == "multi_select":
        schema = {"type": "array", "items": {"type": "string", "enum": list(spec.options)}}
    elif kind == "object":
        schema = object_schema(spec.shape, reference)
    elif kind == "list":
        schema = {"type": "array", "maxItems": spec.max_items or LIST_MAX_ITEMS}
        if spec.item is not None:
            schema["items"] = field_schema(spec.item, reference)
    else:
        schema = {"type": "string"}
        if kind in _STRING_FORMATS:
            schema["format"] = _STRING_FORMATS[kind]
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
    if not spec.required:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def object_schema(
    fields: Iterable[FieldSpec],
    reference: Callable[[FieldSpec], JsonSchema],
    *,
    required: bool = True,
    extra: dict[str, JsonSchema] | None = None,
) -> JsonSchema:
    """An object of `fields` by public name (`required`: list the required ones), with
    `extra` properties (system fields) first."""
    properties: dict[str, JsonSchema] = dict(extra or {})
    needed: list[str] = list(extra or {})
    for spec in fields:
        properties[spec.name] = field_schema(spec, reference)
        if required and spec.required:
            needed.append(spec.name)
    schema: JsonSchema = {"type": "object", "properties": properties}
    if needed:
        schema["required"] = needed
    return schema


def example_of(schema: JsonSchema, example: dict[str, Any]) -> JsonSchema:
    return {**schema, "example": example}
