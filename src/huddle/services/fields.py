"""Typed fields: what a record of a collection may hold, checked on every write.

Custom objects (user-defined types such as "Project") and the fixed-schema modules declare
their fields as `FieldSpec`s. Clients name a field by its public `name`; the record stores it
under a stable `key` ("f3"), so a field can be renamed without rewriting its records.

A value is checked and made *canonical* once, on write: the canonical value is what is stored,
what clients read back, and what validates again to itself unchanged. It is plain JSON (str,
int, float, bool, list of str) that round-trips exactly through orjson and msgpack. Null is
always type-valid; whether a field may be null is `validate_record`'s business.

`FIELD_TYPE_TABLE` is the one description of the types: the docs are generated from it, and
the index kind and unique rule used here are read from it.

Pure Python: no I/O. Bad input raises `InvalidInput` naming every problem, never anything else.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import urlsplit

from ..errors import InvalidInput, Problem
from ..records import IndexEntry, IndexKind, IndexValue, Reference, UniqueKey

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
_ROWS: Final[dict[str, FieldTypeRow]] = {row.type: row for row in FIELD_TYPE_TABLE}
_TEXT_LIMITS: Final[dict[str, int]] = {"text": TEXT_MAX, "long_text": LONG_TEXT_MAX}
_SELECTS: Final = ("single_select", "multi_select")


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
        if self.type not in _ROWS:
            raise ValueError(f"{self.name}: unknown field type {self.type!r}")
        if (self.reference is not None) != (self.type == "reference"):
            raise ValueError(f"{self.name}: `reference` names a collection iff type is reference")


# --- values -------------------------------------------------------------------------------

_Check = Callable[[FieldSpec, Any, Loc, list[Problem]], Any]


def check_value(spec: FieldSpec, value: Any, loc: Loc) -> tuple[Any, list[Problem]]:
    """`(canonical value, [])`, or `(None, problems)` each at `loc` (+ an index for a list
    item). None is always `(None, [])`: whether a field may be null is not a type's rule."""
    if value is None:
        return None, []
    problems: list[Problem] = []
    canonical = _CHECKS[spec.type](spec, value, loc, problems)
    if problems:
        return None, problems
    return canonical, []


def _string(value: Any, loc: Loc, problems: list[Problem], *, limit: int, type: str) -> bool:
    """A str of at most `limit` code points that UTF-8 can encode (no lone surrogates)."""
    if not isinstance(value, str):
        problems.append(Problem(loc, "Input should be a valid string", type, value))
        return False
    if len(value) > limit:
        kind = "url_too_long" if type == "url_type" else "string_too_long"
        problems.append(
            Problem(
                loc,
                f"String should have at most {limit} characters",
                kind,
                value,
                {"max_length": limit},
            )
        )
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        problems.append(
            Problem(
                loc, "Input should be valid Unicode (no lone surrogates)", "string_unicode", value
            )
        )
        return False
    return True


def _plain(value: str) -> bool:
    """No whitespace and no control character."""
    return not any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value)


def _text(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    limit = _TEXT_LIMITS[spec.type] if spec.max_length is None else spec.max_length
    if not _string(value, loc, problems, limit=limit, type="string_type"):
        return None
    if "\x00" in value:
        problems.append(Problem(loc, "Text may not contain a NUL character", "value_error", value))
    return value


def _safe_int(value: int, loc: Loc, problems: list[Problem]) -> int | None:
    if value > SAFE_INT_MAX:
        message = f"Input should be less than or equal to {SAFE_INT_MAX}"
        problems.append(Problem(loc, message, "less_than_equal", value, {"le": SAFE_INT_MAX}))
        return None
    if value < -SAFE_INT_MAX:
        message = f"Input should be greater than or equal to {-SAFE_INT_MAX}"
        problems.append(Problem(loc, message, "greater_than_equal", value, {"ge": -SAFE_INT_MAX}))
        return None
    return int(value)


def _number(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(Problem(loc, "Input should be a valid number", "float_type", value))
        return None
    if isinstance(value, int):
        return _safe_int(value, loc, problems)
    if not math.isfinite(value):
        problems.append(Problem(loc, "Input should be a finite number", "finite_number", value))
        return None
    return float(value)


def _integer(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(Problem(loc, "Input should be a valid integer", "int_type", value))
        return None
    return _safe_int(value, loc, problems)


def _boolean(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not isinstance(value, bool):
        problems.append(Problem(loc, "Input should be a valid boolean", "bool_type", value))
        return None
    return value


_DATE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _date(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not isinstance(value, str):
        problems.append(Problem(loc, "Input should be a valid date", "date_type", value))
        return None
    reason = "expected YYYY-MM-DD"
    if match := _DATE.fullmatch(value):
        try:
            date(*(int(part) for part in match.groups()))
        except ValueError as exc:
            reason = str(exc)
        else:
            return value
    message = f"Input should be a valid date in the format YYYY-MM-DD, {reason}"
    problems.append(Problem(loc, message, "date_from_datetime_parsing", value))
    return None


_DATETIME: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?"
)


def _datetime(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not isinstance(value, str):
        problems.append(Problem(loc, "Input should be a valid datetime", "datetime_type", value))
        return None
    match = _DATETIME.fullmatch(value)
    if match is None:
        message = "Input should be a valid ISO 8601 datetime, e.g. 2024-05-01T09:30:00Z"
        problems.append(Problem(loc, message, "datetime_parsing", value))
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu is None and sign is None:
        message = "Input should have timezone info (Z or an offset such as +02:00)"
        problems.append(Problem(loc, message, "timezone_aware", value))
        return None
    try:
        offset = timedelta()
        if sign is not None:
            hours, minutes = int(off_h), int(off_m or 0)
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=hours, minutes=minutes) * (-1 if sign == "-" else 1)
        millis = int((fraction or "").ljust(3, "0")[:3])
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            millis * 1000,
            tzinfo=timezone(offset),
        ).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        message = f"Input should be a valid datetime, {exc}"
        problems.append(Problem(loc, message, "datetime_parsing", value))
        return None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def _email(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not _string(value, loc, problems, limit=EMAIL_MAX, type="string_type"):
        return None
    local, _, domain = value.rpartition("@")
    reason = None
    if value.count("@") != 1:
        reason = "it must have exactly one @"
    elif not _plain(value):
        reason = "it may not contain spaces or control characters"
    elif not local or len(local) > EMAIL_LOCAL_MAX:
        reason = f"the part before the @ must have 1 to {EMAIL_LOCAL_MAX} characters"
    elif not all(domain.split(".")) or "." not in domain:
        reason = "the part after the @ must be a domain such as example.com"
    if reason is not None:
        message = f"value is not a valid email address: {reason}"
        problems.append(Problem(loc, message, "value_error", value))
    return value


def _url(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not _string(value, loc, problems, limit=URL_MAX, type="url_type"):
        return None
    if not _plain(value):
        message = "Input should be a valid URL, without whitespace or control characters"
        problems.append(Problem(loc, message, "url_parsing", value))
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        problems.append(Problem(loc, f"Input should be a valid URL, {exc}", "url_parsing", value))
        return None
    if parts.scheme.lower() not in ("http", "https"):
        message = "URL scheme should be 'http' or 'https'"
        problems.append(
            Problem(loc, message, "url_scheme", value, {"expected_schemes": "http, https"})
        )
    elif not host:
        problems.append(
            Problem(loc, "Input should be a valid URL, empty host", "url_parsing", value)
        )
    return value


_PHONE: Final = re.compile(r"\+?[0-9 .()\-]+")


def _phone(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not isinstance(value, str):
        problems.append(Problem(loc, "Input should be a valid string", "string_type", value))
        return None
    digits = sum(ch in "0123456789" for ch in value[: PHONE_MAX + 1])
    if not (
        PHONE_MIN <= len(value) <= PHONE_MAX and _PHONE.fullmatch(value) and digits >= PHONE_MIN
    ):
        message = (
            "value is not a valid phone number: an optional +, then digits, spaces and .-(); "
            f"{PHONE_MIN} to {PHONE_MAX} characters with at least {PHONE_MIN} digits"
        )
        problems.append(Problem(loc, message, "value_error", value))
    return value


def _expected(choices: Sequence[str], shown: int = 10) -> str:
    """`'a', 'b' or 'c'` as pydantic words an enum; long lists are cut short."""
    quoted = [repr(choice) for choice in choices[:shown]]
    if len(choices) > shown:
        return ", ".join(quoted) + f" or one of {len(choices) - shown} more options"
    if len(quoted) < 2:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _option(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> str | None:
    if not isinstance(value, str):
        problems.append(Problem(loc, "Input should be a valid string", "string_type", value))
        return None
    if value not in spec.options:
        expected = _expected(spec.options)
        problems.append(
            Problem(loc, f"Input should be {expected}", "enum", value, {"expected": expected})
        )
        return None
    return value


def _single_select(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    return _option(spec, value, loc, problems)


def _multi_select(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not isinstance(value, list | tuple):
        problems.append(Problem(loc, "Input should be a valid list", "list_type", value))
        return None
    chosen: list[str] = []
    for index, item in enumerate(value):
        option = _option(spec, item, (*loc, index), problems)
        if option is None:
            continue
        if option in chosen:
            message = f"Option {option!r} is chosen more than once"
            problems.append(Problem((*loc, index), message, "value_error", item))
        else:
            chosen.append(option)
    return chosen or None


_DIGITS: Final = re.compile(r"[0-9]{1,16}")


def _reference(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    message = "Input should be a record id: a positive integer, or a string of digits"
    digits = isinstance(value, str) and _DIGITS.fullmatch(value)
    if digits or (isinstance(value, int) and not isinstance(value, bool)):
        record_id = int(value)
    else:
        kind = "int_parsing" if isinstance(value, str) else "int_type"
        problems.append(Problem(loc, message, kind, value))
        return None
    if record_id < 1:
        problems.append(
            Problem(loc, "Input should be greater than 0", "greater_than", value, {"gt": 0})
        )
        return None
    return _safe_int(record_id, loc, problems)


_CHECKS: Final[dict[str, _Check]] = {
    "text": _text,
    "long_text": _text,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "email": _email,
    "url": _url,
    "phone": _phone,
    "single_select": _single_select,
    "multi_select": _multi_select,
    "reference": _reference,
}


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
        IndexEntry(spec.key, _ROWS[spec.type].index_kind, _index_value(spec, stored.get(spec.key)))
        for spec in fields
        if spec.indexed
    ]


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
    row = _ROWS.get(type) if isinstance(type, str) else None
    if row is None:
        expected = _expected(FIELD_TYPES, shown=len(FIELD_TYPES))
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
    if type not in _SELECTS:
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
        if not _string(option, where, problems, limit=OPTION_MAX, type="string_type"):
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
    limit = _TEXT_LIMITS.get(type)
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
