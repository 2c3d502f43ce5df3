"""Declared-only field shapes: `uuid`, `object` (nested fields of a declared shape) and `list`
(items of one declared spec). Each checks its values with located problems, stores one
canonical form that reads back by name, and gives the store its index entries and references;
a seed 002 client can define none of them."""

from __future__ import annotations

from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huddle.engine.declarations import index_kind
from huddle.engine.field_values import expected_text
from huddle.engine.fields import (
    DECLARED_TYPE_TABLE,
    DECLARED_TYPES,
    FIELD_TYPE_TABLE,
    FIELD_TYPES,
    LIST_MAX_ITEMS,
    MAX_DEPTH,
    FieldSpec,
    canonical_unique,
    check_field_definition,
    check_value,
    filter_condition,
    index_entries,
    public_values,
    reference_target,
    referenced_ids,
    references,
    unique_keys,
    validate_record,
)
from huddle.errors import InvalidInput
from huddle.services.object_definitions import definition_problems
from huddle.store import ANY_OF_LIMIT, AnyOf, Filter, IndexEntry, Reference, UniqueKey

U1 = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
U2 = "f5743644-c8ce-4bbe-a9bd-dfdd18dce445"


def scalar(type: Any, **kwargs: Any) -> FieldSpec:
    """An item spec: its key and name are not used."""
    return FieldSpec("", "", type, **kwargs)


def problems_of(call: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(InvalidInput) as caught:
        call()
    return [(p.loc, p.type) for p in caught.value.problems]


COORDINATES = FieldSpec(
    "co",
    "coordinates",
    "object",
    shape=(
        FieldSpec("la", "lat", "number", required=True),
        FieldSpec("lo", "long", "number", required=True),
    ),
)
LOCATION = FieldSpec(
    "loc",
    "location",
    "object",
    shape=(
        FieldSpec("ta", "textAddress", "text"),
        COORDINATES,
        FieldSpec("kind", "kind", "single_select", options=("home", "work"), default="work"),
    ),
)
PERMISSIONS = FieldSpec(
    "perm",
    "permissions",
    "object",
    shape=(
        FieldSpec("u", "users", "list", item=scalar("uuid"), unique_items=True),
        FieldSpec("g", "groups", "list", item=scalar("uuid")),
        FieldSpec("p", "public", "boolean", default=False),
    ),
)
QA = FieldSpec(
    "",
    "",
    "object",
    shape=(
        FieldSpec("q", "question", "text", required=True),
        FieldSpec("a", "answers", "list", item=scalar("text"), max_items=3),
    ),
)
EVENT = (
    FieldSpec("id", "externalId", "uuid", unique=True),
    FieldSpec("tags", "tags", "list", item=scalar("text")),
    FieldSpec("owners", "ownerIds", "list", item=scalar("reference", reference="user")),
    FieldSpec("files", "fileIds", "list", item=scalar("uuid"), max_items=5),
    FieldSpec("qas", "qas", "list", item=QA),
    FieldSpec("scores", "scores", "list", item=scalar("number")),
    LOCATION,
    PERMISSIONS,
)


# --- the tables ---------------------------------------------------------------------------


def test_declared_types_are_apart_from_the_client_types() -> None:
    """The seed 002 table (and so docs/api.md) lists none of the declared-only types."""
    assert DECLARED_TYPES == ("uuid", "object", "list")
    assert [row.type for row in DECLARED_TYPE_TABLE] == list(DECLARED_TYPES)
    assert not set(DECLARED_TYPES) & set(FIELD_TYPES)
    assert not set(DECLARED_TYPES) & {row.type for row in FIELD_TYPE_TABLE}


# --- uuid ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [(U1, U1), (U1.upper(), U1), ("3FA85f64-5717-4562-B3FC-2c963f66afa6", U1)],
)
def test_a_uuid_is_stored_in_lowercase(value: str, canonical: str) -> None:
    assert check_value(scalar("uuid"), value, ("x",)) == (canonical, [])
    assert check_value(scalar("uuid"), canonical, ("x",)) == (canonical, [])


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (42, "uuid_type"),
        (["a"], "uuid_type"),
        ("{" + U1 + "}", "uuid_parsing"),
        ("urn:uuid:" + U1, "uuid_parsing"),
        (U1.replace("-", ""), "uuid_parsing"),
        (U1[:-1], "uuid_parsing"),
        (U1[:-1] + "g", "uuid_parsing"),
        (U1 + " ", "uuid_parsing"),
        ("3fa85f64_5717_4562_b3fc_2c963f66afa6", "uuid_parsing"),
        ("", "uuid_parsing"),
    ],
)
def test_anything_but_the_8_4_4_4_12_form_is_refused(value: Any, kind: str) -> None:
    _, problems = check_value(scalar("uuid"), value, ("body", "id"))
    assert [(p.loc, p.type) for p in problems] == [(("body", "id"), kind)]


def test_a_uuid_indexes_as_text_and_is_unique_whatever_its_case() -> None:
    data = validate_record(EVENT, {"externalId": U1.upper()}, current=None)
    assert data["id"] == U1
    assert IndexEntry("id", "s", U1) in index_entries(EVENT, data)
    assert unique_keys(EVENT, data) == [UniqueKey("id", U1)]


# --- object -------------------------------------------------------------------------------


def test_an_object_is_stored_by_nested_key_and_read_back_by_name() -> None:
    sent = {"location": {"textAddress": "Main St 1", "coordinates": {"lat": 1.5, "long": -2}}}
    data = validate_record(EVENT, sent, current=None)
    assert data["loc"] == {"ta": "Main St 1", "co": {"la": 1.5, "lo": -2}, "kind": "work"}
    public = public_values(EVENT, data)["location"]
    assert public == {
        "textAddress": "Main St 1",
        "coordinates": {"lat": 1.5, "long": -2},
        "kind": "work",
    }
    assert validate_record(EVENT, {"location": public}, current=None)["loc"] == data["loc"]


def test_an_empty_object_is_kept_and_takes_its_defaults() -> None:
    data = validate_record(EVENT, {"location": {}, "permissions": {}}, current=None)
    assert data["loc"] == {"kind": "work"}
    assert data["perm"] == {"p": False}
    assert public_values(EVENT, data)["location"] == {
        "textAddress": None,
        "coordinates": None,
        "kind": "work",
    }


def test_nested_problems_are_located_by_nested_name() -> None:
    """Unknown keys, missing or null required fields and bad values, at every depth, at once."""
    sent = {
        "location": {
            "textAddress": 5,
            "coordinates": {"lat": None, "height": 3},
            "colour": "red",
        },
        "permissions": "public",
    }
    assert sorted(
        problems_of(lambda: validate_record(EVENT, sent, current=None, loc=("body",)))
    ) == [
        (("body", "location", "colour"), "extra_forbidden"),
        (("body", "location", "coordinates", "height"), "extra_forbidden"),
        (("body", "location", "coordinates", "lat"), "missing"),
        (("body", "location", "coordinates", "long"), "missing"),
        (("body", "location", "textAddress"), "string_type"),
        (("body", "permissions"), "dict_type"),
    ]


@pytest.mark.parametrize("value", [[], "x", 3, [("lat", 1)]])
def test_an_object_must_be_a_map(value: Any) -> None:
    _, problems = check_value(COORDINATES, value, ("c",))
    assert [(p.loc, p.type) for p in problems] == [(("c",), "dict_type")]


def test_an_update_replaces_an_object_whole_and_keeps_it_when_not_named() -> None:
    current = validate_record(
        EVENT, {"location": {"textAddress": "A", "kind": "home"}}, current=None
    )
    kept = validate_record(EVENT, {"tags": ["x"]}, current=current)
    assert kept["loc"] == current["loc"]
    assert kept["loc"] is not current["loc"]  # a copy: nothing shared with the stored data
    replaced = validate_record(EVENT, {"location": {"textAddress": "B"}}, current=current)
    assert replaced["loc"] == {"ta": "B", "kind": "work"}


def test_an_object_is_never_indexed_nor_unique() -> None:
    assert LOCATION.indexed is False
    data = validate_record(EVENT, {"location": {"textAddress": "A"}}, current=None)
    assert "loc" not in {entry.name for entry in index_entries(EVENT, data)}
    with pytest.raises(ValueError, match="cannot be unique"):
        FieldSpec("o", "o", "object", shape=(FieldSpec("a", "a", "text"),), unique=True)
    with pytest.raises(ValueError, match="nested field cannot be unique"):
        FieldSpec("o", "o", "object", shape=(FieldSpec("a", "a", "text", unique=True),))
    with pytest.raises(ValueError, match="no index"):
        index_kind(LOCATION)


def test_a_bad_object_declaration_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        FieldSpec("o", "o", "object")
    with pytest.raises(ValueError, match="shape"):
        FieldSpec("t", "t", "text", shape=(FieldSpec("a", "a", "text"),))
    with pytest.raises(ValueError, match="share a name"):
        FieldSpec(
            "o", "o", "object", shape=(FieldSpec("a", "x", "text"), FieldSpec("b", "x", "text"))
        )
    with pytest.raises(ValueError, match="share a key"):
        FieldSpec(
            "o", "o", "object", shape=(FieldSpec("a", "x", "text"), FieldSpec("a", "y", "text"))
        )


def nested(depth: int) -> FieldSpec:
    """An object `depth` objects deep: {"n": {"n": ... {"leaf": text}}}."""
    spec = FieldSpec("leaf", "leaf", "text")
    for _ in range(depth):
        spec = FieldSpec("n", "n", "object", shape=(spec,))
    return spec


def test_nesting_is_bounded_by_the_declaration() -> None:
    """A shape deeper than MAX_DEPTH is a declaration error; a value nested deeper than its
    shape is refused where it goes beyond it."""
    assert nested(MAX_DEPTH).type == "object"
    with pytest.raises(ValueError, match=f"at most {MAX_DEPTH} deep"):
        nested(MAX_DEPTH + 1)
    with pytest.raises(ValueError, match="deep"):
        FieldSpec("l", "l", "list", item=nested(MAX_DEPTH))
    deep: Any = "x"
    for _ in range(50):
        deep = {"n": deep}
    _, problems = check_value(nested(2), deep, ())
    assert [(p.loc, p.type) for p in problems] == [(("n", "n"), "extra_forbidden")]


# --- list ---------------------------------------------------------------------------------


def test_a_list_keeps_its_items_in_order_as_their_canonical_forms() -> None:
    sent = {"fileIds": [U2.upper(), U1, U2], "ownerIds": ["0042", 7, 42], "tags": []}
    data = validate_record(EVENT, sent, current=None)
    assert data["files"] == [U2, U1, U2]  # duplicates kept: unique_items is off
    assert data["owners"] == [42, 7, 42]
    assert data["tags"] == []  # [] stays [], unlike a multi_select's
    public = public_values(EVENT, data)
    assert public["fileIds"] == [U2, U1, U2] and public["tags"] == []
    assert validate_record(EVENT, public, current=None) == data


def test_every_bad_item_is_located_by_its_index() -> None:
    sent = {"fileIds": [U1, "nope", None, 3], "qas": [{"question": "Q"}, {"answers": ["a"]}]}
    assert problems_of(lambda: validate_record(EVENT, sent, current=None, loc=("body",))) == [
        (("body", "fileIds", 1), "uuid_parsing"),
        (("body", "fileIds", 2), "missing"),
        (("body", "fileIds", 3), "uuid_type"),
        (("body", "qas", 1, "question"), "missing"),
    ]


@pytest.mark.parametrize("value", ["a", {"a": 1}, 5, True])
def test_a_list_must_be_an_array(value: Any) -> None:
    _, problems = check_value(EVENT[1], value, ("tags",))
    assert [(p.loc, p.type) for p in problems] == [(("tags",), "list_type")]


def test_a_list_holds_at_most_max_items() -> None:
    files = EVENT[3]
    assert check_value(files, [U1] * 5, ())[1] == []
    [problem] = check_value(files, [U1] * 6, ("fileIds",))[1]
    assert (problem.loc, problem.type, problem.ctx) == (
        ("fileIds",),
        "too_long",
        {"max_length": 5, "actual_length": 6},
    )
    tags = EVENT[1]
    assert check_value(tags, ["t"] * LIST_MAX_ITEMS, ())[1] == []
    assert check_value(tags, ["t"] * (LIST_MAX_ITEMS + 1), ())[1][0].type == "too_long"
    [in_object] = check_value(QA, {"question": "Q", "answers": ["a"] * 4}, ("qas", 0))[1]
    assert in_object.loc == ("qas", 0, "answers")


def test_unique_items_refuses_a_repeat_by_its_canonical_value() -> None:
    users = PERMISSIONS.shape[0]
    assert check_value(users, [U1, U2], ())[1] == []
    problems = check_value(users, [U1, U2, U1.upper()], ("users",))[1]
    assert [(p.loc, p.type) for p in problems] == [(("users", 2), "value_error")]
    assert "item 0" in problems[0].msg
    qas = FieldSpec("q", "q", "list", item=QA, unique_items=True)
    same = [{"question": "Q", "answers": []}, {"answers": [], "question": "Q"}]
    assert [p.loc for p in check_value(qas, same, ())[1]] == [(1,)]


def test_a_bad_list_declaration_is_refused() -> None:
    text = scalar("text")
    with pytest.raises(ValueError, match="item"):
        FieldSpec("l", "l", "list")
    with pytest.raises(ValueError, match="item"):
        FieldSpec("t", "t", "text", item=text)
    with pytest.raises(ValueError, match="nest it in an object"):
        FieldSpec("l", "l", "list", item=FieldSpec("", "", "list", item=text))
    with pytest.raises(ValueError, match="nest it in an object"):
        FieldSpec("l", "l", "list", item=scalar("multi_select", options=("a",)))
    with pytest.raises(ValueError, match="cannot be unique"):
        FieldSpec("l", "l", "list", item=text, unique=True)
    with pytest.raises(ValueError, match="unique_items"):
        FieldSpec("l", "l", "list", item=scalar("text", unique=True))
    for bad in (0, LIST_MAX_ITEMS + 1):
        with pytest.raises(ValueError, match="max_items"):
            FieldSpec("l", "l", "list", item=text, max_items=bad)
    with pytest.raises(ValueError, match="for lists"):
        FieldSpec("t", "t", "text", max_items=3)
    with pytest.raises(ValueError, match="for lists"):
        FieldSpec("t", "t", "text", unique_items=True)


def test_a_list_of_texts_uuids_or_references_is_one_multi_valued_entry() -> None:
    data = validate_record(
        EVENT,
        {"tags": ["b", "a", "b"], "ownerIds": [3, 1, 3], "fileIds": [U1.upper()], "scores": [1]},
        current=None,
    )
    entries = {entry.name: entry for entry in index_entries(EVENT, data)}
    assert entries["tags"] == IndexEntry("tags", "m", ("b", "a"))
    assert entries["owners"] == IndexEntry("owners", "m", ("3", "1"))
    assert entries["files"] == IndexEntry("files", "m", (U1,))
    assert set(entries) == {"id", "tags", "owners", "files"}  # numbers, objects: not indexed
    assert index_kind(EVENT[1]) == "m"


def test_an_absent_list_is_in_no_place_of_its_index() -> None:
    entries = index_entries(EVENT, {})
    assert IndexEntry("tags", "m", ()) in entries


def test_lists_of_numbers_or_objects_are_never_indexed() -> None:
    assert EVENT[4].indexed is False  # qas: objects
    assert EVENT[5].indexed is False  # scores: numbers
    assert EVENT[1].indexed is True
    assert FieldSpec("l", "l", "list", item=scalar("text"), indexed=False).indexed is False


def test_a_list_of_references_refers_to_each_distinct_record() -> None:
    data = validate_record(EVENT, {"ownerIds": [5, "6", 5]}, current=None)
    assert references(EVENT, data) == [
        Reference("owners", "user", 5),
        Reference("owners", "user", 6),
    ]
    assert references(EVENT, {"owners": []}) == []


def test_references_nested_in_objects_are_checked_too() -> None:
    team = FieldSpec(
        "team",
        "team",
        "object",
        shape=(
            FieldSpec("lead", "lead", "reference", reference="user"),
            FieldSpec("rest", "rest", "list", item=scalar("reference", reference="user")),
        ),
    )
    data = validate_record((team,), {"team": {"lead": 1, "rest": [2, 1]}}, current=None)
    assert references((team,), data) == [Reference("team", "user", 1), Reference("team", "user", 2)]


def test_expand_targets_of_reference_lists() -> None:
    owners = EVENT[2]
    assert reference_target(owners) == "user"
    assert referenced_ids(owners, [3, 1, 3]) == [3, 1, 3]
    assert reference_target(EVENT[1]) is None
    assert reference_target(FieldSpec("r", "r", "reference", reference="user")) == "user"


def test_lists_and_objects_have_no_unique_key_but_compare_by_their_parts() -> None:
    qas = EVENT[4]
    one = [{"q": "Q", "a": ["x"]}]
    assert canonical_unique(qas, one) == canonical_unique(qas, [{"a": ["x"], "q": "Q"}])
    assert canonical_unique(qas, one) != canonical_unique(qas, [{"q": "Q", "a": ["y"]}])
    assert canonical_unique(EVENT[5], [1, 2.0]) == canonical_unique(EVENT[5], [1.0, 2])


# --- filters --------------------------------------------------------------------------------


def test_one_value_on_a_list_field_filters_by_membership() -> None:
    assert filter_condition(EVENT[3], U1.upper(), ("q", "fileIds")) == Filter("files", "m", U1)
    assert filter_condition(EVENT[2], "42", ("q", "ownerIds")) == Filter("owners", "m", "42")


def test_several_values_on_a_list_field_are_any_of_its_items() -> None:
    assert filter_condition(EVENT[3], [U2, U1, U2.upper()], ("q",)) == AnyOf("files", "m", (U2, U1))
    assert filter_condition(EVENT[1], (), ("q",)) == AnyOf("tags", "m", ())


def test_several_values_on_a_scalar_field_are_any_of_them() -> None:
    stage = FieldSpec("st", "stage", "single_select", options=("a", "b"))
    assert filter_condition(stage, ["a", "b"], ("q",)) == AnyOf("st", "s", ("a", "b"))
    assert filter_condition(stage, ["a", None], ("q",)) == AnyOf("st", "s", ("a", None))
    done = FieldSpec("d", "done", "boolean")
    assert filter_condition(done, [True], ("q",)) == AnyOf("d", "n", (1,))
    assert filter_condition(stage, "a", ("q",)) == Filter("st", "s", "a")


def test_a_multi_select_takes_its_list_as_one_value() -> None:
    tags = FieldSpec("t", "tags", "multi_select", options=("a", "b"))
    assert filter_condition(tags, ["b", "a"], ("q",)) == Filter("t", "s", "b\x1fa")


def test_each_value_is_parsed_as_its_item_then_checked() -> None:
    count = FieldSpec("c", "count", "integer")
    parse = lambda spec, raw: int(raw) if spec.type == "integer" else raw  # noqa: E731
    assert filter_condition(count, ["1", "2"], ("q",), parse) == AnyOf("c", "n", (1, 2))


def test_bad_filter_values_are_problems_at_their_place() -> None:
    found = filter_condition(EVENT[3], [U1, "nope"], ("q", "fileIds"))
    assert isinstance(found, list)
    assert [(p.loc, p.type) for p in found] == [(("q", "fileIds", 1), "uuid_parsing")]
    null = filter_condition(EVENT[3], None, ("q", "fileIds"))
    assert isinstance(null, list) and null[0].loc == ("q", "fileIds")
    in_list = filter_condition(EVENT[3], [U1, None], ("q", "fileIds"))
    assert isinstance(in_list, list) and in_list[0].loc == ("q", "fileIds", 1)
    too_many = filter_condition(EVENT[1], ["t"] * (ANY_OF_LIMIT + 1), ("q", "tags"))
    assert isinstance(too_many, list) and too_many[0].type == "too_long"


# --- seed 002 may not use them ----------------------------------------------------------------


@pytest.mark.parametrize("type", DECLARED_TYPES)
def test_a_client_cannot_define_a_declared_only_type(type: str) -> None:
    problems = check_field_definition("x", type, None, None, None, False, False, ("body",))
    assert [(p.loc, p.type) for p in problems] == [(("body", "type"), "enum")]
    assert f"'{type}'" not in problems[0].msg
    through_api = definition_problems({"api_name": "x", "type": type}, ("body", "fields", 0))
    assert [p.loc for p in through_api] == [("body", "fields", 0, "type")]


def test_the_client_enum_names_only_client_types() -> None:
    words = expected_text(FIELD_TYPES, shown=len(FIELD_TYPES))
    assert not any(f"'{type}'" in words for type in DECLARED_TYPES)


# --- every shape round-trips ------------------------------------------------------------------

uuids = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
texts = st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=5)
values = st.fixed_dictionaries(
    {},
    optional={
        "externalId": uuids,
        "tags": st.lists(texts, max_size=4),
        "ownerIds": st.lists(st.integers(1, 2**53 - 1), max_size=4),
        "fileIds": st.lists(uuids, max_size=5),
        "qas": st.lists(
            st.fixed_dictionaries(
                {"question": texts}, optional={"answers": st.lists(texts, max_size=3)}
            ),
            max_size=3,
        ),
        "scores": st.lists(st.integers(-5, 5) | st.floats(-1, 1), max_size=3),
        "location": st.fixed_dictionaries(
            {},
            optional={
                "textAddress": texts,
                "coordinates": st.fixed_dictionaries(
                    {"lat": st.floats(-90, 90), "long": st.integers(-(2**53) + 1, 2**53 - 1)}
                ),
                "kind": st.sampled_from(["home", "work"]),
            },
        ),
        "permissions": st.fixed_dictionaries(
            {},
            optional={
                "users": st.lists(st.uuids().map(str), unique=True, max_size=3),
                "groups": st.lists(uuids, max_size=3),
                "public": st.booleans(),
            },
        ),
    },
)


@settings(max_examples=200, deadline=None)
@given(values)
def test_any_valid_value_is_stored_canonically_and_reads_back_to_itself(
    sent: dict[str, Any],
) -> None:
    """Stored data survives msgpack and JSON; its public form validates back to it."""
    data = validate_record(EVENT, sent, current=None)
    assert msgpack.unpackb(msgpack.packb(data)) == data
    assert orjson.loads(orjson.dumps(data)) == data
    public = public_values(EVENT, data)
    assert validate_record(EVENT, public, current=None) == data
    assert public_values(EVENT, validate_record(EVENT, public, current=None)) == public
    for entry in index_entries(EVENT, data):
        if entry.kind == "m":
            assert isinstance(entry.value, tuple) and len(set(entry.value)) == len(entry.value)
    references(EVENT, data)
