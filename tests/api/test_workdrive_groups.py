"""Seed 004's departments, locations and security groups: the seed's own request examples
replayed (its ids replaced by real ones), answers compared with its response examples, and
the rules Huddle adds: admin-only writes, tenant isolation, and member moves that apply whole
or not at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from huddle import Settings, create_app
from huddle.api.declared.workdrive import WORKDRIVE
from huddle.modules.workdrive import departments, locations, security_groups
from tests.api.conftest import Api, app_settings
from tests.support.workdrive import assert_shape

# --- the seed's response examples (compared by `assert_shape`: names and JSON types) ----------


SUMMARY: dict[str, Any] = {
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
META: dict[str, Any] = {
    "perPage": 0,
    "totalPages": 0,
    "totalResults": 0,
    "curPage": 0,
    "nextPage": 0,
}
RECORD: dict[str, Any] = {
    "id": "string",
    "createdAt": "2022-11-28T05:52:23.167Z",
    "updatedAt": "2022-11-28T05:52:23.167Z",
    "createdBy": "string",
    "updatedBy": "string",
}
DEPARTMENTS_LISTED: dict[str, Any] = {
    "departments": [{"id": "string", "name": "string", "memberCount": 0, "admins": [SUMMARY]}],
    "meta": META,
}
DEPARTMENT: dict[str, Any] = {**RECORD, "orgId": "string", "type": "string", "name": "Management"}
DEPARTMENT_MEMBERS: dict[str, Any] = {
    **DEPARTMENT,
    "departmentHeads": ["3fa85f64-5717-4562-b3fc-2c963f66afa6"],
    "members": [SUMMARY],
}
LOCATIONS_LISTED: dict[str, Any] = {
    "locations": [{**RECORD, "name": "string", "orgId": "afdcc332", "memberCount": 2}],
    "meta": META,
}
LOCATION_CREATED: dict[str, Any] = {"addedBy": "172fa58d", "name": "California", "orgId": "172f"}
LOCATION: dict[str, Any] = {**RECORD, "name": "string", "orgId": "afdcc332"}
LOCATION_MEMBERS: dict[str, Any] = {**LOCATION, "members": [SUMMARY]}
GROUPS_LISTED: dict[str, Any] = {
    "groups": [{"id": "3fa85f64", "name": "string", "memberCount": 0}],
    "meta": META,
}
#: `nextPage` is null on the last page (the seed's example shows a number).
LIST_NULLABLE = frozenset({"nextPage"})

# --- an app serving the three modules ---------------------------------------------------------

ROUTERS = (*departments.ROUTERS, *locations.ROUTERS, *security_groups.ROUTERS)


def _serve_groups(app: FastAPI) -> None:
    """Add the three modules' routers unless the app already serves them (once
    `modules/workdrive/__init__.py` registers them, this adds nothing)."""
    served = {getattr(route, "path", None) for route in app.routes}
    for router in ROUTERS:
        if not {getattr(route, "path", None) for route in router.routes} & served:
            app.include_router(router)
            app.state.dialects.register(router, WORKDRIVE)


@asynccontextmanager
async def _running(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    _serve_groups(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://huddle.test"
        ) as client,
    ):
        yield Api(client, settings)


@pytest.fixture(params=["memory", "redis"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = "memory://"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url()
    async with _running(app_settings(tmp_path, url)) as api:
        yield api


def boss(api: Api, org: str = "o1") -> dict[str, str]:
    return api.auth("boss", org=org, workspace=org, admin=True)


def member(api: Api) -> dict[str, str]:
    return api.auth("mia", org="o1", workspace="o1", admin=False)


async def new_user(api: Api, name: str, org: str = "o1") -> str:
    body = {
        "email": f"{name.lower()}-{uuid4().hex[:6]}@example.com",
        "firstName": name,
        "lastName": "Smith",
        "phone": "+13756366604",
        "color": "#2d9cdb",
        "designation": "Engineer",
    }
    answer = await api.client.post("/api/users/add", json=body, headers=boss(api, org))
    assert answer.status_code == 201, answer.text
    user_id: str = answer.json()["id"]
    return user_id


async def created(api: Api, path: str, body: dict[str, Any], org: str = "o1") -> dict[str, Any]:
    answer = await api.client.post(path, json=body, headers=boss(api, org))
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def user(api: Api, user_id: str) -> dict[str, Any]:
    answer = await api.client.get(f"/api/users/{user_id}", headers=boss(api))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def listed(api: Api, path: str, key: str) -> list[dict[str, Any]]:
    answer = await api.client.get(path, params={"per_page": 100}, headers=boss(api))
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()[key]
    return items


async def users_state(api: Api) -> list[dict[str, Any]]:
    return await listed(api, "/api/users", "users")


def fields_of(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json()["errors"]]


# --- the seed's examples, replayed --------------------------------------------------------------


async def test_department_routes_answer_as_the_seed_shows(api: Api) -> None:
    """Each department route, sent the seed's request example (with real ids), answers the
    fields of the seed's response example, with the same JSON types."""
    ana, ben, cy = [await new_user(api, n) for n in ("Ana", "Ben", "Cy")]
    sales = await created(api, "/api/departments", {"name": "Sales", "members": [{"id": ana}]})
    # the seed's create example: its user and existing department ids replaced by real ones
    body = {
        "members": [{"id": ana, "existingDept": sales["id"], "isDepartmentHead": False}],
        "name": "Management",
    }
    answer = await api.client.post("/api/departments", json=body, headers=boss(api))
    assert answer.status_code == 201, answer.text
    department = answer.json()
    assert_shape(department, DEPARTMENT)
    assert department["orgId"] == "o1" and department["name"] == "Management"
    dept = department["id"]
    assert (await user(api, ana))["department"] == dept

    # the seed's head example: it sends one id to remove and one user to add
    body = {
        "remove": cy,
        "add": [
            {"id": ben, "isAdmin": False, "existingDept": sales["id"], "isDepartmentHead": False}
        ],
    }
    answer = await api.client.patch(f"/api/departments/{dept}/admin", json=body, headers=boss(api))
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), DEPARTMENT)
    assert answer.json()["departmentHeads"] == [ben]
    assert (await user(api, ben))["isDepartmentHead"] is True

    answer = await api.client.get(
        "/api/departments", params={"cur_page": 1, "per_page": 10}, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), DEPARTMENTS_LISTED, nullable=LIST_NULLABLE)
    by_name = {d["name"]: d for d in answer.json()["departments"]}
    assert by_name["Management"]["memberCount"] == 2 and by_name["Sales"]["memberCount"] == 0
    assert [a["id"] for a in by_name["Management"]["admins"]] == [ben]

    # the seed's members example names one id in both lists (refused: see the next test);
    # here a real user joins and another leaves
    body = {
        "addMembers": [
            {"id": cy, "isAdmin": False, "existingDept": sales["id"], "isDepartmentHead": False}
        ],
        "removeMembers": [ana],
    }
    answer = await api.client.post(f"/api/departments/{dept}/members", json=body, headers=boss(api))
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), DEPARTMENT_MEMBERS)
    assert sorted(m["id"] for m in answer.json()["members"]) == sorted([ben, cy])
    assert (await user(api, ana))["department"] is None

    answer = await api.client.get(f"/api/departments/{dept}/members", headers=boss(api))
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), DEPARTMENT_MEMBERS)
    assert answer.json()["departmentHeads"] == [ben] and answer.json()["memberCount"] == 2
    answer = await api.client.get(f"/api/departments/{dept}", headers=member(api))
    assert answer.status_code == 200, answer.text
    assert answer.json()["memberCount"] == 2 and answer.json()["admins"][0]["id"] == ben

    answer = await api.client.patch(
        f"/api/departments/{dept}", json={"name": "Management 2"}, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), DEPARTMENT)
    assert answer.json()["name"] == "Management 2"

    answer = await api.client.delete(f"/api/departments/{dept}", headers=boss(api))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ids": [dept], "deleted": 1}
    for member_id in (ben, cy):
        found = await user(api, member_id)
        assert found["department"] is None and found["isDepartmentHead"] is False


async def test_location_routes_answer_as_the_seed_shows(api: Api) -> None:
    """Each location route, sent the seed's request example (with real ids), answers the
    fields of the seed's response example, with the same JSON types."""
    ana, ben, cy = [await new_user(api, n) for n in ("Ana", "Ben", "Cy")]
    answer = await api.client.post("/api/locations", json={"name": "Berlin"}, headers=boss(api))
    assert answer.status_code == 201, answer.text
    assert_shape(answer.json(), LOCATION_CREATED)
    assert answer.json()["addedBy"] == "boss" and answer.json()["orgId"] == "o1"
    place = answer.json()["id"]

    # the seed's example adds and removes one id; real users here, one of them not a member
    body = {"addMembers": [ana, ben], "removeMembers": [cy]}
    answer = await api.client.post(f"/api/locations/{place}/members", json=body, headers=boss(api))
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), LOCATION_MEMBERS)
    assert sorted(m["id"] for m in answer.json()["members"]) == sorted([ana, ben])
    assert (await user(api, ana))["location"]["id"] == place

    answer = await api.client.get(
        "/api/locations", params={"cur_page": 1, "per_page": 10}, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), LOCATIONS_LISTED, nullable=LIST_NULLABLE)
    assert answer.json()["locations"][0]["memberCount"] == 2

    answer = await api.client.get(f"/api/locations/{place}/members", headers=boss(api))
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), LOCATION_MEMBERS)

    answer = await api.client.patch(
        f"/api/locations/{place}", json={"name": "New Jersey"}, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), LOCATION)
    assert answer.json()["name"] == "New Jersey"

    answer = await api.client.delete(f"/api/locations/{place}", headers=boss(api))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ids": [place], "deleted": 1}
    assert (await user(api, ana))["location"] == {}


async def test_security_group_routes_answer_as_the_seed_shows(api: Api) -> None:
    """The group list and its member routes, sent the seed's examples (real ids), answer
    the seed's fields; the answer to a member change is the group with its count."""
    ana, ben = [await new_user(api, n) for n in ("Ana", "Ben")]
    group = (await created(api, "/api/security_groups", {"name": "Managers"}))["id"]
    body = {"ids": [ana, ben]}
    answer = await api.client.post(
        f"/api/security_groups/{group}/members", json=body, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["memberCount"] == 2 and answer.json()["id"] == group
    assert (await user(api, ana))["securityGroup"] == group

    answer = await api.client.get(
        "/api/security_groups", params={"cur_page": 1, "per_page": 10}, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), GROUPS_LISTED, nullable=LIST_NULLABLE)
    assert answer.json()["groups"][0]["memberCount"] == 2

    answer = await api.client.request(
        "DELETE", f"/api/security_groups/{group}/members", json={"ids": [ana]}, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["memberCount"] == 1
    assert (await user(api, ana))["securityGroup"] is None


async def test_the_seeds_group_member_paths_with_a_stray_brace_work(api: Api) -> None:
    """`/api/security_groups/{groupId}/members}` as the seed writes it: sent encoded (`%7D`)
    or raw, it is the same route."""
    ana, ben = [await new_user(api, n) for n in ("Ana", "Ben")]
    group = (await created(api, "/api/security_groups", {"name": "Managers"}))["id"]
    for path, ids, count in (
        (f"/api/security_groups/{group}/members%7D", [ana], 1),
        (f"/api/security_groups/{group}/members}}", [ben], 2),
    ):
        answer = await api.client.post(path, json={"ids": ids}, headers=boss(api))
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["memberCount"] == count
    answer = await api.client.request(
        "DELETE",
        f"/api/security_groups/{group}/members%7D",
        json={"ids": [ana, ben]},
        headers=boss(api),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["memberCount"] == 0


async def test_a_location_create_sent_to_the_departments_path_creates_a_department(
    api: Api,
) -> None:
    """The seed documents a location create as `POST /api/departments {"name"}`: that body
    is a department create without members, so it makes a department, as the path says."""
    await created(api, "/api/departments", {"name": "Berlin"})
    assert [d["name"] for d in await listed(api, "/api/departments", "departments")] == ["Berlin"]
    assert await listed(api, "/api/locations", "locations") == []


# --- lists --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/departments", "departments"),
        ("/api/locations", "locations"),
        ("/api/security_groups", "groups"),
    ],
)
async def test_lists_page_with_exact_totals(api: Api, path: str, key: str) -> None:
    """Ten records, three a page (`per_page` sent as a string): four pages, exact totals,
    `nextPage` null on the last, every record once."""
    names = {f"n{i}" for i in range(10)}
    for name in sorted(names):
        await created(api, path, {"name": name})
    seen: list[str] = []
    for page in range(1, 5):
        answer = await api.client.get(
            path, params={"cur_page": str(page), "per_page": "3"}, headers=member(api)
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["meta"] == {
            "perPage": 3,
            "totalPages": 4,
            "totalResults": 10,
            "curPage": page,
            "nextPage": page + 1 if page < 4 else None,
        }
        assert len(body[key]) == (3 if page < 4 else 1)
        seen += [item["name"] for item in body[key]]
    assert sorted(seen) == sorted(names)


# --- moves ----------------------------------------------------------------------------------------


async def test_a_refused_member_leaves_no_department_and_no_user_changed(api: Api) -> None:
    """A create naming one bad member (a random id, another organization's user) is a 400
    naming each, and nothing of it happens: no department, no user moved, no event."""
    ana = await new_user(api, "Ana")
    stranger = await new_user(api, "Olga", org="o2")
    before = (await listed(api, "/api/departments", "departments"), await users_state(api))
    body = {
        "name": "Management",
        "members": [{"id": ana, "isAdmin": True}, {"id": str(uuid4())}, {"id": stranger}],
    }
    async with api.unchanged(org="o1", workspace="o1"):
        answer = await api.client.post("/api/departments", json=body, headers=boss(api))
    assert answer.status_code == 400, answer.text
    assert fields_of(answer) == ["members.1.id", "members.2.id"]
    assert answer.json()["statusCode"] == 400
    after = (await listed(api, "/api/departments", "departments"), await users_state(api))
    assert after == before


async def test_a_taken_name_leaves_the_members_where_they_were(api: Api) -> None:
    """A create whose name is taken is a 400 naming `name`; its members stay put."""
    ana = await new_user(api, "Ana")
    await created(api, "/api/departments", {"name": "Sales"})
    body = {"name": "Sales", "members": [{"id": ana, "isAdmin": True}]}
    async with api.unchanged(org="o1", workspace="o1"):
        answer = await api.client.post("/api/departments", json=body, headers=boss(api))
    assert answer.status_code == 400, answer.text
    assert fields_of(answer) == ["name"]


async def test_a_head_who_moves_heads_nothing_until_made_head_again(api: Api) -> None:
    """A head moved to another department is no longer its old department's head, nor
    `isDepartmentHead`; made head of the new one, they are again; unmade, they stay a member."""
    ana = await new_user(api, "Ana")
    a = await created(
        api, "/api/departments", {"name": "A", "members": [{"id": ana, "isAdmin": True}]}
    )
    b = await created(api, "/api/departments", {"name": "B"})
    assert (await user(api, ana))["isDepartmentHead"] is True

    body = {"addMembers": [{"id": ana}]}
    answer = await api.client.post(
        f"/api/departments/{b['id']}/members", json=body, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["departmentHeads"] == []
    old = (await api.client.get(f"/api/departments/{a['id']}/members", headers=boss(api))).json()
    assert old["departmentHeads"] == [] and old["members"] == []
    assert (await user(api, ana))["isDepartmentHead"] is False

    head = {"add": [{"id": ana, "isAdmin": True}]}
    answer = await api.client.patch(
        f"/api/departments/{b['id']}/admin", json=head, headers=boss(api)
    )
    assert answer.json()["departmentHeads"] == [ana]
    assert (await user(api, ana))["isDepartmentHead"] is True

    answer = await api.client.patch(
        f"/api/departments/{b['id']}/admin", json={"remove": [ana]}, headers=boss(api)
    )
    assert answer.json()["departmentHeads"] == []
    found = await user(api, ana)
    assert found["isDepartmentHead"] is False and found["department"] == b["id"]


async def test_removing_a_user_who_is_no_member_changes_nothing(api: Api) -> None:
    """`removeMembers` naming a user of another department (or of none) is a no-op."""
    ana = await new_user(api, "Ana")
    a = await created(api, "/api/departments", {"name": "A", "members": [{"id": ana}]})
    b = await created(api, "/api/departments", {"name": "B"})
    async with api.unchanged(org="o1", workspace="o1"):
        answer = await api.client.post(
            f"/api/departments/{b['id']}/members", json={"removeMembers": [ana]}, headers=boss(api)
        )
    assert answer.status_code == 200, answer.text
    assert (await user(api, ana))["department"] == a["id"]


async def test_a_user_both_added_and_removed_is_refused(api: Api) -> None:
    """The seed's members example names one id in both lists: ambiguous, so a 400 naming
    the second place, for departments and locations alike."""
    ana = await new_user(api, "Ana")
    dept = await created(api, "/api/departments", {"name": "A"})
    place = await created(api, "/api/locations", {"name": "Berlin"})
    for path, body in (
        (
            f"/api/departments/{dept['id']}/members",
            {"addMembers": [{"id": ana}], "removeMembers": [ana]},
        ),
        (f"/api/locations/{place['id']}/members", {"addMembers": [ana], "removeMembers": [ana]}),
    ):
        async with api.unchanged(org="o1", workspace="o1"):
            answer = await api.client.post(path, json=body, headers=boss(api))
        assert answer.status_code == 400, answer.text
        assert fields_of(answer) == ["removeMembers.0"]


async def test_member_moves_are_user_updated_events(api: Api) -> None:
    """Moving users writes their records through the engine: a `user.updated` event each,
    after the department's own event, on the organization's stream."""
    ana, ben = [await new_user(api, n) for n in ("Ana", "Ben")]
    cursor = await api.head(org="o1", workspace="o1")
    body = {"name": "A", "members": [{"id": ana, "isAdmin": True}, {"id": ben}]}
    await created(api, "/api/departments", body)
    url = "/v1/orgs/o1/workspaces/o1/sync/events"
    params = {"after": cursor} if cursor else {}
    page = await api.client.get(url, params=params, headers=boss(api))
    types = [e["type"] for e in page.json()["events"]]
    assert types == ["department.created", "user.updated", "user.updated"]


async def test_a_deleted_location_is_cleared_from_every_user_naming_it(api: Api) -> None:
    """Deleting a location clears it as members' location and from their additional
    locations, in the delete's own step."""
    ana, ben = [await new_user(api, n) for n in ("Ana", "Ben")]
    place = (await created(api, "/api/locations", {"name": "Berlin"}))["id"]
    other = (await created(api, "/api/locations", {"name": "Paris"}))["id"]
    await api.client.post(
        f"/api/locations/{place}/members", json={"addMembers": [ana]}, headers=boss(api)
    )
    answer = await api.client.patch(
        f"/api/users/{ben}", json={"addAdditionalLocations": [place, other]}, headers=boss(api)
    )
    assert answer.status_code == 200, answer.text
    answer = await api.client.delete(f"/api/locations/{place}", headers=boss(api))
    assert answer.status_code == 200, answer.text
    assert (await user(api, ana))["location"] == {}
    assert (await user(api, ben))["addAdditionalLocations"] == [other]


# --- refusals -------------------------------------------------------------------------------------


async def _fixtures(api: Api) -> tuple[str, str, str, str]:
    ana = await new_user(api, "Ana")
    dept = (await created(api, "/api/departments", {"name": "A"}))["id"]
    place = (await created(api, "/api/locations", {"name": "Berlin"}))["id"]
    group = (await created(api, "/api/security_groups", {"name": "Managers"}))["id"]
    return ana, dept, place, group


def _writes(ana: str, dept: str, place: str, group: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", "/api/departments", {"name": "B", "members": [{"id": ana}]}),
        ("PATCH", f"/api/departments/{dept}", {"name": "C"}),
        ("PATCH", f"/api/departments/{dept}/admin", {"add": [{"id": ana, "isAdmin": True}]}),
        ("POST", f"/api/departments/{dept}/members", {"addMembers": [{"id": ana}]}),
        ("DELETE", f"/api/departments/{dept}", None),
        ("POST", "/api/locations", {"name": "Paris"}),
        ("PATCH", f"/api/locations/{place}", {"name": "Rome"}),
        ("POST", f"/api/locations/{place}/members", {"addMembers": [ana]}),
        ("DELETE", f"/api/locations/{place}", None),
        ("POST", "/api/security_groups", {"name": "Staff"}),
        ("POST", f"/api/security_groups/{group}/members", {"ids": [ana]}),
        ("DELETE", f"/api/security_groups/{group}/members", {"ids": [ana]}),
    ]


async def test_every_write_is_an_admins(api: Api) -> None:
    """A member who is no admin gets 403, in WorkDrive's envelope, for every write; nothing
    changes."""
    sent = _writes(*await _fixtures(api))
    async with api.unchanged(org="o1", workspace="o1"):
        for method, path, body in sent:
            answer = await api.client.request(method, path, json=body, headers=member(api))
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["statusCode"] == 403 and answer.json()["errors"] == []


async def test_another_organizations_ids_are_not_found_in_paths(api: Api) -> None:
    """Every route naming a record of another organization in its path is a 404."""
    _, dept, place, group = await _fixtures(api)
    ana = await new_user(api, "Ana", org="o2")
    paths = {dept, place, group}
    sent = [s for s in _writes(ana, dept, place, group) if any(p in s[1] for p in paths)]
    sent += [
        ("GET", f"/api/departments/{dept}/members", None),
        ("GET", f"/api/locations/{place}/members", None),
    ]
    async with api.unchanged(org="o2", workspace="o2"):
        for method, path, body in sent:
            answer = await api.client.request(method, path, json=body, headers=boss(api, "o2"))
            assert answer.status_code == 404, (method, path, answer.text)


async def test_another_organizations_users_in_bodies_are_refused_by_name(api: Api) -> None:
    """A body naming another organization's user is a 400 naming where; nothing changes."""
    _, dept, place, group = await _fixtures(api)
    stranger = await new_user(api, "Olga", org="o2")
    sent = [
        ("PATCH", f"/api/departments/{dept}/admin", {"remove": stranger}, "remove"),
        ("PATCH", f"/api/departments/{dept}/admin", {"add": [{"id": stranger}]}, "add.0.id"),
        (
            "POST",
            f"/api/departments/{dept}/members",
            {"removeMembers": [stranger]},
            "removeMembers.0",
        ),
        (
            "POST",
            "/api/departments",
            {"name": "X", "members": [{"id": stranger}]},
            "members.0.id",
        ),
        (
            "POST",
            "/api/departments",
            {"name": "X", "members": [{"id": stranger, "existingDept": str(uuid4())}]},
            "members.0.existingDept",
        ),
        ("POST", f"/api/locations/{place}/members", {"addMembers": [stranger]}, "addMembers.0"),
        ("POST", f"/api/security_groups/{group}/members", {"ids": [stranger]}, "ids.0"),
    ]
    async with api.unchanged(org="o1", workspace="o1"):
        for method, path, body, field in sent:
            answer = await api.client.request(method, path, json=body, headers=boss(api))
            assert answer.status_code == 400, (path, answer.text)
            assert fields_of(answer) == [field], path


async def test_unknown_body_fields_are_refused_by_name(api: Api) -> None:
    """A field no route reads is a 400 naming it (heads too: they have their own routes)."""
    ana, dept, place, group = await _fixtures(api)
    sent = [
        ("POST", "/api/departments", {"name": "X", "colour": "red"}, "colour"),
        (
            "POST",
            "/api/departments",
            {"name": "X", "members": [{"id": ana, "x": 1}]},
            "members.0.x",
        ),
        ("PATCH", f"/api/departments/{dept}", {"departmentHeads": [ana]}, "departmentHeads"),
        ("PATCH", f"/api/departments/{dept}/admin", {"heads": [ana]}, "heads"),
        ("POST", f"/api/locations/{place}/members", {"add": [ana]}, "add"),
        ("PATCH", f"/api/locations/{place}", {"city": "Rome"}, "city"),
        ("POST", f"/api/security_groups/{group}/members", {"users": [ana]}, "users"),
    ]
    async with api.unchanged(org="o1", workspace="o1"):
        for method, path, body, field in sent:
            answer = await api.client.request(method, path, json=body, headers=boss(api))
            assert answer.status_code == 400, (path, answer.text)
            assert field in fields_of(answer), (path, answer.text)
