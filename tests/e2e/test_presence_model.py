"""10,000 random presence operations across two nodes end equal to a model.

60 sessions (20 users, three tabs each) join, view, stop viewing and leave at random, each
operation through either node (a WebSocket connection of the session's user on each, naming
the session); one session's operations are sequential (so the model knows
their order), the sessions run concurrently. Afterwards both nodes' rosters, every resource's
viewer counts, and the event log folded from the start all equal the model.
"""

from __future__ import annotations

import asyncio
import random
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tests.support.nodes import HuddleNode, NodeFactory, bearer, read_events
from tests.support.redis_server import RedisServer

from .test_websocket import WS1, Client, ws_client

pytestmark = pytest.mark.xdist_group("e2e")

PRESENCE = "/v1/orgs/acme/workspaces/ws1/sync/presence"
OPERATIONS = 10_000
USERS = [f"user{i:02d}" for i in range(20)]
TABS = ["t1", "t2", "t3"]
RESOURCES = [str(r) for r in range(6)]

#: stored session id -> the resource it views (None: present, viewing nothing)
Model = dict[str, str | None]


async def run_session(clients: list[Client], session: str, count: int, model: Model) -> None:
    """`count` random operations on one session, each through one of `clients` (one
    WebSocket connection of the session's user per node), in order."""
    rng = random.Random(session)
    tab = session.split("/")[1]
    for _ in range(count):
        client = rng.choice(clients)
        present = session in model
        match rng.choices(("view", "unview", "leave", "join"), weights=(5, 2, 2, 1))[0]:
            case "view":
                resource = rng.choice(RESOURCES)
                answer = await client.request(
                    "presence.view", **WS1, resource_type="deal", resource_id=resource, session=tab
                )
                model[session] = resource
            case "unview":
                answer = await client.request(
                    "presence.view", **WS1, resource_type=None, resource_id=None, session=tab
                )
                model[session] = None
            case "leave":
                answer = await client.request("presence.leave", **WS1, session=tab)
                assert answer["result"]["left"] is present, (session, answer)
                model.pop(session, None)
            case _:
                answer = await client.request("presence.join", **WS1, session=tab)
                assert answer["result"]["new"] is not present, (session, answer)
                model.setdefault(session, None)
        assert answer["ok"], answer


def roster_state(roster: dict[str, Any]) -> Model:
    state: Model = {}
    for user in roster["users"]:
        for detail in user["session_details"]:
            viewing = detail["viewing"]
            state[detail["session_id"]] = viewing["resource_id"] if viewing else None
    return state


def folded_log(events: list[dict[str, Any]]) -> Model:
    state: Model = {}
    for event in events:
        data = event["data"]
        match event["type"]:
            case "presence.joined":
                assert data["session_id"] not in state, f"joined twice: {event}"
                state[data["session_id"]] = None
            case "presence.viewing":
                assert data["session_id"] in state, f"viewing before joining: {event}"
                state[data["session_id"]] = data["resource_id"]
            case "presence.left":
                assert state.pop(data["session_id"], "absent") != "absent", f"left twice: {event}"
    return state


async def test_ten_thousand_random_presence_operations_end_equal_to_a_model(
    nodes: NodeFactory, redis_server: RedisServer
) -> None:
    a: HuddleNode
    b: HuddleNode
    a, b = await asyncio.gather(
        nodes.start(redis_server.url(), name="a", presence_ttl=600),
        nodes.start(redis_server.url(), name="b", presence_ttl=600),
    )
    model: Model = {}
    sessions = [f"{user}/{tab}" for user in USERS for tab in TABS]
    async with AsyncExitStack() as stack:
        connections = {
            session: [
                await stack.enter_async_context(ws_client(node, session.split("/")[0]))
                for node in (a, b)
            ]
            for session in sessions
        }
        async with asyncio.timeout(240):
            await asyncio.gather(
                *(
                    run_session(connections[s], s, OPERATIONS // len(sessions), model)
                    for s in sessions
                )
            )
        assert 10 < len(model) < len(sessions), "the random walk should leave some sessions"
        await check_reads(a, b, model)
        async with b.client(bearer("auditor")) as auditor:
            log = await read_events(auditor)
        assert folded_log(log) == model


async def check_reads(a: HuddleNode, b: HuddleNode, model: Model) -> None:
    """Both nodes' rosters and per-resource counts are the model's."""
    for node in (a, b):
        async with node.client(bearer("auditor")) as http:
            roster = (await http.get(PRESENCE)).json()
            assert roster_state(roster) == model
            assert roster["sessions"] == len(model)
            assert roster["count"] == len({session.split("/")[0] for session in model})
            for resource in RESOURCES:
                viewers = (await http.get(f"/v1/collaboration/presence/deal/{resource}")).json()
                watching = [s for s, viewed in model.items() if viewed == resource]
                assert viewers["sessions"] == len(watching), (resource, viewers)
                assert viewers["count"] == len({s.split("/")[0] for s in watching}), viewers
