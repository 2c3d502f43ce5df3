"""Seed 004 (WorkDrive) lookups and SSOs: module codes, categories, enforcement templates and
SSOs, replayed from the seed's own examples against an in-process node (memory:// and Redis).

The seed's request examples are sent as they are, except where they are not valid: the
enforcement templates' `'ASC'` (single quotes: not JSON) is sent as `ASC`, and ids of records
(`1243134a-...`) are replaced by ids of records the test made. Each response is compared with
the seed's response example by field names and JSON types (`assert_shape`). Organizations are
JWT tenants here (`o1`, `o2`), with their defaults made by `lookups.create_defaults`, as the
organization create makes them; departments and locations are written through the engine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

import huddle.app
from huddle import create_app
from huddle.auth import ADMIN, Principal
from huddle.errors import AlreadyExists
from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.modules.workdrive import lookups, sso
from huddle.modules.workdrive.people import DEPARTMENT, DEPARTMENTS, LOCATION, LOCATIONS
from huddle.services import Services
from tests.support.workdrive import assert_shape

from .conftest import Api, app_settings

CATEGORIES: Final = "/api/categories"
TEMPLATES: Final = "/api/enforcement-templates"
SSO: Final = "/api/sso"

SEED_MODULE_CODES: Final = [{"name": "POST", "moduleCode": 1}]
SEED_CATEGORIES_QUERY: Final = {"cur_page": 1, "per_page": 5, "moduleCode": 1}
SEED_CATEGORIES: Final = {
    "categories": [
        {
            "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "moduleCode": 0,
            "category": "string",
            "color": "string",
            "orgId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        }
    ],
    "meta": {"perPage": 0, "totalPages": 0, "totalResults": 0, "curPage": 0, "nextPage": 0},
}
# The seed sends `"sort_direction":'ASC'`: single quotes are not JSON, repaired to "ASC".
SEED_TEMPLATES_QUERY: Final = {"cur_page": 1, "per_page": 5, "sort_direction": "ASC"}
SEED_TEMPLATES: Final = {
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
    "meta": {"perPage": 0, "totalPages": 0, "totalResults": 0, "curPage": 0, "nextPage": 0},
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
SEED_SUMMARY: Final = {
    "id": "string",
    "firstName": "string",
    "lastName": "string",
    "picture": {},
    "cover": {},
    "color": "string",
    "online": True,
    "availability": 1,
    "designation": {},
    "department": {},
    "availabilityStatusText": "string",
    "phone": "string",
    "email": "user@example.com",
    "status": "user@example.com",
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
    "user": SEED_SUMMARY,
    "link": "https://api.example.io",
    "type": "QUICK_LINK",
}
#: Fields that may have no value: answered null, never absent (`nextPage` on the last page).
NULLABLE: Final = frozenset({"lastName", "color", "phone", "orgContentTemplateId", "nextPage"})


@dataclass
class Wd:
    """The app's client and, for what the seed has no route for here, its services."""

    api: Api
    services: Services

    @property
    def client(self) -> httpx.AsyncClient:
        return self.api.client

    def admin(self, org: str = "o1", user: str = "boss") -> dict[str, str]:
        return self.api.auth(user, org=org, workspace=org, admin=True)

    def member(self, user: str = "mia", org: str = "o1") -> dict[str, str]:
        return self.api.auth(user, org=org, workspace=org)

    async def defaults(self, org: str = "o1") -> None:
        await lookups.create_defaults(self.services, _ws(org), _operator(org))

    async def place(self, kind: str, name: str, org: str = "o1") -> str:
        """A department or location of `org`, made through the engine: its public id."""
        collection = DEPARTMENTS if kind == DEPARTMENT else LOCATIONS
        records = self.services.records
        made = await records.create(_ws(org), collection, {"name": name}, _operator(org))
        return records.ids.in_workspace(_ws(org)).encode(kind, made.id)

    async def user(self, email: str, org: str = "o1") -> str:
        """A WorkDrive user of `org`: its id, which is also its principal's user id."""
        body = {"email": email, "firstName": email.split("@")[0], "lastName": "Smith"}
        answer = await self.client.post("/api/users/add", json=body, headers=self.admin(org))
        assert answer.status_code == 201, answer.text
        made: str = answer.json()["id"]
        return made


def _ws(org: str) -> WorkspaceKey:
    return WorkspaceKey(OrgId(org), WorkspaceId(org))


def _operator(org: str) -> Principal:
    return Principal(
        kind="service",
        user_id="operator",
        org_id=org,
        workspaces=None,
        default_workspace=org,
        roles=frozenset({ADMIN}),
    )


@pytest.fixture(autouse=True)
def _served(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serves these routers until `modules/workdrive/__init__.py` registers them (then: no-op)."""
    served = huddle.app.workdrive_routers()
    paths = {getattr(route, "path", None) for router in served for route in router.routes}
    if SSO not in paths:
        mine = [*lookups.ROUTERS, *sso.ROUTERS]
        monkeypatch.setattr(huddle.app, "workdrive_routers", lambda: [*served, *mine])


@pytest.fixture(params=["memory", "redis"])
async def wd(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Wd]:
    url = "memory://"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url()
    settings = app_settings(tmp_path, url)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://huddle.test"
        ) as client,
    ):
        yield Wd(Api(client, settings), app.state.runtime.services)


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"statusCode", "message", "error", "errors"}, body
    assert body["statusCode"] == status
    return body


def fields_of(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body["errors"]}


# --- module codes ------------------------------------------------------------------------------


async def test_module_codes_replay_the_seed(wd: Wd) -> None:
    """A bare array of every content module's name and code, POST being 1, for any user."""
    codes = ok(await wd.client.get("/api/module-codes", headers=wd.member()))
    assert_shape(codes, SEED_MODULE_CODES)
    assert codes[0] == {"name": "POST", "moduleCode": 1}
    names = [c["name"] for c in codes]
    assert len(set(names)) == len(names) == len({c["moduleCode"] for c in codes})
    assert all(n.isupper() and n.replace("_", "").isalpha() for n in names)
    assert {"NEWS", "EVENT", "DOCUMENT", "FAQ", "COURSE", "TASK", "GROUP_CHAT", "SSO"} <= set(names)
    error(await wd.client.get("/api/module-codes"), 401)


# --- categories --------------------------------------------------------------------------------


async def test_categories_replay_the_seed_with_the_defaults_of_the_organization(wd: Wd) -> None:
    await wd.defaults()
    page = ok(await wd.client.get(CATEGORIES, params=SEED_CATEGORIES_QUERY, headers=wd.member()))
    assert_shape(page, SEED_CATEGORIES, nullable=NULLABLE)
    assert [c["category"] for c in page["categories"]] == ["General"]
    first = page["categories"][0]
    assert (first["moduleCode"], first["category"], first["color"]) == (
        1,
        "General",
        lookups.DEFAULT_COLOR,
    )
    assert (first["orgId"], first["createdBy"]) == ("o1", "operator")
    assert page["meta"] == {
        "perPage": 5,
        "totalPages": 1,
        "totalResults": 1,
        "curPage": 1,
        "nextPage": None,
    }
    faq = ok(await wd.client.get(CATEGORIES, params={"moduleCode": 7}, headers=wd.member()))
    assert {c["category"] for c in faq["categories"]} == {
        "General",
        "Human resource",
        "Refund Policy",
    }


async def test_categories_page_exactly_with_per_page_as_a_string(wd: Wd) -> None:
    made = [
        ok(
            await wd.client.post(
                CATEGORIES,
                json={"moduleCode": 4, "category": f"c{i:02}", "color": "#000000"},
                headers=wd.admin(),
            ),
            201,
        )["id"]
        for i in range(13)
    ]
    seen: list[str] = []
    for page_no, size in ((1, 4), (2, 4), (3, 4), (4, 1)):
        query = {"moduleCode": "4", "cur_page": str(page_no), "per_page": "4"}
        page = ok(await wd.client.get(CATEGORIES, params=query, headers=wd.member()))
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


async def test_module_code_is_required_and_must_be_known(wd: Wd) -> None:
    for query in ({}, {"cur_page": 1}, {"moduleCode": ""}):
        body = error(await wd.client.get(CATEGORIES, params=query, headers=wd.member()), 400)
        assert fields_of(body) == {"moduleCode"}, body
    for bad in ("99", "0", "abc", "1.5"):
        answer = await wd.client.get(CATEGORIES, params={"moduleCode": bad}, headers=wd.member())
        assert fields_of(error(answer, 400)) == {"moduleCode"}
    for bad_code in (99, "1", True, None):
        answer = await wd.client.post(
            CATEGORIES, json={"moduleCode": bad_code, "category": "x"}, headers=wd.admin()
        )
        assert fields_of(error(answer, 400)) == {"moduleCode"}


async def test_category_writes_are_admins_and_names_unique_per_module(wd: Wd) -> None:
    body = {"moduleCode": 2, "category": "Town hall", "color": "#123456"}
    error(await wd.client.post(CATEGORIES, json=body, headers=wd.member()), 403)
    made = ok(await wd.client.post(CATEGORIES, json=body, headers=wd.admin()), 201)
    assert_shape(made, SEED_CATEGORIES["categories"][0])
    again = error(await wd.client.post(CATEGORIES, json=body, headers=wd.admin()), 400)
    assert fields_of(again) == {"category"}
    other_module = {**body, "moduleCode": 3}
    ok(await wd.client.post(CATEGORIES, json=other_module, headers=wd.admin()), 201)
    unknown = {**body, "category": "New", "colour": "red"}
    assert fields_of(
        error(await wd.client.post(CATEGORIES, json=unknown, headers=wd.admin()), 400)
    ) == {"colour"}
    no_name = error(
        await wd.client.post(CATEGORIES, json={"moduleCode": 2}, headers=wd.admin()), 400
    )
    assert fields_of(no_name) == {"category"}
    error(await wd.client.delete(f"{CATEGORIES}/{made['id']}", headers=wd.member()), 403)
    error(await wd.client.delete(f"{CATEGORIES}/{made['id']}", headers=wd.admin("o2")), 404)
    gone = ok(await wd.client.delete(f"{CATEGORIES}/{made['id']}", headers=wd.admin()))
    assert gone == {"ids": [made["id"]], "deleted": 1}
    page = ok(await wd.client.get(CATEGORIES, params={"moduleCode": 2}, headers=wd.member()))
    assert page["categories"] == []


async def test_another_organization_sees_none_of_the_categories(wd: Wd) -> None:
    await wd.defaults("o1")
    page = ok(await wd.client.get(CATEGORIES, params={"moduleCode": 1}, headers=wd.admin("o2")))
    assert page["categories"] == [] and page["meta"]["totalResults"] == 0


async def test_defaults_are_refused_whole_when_made_twice(wd: Wd) -> None:
    """A second `create_defaults` changes nothing: the categories' unique names refuse it."""
    await wd.defaults()
    with pytest.raises(AlreadyExists):
        await wd.defaults()
    page = ok(await wd.client.get(TEMPLATES, params={"per_page": 100}, headers=wd.member()))
    assert page["meta"]["totalResults"] == len(lookups.DEFAULT_TEMPLATES)


# --- enforcement templates ---------------------------------------------------------------------


async def test_templates_replay_the_seed_with_the_defaults(wd: Wd) -> None:
    await wd.defaults()
    answer = await wd.client.get(TEMPLATES, params=SEED_TEMPLATES_QUERY, headers=wd.member())
    page = ok(answer)
    assert_shape(page, SEED_TEMPLATES, nullable=NULLABLE)
    titles = [t["title"] for t in page["notificationTemplates"]]
    assert titles == [t["title"] for t in lookups.DEFAULT_TEMPLATES]
    reminder = page["notificationTemplates"][0]["reminders"][0]
    assert reminder["reminderType"] in lookups.REMINDER_TYPES
    assert reminder["reminderTimeUnit"] in lookups.REMINDER_UNITS
    assert page["meta"]["totalResults"] == len(lookups.DEFAULT_TEMPLATES)


async def test_templates_sort_by_creation_both_ways(wd: Wd) -> None:
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
        made = ok(await wd.client.post(TEMPLATES, json=body, headers=wd.admin()), 201)
        assert made["reminders"][0]["refId"] is None

    async def titles(**query: str) -> list[str]:
        page = ok(await wd.client.get(TEMPLATES, params=query, headers=wd.member()))
        return [t["title"] for t in page["notificationTemplates"]]

    assert await titles(sort_direction="ASC") == ["first", "second", "third"]
    assert await titles(sort_direction="asc") == ["first", "second", "third"]
    assert await titles(sort_direction="DESC") == ["third", "second", "first"]
    assert await titles() == ["third", "second", "first"]
    assert await titles(sort_direction="ASC", per_page="2", cur_page="2") == ["third"]
    for bad in ("UP", "'ASC'", ""):
        answer = await wd.client.get(TEMPLATES, params={"sort_direction": bad}, headers=wd.member())
        assert fields_of(error(answer, 400)) == {"sort_direction"}


async def test_template_create_is_admins_and_checks_each_reminder(wd: Wd) -> None:
    good = {"reminderType": "email", "reminderTimeUnit": "week", "reminderTime": 1}
    body = {"title": "Policy", "reminders": [good]}
    error(await wd.client.post(TEMPLATES, json=body, headers=wd.member()), 403)
    cases = {
        "reminders.0.reminderType": {**good, "reminderType": "EMAIL"},
        "reminders.0.reminderTimeUnit": {**good, "reminderTimeUnit": "day"},
        "reminders.0.reminderTime": {**good, "reminderTime": -1},
        "reminders.0.refId": {**good, "refId": 1},
        "reminders.0.extra": {**good, "extra": 1},
    }
    for field, reminder in cases.items():
        answer = await wd.client.post(
            TEMPLATES, json={"title": "x", "reminders": [reminder]}, headers=wd.admin()
        )
        assert fields_of(error(answer, 400)) == {field}, field
    missing = await wd.client.post(TEMPLATES, json={"reminders": []}, headers=wd.admin())
    assert fields_of(error(missing, 400)) == {"title"}
    many = {"title": "x", "reminders": [good] * (lookups.REMINDERS_MAX + 1)}
    assert fields_of(
        error(await wd.client.post(TEMPLATES, json=many, headers=wd.admin()), 400)
    ) == {"reminders"}
    made = ok(await wd.client.post(TEMPLATES, json=body, headers=wd.admin()), 201)
    assert_shape(
        made,
        SEED_TEMPLATES["notificationTemplates"][0],
        nullable=NULLABLE | {"systemEvent", "type", "subType", "refId"},
    )
    mine = ok(await wd.client.get(TEMPLATES, headers=wd.admin("o2")))
    assert mine["notificationTemplates"] == []


# --- SSO ---------------------------------------------------------------------------------------


async def seed_sso(wd: Wd, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    department = await wd.place(DEPARTMENT, f"Sales {uuid.uuid4().hex[:6]}")
    location = await wd.place(LOCATION, f"Berlin {uuid.uuid4().hex[:6]}")
    body = {**SEED_SSO_BODY, "departmentId": department, "locationId": location, **changes}
    made: dict[str, Any] = ok(await wd.client.post(SSO, json=body, headers=headers), 201)
    return made


async def test_sso_create_replays_the_seed_with_its_creator(wd: Wd) -> None:
    user = await wd.user("ana@example.com")
    headers = wd.api.auth(user, org="o1", workspace="o1", admin=True)
    made = await seed_sso(wd, headers)
    assert_shape(made, SEED_SSO, nullable=NULLABLE)
    assert made["authorizationURI"] == SEED_SSO_BODY["authorizationURI"]
    assert made["loginURL"] == SEED_SSO_BODY["loginURL"]
    assert made["file"] == {"id": SEED_SSO_BODY["fileId"]}
    assert made["user"]["id"] == user == made["createdBy"]
    assert made["user"]["online"] is False
    assert made["orgId"] == "o1" and made["manage"] is False


async def test_sso_list_replays_the_seed_and_shows_its_creator_online(wd: Wd) -> None:
    user = await wd.user("ana@example.com")
    headers = wd.api.auth(user, org="o1", workspace="o1")
    made = await seed_sso(wd, headers)
    join = await wd.client.post("/v1/orgs/o1/workspaces/o1/sync/presence/join", headers=headers)
    assert join.status_code == 200, join.text
    query = {"manage": "false", "location": made["locationId"], "department": made["departmentId"]}
    answer = await wd.client.get(SSO, params=query, headers=wd.member())
    listed = ok(answer)
    assert answer.headers["X-Total-Count"] == "1"
    assert_shape(listed, [SEED_SSO], nullable=NULLABLE)
    assert [s["id"] for s in listed] == [made["id"]]
    assert listed[0]["user"]["online"] is True


async def test_sso_lists_filter_by_level_location_and_department_in_order(wd: Wd) -> None:
    sales = await wd.place(DEPARTMENT, "Sales")
    hr = await wd.place(DEPARTMENT, "HR")
    berlin = await wd.place(LOCATION, "Berlin")

    async def make(name: str, order: int, manage: bool = False, **values: Any) -> str:
        body = {"type": "SSO", "name": name, "order": order, **values}
        query = {"manage": "true"} if manage else {}
        answer = await wd.client.post(SSO, json=body, params=query, headers=wd.admin())
        made: str = ok(answer, 201)["id"]
        return made

    a = await make("a", 2, departmentId=sales)
    b = await make("b", 1, departmentId=sales, locationId=berlin)
    c = await make("c", 2)
    d = await make("d", 0, departmentId=hr, locationId=berlin)
    admin = await make("admin", 0, manage=True, departmentId=sales)

    async def names(headers: dict[str, str], **query: str) -> list[str]:
        return [s["id"] for s in ok(await wd.client.get(SSO, params=query, headers=headers))]

    assert await names(wd.member()) == [d, b, a, c]  # by order, then creation
    assert await names(wd.member(), department=sales) == [b, a]
    assert await names(wd.member(), location=berlin) == [d, b]
    assert await names(wd.member(), location=berlin, department=hr) == [d]
    assert await names(wd.admin(), manage="true") == [admin]
    assert await names(wd.admin(), manage="true", department=hr) == []
    assert await names(wd.admin("o2")) == []


async def test_a_quick_link_needs_a_link(wd: Wd) -> None:
    for body in (
        {"type": "QUICK_LINK", "name": "x"},
        {"type": "QUICK_LINK", "name": "x", "link": ""},
    ):
        answer = await wd.client.post(SSO, json=body, headers=wd.member())
        assert fields_of(error(answer, 400)) == {"link"}
    made = ok(
        await wd.client.post(SSO, json={"type": "SSO", "name": "Okta"}, headers=wd.member()), 201
    )
    assert made["link"] is None and made["file"] == {} and made["order"] == 0
    assert made["user"] is None  # "mia" is a JWT tenant's user, no WorkDrive user


async def test_admin_level_ssos_are_for_admins_only(wd: Wd) -> None:
    body = {"type": "SSO", "name": "Admin console"}
    error(await wd.client.post(SSO, json=body, params={"manage": "true"}, headers=wd.member()), 403)
    error(await wd.client.get(SSO, params={"manage": "true"}, headers=wd.member()), 403)
    made = ok(
        await wd.client.post(SSO, json=body, params={"manage": "true"}, headers=wd.admin()), 201
    )
    assert made["manage"] is True
    assert ok(await wd.client.get(SSO, headers=wd.member())) == []
    assert ok(await wd.client.get(SSO, headers=wd.admin())) == []
    error(await wd.client.delete(f"{SSO}/{made['id']}", headers=wd.member()), 403)
    ok(await wd.client.delete(f"{SSO}/{made['id']}", headers=wd.admin()))


async def test_a_member_deletes_only_their_own_sso(wd: Wd) -> None:
    body = {"type": "SSO", "name": "Mine"}
    made = ok(await wd.client.post(SSO, json=body, headers=wd.member("mia")), 201)
    error(await wd.client.delete(f"{SSO}/{made['id']}", headers=wd.member("ben")), 403)
    error(await wd.client.delete(f"{SSO}/{made['id']}", headers=wd.admin("o2")), 404)
    error(await wd.client.delete(f"{SSO}/{uuid.uuid4()}", headers=wd.admin()), 404)
    gone = ok(await wd.client.delete(f"{SSO}/{made['id']}", headers=wd.member("mia")))
    assert gone == {"ids": [made["id"]], "deleted": 1}
    assert ok(await wd.client.get(SSO, headers=wd.member())) == []


async def test_bad_sso_input_is_400_naming_the_field(wd: Wd) -> None:
    theirs = await wd.place(DEPARTMENT, "Theirs", org="o2")
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
        answer = await wd.client.post(SSO, json=body, headers=wd.admin())
        assert fields_of(error(answer, 400)) == {field}, field
    both = {"type": "QUICK_LINK", "name": "x", "departmentId": theirs}
    answer = await wd.client.post(SSO, json=both, headers=wd.admin())
    assert fields_of(error(answer, 400)) == {"departmentId", "link"}
    not_object = await wd.client.post(SSO, json=["x"], headers=wd.admin())
    error(not_object, 400)
    bad_json = await wd.client.post(
        SSO, content=b"{", headers={**wd.admin(), "Content-Type": "application/json"}
    )
    error(bad_json, 400)
    for query in ({"department": theirs}, {"location": "x"}, {"manage": "maybe"}):
        answer = await wd.client.get(SSO, params=query, headers=wd.admin())
        assert fields_of(error(answer, 400)) == set(query), query
    assert ok(await wd.client.get(SSO, headers=wd.admin())) == []


async def test_the_openapi_document_lists_every_lookup_route(wd: Wd) -> None:
    spec = ok(await wd.client.get("/openapi.json"))
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
