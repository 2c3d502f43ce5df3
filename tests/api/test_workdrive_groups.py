"""Seed 004's departments, locations and security groups: the seed's own request examples
replayed (its ids replaced by real ones), answers compared with its response examples, and
the rules Huddle adds: admin-only writes, tenant isolation, and member moves that apply whole
or not at all."""

from __future__ import annotations

from typing import Any, Final
from uuid import uuid4

import pytest

from tests.support.workdrive import (
    LIST_NULLABLE,
    META,
    SUMMARY,
    Org,
    add_member,
    add_user,
    assert_shape,
    create_org,
    created,
    error,
    fields_in_order,
    fields_of,
    ok,
)

from .conftest import Api

# --- the seed's response examples (compared by `assert_shape`: names and JSON types) ----------

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

# --- helpers: everything through the routes, as the organization's first admin ---------------

#: A group no organization has by default (each has Administrators, Managers and Members).
GROUP: Final = "Reviewers"


async def new_user(api: Api, org: Org, name: str) -> str:
    """A user of `org` named `name`: its id."""
    email = f"{name.lower()}-{uuid4().hex[:6]}@example.com"
    values = {"lastName": "Smith", "phone": "+13756366604", "color": "#2d9cdb"}
    made = await add_user(api.client, org, email, firstName=name, designation="Engineer", **values)
    user_id: str = made["id"]
    return user_id


async def make(api: Api, org: Org, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A department, location or security group of `org`, made by its admin."""
    return await created(api.client, org.headers, path, body)


async def member(api: Api, org: Org) -> dict[str, str]:
    """The headers of a new user of `org` who is no admin."""
    _, headers = await add_member(api.client, org, f"mia-{uuid4().hex[:6]}@example.com")
    return headers


async def user(api: Api, org: Org, user_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(await api.client.get(f"/api/users/{user_id}", headers=org.headers))
    return found


async def listed(api: Api, org: Org, path: str, key: str) -> list[dict[str, Any]]:
    answer = await api.client.get(path, params={"per_page": 100}, headers=org.headers)
    items: list[dict[str, Any]] = ok(answer)[key]
    return items


async def users_state(api: Api, org: Org) -> list[dict[str, Any]]:
    return await listed(api, org, "/api/users", "users")


async def renamed_then_deleted(
    api: Api, org: Org, path: str, name: str, example: dict[str, Any]
) -> None:
    """The record at `path` renamed (answered as the seed's `example` shows), then deleted."""
    answer = await api.client.patch(path, json={"name": name}, headers=org.headers)
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), example)
    assert answer.json()["name"] == name

    answer = await api.client.delete(path, headers=org.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ids": [path.rsplit("/", 1)[-1]], "deleted": 1}


# --- the seed's examples, replayed --------------------------------------------------------------


async def test_department_routes_answer_as_the_seed_shows(api: Api) -> None:
    """Each department route, sent the seed's request example (with real ids), answers the
    fields of the seed's response example, with the same JSON types."""
    org = await create_org(api.client)
    ana, ben, cy = [await new_user(api, org, n) for n in ("Ana", "Ben", "Cy")]
    sales = await make(api, org, "/api/departments", {"name": "Sales", "members": [{"id": ana}]})
    # the seed's create example: its user and existing department ids replaced by real ones
    body = {
        "members": [{"id": ana, "existingDept": sales["id"], "isDepartmentHead": False}],
        "name": "Management",
    }
    answer = await api.client.post("/api/departments", json=body, headers=org.headers)
    assert answer.status_code == 201, answer.text
    department = answer.json()
    assert_shape(department, DEPARTMENT)
    assert department["orgId"] == org.id and department["name"] == "Management"
    dept = department["id"]
    assert (await user(api, org, ana))["department"] == dept

    # the seed's head example: it sends one id to remove and one user to add
    body = {
        "remove": cy,
        "add": [
            {"id": ben, "isAdmin": False, "existingDept": sales["id"], "isDepartmentHead": False}
        ],
    }
    answer = await api.client.patch(
        f"/api/departments/{dept}/admin", json=body, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), DEPARTMENT)
    assert answer.json()["departmentHeads"] == [ben]
    assert (await user(api, org, ben))["isDepartmentHead"] is True

    answer = await api.client.get(
        "/api/departments", params={"cur_page": 1, "per_page": 10}, headers=org.headers
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
    answer = await api.client.post(
        f"/api/departments/{dept}/members", json=body, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), DEPARTMENT_MEMBERS)
    assert sorted(m["id"] for m in answer.json()["members"]) == sorted([ben, cy])
    assert (await user(api, org, ana))["department"] is None

    answer = await api.client.get(f"/api/departments/{dept}/members", headers=org.headers)
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), DEPARTMENT_MEMBERS)
    assert answer.json()["departmentHeads"] == [ben] and answer.json()["memberCount"] == 2
    answer = await api.client.get(f"/api/departments/{dept}", headers=await member(api, org))
    assert answer.status_code == 200, answer.text
    assert answer.json()["memberCount"] == 2 and answer.json()["admins"][0]["id"] == ben

    await renamed_then_deleted(api, org, f"/api/departments/{dept}", "Management 2", DEPARTMENT)
    for member_id in (ben, cy):
        found = await user(api, org, member_id)
        assert found["department"] is None and found["isDepartmentHead"] is False


async def test_location_routes_answer_as_the_seed_shows(api: Api) -> None:
    """Each location route, sent the seed's request example (with real ids), answers the
    fields of the seed's response example, with the same JSON types."""
    org = await create_org(api.client)
    ana, ben, cy = [await new_user(api, org, n) for n in ("Ana", "Ben", "Cy")]
    answer = await api.client.post("/api/locations", json={"name": "Berlin"}, headers=org.headers)
    assert answer.status_code == 201, answer.text
    assert_shape(answer.json(), LOCATION_CREATED)
    assert answer.json()["addedBy"] == org.admin_id and answer.json()["orgId"] == org.id
    place = answer.json()["id"]

    # the seed's example adds and removes one id; real users here, one of them not a member
    body = {"addMembers": [ana, ben], "removeMembers": [cy]}
    answer = await api.client.post(
        f"/api/locations/{place}/members", json=body, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), LOCATION_MEMBERS)
    assert sorted(m["id"] for m in answer.json()["members"]) == sorted([ana, ben])
    assert (await user(api, org, ana))["location"]["id"] == place

    answer = await api.client.get(
        "/api/locations", params={"cur_page": 1, "per_page": 10}, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), LOCATIONS_LISTED, nullable=LIST_NULLABLE)
    assert answer.json()["locations"][0]["memberCount"] == 2

    answer = await api.client.get(f"/api/locations/{place}/members", headers=org.headers)
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), LOCATION_MEMBERS)

    await renamed_then_deleted(api, org, f"/api/locations/{place}", "New Jersey", LOCATION)
    assert (await user(api, org, ana))["location"] == {}


async def test_security_group_routes_answer_as_the_seed_shows(api: Api) -> None:
    """The group list and its member routes, sent the seed's examples (real ids), answer
    the seed's fields; the answer to a member change is the group with its count."""
    org = await create_org(api.client)
    ana, ben = [await new_user(api, org, n) for n in ("Ana", "Ben")]
    group = (await make(api, org, "/api/security_groups", {"name": GROUP}))["id"]
    body = {"ids": [ana, ben]}
    answer = await api.client.post(
        f"/api/security_groups/{group}/members", json=body, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["memberCount"] == 2 and answer.json()["id"] == group
    assert (await user(api, org, ana))["securityGroup"] == group

    answer = await api.client.get(
        "/api/security_groups", params={"cur_page": 1, "per_page": 10}, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert_shape(answer.json(), GROUPS_LISTED, nullable=LIST_NULLABLE)
    # the organization's default groups are listed too: this one is found by its id
    mine = next(g for g in answer.json()["groups"] if g["id"] == group)
    assert mine["memberCount"] == 2

    answer = await api.client.request(
        "DELETE", f"/api/security_groups/{group}/members", json={"ids": [ana]}, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["memberCount"] == 1
    assert (await user(api, org, ana))["securityGroup"] is None


async def test_the_seeds_group_member_paths_with_a_stray_brace_work(api: Api) -> None:
    """`/api/security_groups/{groupId}/members}` as the seed writes it: sent encoded (`%7D`)
    or raw, it is the same route."""
    org = await create_org(api.client)
    ana, ben = [await new_user(api, org, n) for n in ("Ana", "Ben")]
    group = (await make(api, org, "/api/security_groups", {"name": GROUP}))["id"]
    for path, ids, count in (
        (f"/api/security_groups/{group}/members%7D", [ana], 1),
        (f"/api/security_groups/{group}/members}}", [ben], 2),
    ):
        answer = await api.client.post(path, json={"ids": ids}, headers=org.headers)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["memberCount"] == count
    answer = await api.client.request(
        "DELETE",
        f"/api/security_groups/{group}/members%7D",
        json={"ids": [ana, ben]},
        headers=org.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["memberCount"] == 0


async def test_a_location_create_sent_to_the_departments_path_creates_a_department(
    api: Api,
) -> None:
    """The seed documents a location create as `POST /api/departments {"name"}`: that body
    is a department create without members, so it makes a department, as the path says."""
    org = await create_org(api.client)
    await make(api, org, "/api/departments", {"name": "Berlin"})
    departments = await listed(api, org, "/api/departments", "departments")
    assert [d["name"] for d in departments] == ["Berlin"]
    assert await listed(api, org, "/api/locations", "locations") == []


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
    """Ten records, three a page (`per_page` sent as a string): exact totals, `nextPage` null
    on the last page, every record once. Security groups count the organization's three
    defaults as well (thirteen: five pages); departments and locations have none (four)."""
    org = await create_org(api.client)
    defaults = {item["name"] for item in await listed(api, org, path, key)}
    assert len(defaults) == (3 if key == "groups" else 0)
    names = {f"n{i}" for i in range(10)}
    for name in sorted(names):
        await make(api, org, path, {"name": name})
    total = len(names | defaults)
    pages = -(-total // 3)
    headers = await member(api, org)
    seen: list[str] = []
    for page in range(1, pages + 1):
        answer = await api.client.get(
            path, params={"cur_page": str(page), "per_page": "3"}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["meta"] == {
            "perPage": 3,
            "totalPages": pages,
            "totalResults": total,
            "curPage": page,
            "nextPage": page + 1 if page < pages else None,
        }
        assert len(body[key]) == (3 if page < pages else total - 3 * (pages - 1))
        seen += [item["name"] for item in body[key]]
    assert sorted(seen) == sorted(names | defaults)


# --- moves ----------------------------------------------------------------------------------------


async def test_a_refused_member_leaves_no_department_and_no_user_changed(api: Api) -> None:
    """A create naming one bad member (a random id, another organization's user) is a 400
    naming each, and nothing of it happens: no department, no user moved, no event."""
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    ana = await new_user(api, org, "Ana")
    stranger = await new_user(api, other, "Olga")
    before = (
        await listed(api, org, "/api/departments", "departments"),
        await users_state(api, org),
    )
    body = {
        "name": "Management",
        "members": [{"id": ana, "isAdmin": True}, {"id": str(uuid4())}, {"id": stranger}],
    }
    async with api.unchanged(org=org.id, workspace=org.id):
        answer = await api.client.post("/api/departments", json=body, headers=org.headers)
    assert answer.status_code == 400, answer.text
    assert fields_in_order(error(answer, 400)) == ["members.1.id", "members.2.id"]
    assert answer.json()["statusCode"] == 400
    after = (
        await listed(api, org, "/api/departments", "departments"),
        await users_state(api, org),
    )
    assert after == before


async def test_a_taken_name_leaves_the_members_where_they_were(api: Api) -> None:
    """A create whose name is taken is a 400 naming `name`; its members stay put."""
    org = await create_org(api.client)
    ana = await new_user(api, org, "Ana")
    await make(api, org, "/api/departments", {"name": "Sales"})
    body = {"name": "Sales", "members": [{"id": ana, "isAdmin": True}]}
    async with api.unchanged(org=org.id, workspace=org.id):
        answer = await api.client.post("/api/departments", json=body, headers=org.headers)
    assert answer.status_code == 400, answer.text
    assert fields_in_order(error(answer, 400)) == ["name"]


async def test_a_head_who_moves_heads_nothing_until_made_head_again(api: Api) -> None:
    """A head moved to another department is no longer its old department's head, nor
    `isDepartmentHead`; made head of the new one, they are again; unmade, they stay a member."""
    org = await create_org(api.client)
    ana = await new_user(api, org, "Ana")
    a = await make(
        api, org, "/api/departments", {"name": "A", "members": [{"id": ana, "isAdmin": True}]}
    )
    b = await make(api, org, "/api/departments", {"name": "B"})
    assert (await user(api, org, ana))["isDepartmentHead"] is True

    body = {"addMembers": [{"id": ana}]}
    answer = await api.client.post(
        f"/api/departments/{b['id']}/members", json=body, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["departmentHeads"] == []
    old = ok(await api.client.get(f"/api/departments/{a['id']}/members", headers=org.headers))
    assert old["departmentHeads"] == [] and old["members"] == []
    assert (await user(api, org, ana))["isDepartmentHead"] is False

    head = {"add": [{"id": ana, "isAdmin": True}]}
    answer = await api.client.patch(
        f"/api/departments/{b['id']}/admin", json=head, headers=org.headers
    )
    assert answer.json()["departmentHeads"] == [ana]
    assert (await user(api, org, ana))["isDepartmentHead"] is True

    answer = await api.client.patch(
        f"/api/departments/{b['id']}/admin", json={"remove": [ana]}, headers=org.headers
    )
    assert answer.json()["departmentHeads"] == []
    found = await user(api, org, ana)
    assert found["isDepartmentHead"] is False and found["department"] == b["id"]


async def test_removing_a_user_who_is_no_member_changes_nothing(api: Api) -> None:
    """`removeMembers` naming a user of another department (or of none) is a no-op."""
    org = await create_org(api.client)
    ana = await new_user(api, org, "Ana")
    a = await make(api, org, "/api/departments", {"name": "A", "members": [{"id": ana}]})
    b = await make(api, org, "/api/departments", {"name": "B"})
    async with api.unchanged(org=org.id, workspace=org.id):
        answer = await api.client.post(
            f"/api/departments/{b['id']}/members",
            json={"removeMembers": [ana]},
            headers=org.headers,
        )
    assert answer.status_code == 200, answer.text
    assert (await user(api, org, ana))["department"] == a["id"]


async def test_a_user_both_added_and_removed_is_refused(api: Api) -> None:
    """The seed's members example names one id in both lists: ambiguous, so a 400 naming
    the second place, for departments and locations alike."""
    org = await create_org(api.client)
    ana = await new_user(api, org, "Ana")
    dept = await make(api, org, "/api/departments", {"name": "A"})
    place = await make(api, org, "/api/locations", {"name": "Berlin"})
    for path, body in (
        (
            f"/api/departments/{dept['id']}/members",
            {"addMembers": [{"id": ana}], "removeMembers": [ana]},
        ),
        (f"/api/locations/{place['id']}/members", {"addMembers": [ana], "removeMembers": [ana]}),
    ):
        async with api.unchanged(org=org.id, workspace=org.id):
            answer = await api.client.post(path, json=body, headers=org.headers)
        assert answer.status_code == 400, answer.text
        assert fields_in_order(error(answer, 400)) == ["removeMembers.0"]


async def test_member_moves_are_user_updated_events(api: Api) -> None:
    """Moving users writes their records through the engine: a `user.updated` event each,
    after the department's own event, on the organization's stream."""
    org = await create_org(api.client)
    ana, ben = [await new_user(api, org, n) for n in ("Ana", "Ben")]
    cursor = await api.head(org=org.id, workspace=org.id)
    body = {"name": "A", "members": [{"id": ana, "isAdmin": True}, {"id": ben}]}
    await make(api, org, "/api/departments", body)
    params = {"after": cursor} if cursor else {}
    page = await api.client.get(f"{org.stream}/sync/events", params=params, headers=org.headers)
    types = [e["type"] for e in page.json()["events"]]
    assert types == ["department.created", "user.updated", "user.updated"]


async def test_a_deleted_location_is_cleared_from_every_user_naming_it(api: Api) -> None:
    """Deleting a location clears it as members' location and from their additional
    locations, in the delete's own step."""
    org = await create_org(api.client)
    ana, ben = [await new_user(api, org, n) for n in ("Ana", "Ben")]
    place = (await make(api, org, "/api/locations", {"name": "Berlin"}))["id"]
    other = (await make(api, org, "/api/locations", {"name": "Paris"}))["id"]
    await api.client.post(
        f"/api/locations/{place}/members", json={"addMembers": [ana]}, headers=org.headers
    )
    answer = await api.client.patch(
        f"/api/users/{ben}", json={"addAdditionalLocations": [place, other]}, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    answer = await api.client.delete(f"/api/locations/{place}", headers=org.headers)
    assert answer.status_code == 200, answer.text
    assert (await user(api, org, ana))["location"] == {}
    assert (await user(api, org, ben))["addAdditionalLocations"] == [other]


# --- refusals -------------------------------------------------------------------------------------


async def _fixtures(api: Api, org: Org) -> tuple[str, str, str, str]:
    ana = await new_user(api, org, "Ana")
    dept = (await make(api, org, "/api/departments", {"name": "A"}))["id"]
    place = (await make(api, org, "/api/locations", {"name": "Berlin"}))["id"]
    group = (await make(api, org, "/api/security_groups", {"name": GROUP}))["id"]
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
    org = await create_org(api.client)
    sent = _writes(*await _fixtures(api, org))
    headers = await member(api, org)
    async with api.unchanged(org=org.id, workspace=org.id):
        for method, path, body in sent:
            answer = await api.client.request(method, path, json=body, headers=headers)
            assert answer.status_code == 403, (method, path, answer.text)
            assert error(answer, 403)["errors"] == []


async def test_another_organizations_ids_are_not_found_in_paths(api: Api) -> None:
    """Every route naming a record of another organization in its path is a 404."""
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    _, dept, place, group = await _fixtures(api, org)
    ana = await new_user(api, other, "Ana")
    paths = {dept, place, group}
    sent = [s for s in _writes(ana, dept, place, group) if any(p in s[1] for p in paths)]
    sent += [
        ("GET", f"/api/departments/{dept}/members", None),
        ("GET", f"/api/locations/{place}/members", None),
    ]
    async with api.unchanged(org=other.id, workspace=other.id):
        for method, path, body in sent:
            answer = await api.client.request(method, path, json=body, headers=other.headers)
            assert answer.status_code == 404, (method, path, answer.text)


async def test_another_organizations_users_in_bodies_are_refused_by_name(api: Api) -> None:
    """A body naming another organization's user is a 400 naming where; nothing changes."""
    org = await create_org(api.client)
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    _, dept, place, group = await _fixtures(api, org)
    stranger = await new_user(api, other, "Olga")
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
    async with api.unchanged(org=org.id, workspace=org.id):
        for method, path, body, field in sent:
            answer = await api.client.request(method, path, json=body, headers=org.headers)
            assert answer.status_code == 400, (path, answer.text)
            assert fields_in_order(error(answer, 400)) == [field], path


async def test_unknown_body_fields_are_refused_by_name(api: Api) -> None:
    """A field no route reads is a 400 naming it (heads too: they have their own routes)."""
    org = await create_org(api.client)
    ana, dept, place, group = await _fixtures(api, org)
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
    async with api.unchanged(org=org.id, workspace=org.id):
        for method, path, body, field in sent:
            answer = await api.client.request(method, path, json=body, headers=org.headers)
            assert answer.status_code == 400, (path, answer.text)
            assert field in fields_of(error(answer, 400)), (path, answer.text)
