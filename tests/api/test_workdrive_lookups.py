"""Seed 004 (WorkDrive) lookups and SSOs: module codes, categories, enforcement templates and
SSOs, replayed from the seed's own examples against an in-process node (memory:// and Redis).

The seed's request examples are sent as they are, except where they are not valid: the
enforcement templates' `'ASC'` (single quotes: not JSON) is sent as `ASC`, and ids of records
(`1243134a-...`) are replaced by ids of records the test made. Each response is compared with
the seed's response example by field names and JSON types (`assert_shape`). Every test makes
its organizations with the operator's `POST /api/organization`, which makes their default
categories and enforcement templates; departments and locations are made through their routes.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from huddle.modules.workdrive import lookups
from tests.support.workdrive import (
    LIST_NULLABLE,
    META,
    SUMMARY,
    Org,
    add_member,
    assert_shape,
    create_org,
    created,
    error,
    fields_of,
    ok,
)

from .conftest import Api

CATEGORIES: Final = "/api/categories"
TEMPLATES: Final = "/api/enforcement-templates"
SSO: Final = "/api/sso"

SEED_MODULE_CODES: Final = [{"name": "POST", "moduleCode": 1}]
SEED_CATEGORIES_QUERY: Final = {"cur_page": 1, "per_page": 5, "moduleCode": 1}
SEED_CATEGORIES: Final[dict[str, Any]] = {
    "categories": [
        {
            "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "moduleCode": 0,
            "category": "string",
            "color": "string",
            "orgId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        }
    ],
    "meta": META,
}
# The seed sends `"sort_direction":'ASC'`: single quotes are not JSON, repaired to "ASC".
SEED_TEMPLATES_QUERY: Final[dict[str, Any]] = {
    "cur_page": 1,
    "per_page": 5,
    "sort_direction": "ASC",
}
SEED_TEMPLATES: Final[dict[str, Any]] = {
    "notificationTemplates": [
        {
            "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "title": "string",
            "systemEvent": "string",
            "type": "string",
            "subType": "string",
            "reminders": [
                {
                    "reminderType": "email | push | text | restrict",
                    "reminderTimeUnit": "week | days | hours | minutes",
                    "reminderTime": 0,
                    "refId": "1",
                    "orgContentTemplateId": "string",
                }
            ],
        }
    ],
    "meta": META,
}
SEED_SSO_BODY: Final = {
    "type": "QUICK_LINK",
    "name": "Salesforce",
    "authorizationURI": "{{redirect_uri}}/?code=<authorization_token",
    "tokenURI": "https://api.example.io/oauth/token",
    "refreshURI": "https://api.example.io/oauth/token/refresh",
    "loginURL": "https://api.example.io/oauth/login?token={{access_token}}",
    "order": 1,
    "fileId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "departmentId": "1243134a-56b2-11ed-9b6a-0242ac120002",
    "locationId": "1243134a-56b2-11ed-9b6a-0242ac120002",
    "link": "https://api.example.io",
}
# The seed's `file` is a whole media object; Huddle stores no media, only the id a media
# service gave (`{"id"}`), so the example's `file` is compared by its `id` alone.
SEED_SSO: Final = {
    "id": "string",
    "createdAt": "2022-12-08T11:54:51.367Z",
    "updatedAt": "2022-12-08T11:54:51.367Z",
    "createdBy": "string",
    "updatedBy": "string",
    "authorizationURI": "{{redirect_uri}}/?code=<authorization_token",
    "tokenURI": "https://api.example.io/oauth/token",
    "refreshURI": "https://api.example.io/oauth/token/refresh",
    "loginURL": "string",
    "orgId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "locationId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "departmentId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "order": 0,
    "file": {"id": "string"},
    "user": SUMMARY,
    "link": "https://api.example.io",
    "type": "QUICK_LINK",
}
#: Fields that may have no value: answered null, never absent (`nextPage` on the last page).
NULLABLE: Final = LIST_NULLABLE | {"lastName", "color", "phone", "orgContentTemplateId"}


DEPARTMENTS: Final = "/api/departments"
LOCATIONS: Final = "/api/locations"


async def place(api: Api, org: Org, path: str, name: str) -> str:
    """A department (`DEPARTMENTS`) or location (`LOCATIONS`) of `org`, made by its admin: its
    id."""
    made: str = (await created(api.client, org.headers, path, {"name": name}))["id"]
    return made


async def member(api: Api, org: Org, name: str = "mia") -> dict[str, str]:
    """The headers of a new user of `org` who is no admin."""
    _, headers = await add_member(api.client, org, f"{name}@example.com", lastName="Smith")
    return headers


#: The titles of an organization's default enforcement templates, oldest first.
DEFAULT_TITLES: Final = [t["title"] for t in lookups.DEFAULT_TEMPLATES]


# --- module codes ------------------------------------------------------------------------------


async def test_module_codes_replay_the_seed(api: Api) -> None:
    """A bare array of every content module's name and code, POST being 1, for any user."""
    org = await create_org(api.client)
    codes = ok(await api.client.get("/api/module-codes", headers=await member(api, org)))
    assert_shape(codes, SEED_MODULE_CODES)
    assert codes[0] == {"name": "POST", "moduleCode": 1}
    names = [c["name"] for c in codes]
    assert len(set(names)) == len(names) == len({c["moduleCode"] for c in codes})
    assert all(n.isupper() and n.replace("_", "").isalpha() for n in names)
    assert {"NEWS", "EVENT", "DOCUMENT", "FAQ", "COURSE", "TASK", "GROUP_CHAT", "SSO"} <= set(names)
    error(await api.client.get("/api/module-codes"), 401)


# --- categories --------------------------------------------------------------------------------


async def test_categories_replay_the_seed_with_the_defaults_of_the_organization(api: Api) -> None:
    org = await create_org(api.client)
    as_mia = await member(api, org)
    page = ok(await api.client.get(CATEGORIES, params=SEED_CATEGORIES_QUERY, headers=as_mia))
    assert_shape(page, SEED_CATEGORIES, nullable=NULLABLE)
    assert [c["category"] for c in page["categories"]] == ["General"]
    first = page["categories"][0]
    assert (first["moduleCode"], first["category"], first["color"]) == (
        1,
        "General",
        lookups.DEFAULT_COLOR,
    )
    assert (first["orgId"], first["createdBy"]) == (org.id, "operator")
    assert page["meta"] == {
        "perPage": 5,
        "totalPages": 1,
        "totalResults": 1,
        "curPage": 1,
        "nextPage": None,
    }
    faq = ok(await api.client.get(CATEGORIES, params={"moduleCode": 7}, headers=as_mia))
    assert {c["category"] for c in faq["categories"]} == {
        "General",
        "Human resource",
        "Refund Policy",
    }


async def test_categories_page_exactly_with_per_page_as_a_string(api: Api) -> None:
    """Module 4 (VIDEO) has no default category: its list is only the thirteen made here."""
    org = await create_org(api.client)
    made = [
        (
            await created(
                api.client,
                org.headers,
                CATEGORIES,
                {"moduleCode": 4, "category": f"c{i:02}", "color": "#000000"},
            )
        )["id"]
        for i in range(13)
    ]
    as_mia = await member(api, org)
    seen: list[str] = []
    for page_no, size in ((1, 4), (2, 4), (3, 4), (4, 1)):
        query = {"moduleCode": "4", "cur_page": str(page_no), "per_page": "4"}
        page = ok(await api.client.get(CATEGORIES, params=query, headers=as_mia))
        assert len(page["categories"]) == size
        assert page["meta"] == {
            "perPage": 4,
            "totalPages": 4,
            "totalResults": 13,
            "curPage": page_no,
            "nextPage": page_no + 1 if page_no < 4 else None,
        }
        seen += [c["id"] for c in page["categories"]]
    assert seen == made[::-1]  # newest first


async def test_module_code_is_required_and_must_be_known(api: Api) -> None:
    org = await create_org(api.client)
    as_mia = await member(api, org)
    for query in ({}, {"cur_page": 1}, {"moduleCode": ""}):
        body = error(await api.client.get(CATEGORIES, params=query, headers=as_mia), 400)
        assert fields_of(body) == {"moduleCode"}, body
    for bad in ("99", "0", "abc", "1.5"):
        answer = await api.client.get(CATEGORIES, params={"moduleCode": bad}, headers=as_mia)
        assert fields_of(error(answer, 400)) == {"moduleCode"}
    for bad_code in (99, "1", True, None):
        answer = await api.client.post(
            CATEGORIES, json={"moduleCode": bad_code, "category": "x"}, headers=org.headers
        )
        assert fields_of(error(answer, 400)) == {"moduleCode"}


async def test_category_writes_are_admins_and_names_unique_per_module(api: Api) -> None:
    """Modules 5 (PHOTO) and 9 (TASK) have no default category: their lists are only what
    this test makes."""
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    as_mia = await member(api, org)
    admin = org.headers
    body = {"moduleCode": 5, "category": "Town hall", "color": "#123456"}
    error(await api.client.post(CATEGORIES, json=body, headers=as_mia), 403)
    made = ok(await api.client.post(CATEGORIES, json=body, headers=admin), 201)
    assert_shape(made, SEED_CATEGORIES["categories"][0])
    again = error(await api.client.post(CATEGORIES, json=body, headers=admin), 400)
    assert fields_of(again) == {"category"}
    other_module = {**body, "moduleCode": 9}
    ok(await api.client.post(CATEGORIES, json=other_module, headers=admin), 201)
    unknown = {**body, "category": "New", "colour": "red"}
    assert fields_of(
        error(await api.client.post(CATEGORIES, json=unknown, headers=admin), 400)
    ) == {"colour"}
    no_name = error(await api.client.post(CATEGORIES, json={"moduleCode": 5}, headers=admin), 400)
    assert fields_of(no_name) == {"category"}
    error(await api.client.delete(f"{CATEGORIES}/{made['id']}", headers=as_mia), 403)
    error(await api.client.delete(f"{CATEGORIES}/{made['id']}", headers=other.headers), 404)
    gone = ok(await api.client.delete(f"{CATEGORIES}/{made['id']}", headers=admin))
    assert gone == {"ids": [made["id"]], "deleted": 1}
    page = ok(await api.client.get(CATEGORIES, params={"moduleCode": 5}, headers=as_mia))
    assert page["categories"] == []


async def test_another_organization_sees_none_of_the_categories(api: Api) -> None:
    """Each organization has its own defaults; none of another's, nor what another made."""
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    body = {"moduleCode": 1, "category": "Town hall"}
    await created(api.client, org.headers, CATEGORIES, body)
    query = {"moduleCode": 1}
    mine = ok(await api.client.get(CATEGORIES, params=query, headers=org.headers))
    page = ok(await api.client.get(CATEGORIES, params=query, headers=other.headers))
    assert [c["category"] for c in page["categories"]] == ["General"]
    assert {c["orgId"] for c in page["categories"]} == {other.id}
    assert not {c["id"] for c in page["categories"]} & {c["id"] for c in mine["categories"]}
    assert page["meta"]["totalResults"] == 1 and mine["meta"]["totalResults"] == 2


async def test_defaults_are_refused_whole_when_made_twice(api: Api) -> None:
    """The organization create makes the defaults once: a default made again is refused by
    the categories' unique names and changes nothing, and another organization's create
    makes its own defaults, adding none to the first's."""
    org = await create_org(api.client)
    general = {"moduleCode": 1, "category": "General", "color": lookups.DEFAULT_COLOR}
    async with api.unchanged(org=org.id, workspace=org.id):
        answer = await api.client.post(CATEGORIES, json=general, headers=org.headers)
        assert fields_of(error(answer, 400)) == {"category"}
    await create_org(api.client, name="Globex", email="g@globex.io")
    as_mia = await member(api, org)
    page = ok(await api.client.get(TEMPLATES, params={"per_page": 100}, headers=as_mia))
    assert page["meta"]["totalResults"] == len(lookups.DEFAULT_TEMPLATES)
    page = ok(await api.client.get(CATEGORIES, params={"moduleCode": 1}, headers=as_mia))
    assert page["meta"]["totalResults"] == 1


# --- enforcement templates ---------------------------------------------------------------------


async def test_templates_replay_the_seed_with_the_defaults(api: Api) -> None:
    org = await create_org(api.client)
    answer = await api.client.get(
        TEMPLATES, params=SEED_TEMPLATES_QUERY, headers=await member(api, org)
    )
    page = ok(answer)
    assert_shape(page, SEED_TEMPLATES, nullable=NULLABLE)
    titles = [t["title"] for t in page["notificationTemplates"]]
    assert titles == DEFAULT_TITLES
    reminder = page["notificationTemplates"][0]["reminders"][0]
    assert reminder["reminderType"] in lookups.REMINDER_TYPES
    assert reminder["reminderTimeUnit"] in lookups.REMINDER_UNITS
    assert page["meta"]["totalResults"] == len(lookups.DEFAULT_TEMPLATES)


async def test_templates_sort_by_creation_both_ways(api: Api) -> None:
    """The organization's default templates come first (they were made with it), then the
    three made here."""
    org = await create_org(api.client)
    for title in ("first", "second", "third"):
        body = {
            "title": title,
            "systemEvent": "TASK_DUE",
            "type": "TASK",
            "subType": "DUE_DATE",
            "reminders": [
                {"reminderType": "text", "reminderTimeUnit": "minutes", "reminderTime": 30}
            ],
        }
        made = await created(api.client, org.headers, TEMPLATES, body)
        assert made["reminders"][0]["refId"] is None
    as_mia = await member(api, org)

    async def titles(**query: str) -> list[str]:
        page = ok(await api.client.get(TEMPLATES, params=query, headers=as_mia))
        return [t["title"] for t in page["notificationTemplates"]]

    oldest_first = [*DEFAULT_TITLES, "first", "second", "third"]
    everything = {"per_page": str(len(oldest_first))}
    assert await titles(sort_direction="ASC", **everything) == oldest_first
    assert await titles(sort_direction="asc", **everything) == oldest_first
    assert await titles(sort_direction="DESC", **everything) == oldest_first[::-1]
    assert await titles(**everything) == oldest_first[::-1]
    last_page = {"per_page": str(len(oldest_first) - 1), "cur_page": "2"}
    assert await titles(sort_direction="ASC", **last_page) == ["third"]
    for bad in ("UP", "'ASC'", ""):
        answer = await api.client.get(TEMPLATES, params={"sort_direction": bad}, headers=as_mia)
        assert fields_of(error(answer, 400)) == {"sort_direction"}


async def test_template_create_is_admins_and_checks_each_reminder(api: Api) -> None:
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    good = {"reminderType": "email", "reminderTimeUnit": "week", "reminderTime": 1}
    body = {"title": "Policy", "reminders": [good]}
    error(await api.client.post(TEMPLATES, json=body, headers=await member(api, org)), 403)
    cases = {
        "reminders.0.reminderType": {**good, "reminderType": "EMAIL"},
        "reminders.0.reminderTimeUnit": {**good, "reminderTimeUnit": "day"},
        "reminders.0.reminderTime": {**good, "reminderTime": -1},
        "reminders.0.refId": {**good, "refId": 1},
        "reminders.0.extra": {**good, "extra": 1},
    }
    for field, reminder in cases.items():
        answer = await api.client.post(
            TEMPLATES, json={"title": "x", "reminders": [reminder]}, headers=org.headers
        )
        assert fields_of(error(answer, 400)) == {field}, field
    missing = await api.client.post(TEMPLATES, json={"reminders": []}, headers=org.headers)
    assert fields_of(error(missing, 400)) == {"title"}
    many = {"title": "x", "reminders": [good] * (lookups.REMINDERS_MAX + 1)}
    assert fields_of(
        error(await api.client.post(TEMPLATES, json=many, headers=org.headers), 400)
    ) == {"reminders"}
    made = await created(api.client, org.headers, TEMPLATES, body)
    assert_shape(
        made,
        SEED_TEMPLATES["notificationTemplates"][0],
        nullable=NULLABLE | {"systemEvent", "type", "subType", "refId"},
    )
    # another organization sees its own defaults, and nothing of this one's
    theirs = ok(await api.client.get(TEMPLATES, headers=other.headers))
    titles = [t["title"] for t in theirs["notificationTemplates"]]
    assert sorted(titles) == sorted(DEFAULT_TITLES)


# --- SSO ---------------------------------------------------------------------------------------


async def seed_sso(api: Api, org: Org, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    department = await place(api, org, DEPARTMENTS, f"Sales {uuid.uuid4().hex[:6]}")
    location = await place(api, org, LOCATIONS, f"Berlin {uuid.uuid4().hex[:6]}")
    body = {**SEED_SSO_BODY, "departmentId": department, "locationId": location, **changes}
    return await created(api.client, headers, SSO, body)


async def test_sso_create_replays_the_seed_with_its_creator(api: Api) -> None:
    """The creator is the organization's first admin, a WorkDrive user."""
    org = await create_org(api.client)
    made = await seed_sso(api, org, org.headers)
    assert_shape(made, SEED_SSO, nullable=NULLABLE)
    assert made["authorizationURI"] == SEED_SSO_BODY["authorizationURI"]
    assert made["loginURL"] == SEED_SSO_BODY["loginURL"]
    assert made["file"] == {"id": SEED_SSO_BODY["fileId"]}
    assert made["user"]["id"] == org.admin_id == made["createdBy"]
    assert made["user"]["online"] is False
    assert made["orgId"] == org.id and made["manage"] is False


async def test_sso_list_replays_the_seed_and_shows_its_creator_online(api: Api) -> None:
    org = await create_org(api.client)
    _, as_ana = await add_member(api.client, org, "ana@example.com", lastName="Smith")
    made = await seed_sso(api, org, as_ana)
    join = await api.client.post(f"{org.stream}/sync/presence/join", headers=as_ana)
    assert join.status_code == 200, join.text
    query = {"manage": "false", "location": made["locationId"], "department": made["departmentId"]}
    answer = await api.client.get(SSO, params=query, headers=await member(api, org))
    listed = ok(answer)
    assert answer.headers["X-Total-Count"] == "1"
    assert_shape(listed, [SEED_SSO], nullable=NULLABLE)
    assert [s["id"] for s in listed] == [made["id"]]
    assert listed[0]["user"]["online"] is True


async def test_sso_lists_filter_by_level_location_and_department_in_order(api: Api) -> None:
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    as_mia = await member(api, org)
    sales = await place(api, org, DEPARTMENTS, "Sales")
    hr = await place(api, org, DEPARTMENTS, "HR")
    berlin = await place(api, org, LOCATIONS, "Berlin")

    async def make(name: str, order: int, manage: bool = False, **values: Any) -> str:
        body = {"type": "SSO", "name": name, "order": order, **values}
        query = {"manage": "true"} if manage else {}
        answer = await api.client.post(SSO, json=body, params=query, headers=org.headers)
        made: str = ok(answer, 201)["id"]
        return made

    a = await make("a", 2, departmentId=sales)
    b = await make("b", 1, departmentId=sales, locationId=berlin)
    c = await make("c", 2)
    d = await make("d", 0, departmentId=hr, locationId=berlin)
    admin = await make("admin", 0, manage=True, departmentId=sales)

    async def names(headers: dict[str, str], **query: str) -> list[str]:
        return [s["id"] for s in ok(await api.client.get(SSO, params=query, headers=headers))]

    assert await names(as_mia) == [d, b, a, c]  # by order, then creation
    assert await names(as_mia, department=sales) == [b, a]
    assert await names(as_mia, location=berlin) == [d, b]
    assert await names(as_mia, location=berlin, department=hr) == [d]
    assert await names(org.headers, manage="true") == [admin]
    assert await names(org.headers, manage="true", department=hr) == []
    assert await names(other.headers) == []


async def test_a_quick_link_needs_a_link(api: Api) -> None:
    org = await create_org(api.client)
    mia, as_mia = await add_member(api.client, org, "mia@example.com", lastName="Smith")
    for body in (
        {"type": "QUICK_LINK", "name": "x"},
        {"type": "QUICK_LINK", "name": "x", "link": ""},
    ):
        answer = await api.client.post(SSO, json=body, headers=as_mia)
        assert fields_of(error(answer, 400)) == {"link"}
    okta = {"type": "SSO", "name": "Okta"}
    made = await created(api.client, as_mia, SSO, okta)
    assert made["link"] is None and made["file"] == {} and made["order"] == 0
    assert made["user"]["id"] == mia
    # A JWT principal of the organization that is no WorkDrive user (a service): its SSO has
    # no `user` to summarize.
    service = api.auth("svc", org=org.id, workspace=org.id, admin=True)
    made = await created(api.client, service, SSO, okta)
    assert made["user"] is None and made["createdBy"] == "svc"


async def test_admin_level_ssos_are_for_admins_only(api: Api) -> None:
    org = await create_org(api.client)
    as_mia = await member(api, org)
    body = {"type": "SSO", "name": "Admin console"}
    manage = {"manage": "true"}
    error(await api.client.post(SSO, json=body, params=manage, headers=as_mia), 403)
    error(await api.client.get(SSO, params=manage, headers=as_mia), 403)
    made = ok(await api.client.post(SSO, json=body, params=manage, headers=org.headers), 201)
    assert made["manage"] is True
    assert ok(await api.client.get(SSO, headers=as_mia)) == []
    assert ok(await api.client.get(SSO, headers=org.headers)) == []
    error(await api.client.delete(f"{SSO}/{made['id']}", headers=as_mia), 403)
    ok(await api.client.delete(f"{SSO}/{made['id']}", headers=org.headers))


async def test_a_member_deletes_only_their_own_sso(api: Api) -> None:
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    as_mia = await member(api, org, "mia")
    as_ben = await member(api, org, "ben")
    made = await created(api.client, as_mia, SSO, {"type": "SSO", "name": "Mine"})
    error(await api.client.delete(f"{SSO}/{made['id']}", headers=as_ben), 403)
    error(await api.client.delete(f"{SSO}/{made['id']}", headers=other.headers), 404)
    error(await api.client.delete(f"{SSO}/{uuid.uuid4()}", headers=org.headers), 404)
    gone = ok(await api.client.delete(f"{SSO}/{made['id']}", headers=as_mia))
    assert gone == {"ids": [made["id"]], "deleted": 1}
    assert ok(await api.client.get(SSO, headers=as_ben)) == []


async def test_bad_sso_input_is_400_naming_the_field(api: Api) -> None:
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    theirs = await place(api, other, DEPARTMENTS, "Theirs")
    base = {"type": "SSO", "name": "x"}
    cases: dict[str, dict[str, Any]] = {
        "colour": {**base, "colour": "red"},
        "order": {**base, "order": "1"},
        "type": {**base, "type": "quick_link"},
        "name": {"type": "SSO"},
        "departmentId": {**base, "departmentId": theirs},
        "locationId": {**base, "locationId": "not-an-id"},
        "fileId": {**base, "fileId": "nope"},
        "link": {**base, "link": "ftp://example.io"},
        "manage": {**base, "manage": True},
    }
    for field, body in cases.items():
        answer = await api.client.post(SSO, json=body, headers=org.headers)
        assert fields_of(error(answer, 400)) == {field}, field
    both = {"type": "QUICK_LINK", "name": "x", "departmentId": theirs}
    answer = await api.client.post(SSO, json=both, headers=org.headers)
    assert fields_of(error(answer, 400)) == {"departmentId", "link"}
    not_object = await api.client.post(SSO, json=["x"], headers=org.headers)
    error(not_object, 400)
    bad_json = await api.client.post(
        SSO, content=b"{", headers={**org.headers, "Content-Type": "application/json"}
    )
    error(bad_json, 400)
    for query in ({"department": theirs}, {"location": "x"}, {"manage": "maybe"}):
        answer = await api.client.get(SSO, params=query, headers=org.headers)
        assert fields_of(error(answer, 400)) == set(query), query
    assert ok(await api.client.get(SSO, headers=org.headers)) == []


async def test_the_openapi_document_lists_every_lookup_route(api: Api) -> None:
    spec = ok(await api.client.get("/openapi.json"))
    ops = {(m, p) for p, methods in spec["paths"].items() for m in methods}
    assert {
        ("get", "/api/module-codes"),
        ("get", CATEGORIES),
        ("post", CATEGORIES),
        ("delete", f"{CATEGORIES}/{{id}}"),
        ("get", TEMPLATES),
        ("post", TEMPLATES),
        ("get", SSO),
        ("post", SSO),
        ("delete", f"{SSO}/{{id}}"),
    } <= ops
    create = spec["paths"][SSO]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["example"]["authorizationURI"] == SEED_SSO_BODY["authorizationURI"]
