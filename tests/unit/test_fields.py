"""Typed fields: each type accepts its values in one canonical form and refuses the rest with
a located problem; a record is checked whole, and its indexes, unique keys and references
follow from its stored data."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import msgpack
import orjson
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from huddle.engine.fields import (
    FIELD_TYPE_TABLE,
    FIELD_TYPES,
    SAFE_INT_MAX,
    FieldSpec,
    FieldType,
    canonical_unique,
    check_field_definition,
    check_value,
    index_entries,
    public_values,
    references,
    unique_keys,
    validate_record,
)
from huddle.errors import InvalidInput, Problem
from huddle.store import IndexEntry, Reference, UniqueKey

STAGES = ("lead", "won", "lost")


def spec(type: FieldType, **kwargs: Any) -> FieldSpec:
    if type in ("single_select", "multi_select"):
        kwargs.setdefault("options", STAGES)
    if type == "reference":
        kwargs.setdefault("reference", "obj:7")
    return FieldSpec(key="f1", name="x", type=type, **kwargs)


def problem_of(call: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call()
    return caught.value


# --- the table ----------------------------------------------------------------------------


def test_the_table_lists_every_field_type_once() -> None:
    """FIELD_TYPES, the FieldType literal and the docs table name the same types in order."""
    assert get_args(FieldType) == FIELD_TYPES
    assert [row.type for row in FIELD_TYPE_TABLE] == list(FIELD_TYPES)
    assert all(row.index_kind in ("n", "s") and row.json and row.notes for row in FIELD_TYPE_TABLE)


# --- values -------------------------------------------------------------------------------

ACCEPTED: list[tuple[FieldSpec, Any, Any]] = [
    (spec("text"), "  Hello, wörld 👋 ", "  Hello, wörld 👋 "),
    (spec("text"), "", ""),
    (spec("text"), "é" * 255, "é" * 255),
    (spec("text", max_length=3), "abc", "abc"),
    (spec("long_text"), "line\n" * 13_000, "line\n" * 13_000),
    (spec("number"), 3, 3),
    (spec("number"), -2.5, -2.5),
    (spec("number"), 1.0, 1.0),
    (spec("number"), SAFE_INT_MAX, SAFE_INT_MAX),
    (spec("number"), 1e300, 1e300),
    (spec("integer"), -SAFE_INT_MAX, -SAFE_INT_MAX),
    (spec("integer"), 0, 0),
    (spec("boolean"), False, False),
    (spec("date"), "2024-02-29", "2024-02-29"),
    (spec("datetime"), "2024-05-01T09:30:00Z", "2024-05-01T09:30:00.000Z"),
    (spec("datetime"), "2024-05-01T09:30:00.123456+02:00", "2024-05-01T07:30:00.123Z"),
    (spec("datetime"), "2024-05-01 00:30-0130", "2024-05-01T02:00:00.000Z"),
    (spec("datetime"), "2024-12-31T23:59:59.9999z", "2024-12-31T23:59:59.999Z"),
    (spec("datetime"), "2024-01-01T00:00:00+01", "2023-12-31T23:00:00.000Z"),
    (spec("datetime"), "2024-05-01T07:30:00.123Z", "2024-05-01T07:30:00.123Z"),
    (spec("email"), "Ann.Lee+crm@Example.co.uk", "Ann.Lee+crm@Example.co.uk"),
    (spec("url"), "https://example.com/a?b=c#d", "https://example.com/a?b=c#d"),
    (spec("url"), "HTTP://[::1]:8080/", "HTTP://[::1]:8080/"),
    (spec("phone"), "+1 (555) 010-9999", "+1 (555) 010-9999"),
    (spec("phone"), "112", "112"),
    (spec("single_select"), "won", "won"),
    (spec("multi_select"), ["lost", "lead"], ["lost", "lead"]),
    (spec("multi_select"), [], None),
    (spec("reference"), 42, 42),
    (spec("reference"), "0042", 42),
]


@pytest.mark.parametrize(("field", "value", "canonical"), ACCEPTED)
def test_accepted_values_become_canonical(field: FieldSpec, value: Any, canonical: Any) -> None:
    """A valid value comes back canonical, and the canonical value validates to itself."""
    assert check_value(field, value, ("x",)) == (canonical, [])
    assert type(check_value(field, value, ("x",))[0]) is type(canonical)
    assert check_value(field, canonical, ("x",)) == (canonical, [])


@pytest.mark.parametrize("type", FIELD_TYPES)
def test_null_is_valid_for_every_type(type: FieldType) -> None:
    assert check_value(spec(type, required=True), None, ("x",)) == (None, [])


REFUSED: list[tuple[FieldSpec, Any, tuple[str | int, ...], str]] = [
    (spec("text"), 3, ("x",), "string_type"),
    (spec("text"), "a" * 256, ("x",), "string_too_long"),
    (spec("text", max_length=3), "abcd", ("x",), "string_too_long"),
    (spec("text"), "a\x00b", ("x",), "value_error"),
    (spec("text"), "a\ud800", ("x",), "string_unicode"),
    (spec("long_text"), "a" * 65_536, ("x",), "string_too_long"),
    (spec("number"), True, ("x",), "float_type"),
    (spec("number"), "3", ("x",), "float_type"),
    (spec("number"), math.nan, ("x",), "finite_number"),
    (spec("number"), -math.inf, ("x",), "finite_number"),
    (spec("number"), 2**53, ("x",), "less_than_equal"),
    (spec("number"), -(2**53), ("x",), "greater_than_equal"),
    (spec("integer"), 2.0, ("x",), "int_type"),
    (spec("integer"), False, ("x",), "int_type"),
    (spec("integer"), 10**400, ("x",), "less_than_equal"),
    (spec("boolean"), 1, ("x",), "bool_type"),
    (spec("boolean"), "true", ("x",), "bool_type"),
    (spec("date"), 20240101, ("x",), "date_type"),
    (spec("date"), "2023-02-29", ("x",), "date_from_datetime_parsing"),
    (spec("date"), "2024-1-01", ("x",), "date_from_datetime_parsing"),
    (spec("date"), "2024-01-01T00:00:00Z", ("x",), "date_from_datetime_parsing"),
    (spec("date"), "0000-01-01", ("x",), "date_from_datetime_parsing"),
    (spec("date"), "\uff12\uff10\uff12\uff14-01-01", ("x",), "date_from_datetime_parsing"),
    (spec("datetime"), 1714550400, ("x",), "datetime_type"),
    (spec("datetime"), "2024-05-01T09:30:00", ("x",), "timezone_aware"),
    (spec("datetime"), "2024-05-01", ("x",), "datetime_parsing"),
    (spec("datetime"), "2024-05-01T24:00:00Z", ("x",), "datetime_parsing"),
    (spec("datetime"), "2024-05-01T09:30:60Z", ("x",), "datetime_parsing"),
    (spec("datetime"), "2024-05-01T09:30:00+24:00", ("x",), "datetime_parsing"),
    (spec("datetime"), "2024-05-01T09:30:00+01:60", ("x",), "datetime_parsing"),
    (spec("datetime"), "0001-01-01T00:00:00+01:00", ("x",), "datetime_parsing"),
    (spec("datetime"), "9999-12-31T23:59:59-01:00", ("x",), "datetime_parsing"),
    (spec("datetime"), "2024-05-01T09:30:00Z\n", ("x",), "datetime_parsing"),
    (spec("email"), "ann@example", ("x",), "value_error"),
    (spec("email"), "ann@@example.com", ("x",), "value_error"),
    (spec("email"), "ann lee@example.com", ("x",), "value_error"),
    (spec("email"), "@example.com", ("x",), "value_error"),
    (spec("email"), "ann@example..com", ("x",), "value_error"),
    (spec("email"), "a" * 250 + "@b.co", ("x",), "string_too_long"),
    (spec("email"), ["ann@example.com"], ("x",), "string_type"),
    (spec("url"), "ftp://example.com", ("x",), "url_scheme"),
    (spec("url"), "https://", ("x",), "url_parsing"),
    (spec("url"), "https://exa mple.com", ("x",), "url_parsing"),
    (spec("url"), "https://example.com:port/", ("x",), "url_parsing"),
    (spec("url"), "http://[::1/", ("x",), "url_parsing"),
    (spec("url"), "https://e.co/" + "a" * 2048, ("x",), "url_too_long"),
    (spec("url"), 5, ("x",), "url_type"),
    (spec("phone"), "12", ("x",), "value_error"),
    (spec("phone"), "+-()", ("x",), "value_error"),
    (spec("phone"), "555-CALL-NOW", ("x",), "value_error"),
    (spec("phone"), "1" * 33, ("x",), "value_error"),
    (spec("phone"), "+1 555\n", ("x",), "value_error"),
    (spec("single_select"), "Won", ("x",), "enum"),
    (spec("single_select"), ["won"], ("x",), "string_type"),
    (spec("multi_select"), "won", ("x",), "list_type"),
    (spec("multi_select"), ["won", "nope"], ("x", 1), "enum"),
    (spec("multi_select"), ["won", 3], ("x", 1), "string_type"),
    (spec("multi_select"), ["won", "lost", "won"], ("x", 2), "value_error"),
    (spec("reference"), 0, ("x",), "greater_than"),
    (spec("reference"), "-3", ("x",), "int_parsing"),
    (spec("reference"), " 3", ("x",), "int_parsing"),
    (spec("reference"), "1" * 5000, ("x",), "int_parsing"),
    (spec("reference"), 2**53, ("x",), "less_than_equal"),
    (spec("reference"), 3.0, ("x",), "int_type"),
    (spec("reference"), True, ("x",), "int_type"),
]


@pytest.mark.parametrize(("field", "value", "loc", "kind"), REFUSED)
def test_refused_values_name_where_and_why(
    field: FieldSpec, value: Any, loc: tuple[str | int, ...], kind: str
) -> None:
    canonical, problems = check_value(field, value, ("x",))
    assert canonical is None
    assert [(p.loc, p.type) for p in problems] == [(loc, kind)]
    assert problems[0].msg


def test_an_enum_problem_lists_the_options() -> None:
    [problem] = check_value(spec("single_select"), "Won", ("x",))[1]
    assert problem.msg == "Input should be 'lead', 'won' or 'lost'"
    assert problem.ctx == {"expected": "'lead', 'won' or 'lost'"}


def test_every_bad_item_of_a_list_is_reported() -> None:
    problems = check_value(spec("multi_select"), ["x", "won", 1, "won"], ("f",))[1]
    assert [(p.loc, p.type) for p in problems] == [
        (("f", 0), "enum"),
        (("f", 2), "string_type"),
        (("f", 3), "value_error"),
    ]


# --- records ------------------------------------------------------------------------------

PROJECT = (
    FieldSpec("f1", "name", "text", required=True, unique=True),
    FieldSpec("f2", "budget", "number"),
    FieldSpec("f3", "stage", "single_select", required=True, default="lead", options=STAGES),
    FieldSpec("f4", "due", "date", indexed=False),
    FieldSpec("f5", "owner", "reference", reference="obj:2"),
)


def test_create_applies_defaults_and_stores_by_key() -> None:
    """Absent fields take their default; nulls are not stored."""
    data = validate_record(PROJECT, {"name": "Apollo", "budget": None}, current=None)
    assert data == {"f1": "Apollo", "f3": "lead"}


def test_an_explicit_null_on_create_skips_the_default() -> None:
    """A field sent as null has no value: a required one is refused, not defaulted."""
    error = problem_of(
        lambda: validate_record(PROJECT, {"name": "A", "stage": None}, current=None, loc=("body",))
    )
    assert [(p.loc, p.type) for p in error.problems] == [(("body", "stage"), "missing")]


def test_create_refuses_a_missing_required_field() -> None:
    error = problem_of(lambda: validate_record(PROJECT, {}, current=None, loc=("body",)))
    assert error.problems == (Problem(("body", "name"), "Field required", "missing"),)


def test_an_unknown_field_is_refused() -> None:
    error = problem_of(lambda: validate_record(PROJECT, {"name": "A", "nmae": "B"}, current=None))
    assert error.problems == (Problem(("nmae",), "Unknown field", "extra_forbidden", "B"),)


def test_every_problem_is_reported_together() -> None:
    """Bad values (in sent order), unknown fields and then missing ones, all in one error."""
    values = {"budget": "lots", "color": "red", "stage": ["won"], "owner": -1}
    error = problem_of(lambda: validate_record(PROJECT, values, current=None, loc=("body",)))
    assert [(p.loc, p.type) for p in error.problems] == [
        (("body", "budget"), "float_type"),
        (("body", "color"), "extra_forbidden"),
        (("body", "stage"), "string_type"),
        (("body", "owner"), "greater_than"),
        (("body", "name"), "missing"),
    ]
    assert error.loc == ("body", "budget")


def test_a_partial_update_changes_only_the_fields_named() -> None:
    current = {"f1": "Apollo", "f2": 10, "f3": "won", "f4": "2024-01-01"}
    data = validate_record(PROJECT, {"budget": 12.5, "due": None}, current=current)
    assert data == {"f1": "Apollo", "f2": 12.5, "f3": "won"}
    assert current == {"f1": "Apollo", "f2": 10, "f3": "won", "f4": "2024-01-01"}


def test_an_update_applies_no_default() -> None:
    assert validate_record(PROJECT, {}, current={"f1": "Apollo"}) == {"f1": "Apollo"}


def test_an_update_may_not_null_a_required_field() -> None:
    current = {"f1": "Apollo", "f3": "won"}
    error = problem_of(lambda: validate_record(PROJECT, {"stage": None}, current=current))
    assert [(p.loc, p.type) for p in error.problems] == [(("stage",), "missing")]


def test_values_of_fields_no_longer_declared_are_dropped() -> None:
    current = {"f1": "Apollo", "f3": "won", "f9": "old", "f2": None}
    assert validate_record(PROJECT, {}, current=current) == {"f1": "Apollo", "f3": "won"}


def test_an_invalid_default_counts_as_none() -> None:
    """A default that no longer validates (an option since removed) is not applied."""
    fields = (FieldSpec("f1", "stage", "single_select", default="gone", options=STAGES),)
    assert validate_record(fields, {}, current=None) == {}


def test_a_default_is_canonicalised() -> None:
    fields = (FieldSpec("f1", "at", "datetime", default="2024-01-01T01:00:00+01:00"),)
    assert validate_record(fields, {}, current=None) == {"f1": "2024-01-01T00:00:00.000Z"}


def test_public_values_name_every_declared_field_in_order() -> None:
    stored = {"f3": "won", "f1": "Apollo", "f9": "old"}
    public = public_values(PROJECT, stored)
    assert list(public.items()) == [
        ("name", "Apollo"),
        ("budget", None),
        ("stage", "won"),
        ("due", None),
        ("owner", None),
    ]


# --- what the store keeps -----------------------------------------------------------------

EVERY_TYPE = tuple(
    FieldSpec(
        f"k_{type}",
        type,
        type,
        options=STAGES if type.endswith("select") else (),
        reference="obj:2" if type == "reference" else None,
        unique=type not in ("boolean", "multi_select", "long_text"),
    )
    for type in FIELD_TYPES
)


def test_index_entries_have_the_kind_of_their_type() -> None:
    stored = {
        "k_text": "a",
        "k_number": 1.5,
        "k_integer": 3,
        "k_boolean": True,
        "k_multi_select": ["won", "lead"],
        "k_reference": 9,
    }
    entries = {entry.name: entry for entry in index_entries(EVERY_TYPE, stored)}
    assert len(entries) == len(FIELD_TYPES)
    assert entries["k_text"] == IndexEntry("k_text", "s", "a")
    assert entries["k_long_text"] == IndexEntry("k_long_text", "s", None)
    assert entries["k_number"] == IndexEntry("k_number", "n", 1.5)
    assert entries["k_integer"] == IndexEntry("k_integer", "n", 3)
    assert entries["k_boolean"] == IndexEntry("k_boolean", "n", 1)
    assert entries["k_date"] == IndexEntry("k_date", "s", None)
    assert entries["k_multi_select"] == IndexEntry("k_multi_select", "s", "won\x1flead")
    assert entries["k_reference"] == IndexEntry("k_reference", "n", 9)


def test_a_false_boolean_indexes_as_zero_and_unindexed_fields_have_no_entry() -> None:
    fields = (FieldSpec("b", "done", "boolean"), FieldSpec("t", "note", "text", indexed=False))
    assert index_entries(fields, {"b": False, "t": "x"}) == [IndexEntry("b", "n", 0)]


def test_unique_keys_cover_unique_fields_with_a_value() -> None:
    stored = {"k_text": "Apollo", "k_email": "Ann@Example.com", "k_boolean": True, "k_date": None}
    assert unique_keys(EVERY_TYPE, stored) == [
        UniqueKey("k_text", "Apollo"),
        UniqueKey("k_email", "ann@example.com"),
    ]


def test_canonical_unique_text_is_case_sensitive_but_email_is_not() -> None:
    text, email = spec("text"), spec("email")
    assert canonical_unique(text, "Apollo") != canonical_unique(text, "apollo")
    assert canonical_unique(email, "Ann@Example.COM") == canonical_unique(email, "ann@example.com")


def test_canonical_unique_numbers_ignore_int_or_float() -> None:
    number = spec("number")
    assert canonical_unique(number, 1) == canonical_unique(number, 1.0) == "1"
    assert canonical_unique(number, 0) == canonical_unique(number, -0.0) == "0"
    assert canonical_unique(number, 0.1) == "0.1"
    assert canonical_unique(number, 1.5) != canonical_unique(number, 1)
    assert canonical_unique(spec("boolean"), False) == "false"
    assert canonical_unique(spec("reference"), 12) == "12"


def test_references_name_the_referenced_collection() -> None:
    assert references(PROJECT, {"f1": "A", "f5": 12}) == [Reference("f5", "obj:2", 12)]
    assert references(PROJECT, {"f1": "A"}) == []


def test_a_reference_field_must_name_its_collection() -> None:
    with pytest.raises(ValueError, match="reference"):
        FieldSpec("f1", "owner", "reference")
    with pytest.raises(ValueError, match="reference"):
        FieldSpec("f1", "name", "text", reference="obj:2")


# --- definitions --------------------------------------------------------------------------


def define(**kwargs: Any) -> list[tuple[tuple[str | int, ...], str]]:
    definition: dict[str, Any] = {
        "name": "stage",
        "type": "text",
        "options": None,
        "default": None,
        "max_length": None,
        "required": False,
        "unique": False,
        "loc": ("body",),
    }
    return [(p.loc, p.type) for p in check_field_definition(**(definition | kwargs))]


def test_a_good_definition_has_no_problems() -> None:
    assert define() == []
    assert define(type="single_select", options=["a", "b"], default="b", unique=True) == []
    assert define(type="multi_select", options=("a", "b"), default=["b", "a"]) == []
    assert define(type="text", max_length=20, default="x" * 20, required=True) == []
    assert define(type="long_text", max_length=65_535) == []
    assert define(type="datetime", default="2024-01-01T00:00:00+05:00") == []
    assert define(type="reference", required=True, unique=True) == []


@pytest.mark.parametrize("name", ["", "Stage", "1st", "_x", "a-b", "a" * 64, "é", 3, "a\n"])
def test_a_field_name_is_lowercase_snake_case(name: Any) -> None:
    assert define(name=name) == [(("body", "name"), "string_pattern_mismatch")]


@pytest.mark.parametrize(
    ("kwargs", "problems"),
    [
        ({"type": "json"}, [(("body", "type"), "enum")]),
        ({"type": "single_select"}, [(("body", "options"), "list_type")]),
        ({"type": "multi_select", "options": []}, [(("body", "options"), "too_short")]),
        (
            {"type": "single_select", "options": [str(i) for i in range(201)]},
            [(("body", "options"), "too_long")],
        ),
        (
            {"type": "single_select", "options": ["a", "", "a", 3, "b\x1f", "x" * 256]},
            [
                (("body", "options", 1), "string_too_short"),
                (("body", "options", 2), "value_error"),
                (("body", "options", 3), "string_type"),
                (("body", "options", 4), "value_error"),
                (("body", "options", 5), "string_too_long"),
            ],
        ),
        ({"options": ["a"]}, [(("body", "options"), "extra_forbidden")]),
        ({"type": "boolean", "unique": True}, [(("body", "unique"), "value_error")]),
        (
            {"type": "multi_select", "options": ["a"], "unique": True},
            [(("body", "unique"), "value_error")],
        ),
        ({"type": "long_text", "unique": True}, [(("body", "unique"), "value_error")]),
        ({"type": "number", "max_length": 5}, [(("body", "max_length"), "extra_forbidden")]),
        ({"max_length": 0}, [(("body", "max_length"), "greater_than_equal")]),
        ({"max_length": 256}, [(("body", "max_length"), "less_than_equal")]),
        ({"max_length": True}, [(("body", "max_length"), "int_type")]),
        ({"max_length": 3, "default": "abcd"}, [(("body", "default"), "string_too_long")]),
        ({"type": "integer", "default": 1.5}, [(("body", "default"), "int_type")]),
        (
            {"type": "multi_select", "options": ["a"], "default": ["a", "b"]},
            [(("body", "default", 1), "enum")],
        ),
        ({"type": "reference", "default": 3}, [(("body", "default"), "value_error")]),
        ({"required": "yes"}, [(("body", "required"), "bool_type")]),
    ],
)
def test_bad_definitions_are_refused_with_every_problem(
    kwargs: dict[str, Any], problems: list[tuple[tuple[str | int, ...], str]]
) -> None:
    assert define(**kwargs) == problems


def test_the_default_is_not_checked_against_a_broken_shape() -> None:
    """A default is only judged once the options it must be one of are valid."""
    assert define(type="single_select", options=[], default="a") == [
        (("body", "options"), "too_short")
    ]


# --- the property: canonical, round-tripping, or a located InvalidInput ------------------

NAMES = ("alpha", "beta", "gamma", "delta", "eps")
OPTIONS = ("a", "b", "Ü", "d d")

json_ish = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats()
    | st.text()
    | st.sampled_from(["", "\x00", "a\x00", "\ud800", "2024-01-01", "1", "b", "a"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)

offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
)

PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(max_size=300),
    "long_text": st.text(),
    "number": st.integers(min_value=-(2**54), max_value=2**54) | st.floats(),
    "integer": st.integers(min_value=-(2**54), max_value=2**54) | st.floats(),
    "boolean": st.booleans() | st.integers(0, 1),
    "date": st.dates().map(lambda d: d.isoformat()) | st.text(max_size=12),
    "datetime": moments.map(lambda m: m.isoformat()) | moments.map(lambda m: m.isoformat(" ")),
    "email": st.emails() | st.sampled_from(["A@B.co", "a@b", "a b@c.de", "a@b@c.de"]),
    "url": st.sampled_from(["https://x.io/p?q=1", "HTTP://[::1]:80", "ftp://x.io", "https://"]),
    "phone": st.from_regex(r"\+?[0-9 .()\-]{1,34}", fullmatch=True),
    "single_select": st.sampled_from(OPTIONS) | st.text(max_size=3),
    "multi_select": st.lists(st.sampled_from(OPTIONS), max_size=5),
    "reference": st.integers(min_value=-2, max_value=2**54)
    | st.from_regex(r"[0-9]{1,18}", fullmatch=True),
}


no_nul = st.characters(blacklist_characters="\x00", codec="utf-8")
VALID: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(no_nul, max_size=1),
    "long_text": st.text(no_nul),
    "number": st.integers(-SAFE_INT_MAX, SAFE_INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False),
    "integer": st.integers(-SAFE_INT_MAX, SAFE_INT_MAX),
    "boolean": st.booleans(),
    "date": st.dates().map(lambda d: d.isoformat()),
    "datetime": moments.map(lambda m: m.isoformat()),
    "email": st.sampled_from(["ann@example.com", "B.Lee+x@Mail.Example.org"]),
    "url": st.sampled_from(["https://example.com", "http://10.0.0.1:8080/a"]),
    "phone": st.from_regex(r"\+?[0-9]{3,20}", fullmatch=True),
    "single_select": st.sampled_from(OPTIONS),
    "multi_select": st.lists(st.sampled_from(OPTIONS), unique=True),
    "reference": st.integers(1, SAFE_INT_MAX) | st.integers(1, 10**9).map(str),
}


@st.composite
def field_specs(draw: st.DrawFn) -> tuple[FieldSpec, ...]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True))
    fields = []
    for index, name in enumerate(names):
        type: FieldType = draw(st.sampled_from(FIELD_TYPES))
        field = FieldSpec(
            key=f"f{index}",
            name=name,
            type=type,
            required=draw(st.sampled_from([False, False, True])),
            unique=draw(st.booleans()) and type not in ("boolean", "multi_select", "long_text"),
            options=OPTIONS if type.endswith("select") else (),
            max_length=draw(st.sampled_from([None, 1, 5])) if type == "text" else None,
            reference="obj:1" if type == "reference" else None,
            indexed=draw(st.booleans()),
        )
        if type != "reference" and draw(st.booleans()):
            default = draw(PLAUSIBLE[type])
            if check_value(field, default, ())[1] == []:
                field = FieldSpec(**{**_fields_of(field), "default": default})
        fields.append(field)
    return tuple(fields)


def _fields_of(field: FieldSpec) -> dict[str, Any]:
    return {name: getattr(field, name) for name in FieldSpec.__slots__}


@st.composite
def records(draw: st.DrawFn) -> tuple[tuple[FieldSpec, ...], dict[str, Any]]:
    fields = draw(field_specs())
    by_name = {field.name: field for field in fields}
    names = draw(st.lists(st.sampled_from([*by_name, *by_name, "zeta"]), unique=True))
    values = {
        name: draw(
            VALID[by_name[name].type] | PLAUSIBLE[by_name[name].type] | json_ish
            if name in by_name
            else json_ish
        )
        for name in names
    }
    return fields, values


def same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1 and 1.0 differ here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


PREFIX = ("body", "fields")


@settings(max_examples=300, deadline=None)
@given(records())
def test_any_record_is_canonical_and_round_trips_or_is_refused_by_field(
    record: tuple[tuple[FieldSpec, ...], dict[str, Any]],
) -> None:
    fields, values = record
    try:
        data = validate_record(fields, values, current=None, loc=PREFIX)
    except InvalidInput as error:
        refused = error
    else:
        assert_round_trips(fields, values, data)
        return
    required = {field.name for field in fields if field.required}
    assert refused.problems
    for problem in refused.problems:
        assert problem.loc[: len(PREFIX)] == PREFIX
        assert problem.loc[len(PREFIX)] in values or problem.loc[len(PREFIX)] in required


def assert_round_trips(
    fields: tuple[FieldSpec, ...], values: dict[str, Any], data: dict[str, Any]
) -> None:
    event("accepted")
    for field in fields:
        if field.key in data:
            event(f"accepted {field.type}")
    expected = {
        field.name: check_value(field, values[field.name], ())[0]
        if field.name in values
        else check_value(field, field.default, ())[0]
        for field in fields
    }
    public = public_values(fields, data)
    assert same(public, expected)
    assert same(validate_record(fields, public, current=None), data)
    assert same(orjson.loads(orjson.dumps(data)), data)
    assert same(msgpack.unpackb(msgpack.packb(data)), data)
    assert set(data) <= {field.key for field in fields}
    assert None not in data.values()
    index_entries(fields, data)
    unique_keys(fields, data)
    references(fields, data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELD_TYPES).flatmap(lambda t: st.tuples(st.just(t), VALID[t])))
def test_a_valid_value_of_each_type_is_accepted_and_round_trips(
    case: tuple[FieldType, Any],
) -> None:
    type, value = case
    fields = (
        FieldSpec(
            "f0",
            "alpha",
            type,
            options=OPTIONS,
            reference="obj:1" if type == "reference" else None,
            unique=type in ("text", "number", "email"),
        ),
    )
    data = validate_record(fields, {"alpha": value}, current=None)
    assert_round_trips(fields, {"alpha": value}, data)


@settings(max_examples=300, deadline=None)
@given(moments)
def test_a_datetime_is_stored_as_its_utc_millisecond(moment: datetime) -> None:
    field = spec("datetime")
    canonical, problems = check_value(field, moment.isoformat(), ())
    utc = moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)
    assert problems == []
    assert canonical == utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert datetime.fromisoformat(canonical) == utc


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["stage", "Bad"]) | json_ish,
    type=st.sampled_from(FIELD_TYPES) | json_ish,
    options=st.lists(st.sampled_from(OPTIONS) | json_ish, max_size=4) | json_ish,
    default=json_ish,
    max_length=st.sampled_from([None, 0, 1, 300]) | json_ish,
    flags=st.tuples(st.booleans() | json_ish, st.booleans() | json_ish),
)
def test_any_definition_gives_problems_never_an_exception(
    name: Any, type: Any, options: Any, default: Any, max_length: Any, flags: tuple[Any, Any]
) -> None:
    problems = check_field_definition(
        name, type, options, default, max_length, *flags, loc=("body",)
    )
    assert all(isinstance(p, Problem) and p.loc[0] == "body" and p.msg for p in problems)
