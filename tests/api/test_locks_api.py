"""Seed 000 lock routes: each route, its success, each refusal; refusals change nothing."""

from __future__ import annotations

from .conftest import Api

LOCK = "/v1/collaboration/locks/deal/42"


async def test_acquire_answers_the_lock_with_holder_expiry_and_token(api: Api) -> None:
    """A free entity is granted; the body is the lock shape clients rely on."""
    answer = await api.client.post(LOCK, headers=api.auth("ana", name="Ana"))
    assert answer.status_code == 200, answer.text
    lock = answer.json()
    assert lock["entityType"] == "deal" and lock["entityId"] == "42"
    assert lock["holder"] == {"userId": "ana", "name": "Ana"}
    assert lock["fencingToken"] >= 1 and lock["reentrant"] is False
    assert lock["acquiredAt"] < lock["expiresAt"]


async def test_acquire_by_the_holder_is_reentrant_and_keeps_the_token(api: Api) -> None:
    """Acquiring your own lock again extends it with the same fencing token."""
    first = (await api.client.post(LOCK, headers=api.auth("ana"))).json()
    again = (await api.client.post(LOCK, params={"ttl": 120}, headers=api.auth("ana"))).json()
    assert again["reentrant"] is True
    assert again["fencingToken"] == first["fencingToken"]
    assert again["expiresAt"] > first["expiresAt"]


async def test_acquire_held_by_another_is_409_naming_holder_and_expiry(api: Api) -> None:
    """The UI can say 'Locked by Ben until …' from the 409 alone, and nothing changes."""
    held = (await api.client.post(LOCK, headers=api.auth("ben", name="Ben"))).json()
    async with api.unchanged():
        answer = await api.client.post(LOCK, headers=api.auth("ana"))
    assert answer.status_code == 409
    body = answer.json()
    assert body["error"] == "LOCK_HELD" and body["status_code"] == 409
    assert body["details"]["holder"] == {"userId": "ben", "name": "Ben"}
    assert body["details"]["expiresAt"] == held["expiresAt"]
    assert "Ben" in body["message"]


async def test_ttl_outside_the_bounds_is_422_and_grants_nothing(api: Api) -> None:
    """ttl below lock_ttl_min or above lock_ttl_max is refused in the validation shape."""
    async with api.unchanged():
        for ttl in (0.001, 10**6):
            answer = await api.client.post(LOCK, params={"ttl": ttl}, headers=api.auth())
            assert answer.status_code == 422
            assert answer.json()["detail"][0]["loc"] == ["query", "ttl"]
        wrong_type = await api.client.post(LOCK, json={"ttl": "soon"}, headers=api.auth())
        assert wrong_type.status_code == 422
    assert (await api.client.get(LOCK, headers=api.auth())).json()["locked"] is False


async def test_acquire_takes_the_ttl_from_the_body_too(api: Api) -> None:
    """`{"ttl": s, "sessionId": ...}` in the body works like the query."""
    answer = await api.client.post(LOCK, json={"ttl": 5, "sessionId": "tab-1"}, headers=api.auth())
    assert answer.status_code == 200
    assert answer.json()["sessionId"] == "tab-1"


async def test_status_says_who_holds_it_and_whether_it_is_mine(api: Api) -> None:
    free = (await api.client.get(LOCK, headers=api.auth("ana"))).json()
    assert free == {
        "entityType": "deal",
        "entityId": "42",
        "locked": False,
        "lock": None,
        "ownedByMe": False,
    }
    await api.client.post(LOCK, headers=api.auth("ben"))
    mine = (await api.client.get(LOCK, headers=api.auth("ben"))).json()
    theirs = (await api.client.get(LOCK, headers=api.auth("ana"))).json()
    assert mine["locked"] and mine["ownedByMe"] and mine["lock"]["holder"]["userId"] == "ben"
    assert theirs["locked"] and not theirs["ownedByMe"]


async def test_owned_answers_true_only_for_the_holder(api: Api) -> None:
    await api.client.post(LOCK, headers=api.auth("ben"))
    assert (await api.client.get(f"{LOCK}/owned", headers=api.auth("ben"))).json()["owned"]
    assert not (await api.client.get(f"{LOCK}/owned", headers=api.auth("ana"))).json()["owned"]


async def test_refresh_extends_the_holders_lease(api: Api) -> None:
    first = (await api.client.post(LOCK, headers=api.auth("ana"))).json()
    answer = await api.client.post(f"{LOCK}/refresh", params={"ttl": 300}, headers=api.auth())
    assert answer.status_code == 200
    assert answer.json()["expiresAt"] > first["expiresAt"]
    assert answer.json()["fencingToken"] == first["fencingToken"]


async def test_refresh_by_a_non_owner_is_403_and_of_a_free_lock_404(api: Api) -> None:
    async with api.unchanged():
        free = await api.client.post(f"{LOCK}/refresh", headers=api.auth("ana"))
    assert free.status_code == 404 and free.json()["error"] == "LOCK_NOT_HELD"
    await api.client.post(LOCK, headers=api.auth("ben"))
    async with api.unchanged():
        other = await api.client.post(f"{LOCK}/refresh", headers=api.auth("ana"))
    assert other.status_code == 403 and other.json()["error"] == "FORBIDDEN"


async def test_release_by_the_holder_frees_the_entity(api: Api) -> None:
    await api.client.post(LOCK, headers=api.auth("ana"))
    answer = await api.client.delete(LOCK, headers=api.auth("ana"))
    assert answer.status_code == 200 and answer.json()["released"] is True
    assert answer.json()["lock"]["holder"]["userId"] == "ana"
    assert (await api.client.get(LOCK, headers=api.auth())).json()["locked"] is False


async def test_release_by_a_non_owner_is_403_and_changes_nothing(api: Api) -> None:
    await api.client.post(LOCK, headers=api.auth("ben"))
    async with api.unchanged():
        answer = await api.client.delete(LOCK, headers=api.auth("ana"))
    assert answer.status_code == 403
    assert (await api.client.get(LOCK, headers=api.auth())).json()["lock"]["holder"][
        "userId"
    ] == "ben"


async def test_release_of_a_free_entity_says_released_false(api: Api) -> None:
    async with api.unchanged():
        answer = await api.client.delete(LOCK, headers=api.auth("ana"))
    assert answer.status_code == 200 and answer.json()["released"] is False


async def test_my_locks_lists_only_the_callers_locks(api: Api) -> None:
    await api.client.post("/v1/collaboration/locks/deal/1", headers=api.auth("ana"))
    await api.client.post("/v1/collaboration/locks/contact/2", headers=api.auth("ana"))
    await api.client.post("/v1/collaboration/locks/deal/3", headers=api.auth("ben"))
    mine = (await api.client.get("/v1/collaboration/locks/my-locks", headers=api.auth())).json()
    assert mine["count"] == 2
    assert {(lock["entityType"], lock["entityId"]) for lock in mine["locks"]} == {
        ("deal", "1"),
        ("contact", "2"),
    }


async def test_force_release_needs_admin_and_confirm(api: Api) -> None:
    """A member gets 403; an admin without confirm=true gets 400; with it, the lock ends."""
    await api.client.post(LOCK, headers=api.auth("ben"))
    async with api.unchanged():
        member = await api.client.delete(
            f"{LOCK}/force", params={"confirm": "true"}, headers=api.auth("ana")
        )
        unconfirmed = await api.client.delete(
            f"{LOCK}/force", params={"confirm": "no"}, headers=api.auth("root", admin=True)
        )
        missing = await api.client.delete(f"{LOCK}/force", headers=api.auth("root", admin=True))
    assert member.status_code == 403
    assert member.json()["details"]["required_permission"] == "locks:force_release"
    assert unconfirmed.status_code == 400
    assert unconfirmed.json()["error"] == "CONFIRMATION_REQUIRED"
    assert missing.status_code == 422
    forced = await api.client.delete(
        f"{LOCK}/force", params={"confirm": "true"}, headers=api.auth("root", admin=True)
    )
    assert forced.status_code == 200 and forced.json()["released"] is True
    assert (await api.client.get(LOCK, headers=api.auth())).json()["locked"] is False


async def test_lock_changes_are_events_in_order(api: Api) -> None:
    """acquire, refresh, release and force-release each append their event."""
    before = await api.head()
    await api.client.post(LOCK, headers=api.auth("ana"))
    await api.client.post(f"{LOCK}/refresh", headers=api.auth("ana"))
    await api.client.delete(LOCK, headers=api.auth("ana"))
    await api.client.post(LOCK, headers=api.auth("ben"))
    await api.client.delete(
        f"{LOCK}/force", params={"confirm": "true"}, headers=api.auth("root", admin=True)
    )
    admin = api.auth("root", admin=True)
    params = {"after": before} if before else {}
    events = (
        await api.client.get(
            "/v1/orgs/acme/workspaces/ws1/sync/events", params=params, headers=admin
        )
    ).json()["events"]
    assert [e["type"] for e in events] == [
        "lock.acquired",
        "lock.refreshed",
        "lock.released",
        "lock.acquired",
        "lock.force_released",
    ]
    assert events[-1]["data"]["released_by"] == "root"
    assert events[0]["data"]["fencing_token"] < events[3]["data"]["fencing_token"]


async def test_bad_entity_ids_are_422(api: Api) -> None:
    """Ids are bounded and may not contain separators; nothing is created."""
    async with api.unchanged():
        for path in ("deal/" + "x" * 129, "deal/a%20b", "9deal/1", "de%7Bal/1"):
            answer = await api.client.post(f"/v1/collaboration/locks/{path}", headers=api.auth())
            assert answer.status_code == 422, path


async def test_locks_are_per_workspace(api: Api) -> None:
    """The same entity in another workspace (X-Workspace-Id) is another lock."""
    await api.client.post(LOCK, headers=api.auth("ben"))
    other = await api.client.post(LOCK, headers=api.auth("ana", workspace="ws2"))
    assert other.status_code == 200


async def test_refresh_with_a_session_id_takes_the_lease_over(api: Api) -> None:
    """`{"sessionId"}` on refresh moves the lease to that session, same token."""
    first = (await api.client.post(LOCK, json={"sessionId": "tab-1"}, headers=api.auth())).json()
    moved = await api.client.post(
        f"{LOCK}/refresh", json={"sessionId": "tab-2"}, headers=api.auth()
    )
    assert moved.status_code == 200
    assert moved.json()["sessionId"] == "tab-2"
    assert moved.json()["fencingToken"] == first["fencingToken"]
