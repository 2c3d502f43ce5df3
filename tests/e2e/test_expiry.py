"""Expiry with several sweeping nodes: what a crashed node left behind disappears within one
TTL, and each expiry is logged exactly once although two nodes sweep every 100 ms.

"Exactly once" needs proof that no duplicate comes later. The log is ordered, so a marker
is used: after the expected events, a short marker lease is taken and left to expire; its
`lock.expired` shows both sweepers kept running well past the expiries under test (a racing
duplicate would come within one sweep), and the count is taken on the log up to it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer, read_events
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

SWEEPING = {"sweep_interval": 0.1, "lock_ttl_min": 0.2}
VIEWING = "/v1/orgs/acme/workspaces/ws1/sync/presence/viewing"
# Long enough that all 200 joins are read back before any expires on a loaded 2-core CI box.
PRESENCE_TTL = 6
#: How late past its sweep a busy 2-core box may log an expiry (a sweep handles 500 at most).
EXPIRY_SLACK = 1.0


def seconds_between(earlier: str, later: str) -> float:
    parse = datetime.fromisoformat
    return (parse(later) - parse(earlier)).total_seconds()


async def sweeping_pair(
    nodes: NodeFactory, redis: RedisServer, *extra: dict[str, Any]
) -> list[HuddleNode]:
    """Nodes A and B sweeping every 100 ms, and one more node per `extra` settings."""
    starting = [
        nodes.start(redis.url(), name="a", **SWEEPING),
        nodes.start(redis.url(), name="b", **SWEEPING),
        *(nodes.start(redis.url(), name=chr(ord("c") + i), **s) for i, s in enumerate(extra)),
    ]
    return list(await asyncio.gather(*starting))


async def events_of(node: HuddleNode) -> list[dict[str, Any]]:
    async with node.client(bearer("auditor")) as http:
        return await read_events(http)


async def events_when(node: HuddleNode, complete: Any, what: str) -> list[dict[str, Any]]:
    """The log, once `complete(log)` holds (polled for up to 5 s)."""

    async def check() -> list[dict[str, Any]] | None:
        log = await events_of(node)
        return log if complete(log) else None

    return await wait_until(check, within=5, what=what, interval=0.05)


async def marker_expired(node: HuddleNode) -> list[dict[str, Any]]:
    """Take a 0.2 s marker lease through `node`, and return the log once it expired."""
    async with node.client(bearer("marker")) as http:
        taken = await http.post("/v1/collaboration/locks/marker/1", params={"ttl": 0.2})
        assert taken.status_code == 200, taken.text
    token = taken.json()["fencingToken"]
    return await events_when(
        node,
        lambda log: any(
            e["type"] == "lock.expired" and e["data"]["fencing_token"] == token for e in log
        ),
        "the marker lease to expire",
    )


async def test_crashed_nodes_sessions_disappear_within_a_ttl_and_leave_once(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """200 REST sessions (40 users, 5 tabs each) joined through node C; C is SIGKILLed. Reads
    on A stop listing them within about one TTL, and the log holds exactly one `presence.left`
    (reason timeout, by the system) per session and one `user.offline` per user, though A and B
    both sweep."""
    a, b, c = await sweeping_pair(nodes, redis_server, {"presence_ttl": PRESENCE_TTL, **SWEEPING})
    deal = {"resource_type": "deal", "resource_id": "42"}
    tabs = [(f"user{i:02d}", f"tab-{t}") for i in range(40) for t in range(5)]
    limits = httpx.Limits(max_connections=20)
    async with c.client(limits=limits) as http:
        joins = await asyncio.gather(
            *(
                http.post(VIEWING, params={**deal, "session_id": tab}, headers=bearer(user))
                for user, tab in tabs
            )
        )
    joined_at = time.monotonic()
    assert [j.status_code for j in joins] == [200] * len(tabs), [j.text for j in joins]
    sessions = {f"{user}/{tab}" for user, tab in tabs}

    async with a.client(bearer("watcher")) as watcher:
        seen = await watcher.get("/v1/collaboration/presence/deal/42")
        assert (seen.json()["count"], seen.json()["sessions"]) == (40, 200), seen.text
        c.kill()

        async def gone() -> bool:
            viewers = await watcher.get("/v1/collaboration/presence/deal/42")
            assert viewers.status_code == 200, viewers.text
            return viewers.json()["count"] == 0

        await wait_until(
            gone, within=PRESENCE_TTL + 3, what="C's sessions to disappear from A", interval=0.05
        )
        assert time.monotonic() - joined_at < PRESENCE_TTL + 2.5, (
            "took far more than one presence TTL"
        )
        roster = await watcher.get("/v1/orgs/acme/workspaces/ws1/sync/presence")
        assert roster.json()["count"] == 0, roster.text

    def all_left(log: list[dict[str, Any]]) -> bool:
        left = {e["data"]["session_id"] for e in log if e["type"] == "presence.left"}
        return sessions <= left

    await events_when(b, all_left, "a presence.left for every session")
    log = await marker_expired(a)

    left = [e for e in log if e["type"] == "presence.left"]
    per_session = Counter(e["data"]["session_id"] for e in left)
    assert per_session == dict.fromkeys(sessions, 1), f"not exactly once: {per_session}"
    assert {e["data"]["reason"] for e in left} == {"timeout"}
    assert {e["actor"]["type"] for e in left} == {"system"}
    offline = Counter(e["data"]["user_id"] for e in log if e["type"] == "user.offline")
    assert offline == {f"user{i:02d}": 1 for i in range(40)}, f"not once per user: {offline}"


async def test_unrefreshed_locks_expire_once_with_two_sweeping_nodes(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """1,000 leases of 0.5 s taken through A and B and never refreshed: each ends with exactly
    one `lock.expired`, logged within one sweep interval (plus a loaded machine's slack) of
    its expiry, and both nodes then report the entities free."""
    a, b = await sweeping_pair(nodes, redis_server)
    taken: list[httpx.Response] = []

    async def take(node: HuddleNode, user: str, numbers: range) -> None:
        async with node.client(bearer(user)) as http:
            for i in numbers:
                answer = await http.post(f"/v1/collaboration/locks/deal/{i}", params={"ttl": 0.5})
                taken.append(answer)

    await asyncio.gather(
        *(take(a if w % 2 else b, f"user{w}", range(w, 1_000, 20)) for w in range(20))
    )
    assert [t.status_code for t in taken] == [200] * len(taken), [t.text for t in taken]
    expires_at = {t.json()["fencingToken"]: t.json()["expiresAt"] for t in taken}
    tokens = set(expires_at)

    def all_expired(log: list[dict[str, Any]]) -> bool:
        expired = {e["data"]["fencing_token"] for e in log if e["type"] == "lock.expired"}
        return tokens <= expired

    await events_when(a, all_expired, "a lock.expired for every lease")
    log = await marker_expired(b)

    expired = Counter(
        e["data"]["fencing_token"]
        for e in log
        if e["type"] == "lock.expired" and e["data"]["entity_type"] == "deal"
    )
    assert expired == dict.fromkeys(tokens, 1), f"not exactly once: {expired}"
    late = [
        (e["data"]["fencing_token"], lateness)
        for e in log
        if e["type"] == "lock.expired" and e["data"]["entity_type"] == "deal"
        and (lateness := seconds_between(expires_at[e["data"]["fencing_token"]], e["ts"]))
        > SWEEPING["sweep_interval"] + EXPIRY_SLACK
    ]  # fmt: skip
    assert not late, f"logged long after their expiry: {late[:5]} of {len(late)}"
    assert not [e for e in log if e["type"] in ("lock.released", "lock.refreshed")]
    for node in (a, b):
        async with node.client(bearer("ana")) as http:
            status = await http.get("/v1/collaboration/locks/deal/3")
            assert status.json()["locked"] is False, status.text
