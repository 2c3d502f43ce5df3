"""The field types: their names, limits and the tables that describe them, and `FieldSpec`.

`FIELD_TYPE_TABLE` describes the types a client may give a custom object's field (seed 002):
docs/api.md is generated from it, and a client's definition is checked against it alone.
`DECLARED_TYPE_TABLE` adds the shapes only a `Collection` declared in code may use (`uuid`,
`object`, `list`), for the fixed-schema modules of seed 004. The index kind and unique rule
used by `fields` are read from both (`TYPE_ROWS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, get_args

from ..store import IndexKind

FieldType = Literal[
    "text",
    "long_text",
    "number",
    "integer",
    "boolean",
    "date",
    "datetime",
    "email",
    "url",
    "phone",
    "single_select",
    "multi_select",
    "reference",
]
#: The shapes only a declaration in code may use: never a client's custom object field.
DeclaredType = Literal["uuid", "object", "list"]
SpecType = FieldType | DeclaredType
Loc = tuple[str | int, ...]

TEXT_MAX: Final = 255
LONG_TEXT_MAX: Final = 65_535
EMAIL_MAX: Final = 254
EMAIL_LOCAL_MAX: Final = 64
URL_MAX: Final = 2048
PHONE_MIN: Final = 3
PHONE_MAX: Final = 32
#: The largest integer a JSON number keeps exactly everywhere (JavaScript's MAX_SAFE_INTEGER).
SAFE_INT_MAX: Final = 2**53 - 1
MAX_OPTIONS: Final = 200
OPTION_MAX: Final = 255
#: Stored order of a multi_select's options, joined into one index value.
OPTION_SEPARATOR: Final = "\x1f"
NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")
#: Items a list holds at most (a declaration may ask for fewer): each distinct text is one
#: index member, each distinct reference one check in the write's atomic step.
LIST_MAX_ITEMS: Final = 1_000
#: Objects and lists nest at most this deep (a field holding an object is one level, a list
#: of objects two): a value is bounded by its declared shape.
MAX_DEPTH: Final = 4
#: Item types a list field indexes (one multi-valued `m` entry of their texts): those indexed
#: as text, and references (by the decimal id).
LIST_INDEXED_ITEMS: Final = frozenset(
    {"text", "date", "datetime", "email", "url", "phone", "single_select", "uuid", "reference"}
)


class FieldTypeRow(NamedTuple):
    type: SpecType
    json: str
    canonical: str
    #: None: never indexed (an object); a list's kind is `m` when its items are indexable.
    index_kind: IndexKind | None
    unique: bool
    notes: str


FIELD_TYPE_TABLE: Final[tuple[FieldTypeRow, ...]] = (
    FieldTypeRow(
        "text",
        "string",
        "the string as sent",
        "s",
        True,
        f"at most `max_length` code points (default {TEXT_MAX}); no NUL",
    ),
    FieldTypeRow(
        "long_text",
        "string",
        "the string as sent",
        "s",
        False,
        f"at most `max_length` code points (default {LONG_TEXT_MAX:,}); no NUL",
    ),
    FieldTypeRow(
        "number",
        "number",
        "the number as sent: an integer stays an integer, a float a float",
        "n",
        True,
        f"finite; integers within ±{SAFE_INT_MAX}; 1 and 1.0 are the same unique value",
    ),
    FieldTypeRow(
        "integer",
        "integer",
        "the integer",
        "n",
        True,
        f"within ±{SAFE_INT_MAX}; a float (even 2.0) is refused",
    ),
    FieldTypeRow("boolean", "true or false", "the boolean", "n", False, "indexed as 0 or 1"),
    FieldTypeRow(
        "date", "string `YYYY-MM-DD`", "the string as sent", "s", True, "a real calendar date"
    ),
    FieldTypeRow(
        "datetime",
        "string, ISO 8601 with `Z` or a `±HH:MM` offset",
        "UTC `YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds, truncated)",
        "s",
        True,
        "a time without an offset is refused",
    ),
    FieldTypeRow(
        "email",
        "string",
        "the string as sent",
        "s",
        True,
        f"at most {EMAIL_MAX} characters, one `@`, a dotted domain, no spaces; unique ignores case",
    ),
    FieldTypeRow(
        "url",
        "string",
        "the string as sent",
        "s",
        True,
        f"`http` or `https` with a host; at most {URL_MAX} characters, no whitespace",
    ),
    FieldTypeRow(
        "phone",
        "string",
        "the string as sent",
        "s",
        True,
        f"an optional `+`, then digits, spaces and `.-()`; {PHONE_MIN} to {PHONE_MAX} "
        f"characters, at least {PHONE_MIN} digits",
    ),
    FieldTypeRow(
        "single_select",
        "string, one of `options`",
        "the string as sent",
        "s",
        True,
        f"1 to {MAX_OPTIONS} options",
    ),
    FieldTypeRow(
        "multi_select",
        "array of strings, each one of `options`",
        "the array in sent order; `[]` is stored as null",
        "s",
        False,
        "no duplicates; indexed as the options joined by U+001F",
    ),
    FieldTypeRow(
        "reference",
        "integer id, or a string of digits",
        "the integer id",
        "n",
        True,
        "a record of the referenced collection, which must exist on write; no default",
    ),
)
#: Not in FIELD_TYPE_TABLE, so never offered to (nor accepted from) a seed 002 client.
DECLARED_TYPE_TABLE: Final[tuple[FieldTypeRow, ...]] = (
    FieldTypeRow(
        "uuid",
        "string, 8-4-4-4-12 hex digits",
        "the string in lowercase",
        "s",
        True,
        "either case; no braces, `urn:uuid:` or bare 32 digits; any version",
    ),
    FieldTypeRow(
        "object",
        "object of the fields of `shape`",
        "a map keyed by the nested fields' `key`s, nulls left out; read back by name",
        None,
        False,
        "unknown keys refused, required nested fields enforced, defaults applied; "
        "always written whole; never indexed",
    ),
    FieldTypeRow(
        "list",
        "array of `item` values",
        "the array in sent order (`[]` stays `[]`)",
        "m",
        False,
        f"at most `max_items` (default {LIST_MAX_ITEMS:,}); no null item; duplicates kept "
        "unless `unique_items`; indexed (one `m` entry) when the items are text-like or "
        "references",
    ),
)
FIELD_TYPES: Final[tuple[FieldType, ...]] = get_args(FieldType)
DECLARED_TYPES: Final[tuple[DeclaredType, ...]] = get_args(DeclaredType)
#: The types a client may define (seed 002), by name: a client's definition is checked here.
CLIENT_TYPE_ROWS: Final[dict[str, FieldTypeRow]] = {row.type: row for row in FIELD_TYPE_TABLE}
#: Every type a `FieldSpec` may have: the client types and the declared-only ones.
TYPE_ROWS: Final[dict[str, FieldTypeRow]] = {
    row.type: row for row in (*FIELD_TYPE_TABLE, *DECLARED_TYPE_TABLE)
}
TEXT_LIMITS: Final[dict[str, int]] = {"text": TEXT_MAX, "long_text": LONG_TEXT_MAX}
SELECT_TYPES: Final = ("single_select", "multi_select")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One declared field. `key` is where the record's data holds it, `name` what clients
    call it. `default` applies on create when the field is absent (an invalid one, say of an
    option since removed, is ignored). `max_length` None is the type's own limit.

    Declared-only shapes (never a seed 002 client's): an `object` holds the nested fields of
    `shape` (each with its own key, name, rules); a `list` holds values of `item` (a scalar
    spec, a reference or an object; its key and name are not used), at most `max_items`
    (None: `LIST_MAX_ITEMS`), distinct ones only with `unique_items`.

    A declaration mistake is a ValueError here, at import: unique on an object or a list, an
    `object` without `shape`, a `list` without `item` or of lists, nesting deeper than
    `MAX_DEPTH`. `indexed` is a wish: a shape that cannot be indexed (an object, a list of
    numbers, booleans or objects) is never indexed, and `indexed` reads False for it.
    """

    key: str
    name: str
    type: SpecType
    required: bool = False
    unique: bool = False
    default: Any = None
    options: tuple[str, ...] = ()
    max_length: int | None = None
    reference: str | None = None
    indexed: bool = True
    shape: tuple[FieldSpec, ...] = ()
    item: FieldSpec | None = None
    max_items: int | None = None
    unique_items: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPE_ROWS:
            raise ValueError(f"{self.name}: unknown field type {self.type!r}")
        if (self.reference is not None) != (self.type == "reference"):
            raise ValueError(f"{self.name}: `reference` names a collection iff type is reference")
        if bool(self.shape) != (self.type == "object"):
            raise ValueError(f"{self.name}: `shape` lists the nested fields iff type is object")
        if (self.item is not None) != (self.type == "list"):
            raise ValueError(f"{self.name}: `item` describes the items iff type is list")
        if self.type != "list" and (self.max_items is not None or self.unique_items):
            raise ValueError(f"{self.name}: `max_items` and `unique_items` are for lists")
        if self.type in ("object", "list") and self.unique:
            raise ValueError(f"{self.name}: a {self.type} field cannot be unique")
        if self.max_items is not None and not 1 <= self.max_items <= LIST_MAX_ITEMS:
            raise ValueError(f"{self.name}: `max_items` is 1 to {LIST_MAX_ITEMS}")
        if self.item is not None and self.item.type in ("list", "multi_select"):
            raise ValueError(f"{self.name}: a list of {self.item.type}s: nest it in an object")
        if self.item is not None and self.item.unique:
            raise ValueError(f"{self.name}: an item cannot be unique (see `unique_items`)")
        for attribute in ("key", "name"):
            seen = [getattr(nested, attribute) for nested in self.shape]
            if len(set(seen)) != len(seen):
                raise ValueError(f"{self.name}: two nested fields share a {attribute}")
        if any(nested.unique for nested in self.shape):
            raise ValueError(f"{self.name}: a nested field cannot be unique")
        if depth(self) > MAX_DEPTH:
            raise ValueError(f"{self.name}: objects and lists nest at most {MAX_DEPTH} deep")
        if self.indexed and not indexable(self):
            object.__setattr__(self, "indexed", False)  # frozen: set once, while building


def depth(spec: FieldSpec) -> int:
    """How many objects and lists deep a value of `spec` may nest (0 for a scalar)."""
    if spec.item is not None:
        return 1 + depth(spec.item)
    if spec.shape:
        return 1 + max(depth(nested) for nested in spec.shape)
    return 0


def indexable(spec: FieldSpec) -> bool:
    """Whether a field of `spec` can be indexed: not an object, and a list only of items
    in `LIST_INDEXED_ITEMS`."""
    if spec.type == "list":
        return spec.item is not None and spec.item.type in LIST_INDEXED_ITEMS
    return TYPE_ROWS[spec.type].index_kind is not None


def index_kind(spec: FieldSpec) -> IndexKind:
    """The kind of `spec`'s index (`m` for a list); ValueError for a shape never indexed."""
    kind = TYPE_ROWS[spec.type].index_kind
    if kind is None or not indexable(spec):
        raise ValueError(f"{spec.name}: a {spec.type} field has no index")
    return kind
