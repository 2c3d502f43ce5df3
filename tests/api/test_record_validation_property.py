"""Any JSON a client may send as a record's values is either stored in canonical form or
refused with a 422 that names fields of that body: never a 500, never another status.

How the examples share one app: the test is an `async def` under `@given`, and pytest-asyncio
runs each Hypothesis example as a coroutine in the test's own event loop, so the one app of
the `thing` fixture (`memory_api` with the objects defined, set up once in that loop) serves
all 150 examples. Hypothesis
warns that a function-scoped fixture is not reset between examples; here that is the point
(it is suppressed), and nothing an example does can disturb the next: the object has no
required or unique field, so records only accumulate. No `.example()`, no thread, no loop of
our own.

The oracle is the field engine itself (`validate_record`, `public_values`) applied to the same
values: the HTTP answer must agree with it (the same 201 values, or a 422 at exactly its
locations), and independently of it a stored record's values must round-trip: read back, sent
again as a new record, and PATCHed onto itself, they stay identical, types included.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from huddle.engine.fields import FieldSpec, public_values, validate_record
from huddle.errors import InvalidInput

from .conftest import Api

OBJECTS = "/v1/custom-objects"
RECORDS = f"{OBJECTS}/thing/records"
LOC = ("body", "values")
OPTIONS = ["a", "b", "ç c"]
TAGS = ["x", "y", "z"]
#: Records of the referenced object `target` that exist.
TARGET_IDS = (1, 2)

#: One field of each type; none required or unique, so any example may be stored.
FIELDS: list[dict[str, Any]] = [
    {"apiName": "text", "type": "text", "maxLength": 40},
    {"apiName": "long_text", "type": "long_text"},
    {"apiName": "number", "type": "number"},
    {"apiName": "integer", "type": "integer", "defaultValue": 7},
    {"apiName": "boolean", "type": "boolean", "defaultValue": False},
    {"apiName": "date", "type": "date"},
    {"apiName": "datetime", "type": "datetime"},
    {"apiName": "email", "type": "email"},
    {"apiName": "url", "type": "url"},
    {"apiName": "phone", "type": "phone"},
    {"apiName": "single_select", "type": "single_select", "options": OPTIONS, "defaultValue": "a"},
    {"apiName": "multi_select", "type": "multi_select", "options": TAGS},
    {"apiName": "reference", "type": "reference"},
]
NAMES = [f["apiName"] for f in FIELDS]

# --- values -----------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
#: Anything JSON can carry (finite numbers: JSON has no nan, and httpx refuses to send one).
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=8,
)


def _datetime_text(moment: datetime, offset_minutes: int, zulu: bool) -> str:
    if zulu:
        return moment.isoformat() + "Z"
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{moment.isoformat()}{sign}{hours:02d}:{minutes:02d}"


_offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59)
_no_nul = st.characters(codec="utf-8", exclude_characters="\x00")  # no lone surrogates
_safe_ints = st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)

#: A valid value of each type.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(_no_nul, max_size=40),
    "long_text": st.text(_no_nul, max_size=300),
    "number": st.one_of(_safe_ints, st.floats(allow_nan=False, allow_infinity=False)),
    "integer": _safe_ints,
    "boolean": st.booleans(),
    "date": st.dates().map(lambda d: d.isoformat()),
    "datetime": st.builds(
        _datetime_text,
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        _offsets,
        st.booleans(),
    ),
    "email": st.from_regex(r"[a-zA-Z0-9._+\-]{1,20}@[a-z0-9\-]{1,10}\.[a-z]{2,6}", fullmatch=True),
    "url": st.from_regex(
        r"https?://[a-z0-9\-]{1,10}\.[a-z]{2,5}(/[a-zA-Z0-9_\-]{0,10})?", fullmatch=True
    ),
    "phone": st.from_regex(r"\+?[0-9]{3,15}", fullmatch=True),
    "single_select": st.sampled_from(OPTIONS),
    "multi_select": st.lists(st.sampled_from(TAGS), unique=True, max_size=3),
    "reference": st.one_of(st.sampled_from(TARGET_IDS), st.sampled_from(TARGET_IDS).map(str)),
}

#: Values just beside each type's rules: too long, out of range, a float for an integer, a
#: missing option, a year that leaves 0001..9999 in UTC, a record that does not exist.
NEAR: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(min_size=38, max_size=45),
    "long_text": st.text().map(lambda text: text + "\x00"),
    "number": st.integers(min_value=2**53 - 2, max_value=2**54).map(lambda n: -n if n % 2 else n),
    "integer": st.one_of(st.integers(min_value=2**53 - 2, max_value=2**54), st.just(2.0)),
    "boolean": st.sampled_from([0, 1, "true", "false"]),
    "date": st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    "datetime": st.one_of(
        st.datetimes().map(lambda moment: moment.isoformat()),  # no offset
        st.builds(_datetime_text, st.datetimes(), _offsets, st.booleans()),
    ),
    "email": st.from_regex(r"[a-z@. ]{1,12}", fullmatch=True),
    "url": st.builds(
        lambda scheme, host, path: f"{scheme}{host}{path}",
        st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", ""]),
        st.from_regex(r"[a-z0-9.\-]{0,12}(:[0-9]{1,6})?", fullmatch=True),
        st.text(max_size=8),
    ),
    "phone": st.from_regex(r"\+?[0-9 .()\-]{1,34}", fullmatch=True),
    "single_select": st.sampled_from(["A", "d", "", "ç"]),
    "multi_select": st.lists(st.sampled_from([*TAGS, "w"]), min_size=1, max_size=4),
    "reference": st.one_of(
        st.sampled_from([3, 0, -1, True]), st.from_regex(r"[0-9]{1,18}", fullmatch=True)
    ),
}


@st.composite
def record_values(draw: st.DrawFn) -> dict[str, Any]:
    """A random subset of the fields, each with a value that is mostly valid, sometimes
    just beside the rules and sometimes any JSON at all, and now and then names the object
    does not have."""
    values: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True)):
        roll = draw(st.integers(min_value=0, max_value=19))
        kind = json_values if roll == 0 else NEAR[name] if roll == 1 else VALID[name]
        values[name] = draw(kind)
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        unknown = st.text(max_size=8).filter(lambda name: name not in NAMES)
        values.update(draw(st.dictionaries(unknown, json_values, min_size=1, max_size=2)))
    return values


# --- the property -----------------------------------------------------------------------------


def strict(value: Any) -> str:
    """JSON text: equal only for the same types (1 is not 1.0, -0.0 is not 0.0), in order."""
    return json.dumps(value, ensure_ascii=False)


async def define(api: Api) -> list[FieldSpec]:
    """`target` with records 1 and 2, and `thing` with one field of each type; the field
    engine's declaration of `thing`, built from the definition the API answered."""
    admin = api.auth("root", admin=True)
    target = await api.client.post(
        OBJECTS,
        json={"apiName": "target", "label": "Target", "fields": [{"apiName": "n", "type": "text"}]},
        headers=admin,
    )
    assert target.status_code == 201, target.text
    for _ in TARGET_IDS:
        await api.client.post(f"{OBJECTS}/target/records", json={"values": {}}, headers=admin)
    fields = [dict(f) for f in FIELDS]
    fields[-1]["referenceObjectId"] = int(target.json()["id"])
    thing = await api.client.post(
        OBJECTS, json={"apiName": "thing", "label": "Thing", "fields": fields}, headers=admin
    )
    assert thing.status_code == 201, thing.text
    return [
        FieldSpec(
            key=f"f{f['id']}",
            name=f["apiName"],
            type=f["type"],
            default=f["defaultValue"],
            options=tuple(f["options"]),
            max_length=f["maxLength"],
            reference=None if f["referenceObjectId"] is None else f"obj:{f['referenceObjectId']}",
        )
        for f in thing.json()["fields"]
    ]


@pytest.fixture
async def thing(memory_api: Api) -> tuple[Api, list[FieldSpec]]:
    """One app with the objects defined, set up once for all the examples of a test."""
    return memory_api, await define(memory_api)


@settings(
    max_examples=int(os.environ.get("HUDDLE_PROPERTY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=record_values())
async def test_record_values_are_stored_canonically_or_refused_per_field(
    thing: tuple[Api, list[FieldSpec]], values: dict[str, Any]
) -> None:
    api, specs = thing
    [reference] = [spec for spec in specs if spec.type == "reference"]
    headers = api.auth("mia")
    answer = await api.client.post(RECORDS, json={"values": values}, headers=headers)
    assert answer.status_code in (201, 422), answer.text

    try:
        data = validate_record(specs, values, current=None, loc=LOC)
    except InvalidInput as refused:
        expected_locs = [list(problem.loc) for problem in refused.problems]
    else:
        expected_locs = []
        if data.get(reference.key) not in (None, *TARGET_IDS):
            expected_locs = [[*LOC, "reference"]]

    if answer.status_code == 422:
        event("422")
        detail = answer.json()["detail"]
        assert detail, answer.text
        for entry in detail:
            assert entry["loc"][:2] == list(LOC), entry
            assert entry["loc"][2] in values, entry  # a name the client sent
            assert set(entry) == {"loc", "msg", "type", "input", "ctx"} and entry["msg"]
        assert [entry["loc"] for entry in detail] == expected_locs
        return

    event("201")
    assert expected_locs == [], (expected_locs, answer.text)
    created = answer.json()
    stored = created["values"]
    assert strict(stored) == strict(public_values(specs, data))
    assert list(stored) == NAMES

    read = await api.client.get(f"{RECORDS}/{created['id']}", headers=headers)
    assert read.status_code == 200 and strict(read.json()["values"]) == strict(stored)

    again = await api.client.post(RECORDS, json={"values": stored}, headers=headers)
    assert again.status_code == 201, again.text
    assert strict(again.json()["values"]) == strict(stored)

    patched = await api.client.patch(
        f"{RECORDS}/{created['id']}", json={"values": stored}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert strict(patched.json()["values"]) == strict(stored)
    assert patched.json()["version"] == created["version"]  # it changed nothing: no new version
