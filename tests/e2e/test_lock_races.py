"""Concurrent lock traffic through two node processes on one Redis: one holder at a time, and
fencing tokens that only grow, whatever interleaving the race produced.

The verdict comes from the workspace's event log (read over HTTP after the run): it records
every grant and every end of a lease in one order, so "never two holders" is checkable as
"between two `lock.acquired` of an entity there is exactly one ending event of the first".
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer, read_events
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

from .test_websocket import WS1, ws_client

pytestmark = pytest.mark.xdist_group("e2e")

LOCKS = "/v1/collaboration/locks"
ENDINGS = {"lock.released", "lock.expired", "lock.force_released"}


async def two_nodes(nodes: NodeFactory, redis: RedisServer, **settings: object) -> list[HuddleNode]:
    return list(
        await asyncio.gather(
            nodes.start(redis.url(), name="a", **settings),
            nodes.start(redis.url(), name="b", **settings),
        )
    )


def check_one_holder_at_a_time(events: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Replay the log's lock events and fail on any sign of two holders or a fencing token
    that does not grow. Returns the number of grants per entity."""
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the log has holes"
    holder: dict[tuple[str, str], dict[str, Any] | None] = {}
    last_token = 0  # one fencing counter per workspace: grants grow across entities too
    grants: dict[tuple[str, str], int] = {}
    for event in events:
        kind, data = event["type"], event["data"]
        if not kind.startswith("lock."):
            continue
        entity = (data["entity_type"], data["entity_id"])
        current = holder.get(entity)
        where = f"event {event['seq']} {kind} {data}"
        if kind == "lock.acquired":
            assert current is None, f"{where}: granted while {current} still holds it"
            assert data["fencing_token"] > last_token, f"{where}: token did not grow"
            last_token = data["fencing_token"]
            holder[entity] = data
            grants[entity] = grants.get(entity, 0) + 1
        elif kind == "lock.refreshed":
            assert current is not None, f"{where}: refreshed a lock nobody holds"
            assert (data["user_id"], data["fencing_token"]) == (
                current["user_id"],
                current["fencing_token"],
            ), f"{where}: refreshed by someone else than {current}"
        elif kind in ENDINGS:
            assert current is not None, f"{where}: ended a lock nobody holds"
            assert (data["user_id"], data["fencing_token"]) == (
                current["user_id"],
                current["fencing_token"],
            ), f"{where}: ended someone else's lease than {current}"
            holder[entity] = None
        else:
            raise AssertionError(f"{where}: unknown lock event")
    return grants


async def test_hundred_concurrent_acquires_on_two_nodes_grant_exactly_one(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """100 users, 50 through each node, ask for the same lock at once: one 200, 99 409s that
    all name the winner, and one `lock.acquired` in the log."""
    a, b = await two_nodes(nodes, redis_server)
    users = [f"user{i:03d}" for i in range(100)]
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with a.client(limits=limits) as via_a, b.client(limits=limits) as via_b:
        requests = [
            (via_a if i % 2 == 0 else via_b).post(
                f"{LOCKS}/deal/42", headers=bearer(user, name=user.title())
            )
            for i, user in enumerate(users)
        ]
        answers = await asyncio.gather(*requests)

        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] + [409] * 99, [a.text for a in answers if a.status_code != 409]
        (won,) = (answer.json() for answer in answers if answer.status_code == 200)
        winner = won["holder"]["userId"]
        for answer in answers:
            if answer.status_code == 409:
                assert answer.json()["details"]["holder"]["userId"] == winner, answer.text

    async with b.client(bearer("auditor")) as auditor:
        log = await read_events(auditor)
    acquired = [e for e in log if e["type"] == "lock.acquired"]
    assert [(e["data"]["user_id"], e["data"]["fencing_token"]) for e in acquired] == [
        (winner, won["fencingToken"])
    ]


@dataclass
class Tally:
    """What the workers saw, to compare with the log afterwards."""

    grant_tokens: list[int] = field(default_factory=list)
    refused: int = 0
    expired_on_holder: int = 0


async def test_churn_of_acquire_refresh_release_and_expiry_never_leaves_two_holders(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """Eight users on two nodes take one lock in turn with 0.2 to 0.5 s leases; each grant is
    released, refreshed then released, or left to expire (while both nodes sweep every 50 ms
    and the others keep asking). Non-holders' releases and refreshes are refused. The log
    shows one holder at a time and ever-growing fencing tokens."""
    a, b = await two_nodes(nodes, redis_server, lock_ttl_min=0.2, sweep_interval=0.05)
    tally = Tally()
    rounds_per_user = 3
    ttls = itertools.cycle([0.2, 0.3, 0.5, 0.25])
    lock = f"{LOCKS}/deal/7"

    async def try_acquire(http: httpx.AsyncClient, ttl: float) -> dict[str, Any] | None:
        answer = await http.post(lock, params={"ttl": ttl})
        if answer.status_code == 200:
            return dict(answer.json())
        assert answer.status_code == 409, answer.text
        tally.refused += 1
        # Not the holder: releasing or refreshing must change nothing.
        probe = await (http.delete(lock) if tally.refused % 2 else http.post(f"{lock}/refresh"))
        if probe.status_code == 200:
            assert probe.json()["released"] is False, probe.text
        else:
            assert probe.status_code in (403, 404), probe.text
        return None

    async def worker(http: httpx.AsyncClient, index: int) -> None:
        for turn in range(rounds_per_user):
            ttl = next(ttls)
            granted = await wait_until(
                lambda ttl=ttl: try_acquire(http, ttl),
                within=30,
                what=f"worker {index} to get the lock",
                interval=0.02,
            )
            assert granted["reentrant"] is False, granted
            tally.grant_tokens.append(granted["fencingToken"])
            match (index + turn) % 3:
                case 0:
                    done = await http.delete(lock)
                    assert done.status_code in (200, 403), done.text  # 403: it expired first
                case 1:
                    again = await http.post(f"{lock}/refresh", params={"ttl": ttl})
                    assert again.status_code in (200, 403, 404), again.text
                    if again.status_code == 200:
                        assert again.json()["fencingToken"] == granted["fencingToken"]
                    done = await http.delete(lock)
                    assert done.status_code in (200, 403), done.text
                case _:
                    await wait_until(
                        lambda: lease_is_over(http),
                        within=10,
                        what=f"worker {index}'s {ttl} s lease to expire",
                    )
                    late = await http.post(f"{lock}/refresh", params={"ttl": ttl})
                    assert late.status_code in (403, 404), f"expired lease refreshed: {late.text}"
                    tally.expired_on_holder += 1

    async def lease_is_over(http: httpx.AsyncClient) -> bool:
        owned = await http.get(f"{lock}/owned")
        assert owned.status_code == 200, owned.text
        return not owned.json()["owned"]

    users = [f"racer{i}" for i in range(8)]
    clients = [
        (a if i % 2 == 0 else b).client(bearer(user, name=user.title()))
        for i, user in enumerate(users)
    ]
    try:
        async with asyncio.timeout(45):
            await asyncio.gather(*(worker(http, i) for i, http in enumerate(clients)))
    finally:
        for http in clients:
            await http.aclose()

    async with a.client(bearer("auditor")) as auditor:
        # The last lease may have run out without being swept yet: the log is complete once
        # its last lock event ends a lease.
        log = await wait_until(
            lambda: log_with_every_lease_ended(auditor), within=5, what="the last lease's end"
        )

    grants = check_one_holder_at_a_time(log)
    assert grants == {("deal", "7"): len(users) * rounds_per_user}
    acquired_tokens = [e["data"]["fencing_token"] for e in log if e["type"] == "lock.acquired"]
    assert sorted(tally.grant_tokens) == acquired_tokens, "grants and log disagree"
    assert tally.refused > 0, "no contention happened: the test proved nothing"
    assert tally.expired_on_holder > 0
    assert any(e["type"] == "lock.expired" for e in log)


async def log_with_every_lease_ended(http: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    log = await read_events(http)
    lock_events = [e for e in log if e["type"].startswith("lock.")]
    return log if lock_events and lock_events[-1]["type"] in ENDINGS else None


async def test_a_hundred_rounds_of_a_fifty_by_fifty_race_grant_one_each(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    """100 WebSocket clients, 50 on each node, ask for the same fresh lock at once, 100 times:
    each round exactly one grant, 99 refusals naming the winner, one `lock.acquired`."""
    a, b = await two_nodes(nodes, redis_server)
    rounds = 100
    async with AsyncExitStack() as stack:
        clients = await asyncio.gather(
            *(
                stack.enter_async_context(ws_client(a if i % 2 else b, f"racer{i:02d}"))
                for i in range(100)
            )
        )
        winners: list[tuple[str, int]] = []
        for round_ in range(rounds):
            answers = await asyncio.gather(
                *(
                    client.request("lock.acquire", **WS1, entity_type="race", entity_id=str(round_))
                    for client in clients
                )
            )
            granted = [answer["result"] for answer in answers if answer["ok"]]
            assert len(granted) == 1, f"round {round_}: {len(granted)} grants"
            (won,) = granted
            refused = [answer["error"] for answer in answers if not answer["ok"]]
            assert {error["code"] for error in refused} == {"LOCK_HELD"}, refused[:3]
            assert {error["details"]["holder"]["userId"] for error in refused} == {
                won["holder"]["userId"]
            }
            winners.append((won["holder"]["userId"], won["fencingToken"]))

    async with a.client(bearer("auditor")) as auditor:
        log = await read_events(auditor)
    acquired = [e["data"] for e in log if e["type"] == "lock.acquired"]
    assert [(data["user_id"], data["fencing_token"]) for data in acquired] == winners
    assert [data["entity_id"] for data in acquired] == [str(r) for r in range(rounds)]
    check_one_holder_at_a_time(log)
