"""The field types: their names, limits and the table that describes them, and `FieldSpec`.

`FIELD_TYPE_TABLE` is the one description of the types: the docs are generated from it, and
the index kind and unique rule used by `fields` are read from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

from ..records import IndexKind

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


class FieldTypeRow(NamedTuple):
    type: FieldType
    json: str
    canonical: str
    index_kind: IndexKind
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
FIELD_TYPES: Final[tuple[FieldType, ...]] = tuple(row.type for row in FIELD_TYPE_TABLE)
TYPE_ROWS: Final[dict[str, FieldTypeRow]] = {row.type: row for row in FIELD_TYPE_TABLE}
TEXT_LIMITS: Final[dict[str, int]] = {"text": TEXT_MAX, "long_text": LONG_TEXT_MAX}
SELECT_TYPES: Final = ("single_select", "multi_select")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One declared field. `key` is where the record's data holds it, `name` what clients
    call it. `default` applies on create when the field is absent (an invalid one, say of an
    option since removed, is ignored). `max_length` None is the type's own limit."""

    key: str
    name: str
    type: FieldType
    required: bool = False
    unique: bool = False
    default: Any = None
    options: tuple[str, ...] = ()
    max_length: int | None = None
    reference: str | None = None
    indexed: bool = True

    def __post_init__(self) -> None:
        if self.type not in TYPE_ROWS:
            raise ValueError(f"{self.name}: unknown field type {self.type!r}")
        if (self.reference is not None) != (self.type == "reference"):
            raise ValueError(f"{self.name}: `reference` names a collection iff type is reference")
