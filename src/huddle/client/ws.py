"""The WebSocket transport: one connection to `/v1/ws` carries every subscribed workspace.

A connection is usable once the server's `hello` arrived. Each new connection subscribes every
workspace again with `since` = its cursor, while requests already flow. When a connection ends
with a code that says reconnect (or with none: a network drop), replies still awaited fail with
ConnectionLost and the transport opens another after a jittered backoff; a code that says stop
ends `run()` with ClientClosed or AuthError.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import replace
from typing import Any, Final

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from ..protocol.close_codes import CloseCode
from ..protocol.ws import Command, Subscribe, Unsubscribe
from .backoff import stop_error
from .errors import (
    ClientClosed,
    ClientError,
    ConnectionLost,
    HuddleClientError,
    ServerProtocolError,
    UpgradeRefused,
)
from .subscriptions import Subscription
from .transport import Options, TransportName
from .ws_connection import ClosedBeforeHello, Connection, close_of, decode_frame, ws_url

log = logging.getLogger("huddle.client")
#: Largest frame accepted from the server (events are capped far below by the node).
MAX_FRAME: Final = 4 * 1024 * 1024
#: Error codes after which a subscribe is retried on a new connection, not reported.
_RETRY_CODES: Final = frozenset({"SERVICE_UNAVAILABLE", "TOO_MANY_SUBSCRIPTIONS"})


class WsTransport:
    def __init__(self, options: Options, *, fall_back: bool) -> None:
        self._o = options
        self._subs = options.subscriptions
        self._fall_back = fall_back
        self._url = ws_url(options.base_url)
        self._ids = itertools.count(1)
        self._first: Connection | None = None
        self._conn: Connection | None = None
        self._ready = asyncio.Event()
        self._stopped: HuddleClientError | None = None
        self._closing = False
        self._reconnects = 0
        self.hello: dict[str, Any] = {}
        """The last `hello` frame: connection_id, user_id, expires_at."""

    @property
    def name(self) -> TransportName:
        return "ws"

    @property
    def reconnects(self) -> int:
        return self._reconnects

    # --- connecting --------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            self._first = await self._open()
            self.hello = self._first.hello
        except ClosedBeforeHello as closed:
            error = stop_error(
                closed.code,
                closed.reason,
                reconnect=True,
                token_refreshable=self._o.credentials.renewable,
            )
            raise error or ConnectionLost(f"{self._url}: {closed}") from None

    async def _open(self) -> Connection:
        token = await self._o.credentials.fresh()
        try:
            socket = await connect(
                self._url,
                subprotocols=[Subprotocol(f"huddle.v1.{self._o.codec}")],
                additional_headers={"Authorization": f"Bearer {token}"},
                open_timeout=self._o.timeout,
                max_size=MAX_FRAME,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise UpgradeRefused(
                f"{self._url}: the handshake was answered {status}", status
            ) from exc
        except InvalidHandshake as exc:
            raise UpgradeRefused(f"{self._url}: the handshake failed: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            raise ConnectionLost(f"cannot connect to {self._url}: {exc!r}") from exc
        try:
            async with asyncio.timeout(self._o.timeout):
                hello = decode_frame(await socket.recv(), self._o.codec)
            if hello.get("op") != "hello":
                raise ServerProtocolError(f"expected hello first, got {hello!r:.200}")
        except ConnectionClosed as exc:
            raise ClosedBeforeHello(*close_of(exc)) from None
        except (TimeoutError, ServerProtocolError) as exc:
            await socket.close(1002, "no hello")
            raise ConnectionLost(f"{self._url}: no hello from the server ({exc!r})") from exc
        return Connection(socket, self._o.codec, hello)

    # --- serving -----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._serve_and_reconnect()
        except HuddleClientError as exc:
            self._stopped = exc
            raise
        finally:
            if self._stopped is None:
                self._stopped = ClientClosed("the client was closed")
            self._ready.set()  # requests waiting for a connection wake and raise `_stopped`

    async def _serve_and_reconnect(self) -> None:
        conn, self._first = self._first, None
        attempt = 0
        while True:
            if conn is not None:
                code, reason = await self._serve(conn)
                if self._closing:
                    return
                if time.monotonic() - conn.opened >= self._o.backoff.cap:
                    attempt = 0  # it was up for a while: this is a new incident
                error = stop_error(
                    code,
                    reason,
                    reconnect=self._o.reconnect,
                    token_refreshable=self._o.credentials.renewable,
                )
                if error is not None:
                    raise error
                log.info("connection closed with %d (%s); resuming", code, reason)
            await self._subs.inbox.wait_room()
            await asyncio.sleep(self._o.backoff.delay(attempt))
            attempt += 1
            conn = await self._reopen()

    async def _reopen(self) -> Connection | None:
        try:
            conn = await self._open()
        except UpgradeRefused:
            if self._fall_back:
                raise
            log.warning("WebSocket handshake refused; retrying", exc_info=True)
            return None
        except ConnectionLost as exc:
            log.warning("reconnect failed: %s", exc)
            return None
        except ClosedBeforeHello as closed:
            error = stop_error(
                closed.code,
                closed.reason,
                reconnect=self._o.reconnect,
                token_refreshable=self._o.credentials.renewable,
            )
            if error is not None:
                raise error from None
            log.info("reconnect refused: %s", closed)
            return None
        self._reconnects += 1
        return conn

    async def _serve(self, conn: Connection) -> tuple[int, str]:
        """Follow every subscription and answer requests until the connection ends; the
        close code and reason (or those of `drop`)."""
        self.hello = conn.hello
        async with asyncio.TaskGroup() as group:
            conn.group = group
            self._conn = conn
            for sub in self._subs:
                self._follow(conn, sub)
            self._ready.set()
            self._o.connections.opened()
            try:
                return await self._read(conn)
            finally:
                self._ready.clear()
                self._conn = None
                conn.end()  # subscribe tasks get ConnectionLost and end: the group exits

    async def _read(self, conn: Connection) -> tuple[int, str]:
        try:
            while True:
                frame = decode_frame(await conn.socket.recv(), conn.codec)
                op = frame.get("op")
                if op == "event":
                    if not self._subs.accept(frame.get("event")):
                        log.warning(
                            "event queue full (%d events): dropping the connection; it "
                            "resumes from each workspace's last event once the reader "
                            "catches up",
                            self._subs.inbox.limit,
                        )
                        return await conn.close(CloseCode.SLOW_CONSUMER, "client queue full")
                elif "ok" in frame:
                    conn.answer(frame)
                elif op != "hello":
                    log.debug("ignoring a frame with op %r", op)
        except ConnectionClosed as exc:
            return conn.dropped or close_of(exc)
        except ServerProtocolError as exc:
            log.warning("%s: reconnecting", exc)
            return await conn.close(1002, "unreadable frame")

    def _follow(self, conn: Connection, sub: Subscription) -> None:
        if conn.group is None or sub.workspace in conn.subscribed:
            return
        conn.subscribed.add(sub.workspace)
        conn.group.create_task(self._subscribe(conn, sub))

    async def _subscribe(self, conn: Connection, sub: Subscription) -> None:
        ws = sub.workspace
        command = Subscribe(next(self._ids), ws.org_id, ws.workspace_id, sub.since)
        try:
            async with asyncio.timeout(self._o.timeout):
                result = await conn.call(command)
        except ConnectionLost:
            return  # the next connection subscribes again
        except TimeoutError:
            await conn.close(CloseCode.GOING_AWAY, "no reply to subscribe")
            return
        except ClientError as exc:
            if exc.code in _RETRY_CODES:
                await conn.close(CloseCode.BACKEND_UNAVAILABLE, f"subscribe refused: {exc.code}")
            elif exc.code == "ALREADY_SUBSCRIBED":
                self._subs.confirm(sub, reported=False)
            else:
                conn.subscribed.discard(ws)
                self._subs.refuse(sub, exc)
            return
        position = result.get("position")
        self._subs.confirm(sub, position if isinstance(position, str) else None, reported=True)

    # --- the client's calls ------------------------------------------------------------------

    def attach(self, sub: Subscription) -> None:
        if self._conn is not None:
            self._follow(self._conn, sub)

    async def detach(self, sub: Subscription) -> None:
        conn = self._conn
        if conn is None or sub.workspace not in conn.subscribed:
            return
        conn.subscribed.discard(sub.workspace)
        ws = sub.workspace
        try:
            async with asyncio.timeout(self._o.timeout):
                await conn.call(Unsubscribe(next(self._ids), ws.org_id, ws.workspace_id))
        except ConnectionLost:
            pass  # a connection that is gone follows nothing; the next one will not resubscribe

    async def request(self, command: Command) -> dict[str, Any]:
        command = replace(command, id=next(self._ids))
        async with asyncio.timeout(self._o.timeout):
            while (conn := self._conn) is None:
                if self._stopped is not None:
                    raise self._stopped
                await self._ready.wait()
            return await conn.call(command)

    async def drop(self, code: int) -> None:
        conn = self._conn
        if conn is not None:
            await conn.close(code, "dropped by the client")

    async def aclose(self) -> None:
        self._closing = True
        for conn in (self._first, self._conn):
            if conn is not None:
                await conn.close(1000, "client closed")
