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

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import BackendUnavailable

Arg: TypeAlias = bytes | str | int
Command: TypeAlias = Sequence[Arg]


@dataclass(slots=True, eq=False)
class _Request:
    """One caller's commands, written together; their replies arrive in `answers`."""

    commands: Sequence[Command]
    replies: asyncio.Future[list[object]]
    answers: list[object] = field(default_factory=list)
    deadline: float = 0.0


class _Wire:
    """One open connection, what was written on it and awaits a reply (in order), and the
    task that reads those replies."""

    def __init__(self, conn: AbstractConnection) -> None:
        self.conn = conn
        self.written: deque[_Request] = deque()
        self.readable = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None


class RedisLink:
    """Send commands to Redis over one pipelined connection; see the module's docstring.

    `send` never waits for a connection: it queues, and the writer task connects (again) when
    needed. A connection that fails or leaves its oldest reply unanswered for `timeout`
    seconds is closed: everything written on it fails with that error (a script may or may
    not have run; nothing is sent twice), and the next call opens a new one.

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
        self._closed = False

    @property
    def waiting(self) -> int:
        """Calls queued or written and not yet answered."""
        return self._waiting

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
        request = _Request(commands, asyncio.get_running_loop().create_future())
        self._queued.append(request)
        self._waiting += 1
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write_forever(), name="huddle-redis-writer"
            )
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
            await self._drop(self._wire, closed)

    # --- writing ----------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            queued, self._queued = self._queued, []
            abandoned = [r for r in queued if r.replies.done()]
            self._fail(abandoned, RedisTimeoutError("not sent: the caller gave up"))
            requests = [r for r in queued if not r.replies.done()]
            if requests:
                await self._write(requests)

    async def _write(self, requests: list[_Request]) -> None:
        try:
            wire = await self._connected()
        except Exception as exc:  # nothing was sent: these fail, the next call tries again
            self._fail(requests, exc)
            return
        try:
            packed = wire.conn.pack_commands([c for r in requests for c in r.commands])
        except Exception as exc:  # an argument redis-py cannot encode: a bug, loud to callers
            self._fail(requests, exc)
            return
        deadline = asyncio.get_running_loop().time() + self._timeout
        for request in requests:
            request.deadline = deadline
        wire.written.extend(requests)  # before writing: the reader must expect their replies
        wire.readable.set()
        try:
            await wire.conn.send_packed_command(packed, check_health=False)
        except Exception as exc:
            await self._drop(wire, exc)

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
        await conn.send_packed_command(conn.pack_commands(self._on_connect), check_health=False)
        for _ in self._on_connect:
            await conn.read_response(disconnect_on_error=False)  # an error reply raises

    # --- reading ----------------------------------------------------------------------------

    async def _read(self, wire: _Wire) -> None:
        """Hand out replies in order until the connection fails or stops answering."""
        try:
            while True:
                if not wire.written:
                    wire.readable.clear()
                    await wire.readable.wait()
                    continue
                request = wire.written[0]
                try:
                    async with asyncio.timeout_at(request.deadline):
                        answer = await wire.conn.read_response(disconnect_on_error=False)
                except ResponseError as exc:  # an error reply: the wire is still in step
                    answer = exc
                request.answers.append(answer)
                if len(request.answers) == len(request.commands):
                    wire.written.popleft()
                    self._waiting -= 1
                    if not request.replies.done():
                        request.replies.set_result(request.answers)
        except TimeoutError:
            silent = RedisTimeoutError(f"Redis did not answer within {self._timeout} s")
            await self._drop(wire, silent)
        except Exception as exc:
            await self._drop(wire, exc)

    # --- failing ----------------------------------------------------------------------------

    def _fail(self, requests: Sequence[_Request], exc: BaseException) -> None:
        for request in requests:
            self._waiting -= 1
            if not request.replies.done():
                request.replies.set_exception(exc)

    async def _drop(self, wire: _Wire, exc: BaseException) -> None:
        """Close `wire`; what was written on it and is still unanswered fails with `exc`."""
        if self._wire is wire:
            self._wire = None
        written, wire.written = wire.written, deque()
        self._fail(written, exc)
        if wire.reader is not None and wire.reader is not asyncio.current_task():
            wire.reader.cancel()
        await wire.conn.disconnect(nowait=True)
