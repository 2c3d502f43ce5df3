"""API keys: created by org admins, shown once, usable as X-API-KEY or Bearer, revoked at once."""

from __future__ import annotations

import re

from .conftest import Api

KEYS = "/v1/orgs/acme/api-keys"
LOCK = "/v1/collaboration/locks/deal/42"


async def create(api: Api, **body: object) -> dict[str, object]:
    answer = await api.client.post(
        KEYS, json={"workspace_id": "ws1", **body}, headers=api.auth("root", admin=True)
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_an_admin_creates_a_key_shown_once(api: Api) -> None:
    created = await create(api, user_id="crm-bot", name="CRM")
    assert re.fullmatch(r"[0-9a-f]{64}", str(created["key"]))
    assert created["user_id"] == "crm-bot" and created["created_by"] == "root"
    listed = (await api.client.get(KEYS, headers=api.auth("root", admin=True))).json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]


async def test_a_key_works_as_x_api_key_and_as_bearer(api: Api) -> None:
    key = str((await create(api, user_id="crm-bot"))["key"])
    taken = await api.client.post(LOCK, headers={"X-API-KEY": key})
    assert taken.status_code == 200
    assert taken.json()["holder"]["userId"] == "crm-bot"
    owned = await api.client.get(f"{LOCK}/owned", headers={"Authorization": f"Bearer {key}"})
    assert owned.json()["owned"] is True


async def test_a_service_key_acts_as_a_service_and_may_publish(api: Api) -> None:
    key = str((await create(api, name="billing"))["key"])
    answer = await api.client.post(
        "/v1/orgs/acme/workspaces/ws1/events",
        json={"type": "invoice.paid", "data": {}},
        headers={"X-API-KEY": key},
    )
    assert answer.status_code == 201
    assert answer.json()["actor"]["type"] == "service"


async def test_a_member_key_is_limited_to_its_workspace(api: Api) -> None:
    key = str((await create(api, user_id="crm-bot"))["key"])
    other = await api.client.post(
        "/v1/orgs/acme/workspaces/ws2/sync/presence/join", headers={"X-API-KEY": key}
    )
    assert other.status_code == 403


async def test_revoking_a_key_is_effective_at_once(api: Api) -> None:
    created = await create(api, user_id="crm-bot")
    key = str(created["key"])
    assert (await api.client.get(LOCK, headers={"X-API-KEY": key})).status_code == 200
    revoked = await api.client.delete(
        f"{KEYS}/{created['id']}", headers=api.auth("root", admin=True)
    )
    assert revoked.status_code == 204
    assert (await api.client.get(LOCK, headers={"X-API-KEY": key})).status_code == 401
    again = await api.client.delete(f"{KEYS}/{created['id']}", headers=api.auth("root", admin=True))
    assert again.status_code == 404


async def test_only_admins_of_the_org_manage_keys(api: Api) -> None:
    body = {"workspace_id": "ws1", "user_id": "x"}
    member = await api.client.post(KEYS, json=body, headers=api.auth("ana"))
    assert member.status_code == 403
    stranger = await api.client.post(
        KEYS, json=body, headers=api.auth("eve", org="evil", admin=True)
    )
    assert stranger.status_code == 404
    created = await create(api, user_id="crm-bot")
    cross = await api.client.delete(
        f"/v1/orgs/evil/api-keys/{created['id']}", headers=api.auth("eve", org="evil", admin=True)
    )
    assert cross.status_code == 404
    assert (
        await api.client.get(LOCK, headers={"X-API-KEY": str(created["key"])})
    ).status_code == 200


async def test_unknown_and_malformed_keys_are_401(api: Api) -> None:
    for key in ("0" * 64, "f" * 64):
        assert (await api.client.get(LOCK, headers={"X-API-KEY": key})).status_code == 401
    bad_body = await api.client.post(
        KEYS, json={"workspace_id": "ws 1"}, headers=api.auth("root", admin=True)
    )
    assert bad_body.status_code == 422
