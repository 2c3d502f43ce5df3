"""The SSE transport, for when WebSocket upgrades are refused: one event stream per subscribed
workspace (`GET .../sync/stream` with `Last-Event-ID`), requests over REST (`rest.py`).

Each stream resumes by itself: after a drop (jittered backoff), at once after the server's
closing `sync.reconnect` (the stream's timeout), and after the inbox filled up once the reader
made room. The server joins every stream to the workspace's presence, so each stream's first
event comes at the latest with its own `presence.joined`: that event confirms the subscription
and gives it a cursor, so even a drop right after `subscribe()` resumes without a gap.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Final

import httpx
import orjson
from httpx_sse import SSEError, aconnect_sse

from ..ids import WorkspaceKey
from ..protocol.ws import AuthRefresh, Command, Ping
from .backoff import stop_error
from .errors import (
    ClientClosed,
    ClientError,
    ConnectionLost,
    HuddleClientError,
    ServerProtocolError,
)
from .rest import RETRY_STATUSES, RestApi, auth_error, http_error, workspace_path
from .subscriptions import Subscription
from .transport import Options, TransportName

log = logging.getLogger("huddle.client")

#: Seconds without a byte before a stream counts as dead (the node sends a heartbeat every
#: `HUDDLE_SSE_HEARTBEAT` seconds, 15 by default).
READ_TIMEOUT: Final = 75.0


class SseTransport:
    def __init__(self, options: Options) -> None:
        self._o = options
        self._subs = options.subscriptions
        self.rest = RestApi(
            options.base_url, options.credentials, options.timeout, f"hc-{secrets.token_hex(6)}"
        )
        # One connection per stream, so no pool limit: their number is the subscriptions'.
        self._http = httpx.AsyncClient(
            base_url=options.base_url,
            timeout=httpx.Timeout(options.timeout, read=READ_TIMEOUT),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        )
        self._streams: dict[WorkspaceKey, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._stop = asyncio.Event()
        self._error: HuddleClientError | None = None
        self._reconnects = 0

    @property
    def name(self) -> TransportName:
        return "sse"

    @property
    def reconnects(self) -> int:
        return self._reconnects

    async def start(self) -> None:
        await self.rest.call(Ping(0))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            for sub in self._subs:
                self.attach(sub)
            await self._stop.wait()
            self._group = None
            for task in self._streams.values():
                task.cancel()
        if self._error is not None:
            raise self._error

    def _fail(self, error: HuddleClientError) -> None:
        if self._error is None:
            self._error = error
        self._stop.set()

    # --- streams -----------------------------------------------------------------------------

    def attach(self, sub: Subscription) -> None:
        running = self._streams.get(sub.workspace)
        if self._group is None or (running is not None and not running.done()):
            return
        self._streams[sub.workspace] = self._group.create_task(self._follow(sub))

    async def detach(self, sub: Subscription) -> None:
        task = self._streams.pop(sub.workspace, None)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    async def _follow(self, sub: Subscription) -> None:
        attempt = 0
        while self._subs.is_current(sub):
            try:
                why, delivered = await self._stream(sub)
            except (httpx.TransportError, SSEError, ServerProtocolError, ConnectionLost) as exc:
                why, delivered = f"dropped: {exc!r}", False
            except ClientClosed as exc:
                self._fail(exc)
                return
            except ClientError as exc:
                self._streams.pop(sub.workspace, None)
                self._subs.refuse(sub, exc)
                return
            if delivered:
                attempt = 0
            if why == "timeout":
                log.debug("stream of %s reached its timeout; reopening", sub.workspace.tag)
            elif not self._o.reconnect:
                self._fail(ClientClosed(f"stream of {sub.workspace.tag} ended ({why})"))
                return
            else:
                log.info("stream of %s ended (%s); resuming", sub.workspace.tag, why)
                if why == "overflow":
                    await self._subs.inbox.wait_room()
                await asyncio.sleep(self._o.backoff.delay(attempt))
                attempt += 1
            self._reconnects += 1

    async def _stream(self, sub: Subscription) -> tuple[str, bool]:
        """Read one stream to its end: why it ended (`timeout`, `overflow`, ...) and whether
        it delivered an event. Raises AuthError, or ClientError when the server refuses."""
        ws = sub.workspace
        headers = {"Authorization": f"Bearer {await self._o.credentials.fresh()}"}
        if sub.since is not None:
            headers["Last-Event-ID"] = sub.since
        # A fresh presence session per stream: its `presence.joined` is our first event.
        params = {"session_id": f"hc-{secrets.token_hex(6)}"}
        path = f"{workspace_path(ws.org_id, ws.workspace_id)}/sync/stream"
        delivered = False
        async with aconnect_sse(self._http, "GET", path, headers=headers, params=params) as source:
            response = source.response
            if response.status_code != 200:
                await response.aread()
                if response.status_code == 401:
                    raise auth_error(response)
                if response.status_code in RETRY_STATUSES:
                    return f"answered {response.status_code}", False
                raise http_error(response)
            async for sse in source.aiter_sse():
                if sse.event == "sync.reconnect":
                    return _reason(sse.data), delivered
                if not sse.data:
                    continue  # a `retry:` hint, or a heartbeat after an id
                self._subs.confirm(sub, reported=False)
                if not self._subs.accept(_json(sse.data)):
                    log.warning(
                        "event queue full (%d events): closing the stream of %s; it resumes "
                        "from its last event once the reader catches up",
                        self._subs.inbox.limit,
                        ws.tag,
                    )
                    return "overflow", delivered
                delivered = True
        return "ended without sync.reconnect", delivered

    # --- the client's calls ------------------------------------------------------------------

    async def request(self, command: Command) -> dict[str, Any]:
        if self._error is not None:
            raise self._error
        if isinstance(command, AuthRefresh):
            # Streams present the new token when they reconnect; REST calls from now on.
            self._o.credentials.replace(command.token)
            return {"expires_at": None}
        return await self.rest.call(command)

    async def drop(self, code: int) -> None:
        """Close every stream; each reopens from its cursor, unless `code` says stop."""
        error = stop_error(
            code,
            "dropped by the client",
            reconnect=self._o.reconnect,
            token_refreshable=self._o.credentials.renewable,
        )
        if error is not None:
            self._fail(error)
            return
        tasks = list(self._streams.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._streams.clear()
        for sub in self._subs:
            self.attach(sub)
            self._reconnects += 1

    async def aclose(self) -> None:
        self._stop.set()
        tasks = list(self._streams.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self._http.aclose()
        await self.rest.aclose()


def _json(data: str) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ServerProtocolError(f"undecodable SSE data: {exc}") from None


def _reason(data: str) -> str:
    try:
        found = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "unknown"
    reason = found.get("reason") if isinstance(found, dict) else None
    return str(reason) if reason else "unknown"
