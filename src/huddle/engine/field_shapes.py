"""Values that hold values: objects and lists of a declared shape, and whole records.

`check_value` checks one value of any field (scalars through `field_values`); `check_record`
checks a map of values by public name against a tuple of `FieldSpec`s, which is what both a
record and an `object` field's value are. A problem is located where it is: a nested field at
`loc + (field, nested name)`, a list item at `loc + (field, index)`.

An object is stored as a map keyed by its nested fields' `key`s, without nulls, and read back
by their names (`public_form`), as a record's top level is; a list as the array of its items'
canonical forms. The walkers here (`public_form`, `canonical_unique`, `referenced`) follow the
declared shape, so the store's data never needs interpreting twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import Problem
from .field_types import LIST_MAX_ITEMS, OPTION_SEPARATOR, FieldSpec, Loc
from .field_values import check_scalar


def check_value(spec: FieldSpec, value: Any, loc: Loc) -> tuple[Any, list[Problem]]:
    """`(canonical value, [])`, or `(None, problems)` each at `loc` (+ an index for a list
    item, a name for a nested field). None is always `(None, [])`: whether a field may be
    null is not a type's rule."""
    if value is None:
        return None, []
    problems: list[Problem] = []
    if spec.type == "object":
        canonical = _object(spec, value, loc, problems)
    elif spec.type == "list":
        canonical = _list(spec, value, loc, problems)
    else:
        canonical = check_scalar(spec, value, loc, problems)
    if problems:
        return None, problems
    return canonical, []


def check_record(
    fields: Sequence[FieldSpec],
    values: Mapping[Any, Any],
    *,
    current: Mapping[str, Any] | None,
    loc: Loc,
) -> tuple[dict[str, Any], list[Problem]]:
    """The stored form of `values` (by public name) against `fields`, and every problem; the
    rules of `fields.validate_record`, which raises what this returns."""
    by_name = {spec.name: spec for spec in fields}
    problems: list[Problem] = []
    given: dict[str, Any] = {}
    for name, value in values.items():
        spec = by_name.get(name)
        at = (*loc, name if isinstance(name, str) else str(name))
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
            value = copied(current.get(spec.key))
        if value is not None:
            data[spec.key] = value
    return data, problems


def _default(spec: FieldSpec) -> Any:
    canonical, found = check_value(spec, spec.default, (spec.name,))
    return None if found else canonical


def copied(value: Any) -> Any:
    """A stored value the caller may keep without sharing a list or a map with the source."""
    if isinstance(value, list):
        return [copied(item) for item in value]
    if isinstance(value, dict):
        return {key: copied(item) for key, item in value.items()}
    return value


def _object(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not isinstance(value, Mapping):
        problems.append(Problem(loc, "Input should be a valid object", "dict_type", value))
        return None
    # An object is written whole, as a create writes a record: absent nested fields take
    # their default, and required ones must be there.
    data, found = check_record(spec.shape, value, current=None, loc=loc)
    problems += found
    return data


def _list(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    item = spec.item
    assert item is not None  # FieldSpec: a list declares its item
    if not isinstance(value, list | tuple):
        problems.append(Problem(loc, "Input should be a valid list", "list_type", value))
        return None
    limit = spec.max_items or LIST_MAX_ITEMS
    if len(value) > limit:
        message = f"List should have at most {limit} items, not {len(value)}"
        ctx = {"max_length": limit, "actual_length": len(value)}
        problems.append(Problem(loc, message, "too_long", value, ctx))
        return None  # its items are not read: the bound is on the work too
    items: list[Any] = []
    first: dict[str, int] = {}
    for index, raw in enumerate(value):
        at = (*loc, index)
        if raw is None:
            problems.append(Problem(at, "A list item may not be null", "missing", raw))
            continue
        canonical, found = check_value(item, raw, at)
        if found:
            problems += found
            continue
        if spec.unique_items:
            same = first.setdefault(canonical_unique(item, canonical), index)
            if same != index:
                message = f"The same value as item {same}: items must be distinct"
                problems.append(Problem(at, message, "value_error", raw))
        items.append(canonical)
    return items


# --- walkers of stored values -------------------------------------------------------------


def public_form(spec: FieldSpec, value: Any) -> Any:
    """A stored value as clients read it: objects by nested name, every nested field (null
    when unset), at every depth; a copy that shares nothing with `value`."""
    if value is None:
        return None
    if spec.type == "object":
        return {nested.name: public_form(nested, value.get(nested.key)) for nested in spec.shape}
    if spec.item is not None:
        return [public_form(spec.item, item) for item in value]
    return copied(value)


def canonical_unique(spec: FieldSpec, value: Any) -> str:
    """The text two canonical values of `spec` share exactly when they count as the same:
    emails ignore case, 1 and 1.0 are one number, booleans are `true`/`false`; an object or
    a list is the same when its parts are (in order, for a list)."""
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
    if spec.type == "object":
        parts = [
            [nested.key, canonical_unique(nested, value[nested.key])]
            for nested in spec.shape
            if value.get(nested.key) is not None
        ]
        return json.dumps(parts)
    if spec.item is not None:
        return json.dumps([canonical_unique(spec.item, item) for item in value])
    return str(value)


def referenced(spec: FieldSpec, value: Any) -> Iterator[tuple[str, int]]:
    """Every (collection, id) a stored value of `spec` points at, at any depth, in order,
    repeats included."""
    if value is None:
        return
    if spec.reference is not None:
        yield spec.reference, value
    elif spec.type == "object":
        for nested in spec.shape:
            yield from referenced(nested, value.get(nested.key))
    elif spec.item is not None:
        for item in value:
            yield from referenced(spec.item, item)


def item_texts(value: Sequence[Any] | None) -> tuple[str, ...]:
    """The distinct texts of a stored list of text-like items or ids, in first-seen order:
    its entry in a multi-valued index (a reference by its decimal id)."""
    return tuple(dict.fromkeys(str(item) for item in value or ()))
