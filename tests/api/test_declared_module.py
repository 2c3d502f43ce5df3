"""A module served from its declaration alone (`tests/support/sample_module.py`): seed-004-like
tasks with an audience, nested objects, lists of values and references, bulk routes, in
WorkDrive's style — routes, bodies, envelopes, `meta`, errors and OpenAPI all derived, on
memory:// and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from huddle.config import DEV_ID_SECRET
from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.public_ids import PublicIds
from tests.support.sample_module import SAMPLE_MODULES

from .conftest import Api, app_settings, running_api

TASKS: Final = "/api/sample-tasks"
PROJECTS: Final = "/api/sample-projects"
BASE: Final = "/v1/orgs/acme/workspaces/ws1"


@pytest.fixture(params=["memory", "redis"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = "memory://"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url()
    async with running_api(app_settings(tmp_path, url), SAMPLE_MODULES) as api:
        yield api


async def post(api: Api, path: str, body: Any, user: str = "ana") -> dict[str, Any]:
    answer = await api.client.post(path, json=body, headers=api.auth(user))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def task(title: str = "t", **values: Any) -> dict[str, Any]:
    return {"title": title, **values}


async def listed(api: Api, user: str, **params: Any) -> dict[str, Any]:
    answer = await api.client.get(TASKS, params=params, headers=api.auth(user))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def titles(api: Api, user: str, **params: Any) -> list[str]:
    page = await listed(api, user, per_page=100, **params)
    return sorted(t["title"] for t in page["tasks"])


def wd_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"statusCode", "message", "error", "errors"}, body
    assert body["statusCode"] == status
    return body


async def test_a_record_round_trips_with_nested_values_lists_and_public_ids(api: Api) -> None:
    project = await post(api, PROJECTS, {"name": "Apollo"})
    assert uuid.UUID(project["id"]).version == 8
    sent = task(
        "Ship it",
        dueAt="2026-12-24T18:00:00+01:00",
        location={"textAddress": "Main St 1", "lat": 52.5},
        tags=["release", "q4", "release"],
        projects=[project["id"]],
    )
    made = await post(api, TASKS, sent)
    assert made["title"] == "Ship it"
    assert made["dueAt"] == "2026-12-24T17:00:00.000Z"
    assert made["location"] == {"textAddress": "Main St 1", "lat": 52.5}
    assert made["tags"] == ["release", "q4", "release"]
    assert made["projects"] == [project["id"]]
    assert made["createdBy"] == "ana" and made["createdAt"].endswith("Z")
    one = await api.client.get(f"{TASKS}/{made['id']}", headers=api.auth())
    assert one.status_code == 200 and one.json() == made


async def test_lists_filter_by_any_of_their_values_and_by_a_reference(api: Api) -> None:
    apollo = await post(api, PROJECTS, {"name": "Apollo"})
    gemini = await post(api, PROJECTS, {"name": "Gemini"})
    await post(api, TASKS, task("a", tags=["x", "y"], projects=[apollo["id"]]))
    await post(api, TASKS, task("b", tags=["y"], projects=[apollo["id"], gemini["id"]]))
    await post(api, TASKS, task("c", tags=["z"]))
    assert await titles(api, "ana", tag="y") == ["a", "b"]
    assert await titles(api, "ana", tag=["x", "z"]) == ["a", "c"]
    assert await titles(api, "ana", tag="x,y") == ["a", "b"]
    assert (await listed(api, "ana", tag="x,y"))["meta"]["totalResults"] == 2
    assert await titles(api, "ana", project=gemini["id"]) == ["b"]
    assert await titles(api, "ana", project=apollo["id"]) == ["a", "b"]


async def test_pages_carry_the_seeds_meta(api: Api) -> None:
    for n in range(12):
        await post(api, TASKS, task(f"t{n:02}"))
    first = await listed(api, "ana", per_page="5")
    assert first["meta"] == {
        "perPage": 5,
        "totalPages": 3,
        "totalResults": 12,
        "curPage": 1,
        "nextPage": 2,
    }
    last = await listed(api, "ana", per_page=5, cur_page=3)
    assert len(last["tasks"]) == 2 and last["meta"]["nextPage"] is None
    seen = [
        t["title"]
        for p in (1, 2, 3)
        for t in (await listed(api, "ana", per_page=5, cur_page=p))["tasks"]
    ]
    assert sorted(seen) == [f"t{n:02}" for n in range(12)] and len(set(seen)) == 12


async def test_the_audience_hides_a_task_from_everyone_outside_it(api: Api) -> None:
    private = await post(api, TASKS, task("private", permissions={"users": ["ben"]}))
    dept = await post(api, TASKS, task("dept", permissions={"departments": ["7"]}))
    await post(api, TASKS, task("open"))
    assert await titles(api, "ana") == ["dept", "open", "private"]
    assert await titles(api, "ben") == ["open", "private"]
    assert await titles(api, "cleo") == ["open"]
    assert (await listed(api, "cleo"))["meta"]["totalResults"] == 1
    for user in ("cleo", "boss"):
        wd_error(await api.client.get(f"{TASKS}/{private['id']}", headers=api.auth(user)), 404)
    admin = api.auth("boss", admin=True)
    joined = await api.client.put(
        f"{BASE}/sync/memberships/cleo", json={"members_of": ["department:7"]}, headers=admin
    )
    assert joined.status_code == 200, joined.text
    assert await titles(api, "cleo") == ["dept", "open"]
    seen = await api.client.get(f"{TASKS}/{dept['id']}", headers=api.auth("cleo"))
    assert seen.status_code == 200


async def test_an_update_that_drops_a_reader_tells_them_once_then_hides_the_task(
    api: Api,
) -> None:
    made = await post(api, TASKS, task("shared", permissions={"users": ["ben"]}))
    path = f"{TASKS}/{made['id']}"
    dropped = await api.client.patch(
        path, json={"permissions": {"users": ["cleo"]}, "title": "mine"}, headers=api.auth()
    )
    assert dropped.status_code == 200, dropped.text
    assert dropped.json()["permissions"] == {"users": ["cleo"], "departments": None}
    await api.client.patch(path, json={"title": "still mine"}, headers=api.auth())
    wd_error(await api.client.get(path, headers=api.auth("ben")), 404)
    wd_error(await api.client.patch(path, json={"title": "x"}, headers=api.auth("ben")), 404)
    events = await api.client.get(f"{BASE}/sync/events", headers=api.auth("ben"))
    seen = [(e["type"], e["data"]["values"]["title"]) for e in events.json()["events"]]
    assert seen == [("sample_task.created", "shared"), ("sample_task.updated", "mine")]


async def test_bad_values_are_400_field_by_field_and_change_nothing(api: Api) -> None:
    project = await post(api, PROJECTS, {"name": "Apollo"})
    other_collection_id = (await post(api, TASKS, task("x")))["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "title"),
        (task(location={"lat": 1}), "location.textAddress"),
        (task(location={"textAddress": "a", "floor": 2}), "location.floor"),
        (task(tags=[f"t{n}" for n in range(11)]), "tags"),
        (task(tags=["a", None]), "tags.1"),
        (task(projects=[str(uuid.uuid4())]), "projects.0"),
        (task(projects=[other_collection_id]), "projects.0"),
        (task(projects=[project["id"], 7]), "projects.1"),
        (task(dueAt="tomorrow"), "dueAt"),
    ]
    before = (await listed(api, "ana"))["meta"]["totalResults"]
    for body, field in cases:
        error = wd_error(await api.client.post(TASKS, json=body, headers=api.auth()), 400)
        assert field in [e["field"] for e in error["errors"]], (body, error)
    wd_error(await api.client.post(TASKS, json=["not", "an", "object"], headers=api.auth()), 400)
    assert (await listed(api, "ana"))["meta"]["totalResults"] == before


async def test_bulk_create_is_all_or_nothing_and_answers_a_bare_array(api: Api) -> None:
    made = await api.client.post(
        f"{TASKS}/bulk-create", json={"data": [task("a"), task("b"), task("c")]}, headers=api.auth()
    )
    assert made.status_code == 201, made.text
    assert [t["title"] for t in made.json()] == ["a", "b", "c"]
    gone = str(uuid.uuid4())
    refused = await api.client.post(
        f"{TASKS}/bulk-create",
        json={"data": [task("d"), task("e"), task("f", projects=[gone])]},
        headers=api.auth(),
    )
    error = wd_error(refused, 400)
    assert [e["field"] for e in error["errors"]] == ["data.2.projects.0"]
    assert await titles(api, "ana") == ["a", "b", "c"]


async def test_bulk_delete_is_all_or_nothing_and_hidden_ids_are_404(api: Api) -> None:
    mine = [await post(api, TASKS, task(f"m{n}")) for n in range(3)]
    hidden = await post(api, TASKS, task("hidden", permissions={"users": ["cleo"]}), "cleo")
    ids = [t["id"] for t in mine]
    refused = await api.client.request(
        "DELETE", f"{TASKS}/bulk-delete", json={"ids": [*ids, hidden["id"]]}, headers=api.auth()
    )
    wd_error(refused, 404)
    assert await titles(api, "ana") == ["m0", "m1", "m2"]
    deleted = await api.client.request(
        "DELETE", f"{TASKS}/bulk-delete", json={"ids": ids[:2]}, headers=api.auth()
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"ids": ids[:2], "deleted": 2}
    assert await titles(api, "ana") == ["m2"]
    one = await api.client.delete(f"{TASKS}/{ids[2]}", headers=api.auth())
    assert one.status_code == 200 and one.json() == {"ids": [ids[2]], "deleted": 1}


async def test_unknown_ids_and_credentials_answer_in_the_workdrive_envelope(api: Api) -> None:
    project = await post(api, PROJECTS, {"name": "Apollo"})
    for bad in ("nope", str(uuid.uuid4()), project["id"]):
        wd_error(await api.client.get(f"{TASKS}/{bad}", headers=api.auth()), 404)
    wd_error(await api.client.get(TASKS), 401)
    wd_error(await api.client.get(TASKS, params={"cur_page": 0}, headers=api.auth()), 400)
    wd_error(await api.client.get(f"{TASKS}/x/y", headers=api.auth()), 404)


async def test_the_openapi_document_describes_every_declared_route_with_examples(
    api: Api,
) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    ops = {
        (method, path): op
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
        if path.startswith("/api/sample-")
    }
    assert set(ops) == {
        ("get", TASKS),
        ("post", TASKS),
        ("post", f"{TASKS}/bulk-create"),
        ("delete", f"{TASKS}/bulk-delete"),
        ("get", f"{TASKS}/{{id}}"),
        ("patch", f"{TASKS}/{{id}}"),
        ("delete", f"{TASKS}/{{id}}"),
        ("get", PROJECTS),
        ("post", PROJECTS),
    }
    for key, op in ops.items():
        ok = op["responses"].get("200") or op["responses"].get("201")
        content = ok.get("content", {}).get("application/json")
        if content is not None:
            assert "example" in content["schema"], key
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert "example" in body["schema"], key
        assert "400" not in op["responses"] or "WorkDrive" in op["responses"]["400"]["description"]
    create = ops[("post", TASKS)]["requestBody"]["content"]["application/json"]["schema"]
    location = create["properties"]["location"]["anyOf"][0]
    assert location["required"] == ["textAddress"]
    assert create["properties"]["tags"]["anyOf"][0]["maxItems"] == 10


async def test_presence_and_locks_on_a_private_task_are_for_its_audience_only(api: Api) -> None:
    made = await post(api, TASKS, task("private", permissions={"users": ["ben"]}))
    lock = f"/v1/collaboration/locks/sample_task/{made['id']}"
    viewers = f"/v1/collaboration/presence/sample_task/{made['id']}"
    nowhere = f"/v1/collaboration/locks/sample_task/{uuid.uuid4()}"
    # an outsider meets a hidden task exactly as one that does not exist
    for path in (lock, nowhere):
        assert (await api.client.post(path, headers=api.auth("cleo"))).status_code == 404
    taken = await api.client.post(lock, headers=api.auth("ben"))
    assert taken.status_code == 200, taken.text
    token = taken.json()["fencingToken"]
    status = await api.client.get(lock, headers=api.auth("cleo"))
    assert status.status_code == 200 and status.json()["locked"] is False
    assert (await api.client.get(lock, headers=api.auth("ana"))).json()["locked"] is True
    view = {"resource_type": "sample_task", "resource_id": made["id"]}
    viewing = f"{BASE}/sync/presence/viewing"
    assert (await api.client.post(viewing, params=view, headers=api.auth("ben"))).status_code == 200
    assert (
        await api.client.post(viewing, params=view, headers=api.auth("cleo"))
    ).status_code == 404
    assert (await api.client.get(viewers, headers=api.auth("cleo"))).json()["count"] == 0
    assert (await api.client.get(viewers, headers=api.auth("ana"))).json()["count"] == 1
    roster = (await api.client.get(f"{BASE}/sync/presence", headers=api.auth("cleo"))).json()
    [ben] = [u for u in roster["users"] if u["user_id"] == "ben"]
    assert ben["viewing"] == []
    # the lock guards writes by the task's public id: Ana waits for Ben, Ben writes
    path = f"{TASKS}/{made['id']}"
    blocked = await api.client.patch(path, json={"title": "x"}, headers=api.auth("ana"))
    wd_error(blocked, 423)
    fenced = await api.client.patch(
        path, json={"title": "y"}, headers={**api.auth("ben"), "If-Match": f"lock:{token}"}
    )
    assert fenced.status_code == 200, fenced.text

    # nothing of it reaches the outsider's events; the insiders' carry it
    async def types(user: str) -> list[str]:
        answer = await api.client.get(f"{BASE}/sync/events", headers=api.auth(user))
        return [e["type"] for e in answer.json()["events"]]

    assert not any(t.startswith(("lock.", "sample_task.")) for t in await types("cleo"))
    assert [t for t in await types("cleo") if t == "presence.viewing"] == []
    ana_sees = await types("ana")
    assert "lock.acquired" in ana_sees and "presence.viewing" in ana_sees


async def test_public_ids_follow_the_nodes_secret(tmp_path: Path) -> None:
    """With HUDDLE_ID_SECRET set, the module's ids, the lock routes and the write guard all
    use the node's ids: a lock taken by the task's id holds off another writer."""
    settings = app_settings(tmp_path, id_secret="another-secret-0123456789abcdef")
    async with running_api(settings, SAMPLE_MODULES) as api:
        client = api.client
        made = await post(api, TASKS, task("t"))
        assert made["id"] != _default_id_of(made)
        lock = f"/v1/collaboration/locks/sample_task/{made['id']}"
        assert (await client.post(lock, headers=api.auth("ben"))).status_code == 200
        blocked = await client.patch(
            f"{TASKS}/{made['id']}", json={"title": "x"}, headers=api.auth()
        )
        wd_error(blocked, 423)


def _default_id_of(made: dict[str, Any]) -> str:
    """The id the same record would have under the default secret."""
    ws = WorkspaceKey(OrgId("acme"), WorkspaceId("ws1"))
    ids = PublicIds(DEV_ID_SECRET.encode()).in_workspace(ws)
    secret_ids = PublicIds(b"another-secret-0123456789abcdef").in_workspace(ws)
    record_id = secret_ids.decode("sample_task", made["id"])
    assert record_id is not None
    return ids.encode("sample_task", record_id)
