"""Checking one scalar value against its field: the canonical value, or the problems.

A value is checked and made *canonical* once, on write: the canonical value is what is stored,
what clients read back, and what validates again to itself unchanged. It is plain JSON (str,
int, float, bool, list of str) that round-trips exactly through orjson and msgpack. Null is
always type-valid; whether a field may be null is `fields.validate_record`'s business.

Objects and lists, which hold other values, are checked by `field_shapes`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import urlsplit

from ..errors import Problem
from .field_types import (
    EMAIL_LOCAL_MAX,
    EMAIL_MAX,
    PHONE_MAX,
    PHONE_MIN,
    SAFE_INT_MAX,
    TEXT_LIMITS,
    URL_MAX,
    FieldSpec,
    Loc,
)

_Check = Callable[[FieldSpec, Any, Loc, list[Problem]], Any]


def check_scalar(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    """The canonical form of `value` (not None) for a field of a scalar type (a multi_select
    is one), adding to `problems` what is wrong with it, each at `loc` (+ an index for a
    multi_select item)."""
    return _CHECKS[spec.type](spec, value, loc, problems)


def check_string(value: Any, loc: Loc, problems: list[Problem], *, limit: int, type: str) -> bool:
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
    limit = TEXT_LIMITS[spec.type] if spec.max_length is None else spec.max_length
    if not check_string(value, loc, problems, limit=limit, type="string_type"):
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
    if not check_string(value, loc, problems, limit=EMAIL_MAX, type="string_type"):
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
    if not check_string(value, loc, problems, limit=URL_MAX, type="url_type"):
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


def expected_text(choices: Sequence[str], shown: int = 10) -> str:
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
        expected = expected_text(spec.options)
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


_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _uuid(spec: FieldSpec, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if not isinstance(value, str):
        problems.append(Problem(loc, "UUID input should be a string", "uuid_type", value))
        return None
    if not _UUID.fullmatch(value):
        message = (
            "Input should be a valid UUID: 32 hex digits grouped 8-4-4-4-12 by hyphens, "
            "e.g. 3fa85f64-5717-4562-b3fc-2c963f66afa6"
        )
        problems.append(Problem(loc, message, "uuid_parsing", value))
        return None
    return value.lower()


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
    "uuid": _uuid,
}
