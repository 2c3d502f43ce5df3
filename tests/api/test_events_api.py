"""Custom events from services, and reading the log from a cursor without gaps."""

from __future__ import annotations

from pathlib import Path

from .conftest import Api, app_settings, running_api

PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"
EVENTS = "/v1/orgs/acme/workspaces/ws1/sync/events"


async def test_an_admin_publishes_a_custom_event_and_gets_the_stored_event(api: Api) -> None:
    admin = api.auth("root", admin=True, name="Root")
    answer = await api.client.post(
        PUBLISH, json={"type": "deal.stage_changed", "data": {"stage": "won"}}, headers=admin
    )
    assert answer.status_code == 201, answer.text
    event = answer.json()
    assert event["type"] == "deal.stage_changed" and event["data"] == {"stage": "won"}
    assert event["org_id"] == "acme" and event["workspace_id"] == "ws1"
    assert event["actor"] == {"type": "user", "id": "root", "name": "Root"}
    epoch, _, seq = event["id"].partition(":")
    assert int(seq) == event["seq"] and epoch


async def test_a_member_publishes_as_over_the_websocket_within_the_publish_rate(
    tmp_path: Path,
) -> None:
    """Members may publish custom events (browsers on SSE or polling have no WebSocket);
    past `HUDDLE_PUBLISH_RATE` per second a user is answered 429 and nothing is appended."""
    async with running_api(app_settings(tmp_path, publish_rate=2)) as api:
        member = api.auth("ben", name="Ben")
        for n in range(2):
            answer = await api.client.post(
                PUBLISH, json={"type": "x.y", "data": {"n": n}}, headers=member
            )
            assert answer.status_code == 201, answer.text
            assert answer.json()["actor"] == {"type": "user", "id": "ben", "name": "Ben"}
        async with api.unchanged():
            refused = await api.client.post(
                PUBLISH, json={"type": "x.y", "data": {}}, headers=member
            )
        assert refused.status_code == 429
        assert refused.json()["error"] == "RATE_LIMITED"
        assert refused.headers["retry-after"] == "1"


async def test_reserved_prefixes_and_bad_bodies_are_refused(api: Api) -> None:
    admin = api.auth("root", admin=True)
    async with api.unchanged():
        for event_type in ("presence.joined", "lock.x", "sync.reset", "record.created"):
            answer = await api.client.post(PUBLISH, json={"type": event_type}, headers=admin)
            assert answer.status_code == 422, event_type
            assert "reserved" in answer.json()["detail"][0]["msg"]
        for body in (
            {"data": {}},
            {"type": 5},
            {"type": "a b"},
            {"type": "x", "data": [1]},
            {"type": "x", "extra": 1},
        ):
            assert (await api.client.post(PUBLISH, json=body, headers=admin)).status_code == 422
        too_big = {"type": "x.big", "data": {"blob": "x" * (api.settings.max_event_bytes + 10)}}
        assert (await api.client.post(PUBLISH, json=too_big, headers=admin)).status_code == 413


async def test_an_idempotency_key_repeat_returns_the_first_event(api: Api) -> None:
    admin = api.auth("root", admin=True)
    body = {"type": "crm.sync", "data": {"n": 1}, "idempotency_key": "evt-1"}
    first = (await api.client.post(PUBLISH, json=body, headers=admin)).json()
    head = await api.head()
    again = (await api.client.post(PUBLISH, json={**body, "data": {"n": 2}}, headers=admin)).json()
    assert again == first
    assert await api.head() == head


async def test_ids_are_dense_and_reads_page_without_gaps(api: Api) -> None:
    admin = api.auth("root", admin=True)
    published = [
        (
            await api.client.post(PUBLISH, json={"type": "t.n", "data": {"n": n}}, headers=admin)
        ).json()
        for n in range(7)
    ]
    seqs = [e["seq"] for e in published]
    assert seqs == list(range(seqs[0], seqs[0] + 7))
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"after": cursor} if cursor else {})
        page = (await api.client.get(EVENTS, params=params, headers=admin)).json()
        if not page["events"]:
            break
        seen += page["events"]
        cursor = page["next"]
    assert [e["id"] for e in seen] == [e["id"] for e in published]
    assert page["next"] == published[-1]["id"] and page["reset"] is False


async def test_a_cursor_older_than_the_log_answers_sync_reset(tmp_path: Path) -> None:
    """No partial replay: a trimmed history is a `sync.reset`, then resume from `next`."""
    async with running_api(app_settings(tmp_path, event_log_length=10)) as api:
        admin = api.auth("root", admin=True)
        first = (await api.client.post(PUBLISH, json={"type": "t.n"}, headers=admin)).json()
        for _ in range(30):
            await api.client.post(PUBLISH, json={"type": "t.n"}, headers=admin)
        page = (await api.client.get(EVENTS, params={"after": first["id"]}, headers=admin)).json()
        assert page["reset"] is True
        assert [e["type"] for e in page["events"]] == ["sync.reset"]
        assert page["events"][0]["data"]["reason"] == "cursor_expired"
        epoch = first["id"].split(":")[0]
        assert page["next"] == f"{epoch}:31"


async def test_a_cursor_of_another_epoch_answers_sync_reset(api: Api) -> None:
    admin = api.auth("root", admin=True)
    await api.client.post(PUBLISH, json={"type": "t.n"}, headers=admin)
    page = (await api.client.get(EVENTS, params={"after": "zzzz:3"}, headers=admin)).json()
    assert page["reset"] is True and page["events"][0]["data"]["reason"] == "epoch_changed"


async def test_malformed_cursors_and_limits_are_refused(api: Api) -> None:
    for params in (
        {"after": "nope"},
        {"after": "a:b"},
        {"after": "a:-1"},
        {"limit": 0},
        {"limit": 5000},
        {"limit": "x"},
    ):
        answer = await api.client.get(EVENTS, params=params, headers=api.auth())
        assert answer.status_code in (400, 422), params
    bad = await api.client.get(EVENTS, params={"after": "nope"}, headers=api.auth())
    assert bad.json()["error"] == "INVALID_CURSOR"


async def test_an_empty_workspace_reads_no_events_and_the_origin_cursor(api: Api) -> None:
    page = (
        await api.client.get(
            "/v1/orgs/acme/workspaces/empty/sync/events",
            headers=api.auth(workspace="empty"),
        )
    ).json()
    assert page == {"events": [], "next": "origin:0", "reset": False}


async def test_the_origin_cursor_resumes_from_the_first_event(api: Api) -> None:
    """`origin:0`, the position of an empty workspace, later replays from its first event."""
    url = "/v1/orgs/acme/workspaces/fresh/sync/events"
    headers = api.auth("root", workspace="fresh", admin=True)
    origin = (await api.client.get(url, headers=headers)).json()["next"]
    published = await api.client.post(
        "/v1/orgs/acme/workspaces/fresh/events", json={"type": "t.first"}, headers=headers
    )
    page = (await api.client.get(url, params={"after": origin}, headers=headers)).json()
    assert page["reset"] is False
    assert [e["id"] for e in page["events"]] == [published.json()["id"]]


async def test_the_position_is_the_newest_event_and_reading_after_it_gives_what_comes_next(
    api: Api,
) -> None:
    position = "/v1/orgs/acme/workspaces/ws1/sync/position"
    admin = api.auth("root", admin=True)
    empty = await api.client.get(position, headers=admin)
    assert empty.status_code == 200 and empty.json() == {"position": "origin:0"}
    first = (await api.client.post(PUBLISH, json={"type": "x.a"}, headers=admin)).json()
    assert (await api.client.get(position, headers=admin)).json() == {"position": first["id"]}
    second = (await api.client.post(PUBLISH, json={"type": "x.b"}, headers=admin)).json()
    page = (await api.client.get(EVENTS, params={"after": first["id"]}, headers=admin)).json()
    assert [e["id"] for e in page["events"]] == [second["id"]]
    other_org = await api.client.get(position, headers=api.auth(org="evil"))
    assert other_org.status_code == 404
