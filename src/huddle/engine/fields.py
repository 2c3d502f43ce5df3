"""Typed fields: what a record of a collection may hold, checked on every write.

Custom objects (user-defined types such as "Project") and the fixed-schema modules declare
their fields as `FieldSpec`s. Clients name a field by its public `name`; the record stores it
under a stable `key` ("f3"), so a field can be renamed without rewriting its records.

A value is checked and made *canonical* once, on write: the canonical value is what is stored,
what clients read back, and what validates again to itself unchanged. It is plain JSON (str,
int, float, bool, lists and maps of those) that round-trips exactly through orjson and
msgpack. Null is always type-valid; whether a field may be null is `validate_record`'s business.

Declarations in code may also use `uuid`, `object` (nested fields of a declared `shape`) and
`list` (items of one declared `item` spec); a seed 002 client may not (`check_field_definition`
knows only `FIELD_TYPE_TABLE`). An object is stored keyed by its nested fields' keys, so its
canonical form is that stored map, and what validates back to it is its public form
(`public_values`), as for a whole record.

The types and their tables are in `field_types`, the checks of one scalar value in
`field_values`, of objects, lists and whole maps of values in `field_shapes`; this module
validates whole records and field definitions, derives what the store keeps (index entries,
unique keys, references) and query conditions, and is what callers import.

Pure Python: no I/O. Bad input raises `InvalidInput` naming every problem, never anything else.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InvalidInput, Problem
from ..store import ANY_OF_LIMIT, AnyOf, Filter, IndexEntry, IndexValue, Reference, UniqueKey
from .field_shapes import (
    canonical_unique,
    check_record,
    check_value,
    item_texts,
    public_form,
    referenced,
)
from .field_types import (
    CLIENT_TYPE_ROWS,
    DECLARED_TYPE_TABLE,
    DECLARED_TYPES,
    FIELD_TYPE_TABLE,
    FIELD_TYPES,
    LIST_MAX_ITEMS,
    MAX_DEPTH,
    MAX_OPTIONS,
    NAME_PATTERN,
    OPTION_MAX,
    OPTION_SEPARATOR,
    SAFE_INT_MAX,
    SELECT_TYPES,
    TEXT_LIMITS,
    DeclaredType,
    FieldSpec,
    FieldType,
    Loc,
    SpecType,
    index_kind,
)
from .field_values import check_string, expected_text

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
    required one), the others keep their stored value. An `object` value is always whole
    (its absent nested fields take their default, as on a create). Raises `InvalidInput`
    with every problem, each at `loc + (name,)` (then nested names and list indexes)."""
    data, problems = check_record(fields, values, current=current, loc=loc)
    if problems:
        raise InvalidInput.of(problems)
    return data


def public_values(fields: Sequence[FieldSpec], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared field by public name, in field order; null when the record has none.
    Objects are read back by nested name too, at every depth."""
    return {spec.name: public_form(spec, stored.get(spec.key)) for spec in fields}


def index_entries(fields: Sequence[FieldSpec], stored: Mapping[str, Any]) -> list[IndexEntry]:
    """One entry per indexed field, named by its key; null when the record has no value. A
    list's entry is multi-valued (`m`): its distinct texts, none for an empty or null list."""
    entries: list[IndexEntry] = []
    for spec in fields:
        if not spec.indexed:
            continue
        value = stored.get(spec.key)
        if spec.type == "list":
            entries.append(IndexEntry(spec.key, "m", item_texts(value)))
        else:
            entries.append(IndexEntry(spec.key, index_kind(spec), _index_value(spec, value)))
    return entries


def index_filter(spec: FieldSpec, value: Any) -> Filter:
    """The filter on `spec`'s index that matches records holding `value` (canonical, or None);
    for a list field `value` is one canonical item (never None), matched by membership."""
    if spec.type == "list":
        if value is None:
            raise ValueError(f"{spec.name}: a list holds no null item to filter by")
        return Filter(spec.key, "m", item_texts((value,))[0])
    return Filter(spec.key, index_kind(spec), _index_value(spec, value))


def index_any_of(spec: FieldSpec, values: Sequence[Any]) -> AnyOf:
    """The condition on `spec`'s index that matches records holding any of `values`
    (canonical): for a list field, lists holding any of those items (never None)."""
    if spec.type == "list":
        if any(value is None for value in values):
            raise ValueError(f"{spec.name}: a list holds no null item to filter by")
        return AnyOf(spec.key, "m", item_texts(values))
    return AnyOf(spec.key, index_kind(spec), tuple(_index_value(spec, v) for v in values))


def _as_sent(spec: FieldSpec, raw: Any) -> Any:
    return raw


def filter_condition(
    spec: FieldSpec,
    raw: Any,
    loc: Loc,
    parse: Callable[[FieldSpec, Any], Any] = _as_sent,
) -> Filter | AnyOf | list[Problem]:
    """What a query filter `raw` on `spec` (an indexed field) keeps, each value read with
    `parse(spec of one value, value)` first (from a query string, say), then checked:

    * one value: records holding it; for a list field, one item: lists holding it;
    * a list or tuple of values (except for a multi_select, whose one value is a list):
      records holding any of them (an `AnyOf`, exact totals; `[]` keeps nothing; at most
      `ANY_OF_LIMIT` values); for a list field, lists holding any of those items.

    Or every problem, at `loc` (+ the value's index in a list of values). A list field is
    never filtered by null: a list holds no null item."""
    item = spec.item or spec
    many = isinstance(raw, list | tuple) and spec.type != "multi_select"
    if many and len(raw) > ANY_OF_LIMIT:
        message = f"At most {ANY_OF_LIMIT} values, not {len(raw)}"
        return [Problem(loc, message, "too_long", None, {"max_length": ANY_OF_LIMIT})]
    problems: list[Problem] = []
    values: list[Any] = []
    for index, one in enumerate(raw if many else (raw,)):
        at = (*loc, index) if many else loc
        value, found = check_value(item, parse(item, one), at)
        if value is None and not found and spec.type == "list":
            message = "A list holds no null: filter it by one of its items"
            found = [Problem(at, message, "value_error", one)]
        problems += found
        values.append(value)
    if problems:
        return problems
    return index_any_of(spec, values) if many else index_filter(spec, values[0])


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


def references(fields: Sequence[FieldSpec], stored: Mapping[str, Any]) -> list[Reference]:
    """The records this one points at, which must exist when it is written: one per distinct
    target of each field (a list of references, references nested in objects), named by the
    field's key."""
    return [
        Reference(spec.key, collection, record_id)
        for spec in fields
        for collection, record_id in dict.fromkeys(referenced(spec, stored.get(spec.key)))
    ]


def reference_target(spec: FieldSpec) -> str | None:
    """The collection a reference field, or a list of references, points into (else None)."""
    return (spec.item or spec).reference


def referenced_ids(spec: FieldSpec, value: Any) -> list[int]:
    """The ids a stored value of a reference field, or a list of references, holds."""
    return [record_id for _, record_id in referenced(spec, value) if isinstance(record_id, int)]


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
    # Only the client types: `uuid`, `object` and `list` are for declarations in code.
    row = CLIENT_TYPE_ROWS.get(type) if isinstance(type, str) else None
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


def _check_options(type: SpecType, options: Any, loc: Loc) -> list[Problem]:
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


def _check_max_length(type: SpecType, max_length: Any, loc: Loc) -> list[Problem]:
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
    "DECLARED_TYPES",
    "DECLARED_TYPE_TABLE",
    "FIELD_TYPES",
    "FIELD_TYPE_TABLE",
    "LIST_MAX_ITEMS",
    "MAX_DEPTH",
    "SAFE_INT_MAX",
    "DeclaredType",
    "FieldSpec",
    "FieldType",
    "SpecType",
    "canonical_unique",
    "check_field_definition",
    "check_value",
    "declared",
    "filter_condition",
    "index_any_of",
    "index_entries",
    "index_filter",
    "index_kind",
    "positive_id",
    "public_values",
    "reference_target",
    "referenced_ids",
    "references",
    "unique_keys",
    "validate_record",
]


def declared(name: str, type_: SpecType = "text", **rules: Any) -> FieldSpec:
    """A field declared in code, stored under its public name (`key` = `name`)."""
    return FieldSpec(key=name, name=name, type=type_, **rules)


def positive_id(value: Any, loc: tuple[str | int, ...]) -> int:
    """An id given as a number or a decimal string, 1 to 2**53 - 1."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= SAFE_INT_MAX:
        raise InvalidInput("must be a positive integer id", loc=loc, input=value, type="int_type")
    return value
