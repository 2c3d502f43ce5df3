"""Records survive Redis outages: with the AOF settings docs/operations.md recommends
(`appendonly yes`, `appendfsync always`, `aof-load-truncated yes`), every write a node
acknowledged is there after Redis stalls and after redis-server is SIGKILLed mid-stream and
restarted on its AOF, and no write is ever there in part.

Writers retry a write refused with 503 once Redis is back. A retried write may meet its own
earlier attempt, applied but never answered (a stalled Redis runs the commands it had received
when it resumes, after the node gave up on them): a create then answers 409 ALREADY_EXISTS
naming the record (the unique `code` makes creates safe to retry), a delete 404, and an update
simply applies again. Each writer writes only its own records, one write at a time, so the
final state of every record is known: the body of its last acknowledged write, or gone after an
acknowledged delete. The keys are then audited directly (`tests/support/record_audit.py`).

A torn AOF tail is reverted whole on load; and a Redis back from an older snapshot (why RDB
alone is not enough) is never a silent gap for live readers: they get a `sync.reset`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.support.nodes import HuddleNode, NodeFactory, bearer, read_events
from tests.support.record_audit import Audit, audit_records
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.xdist_group("e2e")

OBJECTS: Final = "/v1/custom-objects"
RECORDS: Final = "/v1/custom-objects/ticket/records"
COLLABORATIONS: Final = "/v2/collaborations"
STREAM: Final = "/v1/orgs/acme/workspaces/ws1/sync/stream"
TICKET: Final = {
    "apiName": "ticket",
    "label": "Ticket",
    "fields": [
        {"apiName": "code", "type": "text", "required": True, "unique": True},
        {"apiName": "n", "type": "integer"},
        {"apiName": "note", "type": "text"},
    ],
}
WRITERS: Final = range(4)
ROUNDS: Final = 18
STALL_AFTER: Final = 30
CRASH_AFTER: Final = 90
"""Writes acknowledged before Redis is frozen, and before it is killed (of about 200)."""
WRITES_WITHIN: Final = 30.0
OUTAGE_WITHIN: Final = 10.0
RECOVER_WITHIN: Final = 20.0
RECOMMENDED: Final = {"appendonly": "yes", "appendfsync": "always", "aof-load-truncated": "yes"}


# --- Redis ----------------------------------------------------------------------------------


async def redis_settings(server: RedisServer) -> dict[str, str]:
    client = aioredis.Redis.from_url(server.url(), decode_responses=True)
    try:
        return {name: str((await client.config_get(name))[name]) for name in RECOMMENDED}
    finally:
        await client.aclose()


async def crash(server: RedisServer) -> None:
    """SIGKILL redis-server (no shutdown code runs, nothing is flushed) and reap it."""
    client = aioredis.Redis.from_url(server.url())
    try:
        pid = int((await client.info("server"))["process_id"])
    finally:
        await client.aclose()
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(server.stop)  # reaps the dead process; nothing left to terminate


async def audit(server: RedisServer, nodes: NodeFactory) -> Audit:
    client = aioredis.Redis.from_url(server.url())
    try:
        return await audit_records(client, f"{nodes.prefix}:{{acme/ws1}}")
    finally:
        await client.aclose()


async def aof_file(server: RedisServer) -> Path:
    """The AOF file writes are appended to (Redis 7: the `.incr.aof` of `appendonlydir`)."""
    client = aioredis.Redis.from_url(server.url(), decode_responses=True)
    try:
        directory = Path(str((await client.config_get("dir"))["dir"]))
        directory /= str((await client.config_get("appenddirname"))["appenddirname"])
    finally:
        await client.aclose()
    [incr] = sorted(directory.glob("*.incr.aof"))
    return incr


# --- the writers ----------------------------------------------------------------------------


def error_code(answer: httpx.Response) -> str:
    """The code of an error answer, in Huddle's envelope or (under /v2/) Base's."""
    body = answer.json()
    if "errors" in body:
        return str(body["errors"][0]["error"]["code"])
    return str(body["error"])


@dataclass
class Ack:
    writer: int
    method: str
    url: str
    status: int
    body: Any
    phase: int
    """0 before the first outage, 1 after Redis thawed, 2 after it restarted."""
    retried: bool


@dataclass
class Ledger:
    """Every answer the writers got, and the outages they wait out.

    During an outage (`back` cleared) a writer answered 503 waits until `back` is set again.
    `met` holds the writers that got a 503 in the current outage; `changed` is notified on
    every answer and every writer's end, for the conductor waiting on either."""

    acks: list[Ack] = field(default_factory=list)
    refusals: list[tuple[int, str, str, int, str]] = field(default_factory=list)
    phase: int = 0
    met: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)
    back: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        self.back.set()

    async def wait_for(self, what: str, check: Any, within: float = OUTAGE_WITHIN) -> None:
        try:
            async with asyncio.timeout(within), self.changed:
                await self.changed.wait_for(check)
        except TimeoutError:
            raise AssertionError(f"timed out after {within} s waiting for {what}") from None

    def begin_outage(self) -> None:
        self.met.clear()
        self.back.clear()

    def end_outage(self) -> None:
        self.phase += 1
        self.back.set()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def finished(self, writer: int) -> None:
        self.done.add(writer)
        await self._notify()

    async def send(
        self,
        writer: int,
        http: httpx.AsyncClient,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        *,
        ok: int,
        after_a_503: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send until answered `ok`, or, once an attempt was answered 503, one of
        `after_a_503` (that attempt may have been applied). A 503 waits for Redis to be back;
        any other answer fails the test."""
        deadline: float | None = None
        retried = False
        while True:
            answer = await http.request(method, url, json=body)
            status = answer.status_code
            if status == ok or (retried and status in after_a_503):
                data = answer.json() if answer.content else None
                self.acks.append(Ack(writer, method, url, status, data, self.phase, retried))
                await self._notify()
                return answer
            self.refusals.append((writer, method, url, status, answer.text))
            assert status == 503, f"{method} {url} {body} answered {status}: {answer.text}"
            assert error_code(answer) in ("SERVICE_UNAVAILABLE", "service_unavailable")
            retried = True
            if not self.back.is_set():
                self.met.add(writer)
                await self._notify()
                async with asyncio.timeout(OUTAGE_WITHIN + RECOVER_WITHIN):
                    await self.back.wait()
            # Back: a request may still meet a connection to the old process, once.
            deadline = deadline or time.monotonic() + RECOVER_WITHIN
            assert time.monotonic() < deadline, f"{method} {url} still 503 once Redis was back"


@dataclass
class Expected:
    """What a record should be now: its last acknowledged body, or None once deleted."""

    id: int
    values: dict[str, Any]
    body: dict[str, Any] | None
    deleted: bool = False


async def write_tickets(
    http: httpx.AsyncClient, ledger: Ledger, writer: int
) -> tuple[list[Expected], list[dict[str, Any]]]:
    """Round k: create ticket `t<writer>r<k>`, rename it (a new unique value), delete every
    third, and on even rounds create a collaboration on deal `writer * 1000 + k + 1`."""
    tickets: list[Expected] = []
    collaborations: list[dict[str, Any]] = []
    send = functools.partial(ledger.send, writer, http)
    for k in range(ROUNDS):
        values = {"code": f"t{writer}r{k}", "n": k, "note": f"writer {writer}"}
        created = await send("POST", RECORDS, {"values": values}, ok=201, after_a_503=(409,))
        if created.status_code == 201:
            ticket = Expected(int(created.json()["id"]), values, created.json())
        else:  # our own earlier attempt, applied but never answered: the record is ours
            assert error_code(created) == "ALREADY_EXISTS", created.text
            ticket = Expected(created.json()["details"]["existing_id"], values, None)
        tickets.append(ticket)

        change = {"code": f"t{writer}r{k}-renamed", "n": k + 1000}
        url = f"{RECORDS}/{ticket.id}"
        updated = await send("PATCH", url, {"values": change}, ok=200)
        ticket.values = {**ticket.values, **change}
        ticket.body = updated.json()
        assert ticket.body["values"] == ticket.values, updated.text

        if k % 3 == 0:
            await send("DELETE", url, None, ok=204, after_a_503=(404,))
            ticket.deleted = True

        if k % 2 == 0:
            data = {"resource_type": "deal", "resource_id": writer * 1000 + k + 1}
            data["collaborator_id"] = 7
            answer = await send("POST", COLLABORATIONS, {"data": data}, ok=200)
            collaborations.append(answer.json()["data"])
    await ledger.finished(writer)
    return tickets, collaborations


async def two_outages(server: RedisServer, ledger: Ledger) -> None:
    """While the writers write: (1) freeze Redis until every writer got a 503 (each request
    then timed out in the node, which dropped its connection, but Redis still runs the writes
    it had received when it thaws: applied, never answered); (2) SIGKILL it and, once a writer
    met the outage, restart it on the same port and AOF."""
    writes = functools.partial(ledger.wait_for, within=WRITES_WITHIN)
    await writes("writes before the stall", lambda: len(ledger.acks) >= STALL_AFTER)
    ledger.begin_outage()
    server.freeze()
    try:
        await ledger.wait_for(
            "every writer to meet the stall", lambda: ledger.met | ledger.done >= set(WRITERS)
        )
    finally:
        server.thaw()
    ledger.end_outage()

    await writes("writes before the crash", lambda: len(ledger.acks) >= CRASH_AFTER)
    ledger.begin_outage()
    await crash(server)
    await ledger.wait_for("a writer to meet the crash", lambda: ledger.met)
    await asyncio.to_thread(server.start)
    ledger.end_outage()


# --- the checks -----------------------------------------------------------------------------


async def read(http: httpx.AsyncClient, url: str, **params: Any) -> httpx.Response:
    """GET `url`; a 503 (a Redis call slower than the node's 1 s on a busy machine) is
    retried, as the answer says: a read changes nothing."""

    async def answered() -> httpx.Response | None:
        answer = await http.get(url, params=params)
        return None if answer.status_code == 503 else answer

    answer = await wait_until(answered, within=RECOVER_WITHIN, what=f"GET {url} to answer")
    assert answer is not None
    return answer


async def list_all(http: httpx.AsyncClient, per_page: int = 7) -> list[dict[str, Any]]:
    """Every ticket through the API, page by page (small pages, so there are several)."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = await read(http, RECORDS, page=page, limit=per_page)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found.extend(body["data"])
        if page >= body["meta"]["totalPages"]:
            assert len(found) == body["meta"]["total"], body["meta"]
            return found
        page += 1


async def assert_every_acknowledged_write_is_there(
    http: httpx.AsyncClient,
    tickets: list[Expected],
    collaborations: list[dict[str, Any]],
    audited: Audit,
    object_id: str,
) -> None:
    alive = {t.id: t for t in tickets if not t.deleted}
    for ticket in tickets:
        answer = await read(http, f"{RECORDS}/{ticket.id}")
        if ticket.deleted:
            assert answer.status_code == 404, f"deleted ticket {ticket.id}: {answer.text}"
        else:
            assert answer.status_code == 200, f"ticket {ticket.id}: {answer.text}"
            assert answer.json() == ticket.body, "the last acknowledged write is what is stored"

    listed = await list_all(http)
    ids = [int(r["id"]) for r in listed]
    assert len(ids) == len(set(ids)), "a record is listed twice"
    assert set(ids) == set(alive), f"listed {sorted(set(ids) ^ set(alive))} wrongly"
    codes = [r["values"]["code"] for r in listed]
    assert len(codes) == len(set(codes)), "a unique code is held twice"
    assert audited.ids(f"obj:{object_id}") == set(alive)

    for collaboration in collaborations:
        answer = await read(http, f"{COLLABORATIONS}/{collaboration['id']}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == collaboration
    assert audited.ids("collaboration") == {c["id"] for c in collaborations}


def assert_the_log_has_each_acknowledged_change_once(
    events: list[dict[str, Any]], tickets: list[Expected], collaborations: list[dict[str, Any]]
) -> None:
    """One epoch and dense offsets (the counter neither rewound nor reset), and the event of
    every acknowledged change, once."""
    assert len({e["id"].split(":")[0] for e in events}) == 1, "the epoch changed"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    def of(kind: str) -> list[int]:
        return [e["data"]["id"] for e in events if e["type"] == kind]

    created, deleted = of("record.created"), of("record.deleted")
    assert sorted(created) == sorted(t.id for t in tickets), "one record.created per ticket"
    assert sorted(deleted) == sorted(t.id for t in tickets if t.deleted)
    updates = {
        (e["data"]["id"], e["data"]["version"]) for e in events if e["type"] == "record.updated"
    }
    for ticket in tickets:
        assert ticket.body is not None
        assert (ticket.id, ticket.body["version"]) in updates
    assert sorted(of("collaboration.created")) == sorted(c["id"] for c in collaborations)


# --- a live reader --------------------------------------------------------------------------


class Reader:
    """A live SSE reader that keeps every event it got."""

    def __init__(self, events: AsyncIterator[ServerSentEvent]) -> None:
        self._sse = events
        self.events: list[dict[str, Any]] = []

    async def until(self, done: Callable[[list[dict[str, Any]]], bool], within: float = 20) -> None:
        async with asyncio.timeout(within):
            while not done(self.events):
                sse = await anext(self._sse)
                if sse.data:
                    self.events.append(orjson.loads(sse.data))


def created(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["values"]["code"] for e in events if e["type"] == "record.created"]


def resets(events: list[dict[str, Any]]) -> bool:
    return any(e["type"] == "sync.reset" for e in events)


async def create_after_restart(http: httpx.AsyncClient, code: str) -> httpx.Response:
    """Create a ticket once the node reaches the restarted Redis (a create refused with 503
    changed nothing, so it is sent again)."""

    async def created_once() -> httpx.Response | None:
        answer = await http.post(RECORDS, json={"values": {"code": code}})
        return None if answer.status_code == 503 else answer

    answer = await wait_until(created_once, within=RECOVER_WITHIN, what=f"ticket {code}")
    assert answer is not None
    return answer


# --- the tests ------------------------------------------------------------------------------


async def start_node(nodes: NodeFactory, server: RedisServer) -> HuddleNode:
    return await nodes.start(server.url(), name="a", redis_timeout=1)


async def test_every_acknowledged_record_write_survives_a_redis_crash_and_none_is_half_applied(
    nodes: NodeFactory, durable_redis: RedisServer
) -> None:
    """Four writers create, rename and delete tickets and create collaborations while Redis
    first stalls (writes applied but answered 503), then is SIGKILLed and restarted on its
    AOF: every write answered 2xx is there, through the API and in the keys; each change has
    its event once; and the keys of every collection are consistent."""
    assert await redis_settings(durable_redis) == RECOMMENDED
    node = await start_node(nodes, durable_redis)
    ledger = Ledger()
    async with node.client(bearer("root", admin=True, name="Root")) as admin:
        made = await admin.post(OBJECTS, json=TICKET)
        assert made.status_code == 201, made.text
        object_id = made.json()["id"]

        clients = [node.client(bearer(f"writer{i}", name=f"Writer {i}")) for i in WRITERS]
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(two_outages(durable_redis, ledger))
                work = [
                    group.create_task(write_tickets(http, ledger, i))
                    for i, http in zip(WRITERS, clients, strict=True)
                ]
        finally:
            for http in clients:
                await http.aclose()
        tickets = [t for task in work for t in task.result()[0]]
        collaborations = [c for task in work for c in task.result()[1]]

        assert {status for *_, status, _ in ledger.refusals} == {503}
        assert {a.phase for a in ledger.acks} == {0, 1, 2}, "writes before, between, after"
        assert {a.phase for a in ledger.acks if a.retried} >= {1, 2}, "writes met each outage"
        assert await redis_settings(durable_redis) == RECOMMENDED

        audited = await audit(durable_redis, nodes)
        assert not audited.problems, audited.report()
        await assert_every_acknowledged_write_is_there(
            admin, tickets, collaborations, audited, object_id
        )
        events = await read_events(admin)
    assert_the_log_has_each_acknowledged_change_once(events, tickets, collaborations)


async def test_a_torn_aof_tail_loses_its_last_write_whole_never_half(
    nodes: NodeFactory, durable_redis: RedisServer
) -> None:
    """A write cut short in the AOF (a crash mid-write, which `appendfsync always` only allows
    for a write never answered) is reverted whole on load (`aof-load-truncated yes`): the
    record is back at its previous version, with its previous indexes and unique value, its
    event is gone and the next write goes on from there."""
    node = await start_node(nodes, durable_redis)
    async with node.client(bearer("root", admin=True, name="Root")) as http:
        assert (await http.post(OBJECTS, json=TICKET)).status_code == 201
        first = await http.post(RECORDS, json={"values": {"code": "a", "n": 1}})
        assert first.status_code == 201, first.text
        record = f"{RECORDS}/{first.json()['id']}"
        before = await http.patch(record, json={"values": {"code": "b", "n": 2}})
        assert before.status_code == 200, before.text
        torn = await http.patch(record, json={"values": {"code": "c", "n": 3}})
        assert torn.status_code == 200, torn.text

        aof = await aof_file(durable_redis)
        await crash(durable_redis)
        content = aof.read_bytes()
        multi = content.rindex(b"*1\r\n$5\r\nMULTI\r\n")
        exec_at = content.rindex(b"*1\r\n$4\r\nEXEC\r\n")
        assert multi < exec_at and exec_at + 14 == len(content), "the last entry is a script"
        assert b":r:obj:" in content[multi:], "the last script is the torn ticket update"
        aof.write_bytes(content[: exec_at - 5])  # the EXEC and the end of the last command
        await asyncio.to_thread(durable_redis.start)

        # A request may still meet a connection to the old process (503), then it reads.
        now = await read(http, record)
        assert now.status_code == 200, now.text
        assert now.json() == before.json(), "the torn update is gone whole"
        audited = await audit(durable_redis, nodes)
        assert not audited.problems, audited.report()
        codes = [r["values"]["code"] for r in await list_all(http)]
        assert codes == ["b"]
        assert (await http.post(RECORDS, json={"values": {"code": "c"}})).status_code == 201
        taken = await http.post(RECORDS, json={"values": {"code": "b"}})
        assert taken.status_code == 409, taken.text

        events = await read_events(http)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["type"], e["data"].get("version")) for e in events if "record" in e["type"]] == [
        ("record.created", 1),
        ("record.updated", 2),
        ("record.created", 1),
    ]


async def test_a_redis_back_from_an_older_snapshot_is_never_a_silent_gap_for_live_readers(
    nodes: NodeFactory, private_redis: RedisServer
) -> None:
    """Why RDB alone is not enough (docs/operations.md): Redis restarted from a snapshot older
    than its last acknowledged writes gives their offsets, under the same epoch, to new
    events. A live reader must then get a `sync.reset` or every new event, never a gap."""
    node = await start_node(nodes, private_redis)
    async with (
        node.client(bearer("root", admin=True, name="Root")) as http,
        httpx.AsyncClient(base_url=node.url, timeout=30) as streaming,
        aconnect_sse(streaming, "GET", STREAM, headers=bearer("reader")) as source,
    ):
        assert source.response.status_code == 200
        reader = Reader(source.aiter_sse())
        await reader.until(lambda got: any(e["type"] == "presence.joined" for e in got))
        assert (await http.post(OBJECTS, json=TICKET)).status_code == 201
        client = aioredis.Redis.from_url(private_redis.url())
        try:
            await client.save()  # the snapshot: the object, no ticket
        finally:
            await client.aclose()
        for code in ("lost-1", "lost-2"):
            assert (await http.post(RECORDS, json={"values": {"code": code}})).status_code == 201
        await reader.until(lambda got: len(created(got)) == 2)

        await crash(private_redis)
        await asyncio.to_thread(private_redis.start)  # loads the snapshot: no AOF
        for code in ("new-1", "new-2", "new-3"):
            answer = await create_after_restart(http, code)
            assert answer.status_code == 201, answer.text
        await reader.until(lambda got: "new-3" in created(got) or resets(got))

    after_crash = reader.events[[e["type"] for e in reader.events].index("record.created") + 2 :]
    assert resets(after_crash) or created(after_crash) == ["new-1", "new-2", "new-3"], [
        (e["seq"], e["type"]) for e in reader.events
    ]
