"""Live events over Redis pub/sub: one connection per backend, fanned out to local subscribers.

One dedicated connection (not from the command pool) carries every SUBSCRIBE of the backend;
one reader task, owned here, reads it and hands each event, decoded once, to the bounded
queues of the workspace's subscribers without awaiting any of them.

* Entering a subscription sends its own SUBSCRIBE and returns only once Redis confirmed it:
  Redis writes replies and messages to the connection in the order it executes commands, so
  every message read after that confirmation was published after the subscription began, and
  none published before reaches it.
* A channel is subscribed on Redis while it has local subscribers, and unsubscribed when the
  last one leaves.
* When the connection drops (or stops answering a PING within `redis_timeout`), events may
  have been missed: every subscriber is lost (`SubscriptionLost`: read the gap from the log),
  and the next subscription opens a new connection. Nothing is resubscribed silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from ..errors import BackendUnavailable
from ..ids import WorkspaceKey
from ..models import Event
from .redis_codec import decode_event
from .redis_scripts import UNAVAILABLE, KeySpace, guarded
from .subscriber import Subscriber

log = logging.getLogger("huddle.backends.redis")

#: Seconds of silence on the bus connection before it is asked for a PING.
KEEPALIVE: Final = 10.0


class RedisSubscriber(Subscriber):
    """A subscriber that receives nothing until Redis confirmed its SUBSCRIBE (`active`)."""

    __slots__ = ("active", "confirmed")

    def __init__(self, limit: int, confirmed: asyncio.Future[bool]) -> None:
        super().__init__(limit)
        self.active = False
        self.confirmed = confirmed

    def confirm(self) -> None:
        self.active = True
        if not self.confirmed.done():
            self.confirmed.set_result(True)

    def offer(self, event: Event) -> bool:
        return self.active and super().offer(event)

    def lose(self, reason: str) -> None:
        if not self.confirmed.done():
            self.confirmed.set_result(False)
        super().lose(reason)


class _Channel:
    __slots__ = ("subscribers", "ws")

    def __init__(self, ws: WorkspaceKey) -> None:
        self.ws = ws
        self.subscribers: dict[RedisSubscriber, None] = {}


class Bus:
    """The backend's pub/sub connection, its reader task and the local subscribers."""

    def __init__(self, client: Redis, keys: KeySpace, *, queue_limit: int, timeout: float) -> None:
        self._client = client
        self._keys = keys
        self._queue_limit = queue_limit
        self._timeout = timeout
        self._conn: AbstractConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        # Readers of dropped connections may still be finishing; `aclose` awaits them too.
        self._readers: set[asyncio.Task[None]] = set()
        self._channels: dict[bytes, _Channel] = {}
        # Subscribers whose SUBSCRIBE is in flight, per channel, in the order sent: Redis
        # confirms in that order.
        self._confirming: dict[bytes, deque[RedisSubscriber]] = {}
        # Held while sending, so the wire order of SUBSCRIBE/UNSUBSCRIBE is the state's order.
        self._lock = asyncio.Lock()
        self._closed = False

    @asynccontextmanager
    async def subscribe(self, ws: WorkspaceKey) -> AsyncIterator[RedisSubscriber]:
        channel = self._keys.channel(ws)
        subscriber = await self._enter(ws, channel)
        try:
            yield subscriber
        finally:
            await self._leave(channel, subscriber)

    async def _enter(self, ws: WorkspaceKey, channel: bytes) -> RedisSubscriber:
        if self._closed:
            raise BackendUnavailable("the Redis backend is closed")
        subscriber = RedisSubscriber(self._queue_limit, asyncio.get_running_loop().create_future())
        try:
            async with self._lock:
                conn = await self._connection()
                self._channels.setdefault(channel, _Channel(ws)).subscribers[subscriber] = None
                self._confirming.setdefault(channel, deque()).append(subscriber)
                await self._send(conn, "SUBSCRIBE", channel)
            try:
                async with asyncio.timeout(self._timeout):
                    confirmed = await subscriber.confirmed
            except TimeoutError:
                await self._drop(conn, "Redis did not confirm a SUBSCRIBE in time")
                confirmed = False
            if not confirmed:
                raise BackendUnavailable(f"Redis is unreachable: {subscriber.lost}")
        except BaseException:
            await self._leave(channel, subscriber)
            raise
        return subscriber

    async def _leave(self, channel: bytes, subscriber: RedisSubscriber) -> None:
        subscriber.lose("the subscription was closed")
        async with self._lock:
            state = self._channels.get(channel)
            if state is None or subscriber not in state.subscribers:
                return  # dropped with its connection, or never registered
            del state.subscribers[subscriber]
            if state.subscribers:
                return
            del self._channels[channel]
            if self._conn is not None:
                with suppress(BackendUnavailable):  # then the connection is dropped already
                    await self._send(self._conn, "UNSUBSCRIBE", channel)

    async def _connection(self) -> AbstractConnection:
        if self._conn is not None:
            return self._conn
        # Its own connection, outside the pool's bookkeeping: a subscribed connection can
        # serve no other command. Same URL, timeouts and (absent) retries as the pool's.
        pool = self._client.connection_pool
        conn: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]  # untyped in redis-py
        try:
            async with guarded(self._timeout):
                await conn.connect()  # type: ignore[no-untyped-call]  # untyped in redis-py
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        self._conn = conn
        self._reader = asyncio.create_task(self._read(conn), name="huddle-redis-bus")
        self._readers.add(self._reader)
        self._reader.add_done_callback(self._readers.discard)
        return conn

    async def _send(self, conn: AbstractConnection, *words: bytes | str) -> None:
        try:
            async with guarded(self._timeout):
                await conn.send_command(*words, check_health=False)
        except BackendUnavailable as exc:
            await self._drop(conn, f"the Redis bus connection failed: {exc}")
            raise

    async def _read(self, conn: AbstractConnection) -> None:
        """Dispatch everything the connection receives until it drops or stops answering."""
        pinged = False
        try:
            while True:
                timeout = self._timeout if pinged else KEEPALIVE
                # push_request: on RESP3 (redis-py's default) messages are push replies.
                reply = await conn.read_response(
                    timeout=timeout, disconnect_on_error=False, push_request=True
                )
                if reply is None:  # silence for `timeout` seconds
                    if pinged:
                        await self._drop(conn, "the Redis bus did not answer a PING in time")
                        return
                    async with self._lock:
                        await self._send(conn, "PING")
                    pinged = True
                    continue
                pinged = False
                self._dispatch(reply)
        except (*UNAVAILABLE, BackendUnavailable) as exc:
            await self._drop(conn, f"the Redis bus connection dropped: {exc}")
        except Exception as exc:
            # A bug here must not leave subscribers waiting forever: loud, and they are lost.
            log.exception("the Redis bus reader failed")
            await self._drop(conn, f"the Redis bus reader failed: {exc!r}")

    def _dispatch(self, reply: object) -> None:
        if not isinstance(reply, list) or len(reply) < 2:
            return
        kind, channel = reply[0], reply[1]
        if kind == b"message" and len(reply) == 3:
            state = self._channels.get(channel)
            if state is not None:
                event = decode_event(state.ws, reply[2])  # once, for every subscriber
                for subscriber in state.subscribers:
                    subscriber.offer(event)
        elif kind == b"subscribe":
            waiting = self._confirming.get(channel)
            if waiting:
                waiting.popleft().confirm()
                if not waiting:
                    del self._confirming[channel]
        # unsubscribe confirmations and PING answers need nothing more

    async def _drop(self, conn: AbstractConnection, reason: str) -> None:
        """Forget `conn` if it is the current connection: every subscriber on it is lost."""
        if conn is not self._conn:
            return
        self._conn = None
        reader, self._reader = self._reader, None
        channels, self._channels = self._channels, {}
        self._confirming = {}
        for state in channels.values():
            for subscriber in state.subscribers:
                subscriber.lose(reason)
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader
        await conn.disconnect(nowait=True)

    async def probe(self, channel: bytes) -> None:
        """Subscribe to `channel` and unsubscribe, on a connection of its own: may this node
        subscribe to its channels? Raises BackendUnavailable (an ACL's NOPERM among them)."""
        conn: AbstractConnection = self._client.connection_pool.make_connection()  # type: ignore[no-untyped-call]  # untyped in redis-py
        try:
            async with guarded(self._timeout):
                await conn.connect()  # type: ignore[no-untyped-call]  # untyped in redis-py
                await conn.send_command("SUBSCRIBE", channel, check_health=False)
                await conn.read_response(disconnect_on_error=False, push_request=True)
                await conn.send_command("UNSUBSCRIBE", channel, check_health=False)
                await conn.read_response(disconnect_on_error=False, push_request=True)
        finally:
            await conn.disconnect(nowait=True)

    async def aclose(self) -> None:
        """Stop the reader, close the connection; every subscriber is lost. Idempotent."""
        self._closed = True
        if self._conn is not None:
            await self._drop(self._conn, "the Redis backend was closed")
        for reader in list(self._readers):
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader
