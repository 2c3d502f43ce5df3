"""One Redis connection that carries every command of a node, pipelined.

Calls made in one turn of the event loop are written together, in one write; later calls are
written while earlier replies are still on their way; one reader hands the replies back in the
order Redis sends them, which is the order they were written (automatic pipelining on one
connection, as ioredis and Go's rueidis do it).

Why not redis-py's pool: a pooled connection carries one round trip at a time, so a busy node
needs many of them (redis-py refuses past 100 with "Too many connections"), pays a checkout per
round trip, and can lose one to a cancellation at the wrong moment. Here a caller that gives up
only stops looking at its future: the reader still reads its reply, and the wire stays in step.

Order: calls are written in the order they were made and one connection answers in order, so
two calls made one after the other run in Redis in that order, whoever made them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from hiredis import pack_command
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MasterDownError, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import BackendUnavailable

Arg: TypeAlias = bytes | str | int
Command: TypeAlias = Sequence[Arg]


@dataclass(slots=True, eq=False)
class _Request:
    """One caller's commands, written together; their replies arrive in `answers`."""

    commands: Sequence[Command]
    replies: asyncio.Future[list[object]]
    deadline: float
    answers: list[object] = field(default_factory=list)


class _Wire:
    """One open connection, what was written on it and awaits a reply (in order), and the
    task that reads those replies."""

    def __init__(self, conn: AbstractConnection) -> None:
        self.conn = conn
        self.written: deque[_Request] = deque()
        self.readable = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        self.watchdog: asyncio.TimerHandle | None = None


def _pack(commands: Sequence[Command]) -> bytes:
    """`commands` in RESP, packed by hiredis (C) rather than redis-py's encoder, per arg."""
    return b"".join([pack_command(tuple(c)) for c in commands])  # type: ignore[arg-type]  # hiredis's stub types a 1-tuple


class RedisLink:
    """Send commands to Redis over one pipelined connection; see the module's docstring.

    `send` never waits for a connection: it queues, and the writer task connects (again) when
    needed. Each call has `timeout` seconds from `send` to its reply. A call still queued at
    its deadline is not sent: it fails. A connection whose oldest written call is unanswered
    at that call's deadline is closed (one timer per connection watches it, not one per
    call): everything written on it fails (a script may or may not have run; nothing is sent
    twice), and the next call opens a new connection.

    `on_connect` is sent first on every new connection, before any call (the backend loads
    its scripts there: a call refused with NOSCRIPT and sent again would run behind calls made
    after it). An error reply to it fails the connection.

    At most `max_waiting` calls wait for Redis at once; past that, `send` refuses at once
    (`BackendUnavailable`) instead of queueing work that would only time out: shedding load
    at the door, before it is half done.
    """

    def __init__(
        self,
        client: Redis,
        *,
        timeout: float,
        max_waiting: int,
        on_connect: Sequence[Command] = (),
    ) -> None:
        self._client = client
        self._on_connect = on_connect
        self._timeout = timeout
        self._max_waiting = max_waiting
        self._queued: list[_Request] = []
        self._waiting = 0
        self._wire: _Wire | None = None
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    def send(self, commands: Sequence[Command]) -> asyncio.Future[list[object]]:
        """The replies to `commands`, in order; an error reply is an exception in the list.
        A failed connection sets the future's exception."""
        if self._closed:
            raise BackendUnavailable("the Redis backend is closed")
        if self._waiting >= self._max_waiting:
            raise BackendUnavailable(
                f"this node has {self._waiting} Redis calls waiting (redis_max_waiting): "
                "too busy, try again"
            )
        loop = asyncio.get_running_loop()
        request = _Request(commands, loop.create_future(), loop.time() + self._timeout)
        self._queued.append(request)
        self._waiting += 1
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_forever(), name="huddle-redis-writer")
        return request.replies

    async def aclose(self) -> None:
        """Fail every waiting call, stop both tasks and close the connection. Idempotent."""
        self._closed = True
        closed = RedisConnectionError("the Redis backend was closed")
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        queued, self._queued = self._queued, []
        self._fail(queued, closed)
        if self._wire is not None:
            self._drop(self._wire, closed)
        await asyncio.gather(*self._closing, return_exceptions=True)

    # --- writing ----------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            queued, self._queued = self._queued, []
            now = asyncio.get_running_loop().time()
            late = [r for r in queued if r.replies.done() or r.deadline <= now]
            self._fail(late, self._timed_out())  # never sent: the caller gave up or will
            requests = [r for r in queued if not r.replies.done() and r.deadline > now]
            if requests:
                await self._write(requests)

    async def _write(self, requests: list[_Request]) -> None:
        try:
            wire = await self._connected()
            packed = _pack([c for r in requests for c in r.commands])
        except Exception as exc:  # nothing was sent: these fail, the next call tries again
            self._fail(requests, exc)
            return
        wire.written.extend(requests)  # before writing: the reader must expect their replies
        wire.readable.set()
        if wire.watchdog is None:
            self._watch(wire)
        try:
            await wire.conn.send_packed_command(packed, check_health=False)
        except Exception as exc:
            self._drop(wire, exc)

    async def _connected(self) -> _Wire:
        if self._wire is not None:
            return self._wire
        conn: AbstractConnection = self._client.connection_pool.make_connection()  # type: ignore[no-untyped-call]  # untyped in redis-py
        try:
            async with asyncio.timeout(self._timeout):
                await conn.connect()  # type: ignore[no-untyped-call]  # untyped in redis-py
                await self._greet(conn)
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        wire = self._wire = _Wire(conn)
        wire.reader = asyncio.get_running_loop().create_task(
            self._read(wire), name="huddle-redis-reader"
        )
        return wire

    async def _greet(self, conn: AbstractConnection) -> None:
        if not self._on_connect:
            return
        await conn.send_packed_command(_pack(self._on_connect), check_health=False)
        for _ in self._on_connect:
            await conn.read_response(disconnect_on_error=False)  # an error reply raises

    # --- reading ----------------------------------------------------------------------------

    async def _read(self, wire: _Wire) -> None:
        """Hand out replies in order until the connection fails or is dropped."""
        try:
            while True:
                if not wire.written:
                    wire.readable.clear()
                    await wire.readable.wait()
                    continue
                request = wire.written[0]
                try:
                    answer = await wire.conn.read_response(disconnect_on_error=False)
                except ResponseError as exc:  # an error reply: the wire is still in step
                    answer = exc
                request.answers.append(answer)
                if len(request.answers) == len(request.commands):
                    wire.written.popleft()
                    self._waiting -= 1
                    if not request.replies.done():
                        request.replies.set_result(request.answers)
                if isinstance(answer, ReadOnlyError | MasterDownError):
                    # A replica now (a failover): whatever the URL names next may be the new
                    # primary, so the next call connects again rather than ask a replica.
                    self._drop(wire, answer)
                    return
        except Exception as exc:
            self._drop(wire, exc)

    def _watch(self, wire: _Wire) -> None:
        """Drop `wire` if its oldest written call is past its deadline; else look again at
        that deadline (a timer, re-armed while calls wait on the wire)."""
        wire.watchdog = None
        if self._wire is not wire or not wire.written:
            return
        loop = asyncio.get_running_loop()
        deadline = wire.written[0].deadline
        if deadline <= loop.time():
            self._drop(wire, self._timed_out())
        else:
            wire.watchdog = loop.call_at(deadline, self._watch, wire)

    def _timed_out(self) -> RedisTimeoutError:
        return RedisTimeoutError(f"Redis did not answer within {self._timeout} s")

    # --- failing ----------------------------------------------------------------------------

    def _fail(self, requests: Sequence[_Request], exc: BaseException) -> None:
        for request in requests:
            self._waiting -= 1
            if not request.replies.done():
                request.replies.set_exception(exc)

    def _drop(self, wire: _Wire, exc: BaseException) -> None:
        """Close `wire`; what was written on it and is still unanswered fails with `exc`."""
        if self._wire is wire:
            self._wire = None
        written, wire.written = wire.written, deque()
        self._fail(written, exc)
        if wire.watchdog is not None:
            wire.watchdog.cancel()
            wire.watchdog = None
        if wire.reader is not None and wire.reader is not asyncio.current_task():
            wire.reader.cancel()
        closing = asyncio.get_running_loop().create_task(wire.conn.disconnect(nowait=True))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
