"""After a workload of every kind, the only Redis keys without an expiry under the node's
prefix are the documented persistent ones (docs/architecture.md: the log and its counters,
the fencing counter, records and their indexes, API keys): presence, leases and their indexes
are gone once ended, idempotency keys expire, and the active index empties when swept."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from redis.asyncio import Redis

from tests.api.conftest import Api, app_settings, running_api
from tests.support.key_hygiene import GLOBAL_PERSISTENT, PERSISTENT
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

BASE = "/v1/orgs/acme/workspaces/ws1"
OBJECT: Final = {
    "apiName": "task",
    "label": "Task",
    "fields": [{"apiName": "title", "type": "text", "unique": True}],
}


async def workload(api: Api) -> None:
    ana, admin = api.auth("ana", name="Ana"), api.auth("root", admin=True)
    http = api.client
    for params in ({"session_id": "t1"}, {"session_id": "t2"}):
        assert (
            await http.post(f"{BASE}/sync/presence/join", params=params, headers=ana)
        ).is_success
    viewing = {"resource_type": "deal", "resource_id": "7", "session_id": "t1"}
    assert (
        await http.post(f"{BASE}/sync/presence/viewing", params=viewing, headers=ana)
    ).is_success
    for session in ("t1", "t2"):
        left = await http.post(
            f"{BASE}/sync/presence/leave", params={"session_id": session}, headers=ana
        )
        assert left.json()["left"] is True
    assert (await http.post("/v1/collaboration/locks/deal/7", headers=ana)).status_code == 200
    assert (await http.delete("/v1/collaboration/locks/deal/7", headers=ana)).status_code == 200
    short = await http.post("/v1/collaboration/locks/deal/8", params={"ttl": 1}, headers=ana)
    assert short.status_code == 200
    body = {"type": "x.y", "idempotency_key": "once"}
    assert (await http.post(f"{BASE}/events", json=body, headers=admin)).status_code == 201
    assert (await http.post("/v1/custom-objects", json=OBJECT, headers=admin)).status_code == 201
    made = await http.post(
        "/v1/custom-objects/task/records", json={"values": {"title": "a"}}, headers=ana
    )
    record = made.json()["id"]
    url = f"/v1/custom-objects/task/records/{record}"
    assert (await http.patch(url, json={"values": {"title": "b"}}, headers=ana)).is_success
    other = await http.post(
        "/v1/custom-objects/task/records", json={"values": {"title": "c"}}, headers=ana
    )
    assert (
        await http.delete(f"/v1/custom-objects/task/records/{other.json()['id']}", headers=ana)
    ).is_success
    key = await http.post(
        "/v1/orgs/acme/api-keys",
        json={"workspace_id": "ws1", "user_id": None, "admin": False, "name": "svc"},
        headers=admin,
    )
    assert key.status_code == 201
    assert (
        await http.delete(f"/v1/orgs/acme/api-keys/{key.json()['id']}", headers=admin)
    ).status_code == 204


async def test_only_documented_keys_live_without_an_expiry(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = app_settings(tmp_path, redis_server.url(), sweep_interval=0.2)
    prefix = settings.redis_prefix
    async with running_api(settings) as api, Redis(port=redis_server.port) as raw:
        await workload(api)

        async def swept() -> bool:
            lock = (
                await api.client.get("/v1/collaboration/locks/deal/8", headers=api.auth())
            ).json()
            return not lock["locked"] and await raw.zcard(f"{prefix}:active") == 0

        await wait_until(swept, within=15, what="the short lease to expire and the sweep to idle")
        keys = [key.decode() async for key in raw.scan_iter(match=f"{prefix}:*", count=1000)]
        ttls = {key: await raw.pttl(key) for key in keys}
    # the workspace, and the org's credential stream (the revoked key's event)
    bases = (f"{prefix}:{{acme/ws1}}:", f"{prefix}:{{acme/~credentials}}:")
    undocumented = []
    for key, ttl in ttls.items():
        if ttl >= 0:
            assert ":idem:" in key, f"{key} has an expiry but none is documented"
            continue
        base = next((b for b in bases if key.startswith(b)), None)
        if base is not None and PERSISTENT.match(key[len(base) :]):
            continue
        if GLOBAL_PERSISTENT.match(key[len(prefix) + 1 :]):
            continue
        undocumented.append(key)
    assert undocumented == [], undocumented
    assert any(key.endswith(":log") for key in ttls) and any(":r:" in key for key in ttls)
    assert any(":idem:" in key for key in ttls), "the idempotency key expires, and exists now"
