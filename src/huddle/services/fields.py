"""Typed fields: what a record of a collection may hold, checked on every write.

Custom objects (user-defined types such as "Project") and the fixed-schema modules declare
their fields as `FieldSpec`s. Clients name a field by its public `name`; the record stores it
under a stable `key` ("f3"), so a field can be renamed without rewriting its records.

A value is checked and made *canonical* once, on write: the canonical value is what is stored,
what clients read back, and what validates again to itself unchanged. It is plain JSON (str,
int, float, bool, list of str) that round-trips exactly through orjson and msgpack. Null is
always type-valid; whether a field may be null is `validate_record`'s business.

The types and their table are in `field_types`, the checks of one value in `field_values`;
this module validates whole records and field definitions, and is what callers import.

Pure Python: no I/O. Bad input raises `InvalidInput` naming every problem, never anything else.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInput, Problem
from ..records import Filter, IndexEntry, IndexValue, Reference, UniqueKey
from .field_types import (
    FIELD_TYPE_TABLE,
    FIELD_TYPES,
    MAX_OPTIONS,
    NAME_PATTERN,
    OPTION_MAX,
    OPTION_SEPARATOR,
    SAFE_INT_MAX,
    SELECT_TYPES,
    TEXT_LIMITS,
    TYPE_ROWS,
    FieldSpec,
    FieldType,
    Loc,
)
from .field_values import check_string, check_value, expected_text

# --- records ------------------------------------------------------------------------------


def validate_record(
    fields: Sequence[FieldSpec],
    values: Mapping[str, Any],
    *,
    current: Mapping[str, Any] | None,
    loc: Loc = (),
) -> dict[str, Any]:
    """The record's new stored data (keyed by `key`, declared fields only, no nulls).

    `values` are keyed by public name. `current` None is a create: an absent field takes its
    default, and a required field must end non-null. Otherwise `current` is the stored data
    and this is a partial update: only the fields named change, null clears one (not a
    required one), the others keep their stored value. Raises `InvalidInput` with every
    problem, each at `loc + (name,)`."""
    by_name = {spec.name: spec for spec in fields}
    problems: list[Problem] = []
    given: dict[str, Any] = {}
    for name, value in values.items():
        spec = by_name.get(name)
        at = (*loc, name)
        if spec is None:
            problems.append(Problem(at, "Unknown field", "extra_forbidden", value))
            continue
        canonical, found = check_value(spec, value, at)
        if found:
            problems += found
        elif canonical is None and spec.required:
            problems.append(Problem(at, "Field required: it may not be null", "missing", value))
        else:
            given[spec.key] = canonical
    data: dict[str, Any] = {}
    for spec in fields:
        if spec.key in given:
            value = given[spec.key]
        elif spec.name in values:
            continue  # refused above
        elif current is None:
            value = _default(spec)
            if value is None and spec.required:
                problems.append(Problem((*loc, spec.name), "Field required", "missing"))
        else:
            value = _detached(current.get(spec.key))
        if value is not None:
            data[spec.key] = value
    if problems:
        raise InvalidInput.of(problems)
    return data


def _default(spec: FieldSpec) -> Any:
    canonical, found = check_value(spec, spec.default, (spec.name,))
    return None if found else canonical


def _detached(value: Any) -> Any:
    """A stored value the caller may keep without sharing a list with the source."""
    return list(value) if isinstance(value, list) else value


def public_values(fields: Sequence[FieldSpec], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared field by public name, in field order; null when the record has none."""
    return {spec.name: _detached(stored.get(spec.key)) for spec in fields}


def index_entries(fields: Sequence[FieldSpec], stored: Mapping[str, Any]) -> list[IndexEntry]:
    """One entry per indexed field, named by its key; null when the record has no value."""
    return [
        IndexEntry(
            spec.key, TYPE_ROWS[spec.type].index_kind, _index_value(spec, stored.get(spec.key))
        )
        for spec in fields
        if spec.indexed
    ]


def index_filter(spec: FieldSpec, value: Any) -> Filter:
    """The filter on `spec`'s index that matches records holding `value` (canonical, or None)."""
    return Filter(spec.key, TYPE_ROWS[spec.type].index_kind, _index_value(spec, value))


def _index_value(spec: FieldSpec, value: Any) -> IndexValue:
    if value is None:
        return None
    if spec.type == "boolean":
        return 1 if value else 0
    if spec.type == "multi_select":
        return OPTION_SEPARATOR.join(value) or None
    result: IndexValue = value
    return result


def unique_keys(fields: Sequence[FieldSpec], stored: Mapping[str, Any]) -> list[UniqueKey]:
    """One key per unique field that has a value, named by its key."""
    return [
        UniqueKey(spec.key, canonical_unique(spec, value))
        for spec in fields
        if spec.unique and (value := stored.get(spec.key)) is not None
    ]


def canonical_unique(spec: FieldSpec, value: Any) -> str:
    """The text two canonical values of `spec` share exactly when they count as the same:
    emails ignore case, 1 and 1.0 are one number, booleans are `true`/`false`."""
    if spec.type in ("number", "integer", "reference"):
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        return str(value)
    if spec.type == "boolean":
        return "true" if value else "false"
    if spec.type == "email":
        return str(value).lower()
    if spec.type == "multi_select":
        return OPTION_SEPARATOR.join(value)
    return str(value)


def references(fields: Sequence[FieldSpec], stored: Mapping[str, Any]) -> list[Reference]:
    """The records this one points at, which must exist when it is written."""
    return [
        Reference(spec.key, spec.reference, value)
        for spec in fields
        if spec.type == "reference"
        and spec.reference is not None
        and (value := stored.get(spec.key)) is not None
    ]


# --- definitions --------------------------------------------------------------------------


def check_field_definition(
    name: Any,
    type: Any,
    options: Any,
    default: Any,
    max_length: Any,
    required: Any,
    unique: Any,
    loc: Loc = (),
) -> list[Problem]:
    """Every problem of a field as a client defines it, each at `loc + (attribute,)`."""
    problems: list[Problem] = []
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        message = "Field names are a lowercase letter, then up to 62 lowercase letters, digits or _"
        pattern = {"pattern": f"^{NAME_PATTERN.pattern}$"}
        problems.append(Problem((*loc, "name"), message, "string_pattern_mismatch", name, pattern))
    for attribute, flag in (("required", required), ("unique", unique)):
        if not isinstance(flag, bool):
            message = "Input should be a valid boolean"
            problems.append(Problem((*loc, attribute), message, "bool_type", flag))
    row = TYPE_ROWS.get(type) if isinstance(type, str) else None
    if row is None:
        expected = expected_text(FIELD_TYPES, shown=len(FIELD_TYPES))
        problems.append(
            Problem(
                (*loc, "type"), f"Input should be {expected}", "enum", type, {"expected": expected}
            )
        )
        return problems  # the other rules depend on the type
    shape = _check_options(row.type, options, loc) + _check_max_length(row.type, max_length, loc)
    problems += shape
    if unique is True and not row.unique:
        message = f"A {row.type} field cannot be unique"
        problems.append(Problem((*loc, "unique"), message, "value_error", unique))
    if default is not None and row.type == "reference":
        message = "A reference field cannot have a default"
        problems.append(Problem((*loc, "default"), message, "value_error", default))
    elif default is not None and not shape:
        spec = FieldSpec(
            key="",
            name="",
            type=row.type,
            options=tuple(options or ()),
            max_length=max_length,
        )
        problems += check_value(spec, default, (*loc, "default"))[1]
    return problems


def _check_options(type: FieldType, options: Any, loc: Loc) -> list[Problem]:
    at = (*loc, "options")
    if type not in SELECT_TYPES:
        if options:
            message = "Options are only for single_select and multi_select fields"
            return [Problem(at, message, "extra_forbidden", options)]
        return []
    if not isinstance(options, list | tuple):
        return [Problem(at, "Input should be a valid list", "list_type", options)]
    if not 1 <= len(options) <= MAX_OPTIONS:
        message = f"A {type} field needs 1 to {MAX_OPTIONS} options"
        kind, ctx = (
            ("too_short", {"min_length": 1})
            if not options
            else ("too_long", {"max_length": MAX_OPTIONS})
        )
        return [Problem(at, message, kind, options, ctx)]
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, option in enumerate(options):
        where = (*loc, "options", index)
        if not check_string(option, where, problems, limit=OPTION_MAX, type="string_type"):
            continue
        if not option:
            message = "String should have at least 1 character"
            problems.append(Problem(where, message, "string_too_short", option, {"min_length": 1}))
        elif any(unicodedata.category(ch) == "Cc" for ch in option):
            message = "Options may not contain control characters"
            problems.append(Problem(where, message, "value_error", option))
        elif option in seen:
            problems.append(
                Problem(where, f"Option {option!r} is listed twice", "value_error", option)
            )
        seen.add(option)
    return problems


def _check_max_length(type: FieldType, max_length: Any, loc: Loc) -> list[Problem]:
    if max_length is None:
        return []
    at = (*loc, "max_length")
    limit = TEXT_LIMITS.get(type)
    if limit is None:
        message = "max_length is only for text and long_text fields"
        return [Problem(at, message, "extra_forbidden", max_length)]
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        return [Problem(at, "Input should be a valid integer", "int_type", max_length)]
    if max_length < 1:
        message = "Input should be greater than or equal to 1"
        return [Problem(at, message, "greater_than_equal", max_length, {"ge": 1})]
    if max_length > limit:
        message = f"Input should be less than or equal to {limit}"
        return [Problem(at, message, "less_than_equal", max_length, {"le": limit})]
    return []


__all__ = [
    "FIELD_TYPES",
    "FIELD_TYPE_TABLE",
    "SAFE_INT_MAX",
    "FieldSpec",
    "FieldType",
    "canonical_unique",
    "check_field_definition",
    "check_value",
    "index_entries",
    "index_filter",
    "public_values",
    "references",
    "unique_keys",
    "validate_record",
]
