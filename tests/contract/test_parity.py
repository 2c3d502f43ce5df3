"""Parity: memory://, redis:// and a reference model agree on every step of random sessions.

A hypothesis state machine drives presence and lock operations by three users over five
sessions and three entities, with TTLs nothing outlives (expiry is covered by
test_expiry_and_sweep.py). After every step the three must agree on the result, on what reads
show, and on the events the step appended to the log. Fencing tokens are compared by rank
(the contract says they grow, not by how much): each backend's tokens are mapped to 1, 2, 3 ...
in the order they were first granted, after checking each new one exceeds every earlier one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Final

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from huddle.backends import open_backend
from huddle.backends.base import Backend
from huddle.config import Settings
from huddle.ids import EntityRef
from huddle.models import Actor, Event, Granted, Held, Holder, Joined, NotHeld, Released
from tests.support.contract import WS, session
from tests.support.redis_server import RedisServer, unique_prefix

TTL_MS: Final = 3_600_000
NAMES: Final = {"u1": "Una", "u2": "Ugo", "u3": "Uma"}
USER_OF: Final = {"s1": "u1", "s2": "u1", "s3": "u2", "s4": "u2", "s5": "u3"}
ENTITIES: Final = [EntityRef("doc", "1"), EntityRef("doc", "2"), EntityRef("deal", "9")]

users = st.sampled_from(sorted(NAMES))
sessions = st.sampled_from(sorted(USER_OF))
entities = st.sampled_from(ENTITIES)


def holder(sid: str) -> Holder:
    user = USER_OF[sid]
    return Holder(user, NAMES[user], sid)


def info(sid: str) -> Any:
    return session(holder(sid))


def actor(user: str) -> Actor:
    return Actor("user", user, NAMES[user])


# --- the reference model -----------------------------------------------------------------------


@dataclass
class ModelLock:
    user: str
    session: str
    token: int


@dataclass
class Model:
    """What the contract says should happen, with tokens 1, 2, 3 ... and no clock."""

    locks: dict[EntityRef, ModelLock] = field(default_factory=dict)
    viewing: dict[str, EntityRef | None] = field(default_factory=dict)  # live sessions
    tokens: int = 0
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def acquire(self, entity: EntityRef, sid: str) -> tuple[Any, ...]:
        user, current = USER_OF[sid], self.locks.get(entity)
        if current is None:
            self.tokens += 1
            self.locks[entity] = ModelLock(user, sid, self.tokens)
            self.events.append(("lock.acquired", entity.field, user, sid, self.tokens))
            return ("Granted", True, user, sid, self.tokens)
        if current.user != user:
            return ("Held", current.user, current.session, current.token)
        current.session = sid
        self.events.append(("lock.refreshed", entity.field, user, sid, current.token))
        return ("Granted", False, user, sid, current.token)

    def refresh(self, entity: EntityRef, user: str) -> tuple[Any, ...]:
        current = self.locks.get(entity)
        if current is None:
            return ("NotHeld",)
        if current.user != user:
            return ("Held", current.user, current.session, current.token)
        self.events.append(("lock.refreshed", entity.field, user, current.session, current.token))
        return ("Granted", False, user, current.session, current.token)

    def release(self, entity: EntityRef, user: str) -> tuple[Any, ...]:
        current = self.locks.get(entity)
        if current is None:
            return ("NotHeld",)
        if current.user != user:
            return ("Held", current.user, current.session, current.token)
        del self.locks[entity]
        self.events.append(("lock.released", entity.field, user, current.token))
        return ("Released", user, current.session, current.token)

    def force_release(self, entity: EntityRef, by: str) -> tuple[Any, ...]:
        current = self.locks.pop(entity, None)
        if current is None:
            return ("NotHeld",)
        self.events.append(("lock.force_released", entity.field, current.user, current.token, by))
        return ("Released", current.user, current.session, current.token)

    def join(self, sid: str) -> tuple[Any, ...]:
        if sid in self.viewing:
            return ("Joined", False, field_of(self.viewing[sid]))
        user = USER_OF[sid]
        first = not self.sessions_of(user)
        self.viewing[sid] = None
        self.events.append(("presence.joined", sid, user))
        if first:
            self.events.append(("user.online", user))
        return ("Joined", True, None)

    def sessions_of(self, user: str) -> list[str]:
        return [sid for sid in self.viewing if USER_OF[sid] == user]

    def view(self, sid: str, entity: EntityRef | None) -> tuple[Any, ...]:
        new = sid not in self.viewing
        if new:
            self.join(sid)
        previous = self.viewing[sid]
        if previous != entity:
            self.viewing[sid] = entity
            self.events.append(("presence.viewing", sid, field_of(entity), field_of(previous)))
        return ("Joined", new, field_of(entity))

    def leave(self, sid: str) -> bool:
        if sid not in self.viewing:
            return False
        del self.viewing[sid]
        self.events.append(("presence.left", sid, "leave"))
        if not self.sessions_of(USER_OF[sid]):
            self.events.append(("user.offline", USER_OF[sid], "leave"))
        return True

    def touch(self, sids: list[str]) -> list[str]:
        return [sid for sid in dict.fromkeys(sids) if sid not in self.viewing]


def field_of(entity: EntityRef | None) -> str | None:
    return None if entity is None else entity.field


# --- what a backend showed, in the model's terms ------------------------------------------------


@dataclass
class Observed:
    """One backend under test, with its fencing tokens ranked in order of first grant."""

    name: str
    backend: Backend
    head: int = 0
    ranks: dict[int, int] = field(default_factory=dict)

    def rank(self, token: int) -> int:
        if token not in self.ranks:
            assert all(token > seen for seen in self.ranks), (
                f"{self.name}: token {token} is not larger than every earlier one "
                f"{sorted(self.ranks)}"
            )
            self.ranks[token] = len(self.ranks) + 1
        return self.ranks[token]

    def result(self, value: object) -> object:
        match value:
            case Granted(lock=lock, fresh=fresh):
                return ("Granted", fresh, lock.user_id, lock.session_id, self.rank(lock.token))
            case Held(lock=lock):
                return ("Held", lock.user_id, lock.session_id, self.rank(lock.token))
            case Released(lock=lock):
                return ("Released", lock.user_id, lock.session_id, self.rank(lock.token))
            case NotHeld():
                return ("NotHeld",)
            case Joined(session=s, new=new):
                return ("Joined", new, field_of(s.viewing))
            case _:
                return value

    def event(self, event: Event) -> tuple[Any, ...]:
        d = event.data
        match event.type:
            case "presence.joined":
                return (event.type, d["session_id"], d["user_id"])
            case "presence.viewing":
                previous = d["previous"]
                return (
                    event.type,
                    d["session_id"],
                    None
                    if d["resource_type"] is None
                    else f"{d['resource_type']}/{d['resource_id']}",
                    None
                    if previous is None
                    else f"{previous['resource_type']}/{previous['resource_id']}",
                )
            case "presence.left":
                return (event.type, d["session_id"], d["reason"])
            case "user.online":
                return (event.type, d["user_id"])
            case "user.offline":
                return (event.type, d["user_id"], d["reason"])
            case "lock.acquired" | "lock.refreshed":
                entity = f"{d['entity_type']}/{d['entity_id']}"
                token = self.rank(d["fencing_token"])
                return (event.type, entity, d["user_id"], d["session_id"], token)
            case "lock.released" | "lock.expired":
                entity = f"{d['entity_type']}/{d['entity_id']}"
                return (event.type, entity, d["user_id"], self.rank(d["fencing_token"]))
            case "lock.force_released":
                entity = f"{d['entity_type']}/{d['entity_id']}"
                token = self.rank(d["fencing_token"])
                return (event.type, entity, d["user_id"], token, d["released_by"])
            case _:
                return (event.type, d)

    async def new_events(self) -> list[tuple[Any, ...]]:
        page = await self.backend.log.read(WS, self.head, 1_000)
        assert page.head == self.head + len(page.events), f"{self.name}: a hole in the log"
        self.head = page.head
        return [self.event(e) for e in page.events]

    async def state(self) -> dict[str, object]:
        b, users, sids = self.backend, sorted(NAMES), sorted(USER_OF)
        # The reads are independent: sent at once, so a step costs one round trip of them.
        locks, viewers, roster, *rest = await asyncio.gather(
            b.locks.get(WS, ENTITIES),
            b.presence.viewers(WS, ENTITIES),
            b.presence.roster(WS),
            *(b.locks.held_by(WS, user) for user in users),
            *(b.presence.get(WS, sid) for sid in sids),
            b.presence.users(WS, [*users, "nobody", users[0]]),
        )
        held_by, sessions, online = rest[: len(users)], rest[len(users) : -1], rest[-1]
        return {
            "locks": [
                None if lock is None else (lock.user_id, lock.session_id, self.rank(lock.token))
                for lock in locks
            ],
            "held_by": {
                user: [lock.entity.field for lock in held]
                for user, held in zip(users, held_by, strict=True)
            },
            "viewers": [
                (
                    sorted(s.session_id for s in e.sessions),
                    sorted({s.user_id for s in e.sessions}),
                    None if e.lock is None else self.rank(e.lock.token),
                )
                for e in viewers
            ],
            "roster": sorted(s.session_id for s in roster),
            "sessions": {
                sid: None if s is None else field_of(s.viewing)
                for sid, s in zip(sids, sessions, strict=True)
            },
            "users": [(u.user_id, u.sessions, u.online) for u in online],
        }


def model_state(model: Model) -> dict[str, object]:
    return {
        "locks": [
            None if (lock := model.locks.get(e)) is None else (lock.user, lock.session, lock.token)
            for e in ENTITIES
        ],
        "held_by": {
            user: [e.field for e in sorted(model.locks) if model.locks[e].user == user]
            for user in sorted(NAMES)
        },
        "viewers": [
            (
                sorted(sid for sid, v in model.viewing.items() if v == e),
                sorted({USER_OF[sid] for sid, v in model.viewing.items() if v == e}),
                None if (lock := model.locks.get(e)) is None else lock.token,
            )
            for e in ENTITIES
        ],
        "roster": sorted(model.viewing),
        "sessions": {
            sid: field_of(model.viewing.get(sid)) if sid in model.viewing else None
            for sid in sorted(USER_OF)
        },
        "users": [
            (user, n, n > 0)
            for user in [*sorted(NAMES), "nobody", sorted(NAMES)[0]]
            for n in [len(model.sessions_of(user))]
        ],
    }


# --- the machine -------------------------------------------------------------------------------


class ParityMachine(RuleBasedStateMachine):
    """memory://, redis:// and the model, driven in lock step on one workspace."""

    def __init__(self, redis_url: str) -> None:
        super().__init__()
        self.model = Model()
        self.loop = asyncio.new_event_loop()
        # asyncio debug mode (PYTHONASYNCIODEBUG=1 in `make test`) records a stack per task and
        # callback, which under hypothesis's deep stacks makes this test ~6x slower; its checks
        # still run over the same backends in every other contract test.
        self.loop.set_debug(False)
        self.stack = AsyncExitStack()
        self.observed: list[Observed] = []
        try:
            self.loop.run_until_complete(self._open(redis_url))
        except BaseException:
            self.teardown()
            raise

    async def _open(self, redis_url: str) -> None:
        for name, url, prefix in (
            ("memory", "memory://", "hd"),
            ("redis", redis_url, unique_prefix()),
        ):
            options = Settings(backend_url=url, redis_prefix=prefix)
            backend = await self.stack.enter_async_context(open_backend(options))
            self.observed.append(Observed(name, backend))

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.stack.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def _step(
        self,
        what: str,
        call: Callable[[Backend], Awaitable[object]],
        expected: object,
    ) -> None:
        """Run `call` on each backend; results and appended events must equal the model's."""
        expected_events = self.model.events
        self.model.events = []

        async def run(observed: Observed) -> tuple[object, list[tuple[Any, ...]]]:
            raw = await call(observed.backend)
            events = await observed.new_events()  # ranks new tokens in log order
            return observed.result(raw), events

        for observed in self.observed:
            result, events = self.loop.run_until_complete(run(observed))
            assert result == expected, (
                f"{what} on {observed.name}: answered {result}, the model {expected}"
            )
            assert events == expected_events, (
                f"{what} on {observed.name}: logged {events}, the model {expected_events}"
            )

    @rule(entity=entities, sid=sessions)
    def acquire(self, entity: EntityRef, sid: str) -> None:
        self._step(
            f"acquire({entity.field}, {sid})",
            lambda b: b.locks.acquire(WS, entity, holder(sid), TTL_MS),
            self.model.acquire(entity, sid),
        )

    @rule(entity=entities, user=users)
    def refresh(self, entity: EntityRef, user: str) -> None:
        self._step(
            f"refresh({entity.field}, {user})",
            lambda b: b.locks.refresh(WS, entity, user, TTL_MS),
            self.model.refresh(entity, user),
        )

    @rule(entity=entities, user=users)
    def release(self, entity: EntityRef, user: str) -> None:
        self._step(
            f"release({entity.field}, {user})",
            lambda b: b.locks.release(WS, entity, user),
            self.model.release(entity, user),
        )

    @rule(entity=entities, user=users)
    def force_release(self, entity: EntityRef, user: str) -> None:
        self._step(
            f"force_release({entity.field}, {user})",
            lambda b: b.locks.force_release(WS, entity, actor(user)),
            self.model.force_release(entity, user),
        )

    @rule(sid=sessions)
    def join(self, sid: str) -> None:
        self._step(
            f"join({sid})",
            lambda b: b.presence.join(WS, info(sid), TTL_MS),
            self.model.join(sid),
        )

    @rule(sid=sessions, entity=st.none() | entities)
    def view(self, sid: str, entity: EntityRef | None) -> None:
        if entity is None and sid not in self.model.viewing:
            # view(None) of a session that is not live: the contract does not say whether a
            # presence.viewing follows the join, so this machine does not ask.
            return
        self._step(
            f"view({sid}, {field_of(entity)})",
            lambda b: b.presence.view(WS, info(sid), entity, TTL_MS),
            self.model.view(sid, entity),
        )

    @rule(sid=sessions)
    def leave(self, sid: str) -> None:
        self._step(
            f"leave({sid})",
            lambda b: b.presence.leave(WS, sid),
            self.model.leave(sid),
        )

    @rule(sids=st.lists(sessions, max_size=5, unique=True))
    def touch(self, sids: list[str]) -> None:
        self._step(
            f"touch({sids})",
            lambda b: b.presence.touch(WS, sids, TTL_MS),
            self.model.touch(sids),
        )

    @invariant()
    def reads_agree(self) -> None:
        expected = model_state(self.model)
        for observed in self.observed:
            seen = self.loop.run_until_complete(observed.state())
            assert seen == expected, f"{observed.name} reads {seen}, the model {expected}"


def test_memory_redis_and_the_model_agree_step_by_step(redis_server: RedisServer) -> None:
    """Random presence and lock sequences give the same answers, reads and events on all three."""
    run_state_machine_as_test(
        lambda: ParityMachine(redis_server.url()),  # type: ignore[arg-type, return-value]
        settings=settings(
            max_examples=50,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
