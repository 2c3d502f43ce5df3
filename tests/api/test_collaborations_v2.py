"""Seed 001, Base API v2 Collaborations at /v2/collaborations: each route, its success, each
refusal in Base's error envelope (refusals change nothing), paging, filters and sorting,
lock-aware deletes, and the events a change emits."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from .conftest import Api

C = "/v2/collaborations"
EVENTS = "/v1/orgs/acme/workspaces/ws1/sync/events"
KEYS = "/v1/orgs/acme/api-keys"
LOCKS = "/v1/collaboration/locks/collaboration"

#: Numbers given to non-numeric user ids start here (services/collaborations.py).
USER_NUMBER_BASE = 1_000_000_000_000
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
DATA_KEYS = {
    "id",
    "creator_id",
    "resource_type",
    "resource_id",
    "collaborator_id",
    "created_at",
    "updated_at",
}
EVENT_KEYS = {
    "id",
    "version",
    "created_at_ms",
    "updated_at_ms",
    "creator_id",
    "resource_type",
    "resource_id",
    "collaborator_id",
}
#: Base's `meta.http_status`, spelled as Base spells it (not as the running Python does).
HTTP_STATUS = {
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    409: "409 Conflict",
    422: "422 Unprocessable Entity",
    423: "423 Locked",
}
Params = dict[str, str | int]
SORTABLE = (
    "id",
    "creator_id",
    "resource_type",
    "resource_id",
    "collaborator_id",
    "created_at",
    "updated_at",
)


# --- helpers ------------------------------------------------------------------------------------


def body(
    resource_type: object = "lead", resource_id: object = 1, collaborator_id: object = 2
) -> dict[str, Any]:
    """The seed's create body."""
    return {
        "data": {
            "resource_type": resource_type,
            "resource_id": resource_id,
            "collaborator_id": collaborator_id,
        },
        "meta": {"type": "collaboration"},
    }


async def create(
    api: Api,
    user: str = "ana",
    resource_type: str = "lead",
    resource_id: int = 1,
    collaborator_id: int = 2,
) -> dict[str, Any]:
    """Create one collaboration as `user`; its `data`."""
    answer = await api.client.post(
        C, json=body(resource_type, resource_id, collaborator_id), headers=api.auth(user)
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


async def listed(api: Api, user: str = "ana", **params: str | int) -> list[int]:
    """The ids a list request answers, in order."""
    answer = await api.client.get(C, params=params, headers=api.auth(user))
    assert answer.status_code == 200, answer.text
    return [item["data"]["id"] for item in answer.json()["items"]]


async def events_after(api: Api, cursor: str | None) -> list[dict[str, Any]]:
    """The collaboration events of acme/ws1 after `cursor` (from `api.head()`)."""
    params: dict[str, Any] = {"limit": 1000} | ({"after": cursor} if cursor else {})
    answer = await api.client.get(EVENTS, params=params, headers=api.auth("auditor", admin=True))
    assert answer.status_code == 200, answer.text
    return [e for e in answer.json()["events"] if e["type"].startswith("collaboration.")]


def iso_seconds(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_collaboration(data: Mapping[str, Any]) -> None:
    """A collaboration's `data` has exactly the seed's fields, with the seed's JSON types."""
    assert set(data) == DATA_KEYS, data
    for name in ("id", "creator_id", "resource_id", "collaborator_id"):
        assert type(data[name]) is int and data[name] >= 1, (name, data)
    assert data["resource_type"] in ("lead", "contact", "sales_account", "deal")
    assert TIMESTAMP.fullmatch(data["created_at"]), data
    assert TIMESTAMP.fullmatch(data["updated_at"]), data


def base_errors(
    answer: httpx.Response, status: int, request_id: str | None = None
) -> list[dict[str, Any]]:
    """The `error` objects of a Base v2 error answer, once its envelope is checked exactly:
    `{"errors": [{"error": {...}, "meta": {"type": "error"}}], "meta": {"type": "errors",
    "http_status", "logref"}}`, with `logref` echoed in `X-Request-Id`."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    found = answer.json()
    assert set(found) == {"errors", "meta"}, found
    assert found["meta"] == {
        "type": "errors",
        "http_status": HTTP_STATUS[status],
        "logref": answer.headers["x-request-id"],
    }
    if request_id is not None:
        assert found["meta"]["logref"] == request_id
    assert found["meta"]["logref"], found
    assert found["errors"], found
    errors = []
    for entry in found["errors"]:
        assert set(entry) == {"error", "meta"} and entry["meta"] == {"type": "error"}, entry
        error = entry["error"]
        assert set(error) == {"code", "message", "details", "resource", "field"}, error
        assert isinstance(error["code"], str) and error["code"], error
        assert isinstance(error["message"], str) and error["message"], error
        assert isinstance(error["details"], str) and error["details"], error
        assert error["resource"] == "collaboration", error
        assert error["field"] is None or isinstance(error["field"], str), error
        errors.append(error)
    return errors


def codes(answer: httpx.Response, status: int = 422) -> set[tuple[str, str | None]]:
    """(code, field) of every error of a Base v2 error answer."""
    return {(e["code"], e["field"]) for e in base_errors(answer, status)}


async def acquire(api: Api, collaboration_id: int, user: str, name: str) -> int:
    """Take the seed-000 lock on (collaboration, id) as `user`; its fencing token."""
    answer = await api.client.post(f"{LOCKS}/{collaboration_id}", headers=api.auth(user, name=name))
    assert answer.status_code == 200, answer.text
    token: int = answer.json()["fencingToken"]
    return token


async def request(api: Api, method: str, path: str, headers: Mapping[str, str]) -> httpx.Response:
    if method == "POST":
        return await api.client.post(path, json=body(), headers=dict(headers))
    return await api.client.request(method, path, headers=dict(headers))


def routes(collaboration_id: int) -> Sequence[tuple[str, str]]:
    one = f"{C}/{collaboration_id}"
    return [("GET", C), ("POST", C), ("GET", one), ("DELETE", one)]


# --- create -------------------------------------------------------------------------------------


async def test_create_answers_the_collaboration_and_emits_collaboration_created(api: Api) -> None:
    """The seed's body creates a collaboration by the caller, answered in Base's resource
    envelope, and `collaboration.created` carries the record and the caller as actor."""
    before = await api.head()
    answer = await api.client.post(C, json=body(), headers=api.auth("1", name="One"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    found = answer.json()
    assert set(found) == {"data", "meta"} and found["meta"] == {"type": "collaboration"}
    data = found["data"]
    assert_collaboration(data)
    assert data["id"] == 1 and data["creator_id"] == 1
    assert (data["resource_type"], data["resource_id"], data["collaborator_id"]) == ("lead", 1, 2)
    assert data["created_at"] == data["updated_at"]

    [event] = await events_after(api, before)
    assert event["type"] == "collaboration.created"
    assert event["actor"] == {"type": "user", "id": "1", "name": "One"}
    assert set(event["data"]) == EVENT_KEYS
    ms = event["data"]["created_at_ms"]
    assert event["data"] == {
        "id": 1,
        "version": 1,
        "created_at_ms": ms,
        "updated_at_ms": ms,
        "creator_id": 1,
        "resource_type": "lead",
        "resource_id": 1,
        "collaborator_id": 2,
    }
    assert iso_seconds(ms) == data["created_at"]


async def test_a_duplicate_create_answers_the_existing_collaboration_and_emits_nothing(
    api: Api,
) -> None:
    """The same (resource, collaborator) again, by anyone and in any accepted spelling, is
    answered 200 with the existing collaboration, unchanged, and appends no event."""
    first = await create(api, "ana", "deal", 7, 3)
    async with api.unchanged():
        for user, payload in (
            ("ana", body("deal", 7, 3)),
            ("ben", body("deals", "7", "3")),
            ("42", {"data": {"resource_type": "deal", "resource_id": 7, "collaborator_id": 3}}),
        ):
            again = await api.client.post(C, json=payload, headers=api.auth(user))
            assert again.status_code == 200, again.text
            assert again.json() == {"data": first, "meta": {"type": "collaboration"}}
    assert await listed(api) == [first["id"]]


async def test_numeric_strings_and_plural_resource_types_are_accepted(api: Api) -> None:
    """`"7"` is 7 and `deals` is `deal`, as the seed's own examples write them."""
    plurals = ("leads", "contacts", "sales_accounts", "deals")
    for number, plural in enumerate(plurals, start=1):
        singular = plural.removesuffix("s")
        answer = await api.client.post(
            C, json=body(plural, str(number), "0" + str(number + 10)), headers=api.auth()
        )
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert (data["resource_type"], data["resource_id"], data["collaborator_id"]) == (
            singular,
            number,
            number + 10,
        )


async def test_a_body_without_meta_is_accepted(api: Api) -> None:
    """`meta` may be left out of a create body."""
    answer = await api.client.post(C, json={"data": body()["data"]}, headers=api.auth())
    assert answer.status_code == 200, answer.text
    assert_collaboration(answer.json()["data"])


async def test_read_only_fields_in_the_body_are_ignored(api: Api) -> None:
    """id, creator_id, created_at and updated_at sent in `data` change nothing."""
    payload = body()
    payload["data"] |= {
        "id": 99,
        "creator_id": 5,
        "created_at": "2014-08-27T16:32:56Z",
        "updated_at": "2014-08-27T17:32:56Z",
    }
    answer = await api.client.post(C, json=payload, headers=api.auth("7"))
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["id"] == 1 and data["creator_id"] == 7
    assert data["created_at"] != "2014-08-27T16:32:56Z"
    assert (await api.client.get(f"{C}/99", headers=api.auth())).status_code == 404


async def test_creator_id_is_a_numeric_sub_or_a_stable_number_from_1e12(api: Api) -> None:
    """A decimal user id is the creator's number; any other user id gets a number of its own
    from 1_000_000_000_000 up, the same on every later create, different for each user."""
    assert (await create(api, "42", resource_id=1))["creator_id"] == 42
    ana = (await create(api, "ana", resource_id=2))["creator_id"]
    ben = (await create(api, "ben", resource_id=3))["creator_id"]
    assert ana >= USER_NUMBER_BASE and ben >= USER_NUMBER_BASE and ana != ben
    assert (await create(api, "ana", resource_id=4))["creator_id"] == ana
    assert (await create(api, "ben", resource_id=5))["creator_id"] == ben
    assert await listed(api, creator_id=ana) == [2, 4]
    assert await listed(api, creator_id=42) == [1]


async def test_distinct_users_never_share_a_creator_id(api: Api) -> None:
    """Two user ids are two creators: "007" is not user "7" (only the canonical decimal
    spelling of a number may be that number)."""
    seven = (await create(api, "7", resource_id=1))["creator_id"]
    padded = (await create(api, "007", resource_id=2))["creator_id"]
    assert seven == 7
    assert padded != seven
    assert await listed(api, creator_id=7) == [1]


async def test_an_api_key_works_as_bearer(api: Api) -> None:
    """A Huddle 64-hex API key sent as `Authorization: Bearer` acts as its user."""
    made = await api.client.post(
        KEYS,
        json={"workspace_id": "ws1", "user_id": "crm-bot"},
        headers=api.auth("root", admin=True),
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    bearer = {"Authorization": f"Bearer {key}"}

    before = await api.head()
    created = await api.client.post(C, json=body(), headers=bearer)
    assert created.status_code == 200, created.text
    data = created.json()["data"]
    assert data["creator_id"] >= USER_NUMBER_BASE
    [event] = await events_after(api, before)
    assert event["actor"]["type"] == "user" and event["actor"]["id"] == "crm-bot"

    one = await api.client.get(f"{C}/{data['id']}", headers=bearer)
    assert one.status_code == 200 and one.json()["data"] == data
    every = await api.client.get(C, headers=bearer)
    assert [item["data"] for item in every.json()["items"]] == [data]
    gone = await api.client.delete(f"{C}/{data['id']}", headers=bearer)
    assert gone.status_code == 204, gone.text


# --- read ---------------------------------------------------------------------------------------


async def test_get_answers_one_collaboration(api: Api) -> None:
    made = await create(api)
    answer = await api.client.get(f"{C}/{made['id']}", headers=api.auth("ben"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"data": made, "meta": {"type": "collaboration"}}


async def test_list_answers_the_collection_envelope(api: Api) -> None:
    """`items` of resource envelopes, and meta `{type: collection, count, links}` where
    `self` is the request's own URL."""
    made = [await create(api, resource_id=n) for n in (1, 2)]
    answer = await api.client.get(C, headers=api.auth())
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    found = answer.json()
    assert found == {
        "items": [{"data": data, "meta": {"type": "collaboration"}} for data in made],
        "meta": {
            "type": "collection",
            "count": 2,
            "links": {
                "self": "http://huddle.test/v2/collaborations",
                "first_page": "http://huddle.test/v2/collaborations?page=1",
                "prev_page": None,
                "next_page": None,
            },
        },
    }
    empty = await api.client.get(C, params={"resource_type": "contact"}, headers=api.auth())
    assert empty.json()["items"] == [] and empty.json()["meta"]["count"] == 0


async def test_includes_is_accepted_and_ignored(api: Api) -> None:
    """`includes` is "not supported at the moment": it changes nothing."""
    made = await create(api)
    assert await listed(api, includes="creator,resource") == [made["id"]]


# --- paging -------------------------------------------------------------------------------------


async def test_pages_default_to_25_are_clamped_to_100_and_walk_by_links(api: Api) -> None:
    """per_page defaults to 25; more than 100 is served 100; following `next_page` from the
    first page visits every record once, in order, and `prev_page` leads back."""
    for n in range(1, 102):
        await create(api, "1", "lead" if n % 2 else "deal", n, 1)

    default = (await api.client.get(C, headers=api.auth())).json()
    assert [i["data"]["id"] for i in default["items"]] == list(range(1, 26))
    assert default["meta"]["count"] == 25
    assert default["meta"]["links"]["next_page"] == "http://huddle.test/v2/collaborations?page=2"
    assert default["meta"]["links"]["prev_page"] is None

    clamped = (await api.client.get(C, params={"per_page": 500}, headers=api.auth())).json()
    assert [i["data"]["id"] for i in clamped["items"]] == list(range(1, 101))
    assert clamped["meta"]["count"] == 100
    rest = await api.client.get(clamped["meta"]["links"]["next_page"], headers=api.auth())
    assert [i["data"]["id"] for i in rest.json()["items"]] == [101]
    assert rest.json()["meta"]["count"] == 1
    assert rest.json()["meta"]["links"]["next_page"] is None

    walks: list[tuple[Params, list[int], list[int]]] = [
        ({"per_page": 30}, list(range(1, 102)), [30, 30, 30, 11]),
        ({"per_page": 20, "resource_type": "leads"}, list(range(1, 102, 2)), [20, 20, 11]),
        ({"per_page": 40, "sort_by": "resource_id:desc"}, list(range(101, 0, -1)), [40, 40, 21]),
    ]
    for params, expected, sizes in walks:
        seen: list[int] = []
        counts: list[int] = []
        pages: list[dict[str, Any]] = []
        url: str | None = str(httpx.URL("http://huddle.test" + C, params=params))
        while url is not None:
            page = (await api.client.get(url, headers=api.auth())).json()
            assert page["meta"]["links"]["self"] == url
            seen += [item["data"]["id"] for item in page["items"]]
            counts.append(page["meta"]["count"])
            pages.append(page)
            url = page["meta"]["links"]["next_page"]
        assert seen == expected, params
        assert counts == sizes, params
        assert pages[0]["meta"]["links"]["prev_page"] is None
        back = await api.client.get(pages[-1]["meta"]["links"]["prev_page"], headers=api.auth())
        assert back.json() == pages[-2]


async def test_a_page_past_the_end_is_empty(api: Api) -> None:
    """Any page from 1 up is valid: past the last record it is empty (200), however large
    the number, on every backend."""
    await create(api)
    for page in (2, 10**6, 10**16, 10**20):
        pages: list[Params] = [{"page": page}, {"page": page, "resource_type": "lead"}]
        for params in pages:
            answer = await api.client.get(C, params=params, headers=api.auth())
            assert answer.status_code == 200, (params, answer.text)
            assert answer.json()["items"] == [] and answer.json()["meta"]["count"] == 0
            assert answer.json()["meta"]["links"]["next_page"] is None


# --- filters and sorting ------------------------------------------------------------------------

#: (user, resource_type, resource_id, collaborator_id): ties in every field.
ROWS = (
    ("2", "lead", 5, 3),
    ("1", "deal", 5, 1),
    ("ana", "contact", 2, 3),
    ("1", "lead", 2, 2),
    ("2", "sales_account", 9, 1),
    ("ana", "deal", 2, 4),
    ("1", "lead", 9, 3),
)


async def seed_rows(api: Api) -> list[dict[str, Any]]:
    """ROWS created in order (ids 1..7), each with its exact creation time from its event."""
    before = await api.head()
    made = [await create(api, *row) for row in ROWS]
    events = await events_after(api, before)
    assert [e["data"]["id"] for e in events] == [m["id"] for m in made] == list(range(1, 8))
    return [
        m | {"created_at": e["data"]["created_at_ms"], "updated_at": e["data"]["updated_at_ms"]}
        for m, e in zip(made, events, strict=True)
    ]


async def test_every_filter_narrows_the_list(api: Api) -> None:
    """ids, creator_id, resource_id and resource_type (singular or plural) select exactly the
    matching collaborations; together they all apply."""
    rows = await seed_rows(api)
    ana = rows[2]["creator_id"]
    assert ana >= USER_NUMBER_BASE
    cases: list[tuple[Params, list[int]]] = [
        ({"ids": "3,1,6"}, [1, 3, 6]),
        ({"ids": " 2 , 4 ,"}, [2, 4]),
        ({"ids": "5,5,5"}, [5]),
        ({"ids": "4,404,9999"}, [4]),
        ({"ids": "404"}, []),
        ({"creator_id": 1}, [2, 4, 7]),
        ({"creator_id": ana}, [3, 6]),
        ({"creator_id": 3}, []),
        ({"resource_id": 2}, [3, 4, 6]),
        ({"resource_id": 1}, []),
        ({"resource_type": "lead"}, [1, 4, 7]),
        ({"resource_type": "leads"}, [1, 4, 7]),
        ({"resource_type": "deals"}, [2, 6]),
        ({"resource_type": "sales_account"}, [5]),
        ({"resource_type": "contacts"}, [3]),
        ({"resource_type": "lead", "creator_id": 1}, [4, 7]),
        ({"resource_type": "lead", "creator_id": 1, "resource_id": 9}, [7]),
        ({"ids": "1,2,3,4", "resource_id": 5}, [1, 2]),
        ({"ids": "1,7", "creator_id": 2, "resource_type": "lead"}, [1]),
    ]
    for params, expected in cases:
        answer = await api.client.get(C, params=params, headers=api.auth())
        assert answer.status_code == 200, (params, answer.text)
        found = answer.json()
        assert [item["data"]["id"] for item in found["items"]] == expected, params
        assert found["meta"]["count"] == len(expected), params


async def test_every_sortable_field_sorts_both_ways_ties_by_id(api: Api) -> None:
    """`sort_by=f` orders by f then id; `f:asc` is the same; `f:desc` is its exact reverse.
    A filtered list keeps that order."""
    rows = await seed_rows(api)
    every = ",".join(str(r["id"]) for r in rows)
    for field in SORTABLE:
        ascending = [r["id"] for r in sorted(rows, key=lambda r: (r[field], r["id"]))]
        leads = [i for i in ascending if rows[i - 1]["resource_type"] == "lead"]
        for params, expected in (
            ({"sort_by": field}, ascending),
            ({"sort_by": f"{field}:asc"}, ascending),
            ({"sort_by": f"{field}:desc"}, ascending[::-1]),
            ({"sort_by": f"{field}:desc", "ids": every}, ascending[::-1]),
            ({"sort_by": field, "resource_type": "lead"}, leads),
            ({"sort_by": f"{field}:desc", "resource_type": "lead"}, leads[::-1]),
            ({"sort_by": f"{field}:desc", "per_page": 3, "page": 2}, ascending[::-1][3:6]),
        ):
            assert await listed(api, **params) == expected, params


# --- delete -------------------------------------------------------------------------------------


async def test_delete_answers_204_and_emits_collaboration_deleted(api: Api) -> None:
    """A delete answers 204 with no body; the event carries the record as it was and the
    deleting user; the same assignment may then be made again (a new collaboration)."""
    made = await create(api, "ana", "contact", 3, 4)
    before = await api.head()
    answer = await api.client.delete(f"{C}/{made['id']}", headers=api.auth("ben", name="Ben"))
    assert answer.status_code == 204, answer.text
    assert answer.content == b""
    assert (await api.client.get(f"{C}/{made['id']}", headers=api.auth())).status_code == 404
    assert await listed(api) == []

    [event] = await events_after(api, before)
    assert event["type"] == "collaboration.deleted"
    assert event["actor"] == {"type": "user", "id": "ben", "name": "Ben"}
    ms = event["data"]["created_at_ms"]
    assert event["data"] == {
        "id": made["id"],
        "version": 1,
        "created_at_ms": ms,
        "updated_at_ms": ms,
        "creator_id": made["creator_id"],
        "resource_type": "contact",
        "resource_id": 3,
        "collaborator_id": 4,
    }

    again = await create(api, "ana", "contact", 3, 4)
    assert again["id"] != made["id"]
    assert [e["type"] for e in await events_after(api, before)] == [
        "collaboration.deleted",
        "collaboration.created",
    ]


async def test_delete_is_refused_with_423_while_another_user_holds_the_lock(api: Api) -> None:
    """Ben's lock on (collaboration, id) refuses Ana's delete with 423 naming Ben, even with
    Ben's token; nothing changes; Ben deletes with his token."""
    made = await create(api)
    path = f"{C}/{made['id']}"
    token = await acquire(api, made["id"], "ben", "Ben")
    async with api.unchanged():
        for headers in (api.auth("ana"), {**api.auth("ana"), "If-Match": f"lock:{token}"}):
            [error] = base_errors(await api.client.delete(path, headers=headers), 423)
            assert error["code"] == "locked"
            assert "Ben" in error["message"]
            assert "ben" in error["details"]
            assert error["field"] is None
    assert (await api.client.get(path, headers=api.auth())).status_code == 200

    before = await api.head()
    answer = await api.client.delete(path, headers={**api.auth("ben"), "If-Match": f"lock:{token}"})
    assert answer.status_code == 204, answer.text
    [event] = await events_after(api, before)
    assert event["type"] == "collaboration.deleted" and event["actor"]["id"] == "ben"


async def test_a_stale_fencing_token_is_refused_with_409(api: Api) -> None:
    """A token other than the current lease's (one from an ended lease, or a wrong one) is
    409 stale_lock_token, by If-Match or lock_token; nothing changes."""
    made = await create(api)
    path = f"{C}/{made['id']}"
    ben = api.auth("ben")
    old = await acquire(api, made["id"], "ben", "Ben")
    released = await api.client.delete(f"{LOCKS}/{made['id']}", headers=ben)
    assert released.status_code == 200, released.text
    async with api.unchanged():
        for answer in (
            await api.client.delete(path, headers={**ben, "If-Match": f"lock:{old}"}),
            await api.client.delete(path, params={"lock_token": old}, headers=ben),
        ):
            [error] = base_errors(answer, 409)
            assert error["code"] == "stale_lock_token"
            assert str(old) in error["message"]

    current = await acquire(api, made["id"], "ben", "Ben")
    assert current > old
    async with api.unchanged():
        for answer in (
            await api.client.delete(path, headers={**ben, "If-Match": f'"lock:{old}"'}),
            await api.client.delete(path, params={"lock_token": current + 1}, headers=ben),
        ):
            [error] = base_errors(answer, 409)
            assert error["code"] == "stale_lock_token"
            assert "Ben" in error["message"]
    answer = await api.client.delete(path, params={"lock_token": current}, headers=ben)
    assert answer.status_code == 204, answer.text


async def test_the_lock_holder_may_delete_without_presenting_the_token(api: Api) -> None:
    """The token is a fence for the holder's own safety; the lease alone lets Ben delete."""
    made = await create(api)
    await acquire(api, made["id"], "ben", "Ben")
    answer = await api.client.delete(f"{C}/{made['id']}", headers=api.auth("ben"))
    assert answer.status_code == 204, answer.text


# --- refusals: auth, tenancy, missing ids -------------------------------------------------------


async def test_every_route_is_401_without_valid_credentials(api: Api) -> None:
    """No credential, an expired token, a forged one or an unknown API key: 401
    `unauthorized` in Base's envelope with `WWW-Authenticate: Bearer`; nothing changes."""
    made = await create(api)
    token = api.token("ana")
    async with api.unchanged():
        for headers in (
            {},
            api.auth("ana", ttl=-120),
            {"Authorization": f"Bearer {token}x"},
            {"Authorization": f"Bearer {'0' * 64}"},
            {"Authorization": "Bearer"},
        ):
            for method, path in routes(made["id"]):
                answer = await request(api, method, path, headers)
                [error] = base_errors(answer, 401)
                assert error["code"] == "unauthorized", (method, path, headers)
                assert answer.headers["www-authenticate"] == "Bearer"
    assert await listed(api) == [made["id"]]


async def test_every_route_is_403_for_a_workspace_the_caller_is_not_in(api: Api) -> None:
    """X-Workspace-Id naming another workspace of the caller's org: 403 `forbidden`."""
    made = await create(api)
    headers = {**api.auth("ana"), "X-Workspace-Id": "ws2"}
    async with api.unchanged(), api.unchanged(workspace="ws2"):
        for method, path in routes(made["id"]):
            [error] = base_errors(await request(api, method, path, headers), 403)
            assert error["code"] == "forbidden", (method, path)
    assert await listed(api) == [made["id"]]


async def test_a_missing_id_is_404(api: Api) -> None:
    made = await create(api)
    async with api.unchanged():
        for method in ("GET", "DELETE"):
            answer = await api.client.request(method, f"{C}/{made['id'] + 1}", headers=api.auth())
            [error] = base_errors(answer, 404)
            assert error["code"] == "not_found" and error["field"] is None


async def test_another_orgs_collaboration_is_404_and_never_listed(api: Api) -> None:
    """A collaboration of org acme does not exist for org evil, even in a workspace of the
    same name: get and delete are 404, its list is empty, and acme's record stays."""
    made = await create(api)
    eve = api.auth("eve", org="evil", admin=True)
    async with api.unchanged(), api.unchanged(org="evil"):
        for method in ("GET", "DELETE"):
            answer = await api.client.request(method, f"{C}/{made['id']}", headers=eve)
            [error] = base_errors(answer, 404)
            assert error["code"] == "not_found"
        listed_by_eve = await api.client.get(C, params={"ids": str(made["id"])}, headers=eve)
        assert listed_by_eve.json()["items"] == []
        assert (await api.client.get(C, headers=eve)).json()["meta"]["count"] == 0
    assert await listed(api) == [made["id"]]


# --- refusals: 422 ------------------------------------------------------------------------------


#: Create bodies' `data` and the (code, field) of every error Base reports for it.
INVALID_DATA: list[tuple[dict[str, Any], set[tuple[str, str | None]]]] = [
    (
        {},
        {("blank", "resource_type"), ("blank", "resource_id"), ("blank", "collaborator_id")},
    ),
    (
        {"resource_type": None, "resource_id": None, "collaborator_id": None},
        {("blank", "resource_type"), ("blank", "resource_id"), ("blank", "collaborator_id")},
    ),
    (
        {"resource_type": "x", "resource_id": "a", "collaborator_id": 0, "foo": 1},
        {
            ("inclusion", "resource_type"),
            ("invalid", "resource_id"),
            ("invalid", "collaborator_id"),
            ("unknown", "foo"),
        },
    ),
    (
        {"resource_type": "Lead", "resource_id": True, "collaborator_id": 1.5},
        {
            ("inclusion", "resource_type"),
            ("invalid", "resource_id"),
            ("invalid", "collaborator_id"),
        },
    ),
    (
        {"resource_type": 3, "resource_id": -1, "collaborator_id": 2**53},
        {
            ("inclusion", "resource_type"),
            ("invalid", "resource_id"),
            ("invalid", "collaborator_id"),
        },
    ),
    (
        {"resource_type": "lead", "resource_id": "1e3", "collaborator_id": [2]},
        {("invalid", "resource_id"), ("invalid", "collaborator_id")},
    ),
    (
        {"resource_type": "lead", "resource_id": 1, "collaborator_id": 2, "owner_id": 3},
        {("unknown", "owner_id")},
    ),
]


async def test_an_invalid_body_is_422_with_every_problem_by_field(api: Api) -> None:
    """Every refused value of `data` is reported at once, one error per field, with Base's
    codes: blank (missing), inclusion (not one of the types), unknown (extra), invalid."""
    async with api.unchanged():
        for data, expected in INVALID_DATA:
            answer = await api.client.post(
                C, json={"data": data, "meta": {"type": "collaboration"}}, headers=api.auth()
            )
            assert codes(answer) == expected, data
    assert await listed(api) == []


async def test_a_wrong_meta_type_is_422_inclusion(api: Api) -> None:
    """`meta.type` other than `collaboration` is refused as a value outside the allowed one."""
    async with api.unchanged():
        for meta in ({"type": "lead"}, {"type": ""}):
            payload = {**body(), "meta": meta}
            [error] = base_errors(await api.client.post(C, json=payload, headers=api.auth()), 422)
            assert error["code"] == "inclusion"
            assert error["field"] == "type"
            assert "meta.type" in error["details"]
        missing_type = await api.client.post(C, json={**body(), "meta": {}}, headers=api.auth())
        assert codes(missing_type) == {("blank", "type")}


async def test_a_body_that_is_not_a_collaboration_is_422(api: Api) -> None:
    """Not JSON, not an object, no `data`, or `data` not an object: 422 in Base's envelope."""
    json_headers = {**api.auth(), "Content-Type": "application/json"}
    async with api.unchanged():
        not_json = await api.client.post(C, content=b"{data: nope", headers=json_headers)
        assert base_errors(not_json, 422)
        not_object = await api.client.post(C, json=[body()], headers=api.auth())
        assert base_errors(not_object, 422)
        no_data = await api.client.post(
            C, json={"meta": {"type": "collaboration"}}, headers=api.auth()
        )
        assert codes(no_data) == {("blank", "data")}
        not_objects: list[object] = [[], "lead", 1, None]
        for data in not_objects:
            answer = await api.client.post(C, json={"data": data}, headers=api.auth())
            assert codes(answer) == {("invalid", "data")}, data
    assert await listed(api) == []


#: List parameters and the (code, field) of every error Base reports for them.
INVALID_PARAMS: list[tuple[Params, set[tuple[str, str | None]]]] = [
    ({"page": 0}, {("invalid", "page")}),
    ({"page": -1}, {("invalid", "page")}),
    ({"page": "two"}, {("invalid", "page")}),
    ({"per_page": 0}, {("invalid", "per_page")}),
    ({"per_page": "many"}, {("invalid", "per_page")}),
    ({"sort_by": "owner"}, {("invalid", "sort_by")}),
    ({"sort_by": "id:up"}, {("invalid", "sort_by")}),
    ({"sort_by": ":desc"}, {("invalid", "sort_by")}),
    ({"ids": "1,x"}, {("invalid", "ids")}),
    ({"ids": "0"}, {("invalid", "ids")}),
    ({"ids": "-3"}, {("invalid", "ids")}),
    ({"ids": ",".join(str(n) for n in range(1, 102))}, {("invalid", "ids")}),
    ({"creator_id": "ana"}, {("invalid", "creator_id")}),
    ({"creator_id": 0}, {("invalid", "creator_id")}),
    ({"resource_id": "x"}, {("invalid", "resource_id")}),
    ({"resource_type": "opportunity"}, {("inclusion", "resource_type")}),
    ({"page": 0, "per_page": 0}, {("invalid", "page"), ("invalid", "per_page")}),
]


async def test_invalid_list_parameters_are_422_naming_the_parameter(api: Api) -> None:
    await create(api)
    for params, expected in INVALID_PARAMS:
        answer = await api.client.get(C, params=params, headers=api.auth())
        assert codes(answer) == expected, params


async def test_invalid_ids_and_fencing_tokens_in_a_request_are_422(api: Api) -> None:
    """A path id that is not a positive integer, a malformed If-Match, or an If-Match and a
    lock_token that disagree: 422 naming it; nothing changes."""
    made = await create(api)
    path = f"{C}/{made['id']}"
    async with api.unchanged():
        for method in ("GET", "DELETE"):
            for bad in ("abc", "0", "-1", "1.5", str(2**53)):
                answer = await api.client.request(method, f"{C}/{bad}", headers=api.auth())
                assert codes(answer) == {("invalid", "id")}, (method, bad)
        for headers, params in (
            ({"If-Match": "nope"}, {}),
            ({"If-Match": "lock:1"}, {"lock_token": 2}),
        ):
            answer = await api.client.delete(path, params=params, headers={**api.auth(), **headers})
            assert codes(answer) == {("invalid", "If-Match")}
        answer = await api.client.delete(path, params={"lock_token": 0}, headers=api.auth())
        assert codes(answer) == {("invalid", "lock_token")}
    assert await listed(api) == [made["id"]]


async def test_logref_is_the_callers_request_id_echoed(api: Api) -> None:
    """An error's `meta.logref` is the caller's X-Request-Id, echoed in the response's
    header; without one (or with one unsafe to echo) it is a fresh id, also echoed."""
    sent = {**api.auth(), "X-Request-Id": "req-42.a_B"}
    for answer, status in (
        (await api.client.get(C, params={"page": 0}, headers=sent), 422),
        (await api.client.get(f"{C}/404", headers=sent), 404),
        (await api.client.get(C, headers={"X-Request-Id": "req-42.a_B"}), 401),
    ):
        base_errors(answer, status, request_id="req-42.a_B")
        assert answer.headers["x-request-id"] == "req-42.a_B"
    fresh = [
        (await api.client.get(f"{C}/404", headers=headers)).headers["x-request-id"]
        for headers in (api.auth(), {**api.auth(), "X-Request-Id": "bad id!"}, api.auth())
    ]
    assert "bad id!" not in fresh and all(fresh) and len(set(fresh)) == 3
