"""Seed 003 presence announcements and seed 000 viewer reads, folded to distinct users."""

from __future__ import annotations

from .conftest import Api

SYNC = "/v1/orgs/acme/workspaces/ws1/sync/presence"
VIEWERS = "/v1/collaboration/presence/deal/42"


async def view(api: Api, user: str, session: str = "tab-1", entity: str = "42") -> None:
    answer = await api.client.post(
        f"{SYNC}/viewing",
        params={"resource_type": "deal", "resource_id": entity, "session_id": session},
        headers=api.auth(user, name=user.title()),
    )
    assert answer.status_code == 200, answer.text


async def test_join_creates_a_session_and_announcing_again_keeps_it(api: Api) -> None:
    first = await api.client.post(f"{SYNC}/join", headers=api.auth("ana", name="Ana"))
    assert first.status_code == 200
    body = first.json()
    assert body["new"] is True and body["user_id"] == "ana" and body["session_id"] == "default"
    again = (await api.client.post(f"{SYNC}/join", headers=api.auth("ana"))).json()
    assert again["new"] is False and again["expires_at"] >= body["expires_at"]


async def test_viewers_are_distinct_users_with_their_session_count(api: Api) -> None:
    """Three tabs of Ana are one viewer with sessions=3; Ben is a second viewer."""
    for tab in ("t1", "t2", "t3"):
        await view(api, "ana", tab)
    await view(api, "ben")
    body = (await api.client.get(VIEWERS, headers=api.auth())).json()
    assert body["count"] == 2 and body["sessions"] == 4
    by_user = {v["userId"]: v for v in body["viewers"]}
    assert by_user["ana"]["sessions"] == 3 and by_user["ana"]["name"] == "Ana"
    assert by_user["ben"]["sessions"] == 1
    assert by_user["ana"]["since"] <= by_user["ben"]["since"]
    count = (await api.client.get(f"{VIEWERS}/count", headers=api.auth())).json()
    assert count == {"entityType": "deal", "entityId": "42", "count": 2, "sessions": 4}


async def test_viewers_say_who_holds_the_lock(api: Api) -> None:
    await view(api, "ana")
    await view(api, "ben")
    await api.client.post("/v1/collaboration/locks/deal/42", headers=api.auth("ben"))
    body = (await api.client.get(VIEWERS, headers=api.auth())).json()
    assert {v["userId"]: v["holdsLock"] for v in body["viewers"]} == {"ana": False, "ben": True}
    assert body["lock"]["holder"]["userId"] == "ben"


async def test_switching_entities_moves_the_viewer(api: Api) -> None:
    await view(api, "ana", entity="42")
    await view(api, "ana", entity="43")
    assert (await api.client.get(f"{VIEWERS}/count", headers=api.auth())).json()["count"] == 0
    other = await api.client.get("/v1/collaboration/presence/deal/43/count", headers=api.auth())
    assert other.json()["count"] == 1


async def test_leave_removes_the_session_from_every_read(api: Api) -> None:
    await view(api, "ana", "tab-1")
    left = await api.client.post(
        f"{SYNC}/leave", params={"session_id": "tab-1"}, headers=api.auth("ana")
    )
    assert left.json() == {"session_id": "tab-1", "left": True}
    assert (await api.client.get(VIEWERS, headers=api.auth())).json()["count"] == 0
    async with api.unchanged():
        again = await api.client.post(
            f"{SYNC}/leave", params={"session_id": "tab-1"}, headers=api.auth("ana")
        )
    assert again.json()["left"] is False


async def test_a_user_cannot_end_another_users_session(api: Api) -> None:
    """Session names are per user: Ben leaving 'tab-1' does not touch Ana's 'tab-1'."""
    await view(api, "ana", "tab-1")
    async with api.unchanged():
        await api.client.post(
            f"{SYNC}/leave", params={"session_id": "tab-1"}, headers=api.auth("ben")
        )
    assert (await api.client.get(VIEWERS, headers=api.auth())).json()["count"] == 1


async def test_summary_answers_each_entity_in_order(api: Api) -> None:
    await view(api, "ana", entity="1")
    await view(api, "ben", entity="1")
    await view(api, "cy", entity="2")
    body = {
        "entities": [
            {"entityType": "deal", "entityId": "2"},
            {"entityType": "deal", "entityId": "1"},
            {"entityType": "deal", "entityId": "3"},
        ]
    }
    answer = await api.client.post(
        "/v1/collaboration/presence/summary", json=body, headers=api.auth()
    )
    assert answer.status_code == 200
    entities = answer.json()["entities"]
    assert [(e["entityId"], e["count"]) for e in entities] == [("2", 1), ("1", 2), ("3", 0)]
    assert {v["userId"] for v in entities[1]["viewers"]} == {"ana", "ben"}


async def test_summary_is_bounded_and_validated(api: Api) -> None:
    limit = api.settings.summary_max_entities
    too_many = {"entities": [{"entityType": "deal", "entityId": str(i)} for i in range(limit + 1)]}
    bad = [
        too_many,
        {"entities": [{"entityType": "deal"}]},
        {"entities": "deal/1"},
        {"entities": [{"entityType": "deal", "entityId": 5}]},
    ]
    for body in bad:
        answer = await api.client.post(
            "/v1/collaboration/presence/summary", json=body, headers=api.auth()
        )
        assert answer.status_code == 422, body
        assert "detail" in answer.json()
    malformed = await api.client.post(
        "/v1/collaboration/presence/summary",
        content=b"{not json",
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert malformed.status_code == 422


async def test_roster_lists_users_with_sessions_and_what_they_view(api: Api) -> None:
    await view(api, "ana", "t1", entity="1")
    await view(api, "ana", "t2", entity="2")
    await api.client.post(f"{SYNC}/join", headers=api.auth("ben"))
    roster = (await api.client.get(SYNC, headers=api.auth())).json()
    assert roster["count"] == 2 and roster["sessions"] == 3
    ana = next(u for u in roster["users"] if u["user_id"] == "ana")
    assert ana["sessions"] == 2
    assert sorted(v["resource_id"] for v in ana["viewing"]) == ["1", "2"]


async def test_presence_changes_are_events(api: Api) -> None:
    before = await api.head()
    await view(api, "ana", "t1", entity="1")
    await view(api, "ana", "t1", entity="1")
    await api.client.post(f"{SYNC}/leave", params={"session_id": "t1"}, headers=api.auth("ana"))
    params = {"after": before} if before else {}
    events = (
        await api.client.get(
            "/v1/orgs/acme/workspaces/ws1/sync/events", params=params, headers=api.auth()
        )
    ).json()["events"]
    assert [e["type"] for e in events] == [
        "presence.joined",
        "user.online",
        "presence.viewing",
        "presence.left",
        "user.offline",
    ]
    assert events[2]["data"]["resource_id"] == "1"
    assert events[3]["data"]["reason"] == events[4]["data"]["reason"] == "leave"


async def test_viewing_needs_both_resource_parameters(api: Api) -> None:
    async with api.unchanged():
        for params in ({"resource_type": "deal"}, {"resource_id": "1"}, {}):
            answer = await api.client.post(f"{SYNC}/viewing", params=params, headers=api.auth())
            assert answer.status_code == 422
        bad_session = await api.client.post(
            f"{SYNC}/join", params={"session_id": "a/b"}, headers=api.auth()
        )
        assert bad_session.status_code == 422


async def test_users_says_who_is_online_by_get_and_by_body(api: Api) -> None:
    for tab in ("t1", "t2"):
        await view(api, "ana", tab)
    await view(api, "ben")
    url = f"{SYNC}/users"
    by_query = await api.client.get(
        url, params=[("user_id", "ben"), ("user_id", "cara"), ("user_id", "ana")],
        headers=api.auth("cara"),
    )  # fmt: skip
    assert by_query.status_code == 200, by_query.text
    assert by_query.json() == {
        "users": [
            {"user_id": "ben", "online": True, "sessions": 1},
            {"user_id": "cara", "online": False, "sessions": 0},
            {"user_id": "ana", "online": True, "sessions": 2},
        ],
        "online": 2,
    }
    by_body = await api.client.post(url, json={"user_ids": ["ana", "ana"]}, headers=api.auth())
    assert by_body.json() == {
        "users": [{"user_id": "ana", "online": True, "sessions": 2}] * 2,
        "online": 1,
    }
    await api.client.post(f"{SYNC}/leave", params={"session_id": "tab-1"}, headers=api.auth("ben"))
    after = await api.client.get(url, params={"user_id": "ben"}, headers=api.auth())
    assert after.json()["users"] == [{"user_id": "ben", "online": False, "sessions": 0}]


async def test_users_is_bounded_validated_and_per_workspace(api: Api) -> None:
    await view(api, "ana")
    url = f"{SYNC}/users"
    limit = api.settings.summary_max_entities
    bad_bodies = [
        {"user_ids": [f"u{i}" for i in range(limit + 1)]},
        {"user_ids": ["has space"]},
        {"user_ids": "ana"},
        {"user_ids": [5]},
        {"user_ids": ["ana"], "extra": 1},
        {},
    ]
    for body in bad_bodies:
        answer = await api.client.post(url, json=body, headers=api.auth())
        assert answer.status_code == 422, (body, answer.text)
        assert "detail" in answer.json()
    assert (await api.client.get(url, headers=api.auth())).status_code == 422
    assert (
        await api.client.get(url, params={"user_id": "a b"}, headers=api.auth())
    ).status_code == 422
    assert (await api.client.get(url, params={"user_id": "ana"})).status_code == 401
    elsewhere = await api.client.get(
        "/v1/orgs/globex/workspaces/ws1/sync/presence/users",
        params={"user_id": "ana"},
        headers=api.auth("eve", org="globex"),
    )
    assert elsewhere.json()["users"] == [{"user_id": "ana", "online": False, "sessions": 0}]
    foreign = await api.client.get(
        "/v1/orgs/globex/workspaces/ws1/sync/presence/users",
        params={"user_id": "ana"},
        headers=api.auth("ana"),
    )
    assert foreign.status_code in (403, 404), foreign.text
