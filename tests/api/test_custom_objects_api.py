"""Seed 002 custom objects over HTTP: every route, its success and each refusal, on both
backends. Refusals change nothing (no event is appended) and every change is an event."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from .conftest import Api

OBJECTS = "/v1/custom-objects"
PROJECT = f"{OBJECTS}/project"
RECORDS = f"{PROJECT}/records"
FIELDS = f"{PROJECT}/fields"

#: One field of each of the 13 types; `company` is filled in with the target object's id.
EVERY_TYPE: list[dict[str, Any]] = [
    {"apiName": "title", "label": "Title", "type": "text", "required": True, "unique": True},
    {"apiName": "notes", "type": "long_text", "description": "Free text"},
    {"apiName": "budget", "type": "number", "defaultValue": 0},
    {"apiName": "seats", "type": "integer", "defaultValue": 1},
    {"apiName": "active", "type": "boolean", "defaultValue": True},
    {"apiName": "due", "type": "date"},
    {"apiName": "kickoff", "type": "datetime"},
    {"apiName": "contact", "type": "email", "unique": True},
    {"apiName": "site", "type": "url"},
    {"apiName": "phone", "type": "phone"},
    {
        "apiName": "stage",
        "type": "single_select",
        "options": ["lead", "active", "won", "lost"],
        "defaultValue": "lead",
    },
    {"apiName": "tags", "type": "multi_select", "options": ["red", "green", "blue"]},
    {"apiName": "company", "type": "reference"},
]
FULL_VALUES: dict[str, Any] = {
    "title": "Apollo",
    "notes": "Line one\nline two ✓",
    "budget": 1250.5,
    "seats": 12,
    "active": False,
    "due": "2026-03-31",
    "kickoff": "2026-03-01T10:30:00+02:00",
    "contact": "Ana@Example.com",
    "site": "https://example.com/apollo",
    "phone": "+1 (555) 010-0199",
    "stage": "active",
    "tags": ["blue", "red"],
    "company": "1",
}
#: FULL_VALUES as the API stores and reads them back.
FULL_CANONICAL = {
    **FULL_VALUES,
    "kickoff": "2026-03-01T08:30:00.000Z",
    "company": 1,
}


def root(api: Api, **kwargs: Any) -> dict[str, str]:
    return api.auth("root", admin=True, name="Root", **kwargs)


def member(api: Api, user: str = "mia", **kwargs: Any) -> dict[str, str]:
    return api.auth(user, name=user.title(), **kwargs)


async def events_after(
    api: Api, cursor: str | None, org: str = "acme", workspace: str = "ws1"
) -> list[dict[str, Any]]:
    headers = api.auth("auditor", org=org, workspace=workspace, admin=True)
    params: dict[str, Any] = {"limit": 1000} | ({"after": cursor} if cursor else {})
    url = f"/v1/orgs/{org}/workspaces/{workspace}/sync/events"
    answer = await api.client.get(url, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


async def create_object(
    api: Api, api_name: str, fields: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"apiName": api_name, "label": api_name.title(), "fields": fields or [], **extra}
    answer = await api.client.post(OBJECTS, json=body, headers=root(api))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def create_record(
    api: Api, values: dict[str, Any], url: str = RECORDS, user: str = "mia"
) -> dict[str, Any]:
    answer = await api.client.post(url, json={"values": values}, headers=member(api, user))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def every_type_project(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """`company` (one record, id 1) and `project` with a field of every type."""
    company = await create_object(api, "company", [{"apiName": "name", "type": "text"}])
    await create_record(api, {"name": "Acme"}, f"{OBJECTS}/company/records")
    fields = [dict(f) for f in EVERY_TYPE]
    fields[-1]["referenceObjectId"] = int(company["id"])
    return company, await create_object(api, "project", fields, description="Client work")


async def simple_project(api: Api) -> dict[str, Any]:
    return await create_object(
        api,
        "project",
        [
            {"apiName": "title", "type": "text", "required": True, "unique": True},
            {"apiName": "budget", "type": "number"},
            {"apiName": "seats", "type": "integer", "defaultValue": 1},
            {"apiName": "due", "type": "date"},
            {"apiName": "active", "type": "boolean"},
            {"apiName": "notes", "type": "long_text"},
            {
                "apiName": "stage",
                "type": "single_select",
                "options": ["lead", "active", "won", "lost"],
                "defaultValue": "lead",
            },
        ],
    )


def locs(answer: httpx.Response) -> list[list[Any]]:
    assert answer.status_code == 422, answer.text
    return [entry["loc"] for entry in answer.json()["detail"]]


def error_of(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == code and body["status_code"] == status, body
    assert body["message"] and body["timestamp"]
    return body


# --- objects ----------------------------------------------------------------------------------


async def test_an_object_with_every_field_type_is_created_as_defined(api: Api) -> None:
    """All 13 field types are accepted; the answer is the stored definition, numbered from 1."""
    company, project = await every_type_project(api)
    assert project["apiName"] == "project" and project["label"] == "Project"
    assert project["pluralLabel"] == "Project"  # defaults to the label
    assert project["description"] == "Client work"
    assert project["version"] == 1 and project["createdBy"] == project["updatedBy"] == "root"
    fields = project["fields"]
    assert [f["apiName"] for f in fields] == [f["apiName"] for f in EVERY_TYPE]
    assert [f["type"] for f in fields] == [f["type"] for f in EVERY_TYPE]
    assert [f["id"] for f in fields] == [str(n) for n in range(1, 14)]
    by_name = {f["apiName"]: f for f in fields}
    assert by_name["title"] == {
        "id": "1",
        "apiName": "title",
        "label": "Title",
        "type": "text",
        "required": True,
        "unique": True,
        "defaultValue": None,
        "options": [],
        "maxLength": None,
        "referenceObjectId": None,
        "description": None,
    }
    assert by_name["notes"]["label"] == "notes"  # the label defaults to the apiName
    assert by_name["notes"]["description"] == "Free text"
    assert by_name["stage"]["options"] == ["lead", "active", "won", "lost"]
    assert by_name["stage"]["defaultValue"] == "lead"
    assert by_name["company"]["referenceObjectId"] == company["id"]
    record = await create_record(api, FULL_VALUES)
    assert record["values"] == FULL_CANONICAL


async def test_an_object_reads_by_id_and_by_api_name(api: Api) -> None:
    created = await simple_project(api)
    by_id = await api.client.get(f"{OBJECTS}/{created['id']}", headers=member(api))
    by_name = await api.client.get(PROJECT, headers=member(api))
    assert by_id.status_code == by_name.status_code == 200
    assert by_id.json() == by_name.json() == created


async def test_a_taken_api_name_is_409_and_changes_nothing(api: Api) -> None:
    first = await simple_project(api)
    async with api.unchanged():
        answer = await api.client.post(
            OBJECTS, json={"apiName": "project", "label": "Again"}, headers=root(api)
        )
    body = error_of(answer, 409, "ALREADY_EXISTS")
    assert body["details"]["field"] == "apiName"
    assert body["details"]["existing_id"] == int(first["id"])
    assert (await api.client.get(PROJECT, headers=root(api))).json()["label"] == "Project"


async def test_reserved_and_malformed_api_names_are_422(api: Api) -> None:
    """Huddle's own entity types may not be objects (records are locked under the name)."""
    async with api.unchanged():
        for name in ("collaboration", "custom_object", "deal", "lead"):
            answer = await api.client.post(
                OBJECTS, json={"apiName": name, "label": "X"}, headers=root(api)
            )
            assert locs(answer) == [["body", "apiName"]], name
            assert answer.json()["detail"][0]["input"] == name
        for name in ("Project", "9lives", "a b", "", "x" * 64):
            answer = await api.client.post(
                OBJECTS, json={"apiName": name, "label": "X"}, headers=root(api)
            )
            assert locs(answer) == [["body", "apiName"]], name
        for body in ({"apiName": "x"}, {"apiName": "x", "label": ""}, {"label": "X"}):
            assert (await api.client.post(OBJECTS, json=body, headers=root(api))).status_code == 422
    listed = (await api.client.get(OBJECTS, headers=root(api))).json()
    assert listed["data"] == [] and listed["meta"]["total"] == 0


async def test_bad_field_definitions_are_422_naming_each_problem(api: Api) -> None:
    """Every bad field is named at ["body", "fields", i, <camelCase attribute>], at once."""
    fields: list[dict[str, Any]] = [
        {"apiName": "Bad Name", "type": "text"},
        {"apiName": "money", "type": "money"},
        {"apiName": "stage", "type": "single_select"},
        {"apiName": "short", "type": "text", "maxLength": 0},
        {"apiName": "amount", "type": "number", "defaultValue": "lots"},
        {"apiName": "essay", "type": "long_text", "unique": True},
        {"apiName": "dup", "type": "text"},
        {"apiName": "dup", "type": "integer"},
        {"apiName": "owner", "type": "reference"},
        {"apiName": "parent", "type": "reference", "referenceObjectId": 999},
        {"apiName": "tint", "type": "text", "options": ["a"]},
        {"apiName": "count", "type": "integer", "referenceObjectId": 1},
        {"apiName": "colour", "type": "single_select", "options": ["a", "a"]},
        {"apiName": "size", "type": "integer", "maxLength": 5},
    ]
    async with api.unchanged():
        answer = await api.client.post(
            OBJECTS, json={"apiName": "project", "label": "P", "fields": fields}, headers=root(api)
        )
    assert locs(answer) == [
        ["body", "fields", 0, "apiName"],
        ["body", "fields", 1, "type"],
        ["body", "fields", 2, "options"],
        ["body", "fields", 3, "maxLength"],
        ["body", "fields", 4, "defaultValue"],
        ["body", "fields", 5, "unique"],
        ["body", "fields", 7, "apiName"],
        ["body", "fields", 8, "referenceObjectId"],
        ["body", "fields", 9, "referenceObjectId"],
        ["body", "fields", 10, "options"],
        ["body", "fields", 11, "referenceObjectId"],
        ["body", "fields", 12, "options", 1],
        ["body", "fields", 13, "maxLength"],
    ]
    for entry in answer.json()["detail"]:
        assert set(entry) == {"loc", "msg", "type", "input", "ctx"} and entry["msg"]
    assert (await api.client.get(PROJECT, headers=root(api))).status_code == 404


async def test_a_reference_to_a_non_numeric_object_id_is_422_not_500(api: Api) -> None:
    """`referenceObjectId` that names no object (here not even a number) is a 422 at its
    location, like a missing id."""
    async with api.unchanged():
        for target in ("nope", "12abc", ""):
            body = {
                "apiName": "project",
                "label": "P",
                "fields": [{"apiName": "owner", "type": "reference", "referenceObjectId": target}],
            }
            answer = await api.client.post(OBJECTS, json=body, headers=root(api))
            assert locs(answer) == [["body", "fields", 0, "referenceObjectId"]], target


async def test_object_and_field_writes_need_the_admin_role(api: Api) -> None:
    """A member gets 403 on every definition write and nothing changes; reads are open."""
    await simple_project(api)
    mia = member(api)
    async with api.unchanged():
        refused = [
            await api.client.post(OBJECTS, json={"apiName": "x", "label": "X"}, headers=mia),
            await api.client.patch(PROJECT, json={"label": "Mine"}, headers=mia),
            await api.client.delete(PROJECT, headers=mia),
            await api.client.post(FIELDS, json={"apiName": "y", "type": "text"}, headers=mia),
            await api.client.patch(f"{FIELDS}/title", json={"label": "T"}, headers=mia),
            await api.client.delete(f"{FIELDS}/title", headers=mia),
        ]
    for answer in refused:
        body = error_of(answer, 403, "FORBIDDEN")
        assert body["details"]["required_permission"] == "custom_objects:write"
    assert (await api.client.get(PROJECT, headers=mia)).json()["label"] == "Project"
    assert (await api.client.get(OBJECTS, headers=mia)).status_code == 200
    assert (await api.client.get(f"{OBJECTS}/stats", headers=mia)).status_code == 200


async def test_a_member_writes_records(api: Api) -> None:
    await simple_project(api)
    created = await create_record(api, {"title": "Apollo"}, user="mia")
    assert created["createdBy"] == created["updatedBy"] == "mia"
    url = f"{RECORDS}/{created['id']}"
    updated = await api.client.patch(url, json={"values": {"seats": 3}}, headers=member(api, "max"))
    assert updated.status_code == 200 and updated.json()["updatedBy"] == "max"
    assert (await api.client.delete(url, headers=member(api, "max"))).status_code == 204


async def test_unknown_objects_fields_and_records_are_404(api: Api) -> None:
    await simple_project(api)
    record = await create_record(api, {"title": "Apollo"})
    admin = root(api)
    async with api.unchanged():
        for method, url, body in (
            ("GET", f"{OBJECTS}/999", None),
            ("GET", f"{OBJECTS}/nothing", None),
            ("PATCH", f"{OBJECTS}/nothing", {"label": "X"}),
            ("DELETE", f"{OBJECTS}/999", None),
            ("POST", f"{OBJECTS}/nothing/fields", {"apiName": "x", "type": "text"}),
            ("PATCH", f"{FIELDS}/nothing", {"label": "X"}),
            ("PATCH", f"{FIELDS}/99", {"label": "X"}),
            ("DELETE", f"{FIELDS}/nothing", None),
            ("GET", f"{OBJECTS}/nothing/records", None),
            ("POST", f"{OBJECTS}/nothing/records", {"values": {}}),
            ("GET", f"{RECORDS}/99", None),
            ("PATCH", f"{RECORDS}/99", {"values": {"seats": 2}}),
            ("DELETE", f"{RECORDS}/99", None),
            ("GET", f"{OBJECTS}/nothing/records/{record['id']}", None),
        ):
            answer = await api.client.request(method, url, json=body, headers=admin)
            error_of(answer, 404, "RESOURCE_NOT_FOUND")
    missing = (await api.client.get(f"{RECORDS}/99", headers=admin)).json()
    assert missing["details"] == {"resource_type": "record", "resource_id": 99}
    for bad in (f"{RECORDS}/0", f"{RECORDS}/abc", f"{OBJECTS}/a-b"):
        assert (await api.client.get(bad, headers=admin)).status_code == 422, bad


async def test_objects_list_in_pages_oldest_first(api: Api) -> None:
    for name in ("alpha", "beta", "gamma"):
        await create_object(api, name)
    admin = root(api)
    first = (await api.client.get(OBJECTS, params={"limit": 2}, headers=admin)).json()
    assert [o["apiName"] for o in first["data"]] == ["alpha", "beta"]
    assert first["meta"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2}
    second = await api.client.get(OBJECTS, params={"limit": 2, "page": 2}, headers=admin)
    assert [o["apiName"] for o in second.json()["data"]] == ["gamma"]
    past = await api.client.get(OBJECTS, params={"limit": 2, "page": 3}, headers=admin)
    assert past.json()["data"] == [] and past.json()["meta"]["total"] == 3
    default = (await api.client.get(OBJECTS, headers=admin)).json()
    assert default["meta"] == {"page": 1, "limit": 20, "total": 3, "totalPages": 1}
    clamped = (await api.client.get(OBJECTS, params={"limit": 500}, headers=admin)).json()
    assert clamped["meta"]["limit"] == 100 and len(clamped["data"]) == 3
    for params, loc in (
        ({"page": 0}, ["query", "page"]),
        ({"page": -1}, ["query", "page"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"page": "x"}, ["query", "page"]),
    ):
        answer = await api.client.get(OBJECTS, params=params, headers=admin)
        assert locs(answer) == [loc], params


async def test_an_object_update_changes_labels_and_description(api: Api) -> None:
    created = await simple_project(api)
    before = await api.head()
    answer = await api.client.patch(
        PROJECT,
        json={"label": "Engagement", "pluralLabel": "Engagements", "description": "Paid work"},
        headers=root(api),
    )
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert (updated["label"], updated["pluralLabel"], updated["description"]) == (
        "Engagement",
        "Engagements",
        "Paid work",
    )
    assert updated["version"] == 2 and updated["fields"] == created["fields"]
    assert updated["createdAt"] == created["createdAt"]
    assert (await api.client.get(PROJECT, headers=root(api))).json() == updated
    same_name = await api.client.patch(PROJECT, json={"apiName": "project"}, headers=root(api))
    assert same_name.status_code == 200
    assert same_name.json()["version"] == 2, "a change of nothing writes nothing"
    [event] = await events_after(api, before)
    assert event["type"] == "object.updated"
    assert event["actor"] == {"type": "user", "id": "root", "name": "Root"}
    assert event["data"]["id"] == int(created["id"]) and event["data"]["version"] == 2
    assert event["data"]["label"] == "Engagement"
    assert sorted(event["data"]["changed"]) == ["description", "label", "plural_label"]


async def test_an_object_api_name_never_changes(api: Api) -> None:
    created = await simple_project(api)
    async with api.unchanged():
        answer = await api.client.patch(PROJECT, json={"apiName": "venture"}, headers=root(api))
        assert locs(answer) == [["body", "apiName"]]
        for body in ({"label": ""}, {"bogus": 1}, {"label": 5}):
            assert (
                await api.client.patch(PROJECT, json=body, headers=root(api))
            ).status_code == 422
    assert (await api.client.get(PROJECT, headers=root(api))).json() == created
    assert (await api.client.get(f"{OBJECTS}/venture", headers=root(api))).status_code == 404


# --- fields -----------------------------------------------------------------------------------


async def test_an_added_field_reads_null_on_older_records(api: Api) -> None:
    """Its default applies to records created later; older ones read null and stay writable
    even when the new field is required."""
    await simple_project(api)
    old = await create_record(api, {"title": "Old"})
    before = await api.head()
    answer = await api.client.post(
        FIELDS,
        json={"apiName": "priority", "label": "Priority", "type": "integer", "defaultValue": 3},
        headers=root(api),
    )
    assert answer.status_code == 201, answer.text
    field, obj = answer.json()["field"], answer.json()["object"]
    assert field["apiName"] == "priority" and field["id"] == "8" and field["defaultValue"] == 3
    assert obj["fields"][-1] == field and obj["version"] == 2
    [event] = await events_after(api, before)
    assert event["type"] == "field.created" and event["data"]["field"]["api_name"] == "priority"
    assert event["data"]["id"] == int(obj["id"])
    reread = (await api.client.get(f"{RECORDS}/{old['id']}", headers=root(api))).json()
    assert reread["values"] == {**old["values"], "priority": None}
    new = await create_record(api, {"title": "New"})
    assert new["values"]["priority"] == 3
    required = await api.client.post(
        FIELDS, json={"apiName": "owner", "type": "text", "required": True}, headers=root(api)
    )
    assert required.status_code == 201
    patched = await api.client.patch(
        f"{RECORDS}/{old['id']}", json={"values": {"seats": 4}}, headers=member(api)
    )
    assert patched.status_code == 200 and patched.json()["values"]["owner"] is None
    async with api.unchanged():
        missing = await api.client.post(RECORDS, json={"values": {"title": "X"}}, headers=root(api))
    assert locs(missing) == [["body", "values", "owner"]]


async def test_adding_a_bad_or_taken_field_is_refused(api: Api) -> None:
    await simple_project(api)
    async with api.unchanged():
        taken = await api.client.post(
            FIELDS, json={"apiName": "title", "type": "text"}, headers=root(api)
        )
        error_of(taken, 409, "ALREADY_EXISTS")
        bad = await api.client.post(
            FIELDS,
            json={"apiName": "Bad", "type": "single_select", "options": []},
            headers=root(api),
        )
        assert locs(bad) == [["body", "apiName"], ["body", "options"]]
        unknown_type = await api.client.post(
            FIELDS, json={"apiName": "x", "type": "money"}, headers=root(api)
        )
        assert locs(unknown_type) == [["body", "type"]]
        extra = await api.client.post(
            FIELDS, json={"apiName": "x", "type": "text", "colour": "red"}, headers=root(api)
        )
        assert extra.status_code == 422
    assert len((await api.client.get(PROJECT, headers=root(api))).json()["fields"]) == 7


async def test_a_field_update_changes_rules_for_later_writes_only(api: Api) -> None:
    """Label, required and options change; stored values read back unchanged."""
    await simple_project(api)
    lost = await create_record(api, {"title": "Lost one", "stage": "lost"})
    before = await api.head()
    answer = await api.client.patch(
        f"{FIELDS}/stage",
        json={"label": "Phase", "required": True, "options": ["lead", "active", "won", "paused"]},
        headers=root(api),
    )
    assert answer.status_code == 200, answer.text
    field = answer.json()["field"]
    assert field["label"] == "Phase" and field["required"] is True
    assert field["options"] == ["lead", "active", "won", "paused"]
    assert answer.json()["object"]["fields"][6] == field
    [event] = await events_after(api, before)
    assert event["type"] == "field.updated"
    assert event["data"]["field"]["label"] == "Phase"
    assert sorted(event["data"]["changed"]) == ["label", "options", "required"]
    reread = (await api.client.get(f"{RECORDS}/{lost['id']}", headers=root(api))).json()
    assert reread["values"]["stage"] == "lost"
    refused = await api.client.post(
        RECORDS, json={"values": {"title": "B", "stage": "lost"}}, headers=member(api)
    )
    assert locs(refused) == [["body", "values", "stage"]]
    paused = await create_record(api, {"title": "C", "stage": "paused"})
    assert paused["values"]["stage"] == "paused"
    by_id = await api.client.patch(
        f"{FIELDS}/{field['id']}", json={"label": "P"}, headers=root(api)
    )
    assert by_id.status_code == 200 and by_id.json()["field"]["label"] == "P"


async def test_a_field_patched_with_its_own_definition_changes_nothing(api: Api) -> None:
    """A client may send a field back as it read it (`referenceObjectId` included, which
    reads as a string): every attribute is equal, so nothing is refused."""
    _, project = await every_type_project(api)
    for field in project["fields"]:
        body = {key: value for key, value in field.items() if key != "id"}
        answer = await api.client.patch(f"{FIELDS}/{field['id']}", json=body, headers=root(api))
        assert answer.status_code == 200, (field["apiName"], answer.text)
        assert answer.json()["field"] == field
    final = (await api.client.get(PROJECT, headers=root(api))).json()
    assert final["fields"] == project["fields"]


async def test_a_renamed_field_keeps_its_values(api: Api) -> None:
    await simple_project(api)
    record = await create_record(api, {"title": "A", "budget": 7})
    answer = await api.client.patch(f"{FIELDS}/budget", json={"apiName": "cost"}, headers=root(api))
    assert answer.status_code == 200, answer.text
    values = (await api.client.get(f"{RECORDS}/{record['id']}", headers=root(api))).json()["values"]
    assert values["cost"] == 7 and "budget" not in values


async def test_a_field_type_and_unique_never_change(api: Api) -> None:
    """Existing values could be neither converted nor made unique without a rewrite (the
    service docstring: unique is fixed at creation, with or without records)."""
    await simple_project(api)
    async with api.unchanged():
        answer = await api.client.patch(
            f"{FIELDS}/budget", json={"type": "text"}, headers=root(api)
        )
        assert locs(answer) == [["body", "type"]]
        no_records_yet = await api.client.patch(
            f"{FIELDS}/seats", json={"unique": True}, headers=root(api)
        )
        assert locs(no_records_yet) == [["body", "unique"]]
    await create_record(api, {"title": "A"})
    unchanged_definition = (await api.client.get(PROJECT, headers=root(api))).json()
    async with api.unchanged():
        for name, unique in (("seats", True), ("title", False)):
            answer = await api.client.patch(
                f"{FIELDS}/{name}", json={"unique": unique}, headers=root(api)
            )
            assert locs(answer) == [["body", "unique"]], name
        both = await api.client.patch(
            f"{FIELDS}/title", json={"type": "email", "unique": False}, headers=root(api)
        )
        assert sorted(map(tuple, locs(both))) == [("body", "type"), ("body", "unique")]
        bad_default = await api.client.patch(
            f"{FIELDS}/stage", json={"defaultValue": "nope"}, headers=root(api)
        )
        assert locs(bad_default) == [["body", "defaultValue"]]
    assert (await api.client.get(PROJECT, headers=root(api))).json() == unchanged_definition


async def test_a_deleted_field_vanishes_and_never_comes_back(api: Api) -> None:
    """Its values leave every read at once; a new field of the same name starts empty, and
    the unique values of the old one are free again."""
    await create_object(
        api,
        "project",
        [
            {"apiName": "code", "type": "text", "unique": True},
            {"apiName": "note", "type": "text"},
        ],
    )
    first = await create_record(api, {"code": "A-1", "note": "n"})
    url = f"{RECORDS}/{first['id']}"
    before = await api.head()
    answer = await api.client.delete(f"{FIELDS}/code", headers=root(api))
    assert answer.status_code == 204 and answer.content == b""
    [event] = await events_after(api, before)
    assert event["type"] == "field.deleted" and event["data"]["field"]["api_name"] == "code"
    assert [f["api_name"] for f in event["data"]["fields"]] == ["note"]
    assert (await api.client.get(url, headers=root(api))).json()["values"] == {"note": "n"}
    listed = (await api.client.get(RECORDS, headers=root(api))).json()["data"]
    assert [r["values"] for r in listed] == [{"note": "n"}]
    assert locs(await api.client.get(RECORDS, params={"code": "A-1"}, headers=root(api))) == [
        ["query", "code"]
    ]
    async with api.unchanged():
        gone = await api.client.delete(f"{FIELDS}/code", headers=root(api))
    error_of(gone, 404, "RESOURCE_NOT_FOUND")
    again = await api.client.post(
        FIELDS, json={"apiName": "code", "type": "text", "unique": True}, headers=root(api)
    )
    assert again.status_code == 201 and again.json()["field"]["id"] == "3"
    assert (await api.client.get(url, headers=root(api))).json()["values"] == {
        "note": "n",
        "code": None,
    }
    assert (await api.client.get(RECORDS, params={"code": "A-1"}, headers=root(api))).json()[
        "data"
    ] == []
    reused = await create_record(api, {"code": "A-1"})
    assert reused["values"] == {"note": None, "code": "A-1"}


# --- records ----------------------------------------------------------------------------------


async def test_a_record_is_created_with_defaults_and_read_back(api: Api) -> None:
    await simple_project(api)
    before = await api.head()
    created = await create_record(api, {"title": "Apollo", "budget": 10}, user="mia")
    assert created["values"] == {
        "title": "Apollo",
        "budget": 10,
        "seats": 1,
        "due": None,
        "active": None,
        "notes": None,
        "stage": "lead",
    }
    assert created["id"] == "1" and created["object"] == "project" and created["version"] == 1
    assert created["createdAt"] == created["updatedAt"]
    read = await api.client.get(f"{RECORDS}/{created['id']}", headers=member(api, "max"))
    assert read.status_code == 200 and read.json() == created
    [event] = await events_after(api, before)
    assert event["type"] == "record.created"
    assert event["actor"] == {"type": "user", "id": "mia", "name": "Mia"}
    assert event["data"]["id"] == 1 and event["data"]["version"] == 1
    assert event["data"]["object"] == "project"
    assert event["data"]["object_id"] == int(created["objectId"])
    assert event["data"]["values"] == created["values"]
    assert event["data"]["created_at_ms"] == event["data"]["updated_at_ms"]


async def test_refused_records_name_every_problem_and_store_nothing(api: Api) -> None:
    await simple_project(api)
    async with api.unchanged():
        missing = await api.client.post(RECORDS, json={"values": {}}, headers=member(api))
        assert locs(missing) == [["body", "values", "title"]]
        assert missing.json()["detail"][0]["type"] == "missing"
        unknown = await api.client.post(
            RECORDS, json={"values": {"title": "A", "bogus": 1}}, headers=member(api)
        )
        assert locs(unknown) == [["body", "values", "bogus"]]
        assert unknown.json()["detail"][0]["type"] == "extra_forbidden"
        several = await api.client.post(
            RECORDS,
            json={"values": {"seats": "many", "stage": "nope", "due": "2026-02-30", "x": 1}},
            headers=member(api),
        )
        assert locs(several) == [
            ["body", "values", "seats"],
            ["body", "values", "stage"],
            ["body", "values", "due"],
            ["body", "values", "x"],
            ["body", "values", "title"],
        ]
        by_type = {e["loc"][2]: e for e in several.json()["detail"]}
        assert by_type["seats"]["type"] == "int_type" and by_type["seats"]["input"] == "many"
        assert by_type["stage"]["type"] == "enum"
        null_required = await api.client.post(
            RECORDS, json={"values": {"title": None}}, headers=member(api)
        )
        assert locs(null_required) == [["body", "values", "title"]]
        bodies: list[dict[str, Any]] = [{}, {"values": []}, {"values": {"title": "A"}, "x": 1}]
        for body in bodies:
            answer = await api.client.post(RECORDS, json=body, headers=member(api))
            assert answer.status_code == 422, body
    listed = (await api.client.get(RECORDS, headers=root(api))).json()
    assert listed["meta"]["total"] == 0


async def test_a_reference_must_name_an_existing_record(api: Api) -> None:
    await every_type_project(api)
    ok = await create_record(api, {"title": "A", "company": 1})
    assert ok["values"]["company"] == 1
    async with api.unchanged():
        for target in (2, "99", 0, "x", True):
            answer = await api.client.post(
                RECORDS, json={"values": {"title": "B", "company": target}}, headers=member(api)
            )
            assert locs(answer) == [["body", "values", "company"]], target
        patch = await api.client.patch(
            f"{RECORDS}/{ok['id']}", json={"values": {"company": 5}}, headers=member(api)
        )
        assert locs(patch) == [["body", "values", "company"]]


async def test_two_concurrent_creates_of_one_unique_value_give_one_record(api: Api) -> None:
    """Unique values are claimed atomically: of two racing creates, one is 201, one 409."""
    await simple_project(api)
    answers = await asyncio.gather(
        *(
            api.client.post(RECORDS, json={"values": {"title": "Same"}}, headers=member(api, u))
            for u in ("mia", "max")
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    [conflict] = [a for a in answers if a.status_code == 409]
    [winner] = [a for a in answers if a.status_code == 201]
    body = error_of(conflict, 409, "ALREADY_EXISTS")
    assert body["details"] == {"field": "title", "existing_id": int(winner.json()["id"])}
    assert (await api.client.get(RECORDS, headers=root(api))).json()["meta"]["total"] == 1


async def test_unique_values_are_checked_on_update_and_emails_ignore_case(api: Api) -> None:
    await every_type_project(api)
    await create_record(api, {"title": "A", "contact": "ana@example.com"})
    other = await create_record(api, {"title": "B"})
    async with api.unchanged():
        for values in ({"title": "A"}, {"contact": "ANA@example.COM"}):
            answer = await api.client.patch(
                f"{RECORDS}/{other['id']}", json={"values": values}, headers=member(api)
            )
            error_of(answer, 409, "ALREADY_EXISTS")
        clash = await api.client.post(
            RECORDS,
            json={"values": {"title": "C", "contact": "Ana@Example.com"}},
            headers=root(api),
        )
        assert error_of(clash, 409, "ALREADY_EXISTS")["details"]["field"] == "contact"


async def test_a_record_update_is_partial_and_null_clears_an_optional_value(api: Api) -> None:
    await simple_project(api)
    created = await create_record(api, {"title": "A", "budget": 5, "notes": "keep?"})
    url = f"{RECORDS}/{created['id']}"
    before = await api.head()
    answer = await api.client.patch(
        url, json={"values": {"seats": 9, "notes": None}}, headers=member(api, "max")
    )
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert updated["values"] == {**created["values"], "seats": 9, "notes": None}
    assert updated["version"] == 2 and updated["updatedBy"] == "max"
    assert updated["createdBy"] == "mia" and updated["createdAt"] == created["createdAt"]
    assert (await api.client.get(url, headers=root(api))).json() == updated
    [event] = await events_after(api, before)
    assert event["type"] == "record.updated" and event["actor"]["id"] == "max"
    assert event["data"]["changed"] == ["seats", "notes"]
    assert event["data"]["values"] == updated["values"] and event["data"]["version"] == 2
    async with api.unchanged():
        for values in ({"title": None}, {"seats": 1.5}, {"bogus": 1}):
            refused = await api.client.patch(url, json={"values": values}, headers=member(api))
            assert locs(refused) == [["body", "values", next(iter(values))]], values
    assert (await api.client.get(url, headers=root(api))).json() == updated


async def test_a_deleted_record_is_gone(api: Api) -> None:
    await simple_project(api)
    created = await create_record(api, {"title": "A"})
    url = f"{RECORDS}/{created['id']}"
    before = await api.head()
    answer = await api.client.delete(url, headers=member(api, "max"))
    assert answer.status_code == 204 and answer.content == b""
    [event] = await events_after(api, before)
    assert event["type"] == "record.deleted" and event["actor"]["id"] == "max"
    assert event["data"]["id"] == 1 and event["data"]["values"] == created["values"]
    assert event["data"]["object"] == "project"
    error_of(await api.client.get(url, headers=root(api)), 404, "RESOURCE_NOT_FOUND")
    async with api.unchanged():
        error_of(await api.client.delete(url, headers=root(api)), 404, "RESOURCE_NOT_FOUND")
    again = await create_record(api, {"title": "A"})
    assert again["id"] == "2"  # ids are never reused, and the unique value is free


# --- listing records --------------------------------------------------------------------------


async def sorted_ids(api: Api, sort_by: str) -> list[str]:
    answer = await api.client.get(RECORDS, params={"sort_by": sort_by}, headers=root(api))
    assert answer.status_code == 200, answer.text
    return [record["id"] for record in answer.json()["data"]]


async def test_records_list_in_pages_and_sort_by_fields_and_system_keys(api: Api) -> None:
    await simple_project(api)
    rows = [
        ("delta", 100, "2026-01-05", True),
        ("alpha", -5, "2025-12-31", False),
        ("charlie", 2.5, "2026-07-01", True),
        ("bravo", 10, "2024-02-29", False),
        ("echo", 0, "2026-01-04", True),
    ]
    for title, budget, due, active in rows:
        await create_record(api, {"title": title, "budget": budget, "due": due, "active": active})
    await api.client.patch(f"{RECORDS}/2", json={"values": {"seats": 2}}, headers=root(api))
    page = (await api.client.get(RECORDS, params={"limit": 2, "page": 2}, headers=root(api))).json()
    assert [r["id"] for r in page["data"]] == ["3", "4"]
    assert page["meta"] == {"page": 2, "limit": 2, "total": 5, "totalPages": 3}
    clamped = (await api.client.get(RECORDS, params={"limit": 101}, headers=root(api))).json()
    assert clamped["meta"]["limit"] == 100 and len(clamped["data"]) == 5
    assert await sorted_ids(api, "title") == ["2", "4", "3", "1", "5"]
    assert await sorted_ids(api, "budget") == ["2", "5", "3", "4", "1"]
    assert await sorted_ids(api, "due") == ["4", "2", "5", "1", "3"]
    assert await sorted_ids(api, "id") == ["1", "2", "3", "4", "5"]
    assert await sorted_ids(api, "id:asc") == ["1", "2", "3", "4", "5"]
    for key in ("title", "budget", "due", "id", "created_at", "updated_at", "active"):
        ascending = await sorted_ids(api, key)
        assert await sorted_ids(api, f"{key}:desc") == ascending[::-1], key
    by_update = (
        await api.client.get(RECORDS, params={"sort_by": "updated_at"}, headers=root(api))
    ).json()["data"]
    assert [r["updatedAt"] for r in by_update] == sorted(r["updatedAt"] for r in by_update)
    [updated] = [r for r in by_update if r["id"] == "2"]  # the one record updated last
    assert updated["updatedAt"] == by_update[-1]["updatedAt"]
    page_desc = await api.client.get(
        RECORDS, params={"sort_by": "budget:desc", "limit": 2, "page": 2}, headers=root(api)
    )
    assert [r["id"] for r in page_desc.json()["data"]] == ["3", "5"]
    for params, loc in (
        ({"page": 0}, ["query", "page"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"sort_by": "colour"}, ["query", "sort_by"]),
        ({"sort_by": "title:sideways"}, ["query", "sort_by"]),
        ({"sort_by": "notes"}, ["query", "sort_by"]),  # long text is not indexed
    ):
        assert locs(await api.client.get(RECORDS, params=params, headers=root(api))) == [loc]


async def test_records_filter_by_text_and_select_values(api: Api) -> None:
    await simple_project(api)
    for title, stage in (("a", "won"), ("b", "lost"), ("c", "won"), ("d", "lead")):
        await create_record(api, {"title": title, "stage": stage})
    won = (await api.client.get(RECORDS, params={"stage": "won"}, headers=root(api))).json()
    assert [r["values"]["title"] for r in won["data"]] == ["a", "c"]
    assert won["meta"]["total"] == 2
    both = await api.client.get(
        RECORDS, params={"stage": "won", "title": "c", "sort_by": "id:desc"}, headers=root(api)
    )
    assert [r["values"]["title"] for r in both.json()["data"]] == ["c"]
    paged = await api.client.get(
        RECORDS, params={"stage": "won", "sort_by": "title:desc", "limit": 1}, headers=root(api)
    )
    assert [r["values"]["title"] for r in paged.json()["data"]] == ["c"]
    assert paged.json()["meta"]["total"] == 2
    none = await api.client.get(RECORDS, params={"title": "zzz"}, headers=root(api))
    assert none.json()["data"] == [] and none.json()["meta"]["total"] == 0
    for params, loc in (
        ({"colour": "red"}, ["query", "colour"]),
        ({"stage": "nope"}, ["query", "stage"]),
        ({"notes": "x"}, ["query", "notes"]),
    ):
        assert locs(await api.client.get(RECORDS, params=params, headers=root(api))) == [loc]


async def test_records_filter_by_number_integer_and_boolean_from_query_strings(api: Api) -> None:
    """A query string is text: `?budget=10`, `?seats=2` and `?active=true` are read as the
    field's JSON type before they are checked, like the values a client writes."""
    await simple_project(api)
    for title, budget, seats, active in (
        ("a", 10, 1, True),
        ("b", 2.5, 2, False),
        ("c", 10, 2, True),
    ):
        await create_record(
            api, {"title": title, "budget": budget, "seats": seats, "active": active}
        )

    async def titles(params: dict[str, Any]) -> list[str]:
        answer = await api.client.get(RECORDS, params=params, headers=root(api))
        assert answer.status_code == 200, (params, answer.text)
        return [r["values"]["title"] for r in answer.json()["data"]]

    assert await titles({"budget": "10"}) == ["a", "c"]
    assert await titles({"budget": "2.5"}) == ["b"]
    assert await titles({"seats": "2"}) == ["b", "c"]
    assert await titles({"active": "true"}) == ["a", "c"]
    assert await titles({"active": "false", "seats": "2"}) == ["b"]
    for params in ({"budget": "lots"}, {"seats": "1.5"}, {"active": "maybe"}):
        assert locs(await api.client.get(RECORDS, params=params, headers=root(api))) == [
            ["query", next(iter(params))]
        ]


# --- stats and deleting objects ---------------------------------------------------------------


async def test_stats_count_objects_fields_and_records(api: Api) -> None:
    empty = (await api.client.get(f"{OBJECTS}/stats", headers=member(api))).json()
    assert empty == {
        "objects": 0,
        "fields": 0,
        "records": 0,
        "recordsCreatedLast24h": 0,
        "byObject": [],
    }
    company, project = await every_type_project(api)
    for title in ("a", "b", "c"):
        await create_record(api, {"title": title})
    await api.client.delete(f"{RECORDS}/3", headers=root(api))
    stats = (await api.client.get(f"{OBJECTS}/stats", headers=member(api))).json()
    assert stats["objects"] == 2 and stats["fields"] == 14
    assert stats["records"] == 3 and stats["recordsCreatedLast24h"] == 3
    assert stats["byObject"] == [
        {
            "id": company["id"],
            "apiName": "company",
            "label": "Company",
            "fields": 1,
            "records": 1,
            "recordsCreatedLast24h": 1,
        },
        {
            "id": project["id"],
            "apiName": "project",
            "label": "Project",
            "fields": 13,
            "records": 2,
            "recordsCreatedLast24h": 2,
        },
    ]


async def test_an_object_with_records_is_deleted_only_with_force(api: Api) -> None:
    created = await simple_project(api)
    record = await create_record(api, {"title": "A"})
    async with api.unchanged():
        refused = await api.client.delete(PROJECT, headers=root(api))
    assert error_of(refused, 409, "NOT_EMPTY")["details"] == {"records": 1}
    assert (await api.client.get(f"{RECORDS}/{record['id']}", headers=root(api))).status_code == 200
    before = await api.head()
    answer = await api.client.delete(PROJECT, params={"force": "true"}, headers=root(api))
    assert answer.status_code == 204 and answer.content == b""
    [event] = await events_after(api, before)
    assert event["type"] == "object.deleted" and event["data"]["id"] == int(created["id"])
    assert event["data"]["api_name"] == "project" and event["actor"]["id"] == "root"
    for url in (PROJECT, f"{OBJECTS}/{created['id']}", f"{RECORDS}/{record['id']}", RECORDS):
        error_of(await api.client.get(url, headers=root(api)), 404, "RESOURCE_NOT_FOUND")
    stats = (await api.client.get(f"{OBJECTS}/stats", headers=root(api))).json()
    assert stats["objects"] == stats["records"] == stats["recordsCreatedLast24h"] == 0
    recreated = await simple_project(api)
    assert recreated["id"] != created["id"]
    assert (await api.client.get(RECORDS, headers=root(api))).json()["meta"]["total"] == 0
    error_of(
        await api.client.get(f"{RECORDS}/{record['id']}", headers=root(api)),
        404,
        "RESOURCE_NOT_FOUND",
    )
    again = await create_record(api, {"title": "A"})  # the old unique value went with it
    assert again["values"]["title"] == "A"


async def test_an_empty_object_is_deleted_without_force(api: Api) -> None:
    await simple_project(api)
    assert (await api.client.delete(PROJECT, headers=root(api))).status_code == 204
    assert (await api.client.get(OBJECTS, headers=root(api))).json()["data"] == []


# --- tenancy ----------------------------------------------------------------------------------


async def test_another_tenants_objects_and_records_are_404_and_invisible(api: Api) -> None:
    """Another org, and another workspace of the same org, see nothing of acme/ws1."""
    created = await simple_project(api)
    record = await create_record(api, {"title": "A"})
    for org, workspace in (("globex", "ws1"), ("acme", "ws2")):
        admin = api.auth("eve", org=org, workspace=workspace, admin=True)
        async with api.unchanged(), api.unchanged(org, workspace):
            for ref in ("project", created["id"]):
                base = f"{OBJECTS}/{ref}"
                rec = f"{base}/records/{record['id']}"
                for method, url, body in (
                    ("GET", base, None),
                    ("PATCH", base, {"label": "Mine"}),
                    ("DELETE", f"{base}?force=true", None),
                    ("POST", f"{base}/fields", {"apiName": "x", "type": "text"}),
                    ("PATCH", f"{base}/fields/title", {"label": "X"}),
                    ("DELETE", f"{base}/fields/title", None),
                    ("GET", f"{base}/records", None),
                    ("POST", f"{base}/records", {"values": {"title": "B"}}),
                    ("GET", rec, None),
                    ("PATCH", rec, {"values": {"title": "B"}}),
                    ("DELETE", rec, None),
                ):
                    answer = await api.client.request(method, url, json=body, headers=admin)
                    error_of(answer, 404, "RESOURCE_NOT_FOUND")
            listed = (await api.client.get(OBJECTS, headers=admin)).json()
            assert listed["data"] == [] and listed["meta"]["total"] == 0
            stats = (await api.client.get(f"{OBJECTS}/stats", headers=admin)).json()
            assert stats["objects"] == 0 and stats["byObject"] == []
    theirs = await api.client.post(
        OBJECTS,
        json={"apiName": "project", "label": "Theirs"},
        headers=api.auth("eve", org="globex", admin=True),
    )
    assert theirs.status_code == 201  # the name is free in another tenant
    ours = (await api.client.get(PROJECT, headers=root(api))).json()
    assert (
        ours == created
        and len((await api.client.get(OBJECTS, headers=root(api))).json()["data"]) == 1
    )


# --- bad input never breaks the server -----------------------------------------------------------


async def post_raw(api: Api, url: str, raw: bytes) -> httpx.Response:
    headers = {**root(api), "content-type": "application/json"}
    return await api.client.post(url, content=raw, headers=headers)


async def test_a_lone_surrogate_is_a_422_not_a_500(api: Api) -> None:
    """`"\\ud800"` is a valid JSON escape but not Unicode: refused at its location, in an
    answer that can be sent (the echoed input cannot be UTF-8 as it was)."""
    await simple_project(api)
    async with api.unchanged():
        for url, raw, loc in (
            (RECORDS, rb'{"values": {"title": "\ud800"}}', ["body", "values", "title"]),
            (RECORDS, rb'{"values": {"title": "A", "\udfff": 1}}', None),
            (OBJECTS, rb'{"apiName": "p", "label": "\ud800"}', ["body", "label"]),
            (
                OBJECTS,
                rb'{"apiName": "q", "label": "Q", "fields": [{"apiName": "s", '
                rb'"type": "single_select", "options": ["\ud800"]}]}',
                ["body", "fields", 0, "options", 0],
            ),
        ):
            answer = await post_raw(api, url, raw)
            assert answer.status_code == 422, raw
            [entry] = answer.json()["detail"]
            if loc is None:  # an unknown name: named in whatever safe form
                assert entry["loc"][:2] == ["body", "values"] and len(entry["loc"]) == 3
            else:
                assert entry["loc"] == loc, raw


async def test_a_number_beyond_float_range_is_a_422_not_a_500(api: Api) -> None:
    """JSON has no infinity, but `1e400` is valid JSON that parses as one: refused as a
    non-finite number at its location, in an answer that can be sent."""
    await simple_project(api)
    async with api.unchanged():
        for url, raw, loc in (
            (
                RECORDS,
                rb'{"values": {"title": "A", "budget": 1e400}}',
                ["body", "values", "budget"],
            ),
            (
                RECORDS,
                rb'{"values": {"title": "A", "budget": -1e400}}',
                ["body", "values", "budget"],
            ),
            (
                OBJECTS,
                rb'{"apiName": "q", "label": "Q", "fields": [{"apiName": "n", '
                rb'"type": "number", "defaultValue": 1e400}]}',
                ["body", "fields", 0, "defaultValue"],
            ),
        ):
            answer = await post_raw(api, url, raw)
            assert answer.status_code == 422, raw
            assert [e["loc"] for e in answer.json()["detail"]] == [loc], raw


async def test_a_full_lifecycle_is_announced_event_by_event(api: Api) -> None:
    """Every change appends exactly one event of the right type, by the caller."""
    before = await api.head()
    created = await simple_project(api)
    await api.client.patch(PROJECT, json={"label": "Projects"}, headers=root(api))
    await api.client.post(FIELDS, json={"apiName": "owner", "type": "text"}, headers=root(api))
    await api.client.patch(f"{FIELDS}/owner", json={"label": "Owner"}, headers=root(api))
    record = await create_record(api, {"title": "A", "owner": "ana"}, user="mia")
    await api.client.patch(
        f"{RECORDS}/{record['id']}", json={"values": {"owner": "ben"}}, headers=member(api, "mia")
    )
    await api.client.delete(f"{FIELDS}/owner", headers=root(api))
    await api.client.delete(f"{RECORDS}/{record['id']}", headers=member(api, "mia"))
    await api.client.delete(PROJECT, headers=root(api))
    events = await events_after(api, before)
    assert [(e["type"], e["actor"]["id"]) for e in events] == [
        ("object.created", "root"),
        ("object.updated", "root"),
        ("field.created", "root"),
        ("field.updated", "root"),
        ("record.created", "mia"),
        ("record.updated", "mia"),
        ("field.deleted", "root"),
        ("record.deleted", "mia"),
        ("object.deleted", "root"),
    ]
    object_id = int(created["id"])
    for event in events:
        data = event["data"]
        assert event["org_id"] == "acme" and event["workspace_id"] == "ws1"
        assert {"id", "version", "created_at_ms", "updated_at_ms"} <= set(data)
        if event["type"].startswith("record."):
            assert data["object_id"] == object_id and data["object"] == "project"
            assert data["id"] == int(record["id"])
        else:
            assert data["id"] == object_id and data["api_name"] == "project"
    versions = [e["data"]["version"] for e in events if not e["type"].startswith("record.")]
    assert versions == [1, 2, 3, 4, 5, 5]
    assert events[5]["data"]["changed"] == ["owner"]
    assert events[5]["data"]["values"] == {**record["values"], "owner": "ben"}
    assert events[7]["data"]["values"] == {
        k: v for k, v in record["values"].items() if k != "owner"
    }
