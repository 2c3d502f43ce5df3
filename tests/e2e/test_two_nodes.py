"""Two `huddle serve` processes on one Redis behave as one server: what a client does through
node A, a client of node B sees at once."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.nodes import NodeFactory, bearer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.xdist_group("e2e")

VIEWING = "/v1/orgs/acme/workspaces/ws1/sync/presence/viewing"
DEAL_42 = {"resource_type": "deal", "resource_id": "42"}
LOCK_42 = "/v1/collaboration/locks/deal/42"


async def test_presence_and_locks_taken_on_one_node_are_seen_on_the_other(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Presence joined on A is listed on B; A's lock is refused on B (409 naming the holder)
    until A releases it, after which B is granted it with a larger fencing token."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    async with (
        a.client(bearer("ana", name="Ana")) as ana_on_a,
        b.client(bearer("ben", name="Ben")) as ben_on_b,
    ):
        joined = await ana_on_a.post(VIEWING, params=DEAL_42)
        assert joined.status_code == 200, joined.text
        viewing = joined.json()["viewing"]
        assert (viewing["resource_type"], viewing["resource_id"]) == ("deal", "42")

        seen = await ben_on_b.get("/v1/collaboration/presence/deal/42")
        assert seen.status_code == 200, seen.text
        assert [v["userId"] for v in seen.json()["viewers"]] == ["ana"]
        assert seen.json()["count"] == 1
        assert seen.json()["lock"] is None

        taken = await ana_on_a.post(LOCK_42)
        assert taken.status_code == 200, taken.text
        assert taken.json()["holder"] == {"userId": "ana", "name": "Ana"}
        first_token = taken.json()["fencingToken"]

        refused = await ben_on_b.post(LOCK_42)
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["error"] == "LOCK_HELD"
        assert body["status_code"] == 409
        assert body["details"]["holder"] == {"userId": "ana", "name": "Ana"}
        assert body["details"]["expiresAt"] == taken.json()["expiresAt"]
        assert "Ana" in body["message"]

        seen = await ben_on_b.get("/v1/collaboration/presence/deal/42")
        assert seen.json()["lock"]["holder"]["userId"] == "ana"
        assert seen.json()["viewers"][0]["holdsLock"] is True
        status = await ben_on_b.get(LOCK_42)
        assert status.json()["locked"] is True
        assert status.json()["ownedByMe"] is False

        not_his = await ben_on_b.delete(LOCK_42)
        assert not_his.status_code == 403, not_his.text

        released = await ana_on_a.delete(LOCK_42)
        assert released.status_code == 200, released.text
        assert released.json()["released"] is True

        granted = await ben_on_b.post(LOCK_42)
        assert granted.status_code == 200, granted.text
        assert granted.json()["holder"]["userId"] == "ben"
        assert granted.json()["reentrant"] is False
        assert granted.json()["fencingToken"] > first_token

        now_refused = await ana_on_a.post(LOCK_42)
        assert now_refused.status_code == 409, now_refused.text
        assert now_refused.json()["details"]["holder"]["userId"] == "ben"


async def test_an_api_key_revoked_on_one_node_is_refused_on_the_other_at_once(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Keys are looked up in the shared backend on every request: no node caches a revoked
    key, so the next request through B after a revoke on A is 401."""
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a"), nodes.start(redis_server.url(), name="b")
    )
    async with a.client(bearer("root", admin=True)) as admin_on_a, b.client() as on_b:
        created = await admin_on_a.post(
            "/v1/orgs/acme/api-keys", json={"workspace_id": "ws1", "user_id": "crm-bot"}
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        used = await on_b.post(LOCK_42, headers={"X-API-KEY": key})
        assert used.status_code == 200, used.text
        assert used.json()["holder"]["userId"] == "crm-bot"

        revoked = await admin_on_a.delete(f"/v1/orgs/acme/api-keys/{created.json()['id']}")
        assert revoked.status_code == 204
        refused = await on_b.get(LOCK_42, headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 401
        assert refused.json()["error"] == "AUTHENTICATION_FAILED"
