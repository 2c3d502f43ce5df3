"""Seed 004 (WorkDrive) people: organizations, users, supervisors and access tokens, replayed
from the seed's own examples against an in-process node (memory:// and a real Redis).

The seed's request examples are used as they are, except where they are not valid values:
ids (`"string"`, `"3fa85f64-..."`) are replaced by ids of records the test made, and emails
by distinct ones. Each response is compared with the seed's response example by field names
and JSON types (`assert_shape`); where the seed's own examples disagree (`picture` is `20` in
one and `{}` in another) the object form is the one Huddle answers (docs/api-workdrive.md).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import pytest

from tests.support.workdrive import (
    META,
    REPORTS_TO,
    Org,
    add_user,
    assert_shape,
    create_org,
    error,
    fields_of,
    token_of,
)

from .conftest import Api

#: Fields a user may lack a value for: answered null, never absent.
NULLABLE: Final = frozenset(
    {
        "lastName",
        "userName",
        "phone",
        "bio",
        "designation",
        "department",
        "reportsTo",
        "reportsToObj",
        "color",
        "updatedAt",
        "parentOrgId",
        "websites",
        "address",
        "email",
        "description",
        "industry",
        "file",
        "externalUserId",
        "nextPage",
    }
)

USER: Final = {
    "id": "string",
    "createdAt": "2022-12-22T09:09:12.831Z",
    "updatedAt": "2022-12-22T09:09:12.831Z",
    "createdBy": "string",
    "updatedBy": "string",
    "orgId": "string",
    "userName": "string",
    "email": "john@example.com",
    "status": "string",
    "firstName": "John",
    "lastName": "Smith",
    "picture": {},
    "cover": {},
    "bio": "string",
    "phone": "string",
    "reportsTo": "string",
    "designation": "string",
    "department": "string",
    "isDepartmentHead": True,
    "color": "string",
    "isExpert": True,
    "availability": 1,
    "location": {},
}
CREATED_USER: Final = {
    **USER,
    "teamMembers": ["string"],
    "userAdditionalTeams": ["string"],
    "addAdditionalLocations": ["string"],
}


@pytest.fixture
async def org(api: Api) -> Org:
    return await create_org(api.client)


# --- organization -------------------------------------------------------------------------------


async def test_create_organization_replays_the_seed(api: Api) -> None:
    body = {
        "name": "Stilla",
        "admin": {"firstName": "john", "lastName": "smith", "email": "abc@xyz.com"},
        "auth": {"method": "internal"},
    }
    answer = await api.client.post(
        "/api/organization",
        json=body,
        headers={"X-API-KEY": "op_test-operator-key-0123456789abcdef"},
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert_shape(
        made,
        {
            "createdAt": "2023-03-03T06:44:27.486Z",
            "updatedAt": None,
            "id": "bd06213a-a26b-4cd7-a6b8-cfa154073e1f",
            "status": "ACTIVE",
            "subdomain": "stilla",
            "parentOrgId": None,
            "name": "Stilla",
            "legalName": "Stilla",
            "websites": None,
            "address": None,
            "email": None,
            "phone": None,
            "description": None,
            "industry": None,
            "authMethod": "internal",
            "createdBy": "a3068d46-b993-11ed-afa1-0242ac120002",
            "accessToken": "3fexxx-xxx-x-xxxxx-xxxx-xxxx-xxxxx",
        },
    )
    assert (made["subdomain"], made["status"], made["authMethod"]) == (
        "stilla",
        "ACTIVE",
        "internal",
    )
    admin = {"X-API-KEY": made["accessToken"]}
    me = (await api.client.get(f"/api/users/{made['createdBy']}", headers=admin)).json()
    assert me["email"] == "abc@xyz.com"
    again = await create_org(api.client, email="other@xyz.com")
    assert again.id != made["id"]
    mine = await api.client.get(f"/api/organization/{again.id}", headers=again.headers)
    assert mine.json()["subdomain"].startswith("stilla-")


async def test_organization_create_needs_the_operator_key(api: Api) -> None:
    body = {"name": "Acme", "admin": {"firstName": "a", "email": "a@acme.io"}}
    error(await api.client.post("/api/organization", json=body), 401)
    bad = {"X-API-KEY": "op_not-the-operator-key-0123456789abcdef"}
    error(await api.client.post("/api/organization", json=body, headers=bad), 401)
    org = await create_org(api.client)
    error(await api.client.post("/api/organization", json=body, headers=org.headers), 401)


async def test_organization_create_refuses_bad_bodies_and_creates_nothing(api: Api) -> None:
    key = {"X-API-KEY": "op_test-operator-key-0123456789abcdef"}
    for body, field in (
        ({"admin": {"firstName": "a", "email": "a@acme.io"}}, "name"),
        ({"name": "A", "admin": {"firstName": "a", "email": "not-an-email"}}, "admin.email"),
        ({"name": "A", "admin": {"firstName": "a", "email": "a@acme.io"}, "x": 1}, "x"),
        (
            {
                "name": "A",
                "admin": {"firstName": "a", "email": "a@a.io"},
                "auth": {"method": "saml"},
            },
            "auth.method",
        ),
    ):
        answer = error(await api.client.post("/api/organization", json=body, headers=key), 400)
        assert field in fields_of(answer), answer


async def test_update_organization_replays_the_seed(api: Api, org: Org) -> None:
    body = {
        "fileId": "38443974-b996-11ed-afa1-0242ac120002",
        "name": "Stilla",
        "legalName": "stilla",
        "websites": ["abc_stilla.com"],
        "address": {
            "street1": "3739 Liberty Avenue",
            "street2": None,
            "city": "Anaheim",
            "state": "California",
            "zip": "92805",
        },
        "email": "stilla@abc.com",
        "phone": "714-517-5291",
        "description": "Real estate organization",
        "industry": None,
    }
    answer = await api.client.patch(f"/api/organization/{org.id}", json=body, headers=org.headers)
    assert answer.status_code == 200, answer.text
    assert_shape(
        answer.json(),
        {
            "createdAt": "2023-03-03T07:53:49.830Z",
            "updatedAt": "2023-03-03T07:53:49.830Z",
            "id": "string",
            "status": "string",
            "subdomain": "string",
            "parentOrgId": "string",
            "name": "string",
            "legalName": "string",
            "websites": ["string"],
            "address": {
                "street1": "string",
                "street2": "string",
                "city": "string",
                "state": "string",
                "zip": "string",
            },
            "file": {"id": "string"},
            "email": "abc@xyz.com",
            "phone": "714-517-5291",
            "description": "Real estate company",
            "industry": "Real estate",
            "authMethod": ["internal"],
        },
        nullable=NULLABLE | {"street2"},
    )
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    error(
        await api.client.patch(
            f"/api/organization/{other.id}", json={"name": "x"}, headers=org.headers
        ),
        404,
    )
    error(
        await api.client.patch(
            f"/api/organization/{org.id}", json={"subdomain": "x"}, headers=org.headers
        ),
        400,
    )


# --- users ----------------------------------------------------------------------------------------


async def test_user_create_update_and_list_replay_the_seed(api: Api, org: Org) -> None:
    groups = (await api.client.get("/api/security_groups", headers=org.headers)).json()["groups"]
    boss = await add_user(api.client, org, "boss@stilla.io", designation="Boss")
    made = await api.client.post(
        "/api/departments", json={"name": "Management"}, headers=org.headers
    )
    assert made.status_code == 201, made.text
    department = made.json()["id"]
    # The seed's create example, with its "string" ids replaced by real ones.
    body = {
        "email": "john@example.com",
        "phone": "+13756366604",
        "firstName": "John",
        "lastName": "Smith",
        "designation": "Manager",
        "isDepartmentHead": True,
        "department": department,
        "securityGroup": groups[0]["id"],
        "reportsTo": boss["id"],
        "skill": ["string"],
        "defaultVisibility": "public",
        "addAdditionalTeams": [boss["id"]],
    }
    answer = await api.client.post(
        "/api/users/add", params={"bulk": "true"}, json=body, headers=org.headers
    )
    assert answer.status_code == 201, answer.text
    john = answer.json()
    assert_shape(john, CREATED_USER, nullable=NULLABLE)
    assert john["reportsToObj"]["id"] == boss["id"]
    assert_shape(john["reportsToObj"], REPORTS_TO, nullable=NULLABLE)
    assert john["userAdditionalTeams"] == [boss["id"]]
    heads = await api.client.get(f"/api/departments/{department}/members", headers=org.headers)
    assert heads.json()["departmentHeads"] == [john["id"]]

    update = {
        "firstName": "John",
        "lastName": "Smith",
        "status": "ARCHIVE",
        "phone": "+13756366604",
        "isExpert": False,
        "availability": "AWAY",
        "fileId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "coverFileId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "reportsTo": boss["id"],
        "designation": "Web Developer",
        "bio": "string",
        "isDepartmentHead": False,
        "removeAdditionalTeams": [boss["id"]],
    }
    answer = await api.client.patch(f"/api/users/{john['id']}", json=update, headers=org.headers)
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert_shape(updated, {**CREATED_USER, "badges": []} | {"badges": []}, nullable=NULLABLE)
    assert (updated["availability"], updated["availabilityStatusText"]) == (2, "Away")
    assert updated["picture"] == {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}
    assert updated["userAdditionalTeams"] == []
    assert updated["isDepartmentHead"] is False
    heads = await api.client.get(f"/api/departments/{department}/members", headers=org.headers)
    assert heads.json()["departmentHeads"] == []

    listed = await api.client.get(
        "/api/users", params={"cur_page": 1, "per_page": 5}, headers=org.headers
    )
    assert listed.status_code == 200, listed.text
    assert_shape(
        listed.json(),
        {"users": [USER | {"reportsToObj": REPORTS_TO}], "meta": META},
        nullable=NULLABLE,
    )
    boss_row = next(u for u in listed.json()["users"] if u["id"] == boss["id"])
    assert boss_row["teamMembers"] == [john["id"]]

    supervisors = await api.client.get(
        "/api/users/supervisors",
        params={"cur_page": 1, "per_page": 5, "userId": john["id"]},
        headers=org.headers,
    )
    assert supervisors.status_code == 200, supervisors.text
    assert_shape(
        supervisors.json(),
        {
            "users": [
                {
                    "id": "string",
                    "email": "john@example.com",
                    "firstName": "John",
                    "lastName": "Smith",
                }
            ],
            "meta": META,
        },
        nullable=NULLABLE,
    )
    assert [u["id"] for u in supervisors.json()["users"]] == [boss["id"]]


async def test_availability_accepts_names_and_integers_and_refuses_others(
    api: Api, org: Org
) -> None:
    user = await add_user(api.client, org, "ana@stilla.io")
    for sent, stored, text in (
        ("AWAY", 2, "Away"),
        ("active", 1, "Active"),
        (2, 2, "Away"),
        (1, 1, "Active"),
    ):
        answer = await api.client.patch(
            f"/api/users/{user['id']}", json={"availability": sent}, headers=org.headers
        )
        assert answer.status_code == 200, answer.text
        assert (answer.json()["availability"], answer.json()["availabilityStatusText"]) == (
            stored,
            text,
        )
    for bad in ("BUSY", 3, True, "0"):
        answer = await api.client.patch(
            f"/api/users/{user['id']}", json={"availability": bad}, headers=org.headers
        )
        assert "availability" in fields_of(error(answer, 400))
    answer = await api.client.patch(
        f"/api/users/{user['id']}", json={"online": True}, headers=org.headers
    )
    assert "online" in fields_of(error(answer, 400))


async def test_bulk_create_and_bulk_delete_replay_the_seed(api: Api, org: Org) -> None:
    made = await api.client.post("/api/departments", json={"name": "Sales"}, headers=org.headers)
    department = made.json()["id"]
    items = [
        {
            "email": f"bulk{i}@stilla.io",
            "phone": "string",
            "firstName": "John",
            "lastName": "Smith",
            "designation": "Manager",
            "isDepartmentHead": True,
            "department": department,
            "skill": ["string"],
            "defaultVisibility": "restricted",
            "externalUserId": f"ext-{i}",
            "addAdditionalTeams": [org.admin_id],
            "reportsTo": org.admin_id,
        }
        for i in range(3)
    ]
    answer = await api.client.post(
        "/api/users/bulk-create", json={"data": items}, headers=org.headers
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert isinstance(made, list) and len(made) == 3
    assert_shape(made, [CREATED_USER], nullable=NULLABLE)
    ids = [u["id"] for u in made]
    heads = await api.client.get(f"/api/departments/{department}/members", headers=org.headers)
    assert sorted(heads.json()["departmentHeads"]) == sorted(ids)
    gone = await api.client.request(
        "DELETE", "/api/users/bulk-delete", json={"ids": ids[:2]}, headers=org.headers
    )
    assert gone.status_code == 200, gone.text
    assert sorted(gone.json()["ids"]) == sorted(ids[:2])
    by_id = await api.client.request(
        "DELETE", "/api/users/bulk-delete", json={"id": ids[2:]}, headers=org.headers
    )
    assert by_id.status_code == 200, by_id.text
    deleted = await api.client.delete(
        f"/api/users/{ids[0]}", params={"bulk": "true"}, headers=org.headers
    )
    error(deleted, 404)


async def test_bulk_create_is_all_or_nothing(api: Api, org: Org) -> None:
    await add_user(api.client, org, "taken@stilla.io")
    before = (await api.client.get("/api/users", headers=org.headers)).json()["meta"][
        "totalResults"
    ]
    for items, field in (
        (
            [
                {"email": "n1@stilla.io", "firstName": "a"},
                {"email": "TAKEN@stilla.io", "firstName": "b"},
            ],
            "email",
        ),
        (
            [
                {"email": "n2@stilla.io", "firstName": "a"},
                {"email": "n2@stilla.io", "firstName": "b"},
            ],
            "email",
        ),
        (
            [{"email": "n3@stilla.io", "firstName": "a"}, {"email": "bad", "firstName": "b"}],
            "data.1.email",
        ),
        ([{"email": "n4@stilla.io", "firstName": "a", "nope": 1}], "data.0.nope"),
    ):
        answer = await api.client.post(
            "/api/users/bulk-create", json={"data": items}, headers=org.headers
        )
        assert field in fields_of(error(answer, 400)), answer.text
    after = (await api.client.get("/api/users", headers=org.headers)).json()["meta"]["totalResults"]
    assert after == before


async def test_concurrent_bulk_creates_sharing_an_email_have_one_winner(api: Api, org: Org) -> None:
    for round_ in range(10):
        shared = f"shared{round_}@stilla.io"
        first = [{"email": f"a{round_}-{i}@stilla.io", "firstName": "a"} for i in range(5)] + [
            {"email": shared, "firstName": "s"}
        ]
        second = [{"email": shared.upper(), "firstName": "s"}] + [
            {"email": f"b{round_}-{i}@stilla.io", "firstName": "b"} for i in range(5)
        ]
        answers = await asyncio.gather(
            api.client.post("/api/users/bulk-create", json={"data": first}, headers=org.headers),
            api.client.post("/api/users/bulk-create", json={"data": second}, headers=org.headers),
        )
        assert sorted(a.status_code for a in answers) == [201, 400], [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 400)
        prefix = "a" if loser is answers[0] else "b"
        listed = (
            await api.client.get(
                "/api/users", params={"per_page": 100, "cur_page": 1}, headers=org.headers
            )
        ).json()
        emails = {u["email"] for u in listed["users"]}
        assert not any(e.startswith(f"{prefix}{round_}-") for e in emails)


async def test_pagination_with_per_page_as_a_string_and_filters(api: Api, org: Org) -> None:
    made = [await add_user(api.client, org, f"p{i:02}@stilla.io") for i in range(23)]
    total = 24  # and the admin
    seen: list[str] = []
    page = 1
    while True:
        answer = await api.client.get(
            "/api/users", params={"cur_page": str(page), "per_page": "5"}, headers=org.headers
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["meta"] == {
            "perPage": 5,
            "totalPages": 5,
            "totalResults": total,
            "curPage": page,
            "nextPage": page + 1 if page < 5 else None,
        }
        seen += [u["id"] for u in body["users"]]
        if body["meta"]["nextPage"] is None:
            break
        page += 1
    assert len(seen) == len(set(seen)) == total
    assert {u["id"] for u in made} <= set(seen)
    for bad in ("0", "-1", "x"):
        error(
            await api.client.get("/api/users", params={"cur_page": bad}, headers=org.headers), 400
        )


async def test_another_organizations_ids_are_404_and_its_data_invisible(api: Api, org: Org) -> None:
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    theirs = await add_user(api.client, other, "x@globex.io")
    error(await api.client.get(f"/api/users/{theirs['id']}", headers=org.headers), 404)
    error(
        await api.client.patch(
            f"/api/users/{theirs['id']}", json={"bio": "x"}, headers=org.headers
        ),
        404,
    )
    error(await api.client.delete(f"/api/users/{theirs['id']}", headers=org.headers), 404)
    answer = await api.client.post(
        "/api/users/add",
        json={"email": "r@stilla.io", "firstName": "r", "reportsTo": theirs["id"]},
        headers=org.headers,
    )
    assert "reportsTo" in fields_of(error(answer, 400))
    mine = (
        await api.client.get("/api/users", params={"per_page": 100}, headers=org.headers)
    ).json()
    assert theirs["id"] not in {u["id"] for u in mine["users"]}
    answer = await api.client.post(
        "/api/token/generate-access", json={"userId": theirs["id"]}, headers=org.headers
    )
    assert "userId" in fields_of(error(answer, 400))
    assert (
        await api.client.get(f"{other.stream}/sync/events", headers=org.headers)
    ).status_code == 404


async def test_admin_only_operations_are_403_to_other_users(api: Api, org: Org) -> None:
    ana = await add_user(api.client, org, "ana@stilla.io")
    ben = await add_user(api.client, org, "ben@stilla.io")
    as_ana = {"X-API-KEY": await token_of(api.client, org, ana["id"])}
    error(
        await api.client.post(
            "/api/users/add", json={"email": "n@stilla.io", "firstName": "n"}, headers=as_ana
        ),
        403,
    )
    error(await api.client.patch(f"/api/users/{ben['id']}", json={"bio": "x"}, headers=as_ana), 403)
    error(
        await api.client.patch(
            f"/api/users/{ana['id']}", json={"status": "ACTIVE"}, headers=as_ana
        ),
        403,
    )
    error(await api.client.delete(f"/api/users/{ben['id']}", headers=as_ana), 403)
    error(
        await api.client.patch(f"/api/organization/{org.id}", json={"name": "x"}, headers=as_ana),
        403,
    )
    error(
        await api.client.post(
            "/api/token/generate-access", json={"userId": ben["id"]}, headers=as_ana
        ),
        403,
    )
    own = await api.client.patch(
        f"/api/users/{ana['id']}", json={"availability": "AWAY", "bio": "hi"}, headers=as_ana
    )
    assert own.status_code == 200, own.text


async def test_a_new_token_revokes_the_previous_one_at_once(api: Api, org: Org) -> None:
    ana = await add_user(api.client, org, "ana@stilla.io")
    first = await token_of(api.client, org, ana["id"])
    assert (await api.client.get("/api/users", headers={"X-API-KEY": first})).status_code == 200
    second = await token_of(api.client, org, ana["id"])
    error(await api.client.get("/api/users", headers={"X-API-KEY": first}), 401)
    for headers in ({"X-API-KEY": second}, {"Authorization": f"Bearer {second}"}):
        assert (await api.client.get("/api/users", headers=headers)).status_code == 200
        assert (
            await api.client.get(f"{org.stream}/sync/events", headers=headers)
        ).status_code == 200
    deleted = await api.client.delete(f"/api/users/{ana['id']}", headers=org.headers)
    assert deleted.status_code == 200, deleted.text
    error(await api.client.get("/api/users", headers={"X-API-KEY": second}), 401)


async def test_generate_access_replays_the_seed(api: Api, org: Org) -> None:
    ana = await add_user(api.client, org, "ana@stilla.io")
    answer = await api.client.post(
        "/api/token/generate-access", json={"userId": ana["id"]}, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    assert_shape(
        answer.json(),
        {
            "userId": "20cf22ed-be0b-40ce-930b-5aae73d2563c",
            "token": "3080826c-1270-45c7-b40f-36ac317556fd",
        },
    )
    assert len(answer.json()["token"]) == 36


async def test_a_workdrive_token_is_a_huddle_credential_everywhere(api: Api, org: Org) -> None:
    ana = await add_user(api.client, org, "ana@stilla.io")
    token = await token_of(api.client, org, ana["id"])
    as_ana = {"X-API-KEY": token}
    lock = await api.client.post("/v1/collaboration/locks/deal/42", headers=as_ana)
    assert lock.status_code == 200, lock.text
    assert lock.json()["holder"]["userId"] == ana["id"]
    joined = await api.client.post(f"{org.stream}/sync/presence/join", headers=as_ana)
    assert joined.status_code == 200, joined.text
    listed = await api.client.get("/api/users", params={"per_page": 100}, headers=as_ana)
    row = next(u for u in listed.json()["users"] if u["id"] == ana["id"])
    assert row["online"] is True
    custom = await api.client.post(
        f"{org.stream}/events", json={"type": "note.sent", "data": {}}, headers=as_ana
    )
    assert custom.status_code == 201, custom.text


async def test_availability_changes_are_events_on_the_organizations_stream(
    api: Api, org: Org
) -> None:
    ana = await add_user(api.client, org, "ana@stilla.io")
    as_ana = {"X-API-KEY": await token_of(api.client, org, ana["id"])}
    for sent in ("AWAY", "ACTIVE"):
        answer = await api.client.patch(
            f"/api/users/{ana['id']}", json={"availability": sent}, headers=as_ana
        )
        assert answer.status_code == 200, answer.text
    events = await api.client.get(
        f"{org.stream}/sync/events", params={"limit": 1000}, headers=org.headers
    )
    changes = [e["data"] for e in events.json()["events"] if e["type"] == "user.availability"]
    assert changes == [
        {"userId": ana["id"], "availability": 2, "availabilityStatusText": "Away"},
        {"userId": ana["id"], "availability": 1, "availabilityStatusText": "Active"},
    ]


async def test_record_events_name_users_by_their_public_ids(api: Api, org: Org) -> None:
    boss = await add_user(api.client, org, "boss@stilla.io")
    ana = await add_user(api.client, org, "ana@stilla.io", reportsTo=boss["id"])
    answer = await api.client.patch(
        f"/api/users/{ana['id']}", json={"bio": "hi"}, headers=org.headers
    )
    assert answer.status_code == 200, answer.text
    events = await api.client.get(
        f"{org.stream}/sync/events", params={"limit": 1000}, headers=org.headers
    )
    mine = [e["data"] for e in events.json()["events"] if e["type"].startswith("user.")]
    about_ana = [d for d in mine if d.get("publicId") == ana["id"]]
    assert [d["values"]["reportsTo"] for d in about_ana] == [boss["id"], boss["id"]]
    assert about_ana[1]["changed"] == ["bio"]


async def test_users_filter_by_department_and_location_with_exact_totals(
    api: Api, org: Org
) -> None:
    sales = (
        await api.client.post("/api/departments", json={"name": "Sales"}, headers=org.headers)
    ).json()["id"]
    berlin = (
        await api.client.post("/api/locations", json={"name": "Berlin"}, headers=org.headers)
    ).json()["id"]
    expected: dict[tuple[bool, bool], set[str]] = {}
    for i in range(16):
        values: dict[str, Any] = {}
        if i % 2:
            values["department"] = sales
        if i % 3 == 0:
            values["location"] = berlin
        made = await add_user(api.client, org, f"f{i}@stilla.io", **values)
        expected.setdefault((bool(i % 2), i % 3 == 0), set()).add(made["id"])

    async def listed(**params: str) -> tuple[set[str], int]:
        seen: set[str] = set()
        page, total = 1, -1
        while page:
            answer = await api.client.get(
                "/api/users",
                params={**params, "cur_page": str(page), "per_page": "3"},
                headers=org.headers,
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            seen |= {u["id"] for u in body["users"]}
            total, page = body["meta"]["totalResults"], body["meta"]["nextPage"]
        return seen, total

    in_sales = expected[(True, True)] | expected[(True, False)]
    in_berlin = expected[(True, True)] | expected[(False, True)]
    assert await listed(department=sales) == (in_sales, len(in_sales))
    assert await listed(location=berlin) == (in_berlin, len(in_berlin))
    both = expected[(True, True)]
    assert await listed(department=sales, location=berlin) == (both, len(both))
    other = await create_org(api.client, name="Globex", email="g@globex.io")
    foreign = (
        await api.client.post("/api/departments", json={"name": "X"}, headers=other.headers)
    ).json()["id"]
    answer = await api.client.get("/api/users", params={"department": foreign}, headers=org.headers)
    assert "department" in fields_of(error(answer, 400))
