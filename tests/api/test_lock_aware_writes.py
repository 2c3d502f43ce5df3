"""Writes to custom objects and their records respect the edit locks of seed 000.

A record of `project` is locked as (`project`, record id); an object and its fields as
(`custom_object`, object id). While another user holds the lock, a write is refused with 423
naming the holder; the holder writes with or without the lease's fencing token, and a token
from a lease that has ended is refused with 409, so a client that lost its lease cannot
overwrite the next holder's work. Both backends; refusals change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.waiting import wait_until

from .conftest import Api, app_settings, running_api

OBJECTS = "/v1/custom-objects"
PROJECT = f"{OBJECTS}/project"
RECORDS = f"{PROJECT}/records"
LOCKS = "/v1/collaboration/locks"
#: The shortest lease this module's apps grant: short enough to see one end for real.
SHORT_TTL = 0.2
#: Expiry sweeps this often, so an ended lease is announced (`lock.expired`) promptly.
SWEEP_INTERVAL = 0.05


@pytest.fixture(params=["memory", "redis"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The suite's `api` (memory:// and a real Redis), with leases as short as SHORT_TTL."""
    url = "memory://"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url()
    settings = app_settings(tmp_path, url, lock_ttl_min=SHORT_TTL, sweep_interval=SWEEP_INTERVAL)
    async with running_api(settings) as api:
        yield api


def ana(api: Api) -> dict[str, str]:
    return api.auth("ana", name="Ana", admin=True)


def ben(api: Api) -> dict[str, str]:
    return api.auth("ben", name="Ben", admin=True)


def if_match(token: int) -> dict[str, str]:
    return {"If-Match": f"lock:{token}"}


async def project_with_records(api: Api, count: int = 1) -> tuple[dict[str, Any], list[str]]:
    """Object `project` (text `title`, integer `seats`) and `count` records, ids "1".."n"."""
    body = {
        "apiName": "project",
        "label": "Project",
        "fields": [{"apiName": "title", "type": "text"}, {"apiName": "seats", "type": "integer"}],
    }
    created = await api.client.post(OBJECTS, json=body, headers=ana(api))
    assert created.status_code == 201, created.text
    ids = []
    for n in range(count):
        record = await api.client.post(
            RECORDS, json={"values": {"title": f"P{n}", "seats": n}}, headers=ana(api)
        )
        assert record.status_code == 201, record.text
        ids.append(record.json()["id"])
    return created.json(), ids


async def acquire(
    api: Api, headers: dict[str, str], entity: str, ttl: float | None = None
) -> dict[str, Any]:
    params = {} if ttl is None else {"ttl": ttl}
    answer = await api.client.post(f"{LOCKS}/{entity}", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    lock: dict[str, Any] = answer.json()
    return lock


async def read(api: Api, url: str) -> dict[str, Any]:
    answer = await api.client.get(url, headers=ana(api))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == code and body["status_code"] == status
    return body


def locs(answer: httpx.Response) -> list[list[Any]]:
    assert answer.status_code == 422, answer.text
    return [entry["loc"] for entry in answer.json()["detail"]]


# --- records ----------------------------------------------------------------------------------


async def test_a_record_another_user_has_locked_is_423_naming_the_holder(api: Api) -> None:
    await project_with_records(api, 2)
    lock = await acquire(api, ben(api), "project/1")
    url = f"{RECORDS}/1"
    before = await read(api, url)
    async with api.unchanged():
        for answer in (
            await api.client.patch(url, json={"values": {"seats": 9}}, headers=ana(api)),
            await api.client.delete(url, headers=ana(api)),
            # Ben's token does not lend Ana his lease.
            await api.client.patch(
                url,
                json={"values": {"seats": 9}},
                headers={**ana(api), **if_match(lock["fencingToken"])},
            ),
        ):
            body = refused(answer, 423, "LOCKED")
            assert body["details"]["holder"] == {"userId": "ben", "name": "Ben"}
            assert body["details"]["entityType"] == "project"
            assert body["details"]["entityId"] == "1"
            assert body["details"]["expiresAt"] == lock["expiresAt"]
            assert "Ben" in body["message"]
    assert await read(api, url) == before
    other = await api.client.patch(f"{RECORDS}/2", json={"values": {"seats": 9}}, headers=ana(api))
    assert other.status_code == 200  # the lock is on one record, not the object


async def test_a_write_that_would_change_nothing_is_refused_under_a_lock_too(api: Api) -> None:
    """The lock is checked before "is there anything to write": Ana, who does not hold the
    lock, is told 423 even when her values equal the stored ones, and a stale token is told
    409, so a client never mistakes a no-op for a write its lease allowed."""
    await project_with_records(api)
    url = f"{RECORDS}/1"
    stored = (await read(api, url))["values"]
    lock = await acquire(api, ben(api), "project/1")
    async with api.unchanged():
        same = await api.client.patch(url, json={"values": stored}, headers=ana(api))
        refused(same, 423, "LOCKED")
        stale = await api.client.patch(
            url,
            json={"values": stored},
            headers={**ben(api), **if_match(lock["fencingToken"] + 1)},
        )
        refused(stale, 409, "STALE_FENCING_TOKEN")
    own = await api.client.patch(url, json={"values": stored}, headers=ben(api))
    assert own.status_code == 200


async def test_a_lock_on_another_objects_record_of_the_same_id_does_not_apply(api: Api) -> None:
    """Records are locked under their object's apiName: (`task`, 1) is not (`project`, 1)."""
    await project_with_records(api)
    await api.client.post(
        OBJECTS,
        json={"apiName": "task", "label": "Task", "fields": [{"apiName": "t", "type": "text"}]},
        headers=ana(api),
    )
    await api.client.post(f"{OBJECTS}/task/records", json={"values": {"t": "x"}}, headers=ana(api))
    await acquire(api, ben(api), "task/1")
    answer = await api.client.patch(f"{RECORDS}/1", json={"values": {"seats": 5}}, headers=ana(api))
    assert answer.status_code == 200, answer.text
    task = await api.client.patch(
        f"{OBJECTS}/task/records/1", json={"values": {"t": "y"}}, headers=ana(api)
    )
    refused(task, 423, "LOCKED")


async def test_the_holder_writes_without_a_token_and_with_the_current_one(api: Api) -> None:
    await project_with_records(api, 3)
    tokens = {}
    for record_id in ("1", "2", "3"):
        tokens[record_id] = (await acquire(api, ben(api), f"project/{record_id}"))["fencingToken"]
    url = f"{RECORDS}/1"
    token = tokens["1"]
    for n, (headers, body) in enumerate(
        (
            ({}, {}),
            (if_match(token), {}),
            ({"If-Match": f'"lock:{token}"'}, {}),
            ({"If-Match": f'W/"lock:{token}"'}, {}),
            ({}, {"lock_token": token}),
            ({}, {"lockToken": token}),
            (if_match(token), {"lock_token": token}),
        ),
        start=10,
    ):
        answer = await api.client.patch(
            url, json={"values": {"seats": n}, **body}, headers={**ben(api), **headers}
        )
        assert answer.status_code == 200, (headers, body, answer.text)
        assert answer.json()["values"]["seats"] == n and answer.json()["updatedBy"] == "ben"
    assert (await read(api, url))["version"] == 8
    deleted = await api.client.delete(
        f"{RECORDS}/2", params={"lock_token": tokens["2"]}, headers=ben(api)
    )
    assert deleted.status_code == 204
    by_header = await api.client.delete(
        f"{RECORDS}/3", headers={**ben(api), **if_match(tokens["3"])}
    )
    assert by_header.status_code == 204
    assert (await api.client.delete(url, headers=ben(api))).status_code == 204


async def test_mismatched_or_malformed_tokens_are_422_and_change_nothing(api: Api) -> None:
    await project_with_records(api)
    token = (await acquire(api, ben(api), "project/1"))["fencingToken"]
    url = f"{RECORDS}/1"
    before = await read(api, url)
    async with api.unchanged():
        mismatch = await api.client.patch(
            url,
            json={"values": {"seats": 1}, "lock_token": token + 1},
            headers={**ben(api), **if_match(token)},
        )
        assert locs(mismatch) == [["header", "If-Match"]]
        delete_mismatch = await api.client.delete(
            url, params={"lock_token": token + 1}, headers={**ben(api), **if_match(token)}
        )
        assert locs(delete_mismatch) == [["header", "If-Match"]]
        for value in ("5", "lock:", "lock:abc", "token:5", "*", "lock:-1", "lock:1 2"):
            for answer in (
                await api.client.patch(
                    url, json={"values": {"seats": 1}}, headers={**ben(api), "If-Match": value}
                ),
                await api.client.delete(url, headers={**ben(api), "If-Match": value}),
            ):
                assert locs(answer) == [["header", "If-Match"]], value
        for bad in (0, -1, "x"):
            patch = await api.client.patch(
                url, json={"values": {"seats": 1}, "lock_token": bad}, headers=ben(api)
            )
            assert patch.status_code == 422, bad
            delete = await api.client.delete(url, params={"lock_token": bad}, headers=ben(api))
            assert locs(delete) == [["query", "lock_token"]], bad
    assert await read(api, url) == before


async def test_a_token_when_nobody_holds_the_lock_is_409(api: Api) -> None:
    """A token says "I hold the lease"; with no lease it is stale, whoever sends it."""
    await project_with_records(api)
    url = f"{RECORDS}/1"
    before = await read(api, url)
    async with api.unchanged():
        never = await api.client.patch(
            url, json={"values": {"seats": 3}}, headers={**ana(api), **if_match(12345)}
        )
    body = refused(never, 409, "STALE_FENCING_TOKEN")
    assert body["details"] == {"token": 12345, "lock": None}
    token = (await acquire(api, ben(api), "project/1"))["fencingToken"]
    released = await api.client.delete(f"{LOCKS}/project/1", headers=ben(api))
    assert released.json()["released"] is True
    async with api.unchanged():
        after_release = await api.client.delete(url, params={"lock_token": token}, headers=ben(api))
    assert refused(after_release, 409, "STALE_FENCING_TOKEN")["details"]["lock"] is None
    assert await read(api, url) == before


# --- a lease that really ends -----------------------------------------------------------------


async def expiry_of(api: Api, lock: dict[str, Any]) -> dict[str, Any] | None:
    """The `lock.expired` event of this lease, once the store has ended it."""
    answer = await api.client.get(
        "/v1/orgs/acme/workspaces/ws1/sync/events",
        params={"limit": 1000},
        headers=api.auth("auditor", admin=True),
    )
    for event in answer.json()["events"]:
        data = event["data"]
        if event["type"] == "lock.expired" and data["fencing_token"] == lock["fencingToken"]:
            assert (data["entity_type"], data["entity_id"]) == (
                lock["entityType"],
                lock["entityId"],
            )
            found: dict[str, Any] = event
            return found
    return None


async def lease_ended(api: Api, lock: dict[str, Any]) -> None:
    """Wait for the lease's own `lock.expired` event (its end in the store's clock)."""
    await wait_until(lambda: expiry_of(api, lock), what=f"the end of lease {lock}")
    status = await api.client.get(
        f"{LOCKS}/{lock['entityType']}/{lock['entityId']}", headers=api.auth("ana")
    )
    assert status.json()["locked"] is False


async def test_a_lost_lease_cannot_overwrite_the_next_holders_work(api: Api) -> None:
    """Ana's lease ends (for real, in the store's clock); Ben takes the lock with a larger
    token; Ana's late write with her old token is 409 naming Ben and changes nothing, while
    Ben's write with his token goes through."""
    await project_with_records(api)
    url = f"{RECORDS}/1"
    ana_lock = await acquire(api, ana(api), "project/1", ttl=SHORT_TTL)
    mine = await api.client.patch(
        url,
        json={"values": {"seats": 1}},
        headers={**ana(api), **if_match(ana_lock["fencingToken"])},
    )
    assert mine.status_code == 200, mine.text
    await lease_ended(api, ana_lock)
    ben_lock = await acquire(api, ben(api), "project/1")
    assert ben_lock["fencingToken"] > ana_lock["fencingToken"]
    assert ben_lock["reentrant"] is False
    before = await read(api, url)
    async with api.unchanged():
        late = [
            await api.client.patch(
                url,
                json={"values": {"seats": 2}},
                headers={**ana(api), **if_match(ana_lock["fencingToken"])},
            ),
            await api.client.patch(
                url,
                json={"values": {"seats": 2}, "lock_token": ana_lock["fencingToken"]},
                headers=ana(api),
            ),
            await api.client.delete(
                url, params={"lock_token": ana_lock["fencingToken"]}, headers=ana(api)
            ),
        ]
    for answer in late:
        body = refused(answer, 409, "STALE_FENCING_TOKEN")
        assert body["details"]["token"] == ana_lock["fencingToken"]
        assert body["details"]["lock"]["holder"] == {"userId": "ben", "name": "Ben"}
        assert body["details"]["lock"]["fencingToken"] == ben_lock["fencingToken"]
        assert "Ben" in body["message"]
    assert await read(api, url) == before
    async with api.unchanged():
        tokenless = await api.client.patch(url, json={"values": {"seats": 2}}, headers=ana(api))
    refused(tokenless, 423, "LOCKED")
    bens = await api.client.patch(
        url,
        json={"values": {"seats": 3}},
        headers={**ben(api), **if_match(ben_lock["fencingToken"])},
    )
    assert bens.status_code == 200 and bens.json()["values"]["seats"] == 3
    assert bens.json()["version"] == before["version"] + 1


async def test_an_ended_lease_with_no_successor_refuses_its_token(api: Api) -> None:
    """Between Ana's lease ending and anyone else's, her token is stale (409, no holder);
    without a token she may write, as anyone may write an unlocked record."""
    await project_with_records(api)
    url = f"{RECORDS}/1"
    lock = await acquire(api, ana(api), "project/1", ttl=SHORT_TTL)
    await lease_ended(api, lock)
    async with api.unchanged():
        late = await api.client.patch(
            url,
            json={"values": {"seats": 7}},
            headers={**ana(api), **if_match(lock["fencingToken"])},
        )
    assert refused(late, 409, "STALE_FENCING_TOKEN")["details"] == {
        "token": lock["fencingToken"],
        "lock": None,
    }
    free = await api.client.patch(url, json={"values": {"seats": 7}}, headers=ana(api))
    assert free.status_code == 200


# --- objects and fields -----------------------------------------------------------------------


async def test_object_and_field_writes_respect_the_custom_object_lock(api: Api) -> None:
    """While Ben holds (`custom_object`, id), every definition write of another admin is 423;
    the object's records keep their own locks and stay writable."""
    obj, _ = await project_with_records(api)
    lock = await acquire(api, ben(api), f"custom_object/{obj['id']}")
    fields = f"{PROJECT}/fields"
    async with api.unchanged():
        for method, url, body in (
            ("PATCH", PROJECT, {"label": "Mine"}),
            ("DELETE", f"{PROJECT}?force=true", None),
            ("POST", fields, {"apiName": "owner", "type": "text"}),
            ("PATCH", f"{fields}/title", {"label": "Name"}),
            ("DELETE", f"{fields}/seats", None),
            ("PATCH", f"{OBJECTS}/{obj['id']}", {"label": "By id"}),
        ):
            answer = await api.client.request(method, url, json=body, headers=ana(api))
            details = refused(answer, 423, "LOCKED")["details"]
            assert details["holder"] == {"userId": "ben", "name": "Ben"}, (method, url)
            assert details["entityType"] == "custom_object"
            assert details["entityId"] == obj["id"]
            assert details["fencingToken"] == lock["fencingToken"]
    assert await read(api, PROJECT) == obj
    record = await api.client.post(RECORDS, json={"values": {"title": "new"}}, headers=ana(api))
    assert record.status_code == 201


async def test_the_object_lock_holder_edits_the_definition_with_his_token(api: Api) -> None:
    obj, _ = await project_with_records(api)
    token = (await acquire(api, ben(api), f"custom_object/{obj['id']}"))["fencingToken"]
    fields = f"{PROJECT}/fields"
    writes: tuple[tuple[str, str, dict[str, Any] | None, dict[str, str]], ...] = (
        ("PATCH", PROJECT, {"label": "A"}, {}),
        ("PATCH", PROJECT, {"label": "B"}, if_match(token)),
        ("PATCH", PROJECT, {"label": "C", "lock_token": token}, {}),
        ("POST", fields, {"apiName": "owner", "type": "text"}, if_match(token)),
        ("POST", fields, {"apiName": "notes", "type": "text"}, {}),
        ("PATCH", f"{fields}/owner", {"label": "Owner"}, if_match(token)),
        ("PATCH", f"{fields}/owner", {"label": "Owner!", "lock_token": token}, {}),
        ("DELETE", f"{fields}/notes?lock_token={token}", None, {}),
        ("DELETE", f"{fields}/owner", None, if_match(token)),
    )
    for method, url, body, headers in writes:
        answer = await api.client.request(method, url, json=body, headers={**ben(api), **headers})
        assert answer.status_code in (200, 201, 204), (method, url, answer.text)
    final = await read(api, PROJECT)
    assert final["label"] == "C" and [f["apiName"] for f in final["fields"]] == ["title", "seats"]
    async with api.unchanged():
        stale = await api.client.patch(
            PROJECT, json={"label": "D"}, headers={**ben(api), **if_match(token + 100)}
        )
        refused(stale, 409, "STALE_FENCING_TOKEN")
        stale_field = await api.client.post(
            fields,
            json={"apiName": "x", "type": "text"},
            headers={**ben(api), **if_match(token + 100)},
        )
        refused(stale_field, 409, "STALE_FENCING_TOKEN")
        mismatch = await api.client.patch(
            PROJECT,
            json={"label": "D", "lock_token": token + 1},
            headers={**ben(api), **if_match(token)},
        )
        assert locs(mismatch) == [["header", "If-Match"]]
    deleted = await api.client.delete(
        PROJECT, params={"force": "true", "lock_token": token}, headers=ben(api)
    )
    assert deleted.status_code == 204
