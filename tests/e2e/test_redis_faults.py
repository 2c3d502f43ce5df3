"""Redis faults an operator meets: a Redis user the ACL does not allow everything Huddle needs
(reported by `huddle check` and `/readyz`, answered 503 with the reason, never a bare 500), a
failover that leaves the node on a demoted primary (it reconnects at the first READONLY), a
password that must not be printed, and a node on a unix socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import redis.asyncio as aioredis

from tests.support.nodes import SECRET, NodeFactory, bearer, run_huddle
from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"


async def acl_user(server: RedisServer, *rules: str) -> tuple[str, str]:
    """A Redis user of this test's own with `rules`; (name, password)."""
    name, password = f"u{uuid4().hex[:10]}", f"pw-{uuid4().hex}"
    async with aioredis.Redis(port=server.port) as admin:
        await admin.execute_command("ACL", "SETUSER", name, "on", f">{password}", *rules)
    return name, password


async def test_a_user_without_its_key_permissions_is_reported_and_answered_503(
    nodes: NodeFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    name, password = await acl_user(redis_server, "~elsewhere:*", "&*", "+@all")
    url = f"redis://{name}:{password}@127.0.0.1:{redis_server.port}/0"
    settings = {"HUDDLE_JWT_SECRET": SECRET, "HUDDLE_REDIS_PREFIX": nodes.prefix}
    checked = await run_huddle("check", "--backend", url, cwd=tmp_path, settings=settings)
    assert checked.returncode == 1, checked
    assert f"cannot write and read keys under {nodes.prefix}:*" in checked.stderr, checked
    assert "ACL" in checked.stderr and password not in checked.stdout + checked.stderr

    a = await nodes.start(url, name="a")
    async with a.client(bearer("root", admin=True)) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert "cannot write and read keys" in ready.json()["message"]
        refused = await http.post(PUBLISH, json={"type": "x.y"})
    assert refused.status_code == 503, refused.text
    assert "ACL" in refused.json()["message"]
    assert "Traceback" not in a.log() and password not in a.log()


async def test_a_user_allowed_its_prefix_and_channels_is_enough(
    nodes: NodeFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    """The least a node needs: its keys, its channels, scripts; `huddle check` says so."""
    prefix = nodes.prefix
    name, password = await acl_user(
        redis_server, f"~{prefix}:*", f"&{prefix}:*", "+@all", "-@dangerous", "+script|load"
    )
    url = f"redis://{name}:{password}@127.0.0.1:{redis_server.port}/0"
    settings = {"HUDDLE_JWT_SECRET": SECRET, "HUDDLE_REDIS_PREFIX": prefix}
    checked = await run_huddle("check", "--backend", url, cwd=tmp_path, settings=settings)
    assert checked.returncode == 0, checked
    assert "scripts, keys and channels usable" in checked.stdout
    assert password not in checked.stdout and f"{name}:***@" in checked.stdout
    a = await nodes.start(url, name="a")
    async with a.client(bearer("root", admin=True)) as http:
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.post(PUBLISH, json={"type": "x.y"})).status_code == 201
    assert password not in a.log()


async def test_after_a_failover_the_node_leaves_the_demoted_primary(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    """The node reaches Redis through an address that moves to the new primary; its open
    connection still goes to the old one, which now answers READONLY. That answer is a 503,
    and makes the node connect again: the next writes reach the new primary."""
    with RedisServer() as primary:
        old, new = private_redis, primary
        async with TcpProxy(old.port) as address:
            a = await nodes.start(address.url(), name="a")
            async with a.client(bearer("root", admin=True)) as http:
                assert (await http.post(PUBLISH, json={"type": "x.y"})).status_code == 201
                async with aioredis.Redis(port=old.port) as demoted:
                    await demoted.execute_command("REPLICAOF", "127.0.0.1", str(new.port))
                address.retarget(new.port)

                async def writes() -> bool:
                    answer = await http.post(PUBLISH, json={"type": "x.y"})
                    assert answer.status_code in (201, 503), answer.text
                    if answer.status_code == 503:
                        assert "replica" in answer.json()["message"], answer.text
                    return answer.status_code == 201

                await wait_until(writes, within=10, what="writes to reach the new primary")
    assert "Traceback" not in a.log()


async def test_a_node_on_a_unix_socket(nodes: NodeFactory, redis_server: RedisServer) -> None:
    a = await nodes.start(redis_server.unix_url(), name="a")
    async with a.client(bearer("root", admin=True)) as http:
        assert (await http.get("/readyz")).status_code == 200
        published = await http.post(PUBLISH, json={"type": "x.y"})
        assert published.status_code == 201
        page = (await http.get("/v1/orgs/acme/workspaces/ws1/sync/events")).json()
    assert [e["id"] for e in page["events"]] == [published.json()["id"]]


async def test_after_redis_lost_its_data_no_old_fencing_token_passes_a_guarded_write(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    """Ana's first tab held the lock with token t1; Redis restarts without its data; her
    second tab takes the lock afresh. Counters restart from the store's time, so t2 > t1 and
    the first tab's write is refused as stale (with counters from 1, t2 would equal t1)."""
    a = await nodes.start(private_redis.url(), name="a")
    doc = {"apiName": "doc", "label": "Doc", "fields": [{"apiName": "title", "type": "text"}]}

    async def a_doc(http: httpx.AsyncClient) -> int:
        assert (await http.post("/v1/custom-objects", json=doc)).status_code == 201
        made = await http.post("/v1/custom-objects/doc/records", json={"values": {"title": "v1"}})
        assert made.status_code == 201, made.text
        record_id: int = made.json()["id"]
        return record_id

    async def take(http: httpx.AsyncClient, record: int, tab: str) -> int:
        taken = await http.post(f"/v1/collaboration/locks/doc/{record}", json={"sessionId": tab})
        assert taken.status_code == 200, taken.text
        token: int = taken.json()["fencingToken"]
        return token

    async with a.client(bearer("ana", admin=True)) as http:
        record = await a_doc(http)
        t1 = await take(http, record, "tab-1")
        private_redis.stop()
        private_redis.start()

        async def back() -> bool:
            return (await http.get("/readyz")).status_code == 200

        await wait_until(back, within=15, what="the node to reach the restarted Redis")
        assert await a_doc(http) == record, "the same record id, afresh"
        t2 = await take(http, record, "tab-2")
        assert t2 > t1
        late = await http.patch(
            f"/v1/custom-objects/doc/records/{record}",
            json={"values": {"title": "from the first tab"}},
            headers={"If-Match": f"lock:{t1}"},
        )
        assert late.status_code == 409, late.text
        assert late.json()["error"] == "STALE_FENCING_TOKEN"


async def test_with_an_fsynced_aof_a_killed_redis_loses_no_granted_lock(
    nodes: NodeFactory, durable_redis: RedisServer
) -> None:
    """50 leases granted (each 200 answered after its `appendfsync always` write); Redis is
    SIGKILLed and started again from its AOF: every lease is still held by its holder with the
    same fencing token, others are still refused, and the next grant's token is larger."""
    a = await nodes.start(durable_redis.url(), name="a", redis_timeout=1)
    limits = httpx.Limits(max_connections=10)
    async with a.client(limits=limits) as http:
        granted = await asyncio.gather(
            *(
                http.post(f"/v1/collaboration/locks/deal/{i}", headers=bearer(f"user{i}"))
                for i in range(50)
            )
        )
        assert [g.status_code for g in granted] == [200] * 50, [g.text for g in granted]
        durable_redis.kill()
        durable_redis.start()

        async def back() -> bool:
            return (await http.get("/readyz")).status_code == 200

        await wait_until(back, within=15, what="the node to reach the restarted Redis")
        for i, grant in enumerate(granted):
            state = (
                await http.get(f"/v1/collaboration/locks/deal/{i}", headers=bearer("eve"))
            ).json()
            assert state["locked"] is True, state
            assert state["lock"]["holder"]["userId"] == f"user{i}", state
            assert state["lock"]["fencingToken"] == grant.json()["fencingToken"], state
            refused = await http.post(f"/v1/collaboration/locks/deal/{i}", headers=bearer("eve"))
            assert refused.status_code == 409, refused.text
        fresh = await http.post("/v1/collaboration/locks/deal/new", headers=bearer("eve"))
        assert fresh.status_code == 200, fresh.text
        assert fresh.json()["fencingToken"] > max(g.json()["fencingToken"] for g in granted)
