"""`HuddleClient`: subscribe to workspaces, read their events, send requests, hold locks.

```python
async with HuddleClient("https://huddle.example", token) as client:
    await client.subscribe("acme", "ws1")
    async with client.lock("acme", "ws1", "deal", "42", ttl=30) as lock:
        save(deal, fencing_token=lock.fencing_token)
    async for event in client.events():
        ...
```

WebSocket first; with `transport="auto"` a refused upgrade (a proxy, an old node) falls back to
SSE streams plus REST requests, on the first connection or any later one. Events of every
subscribed workspace arrive through one bounded queue in arrival order, each exactly once:
reconnects resume from each workspace's last delivered event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Literal

from ..ids import WorkspaceKey
from ..protocol.close_codes import CloseCode
from ..protocol.cursor import BadCursor, parse_cursor
from ..protocol.ws import (
    AuthRefresh,
    Codec,
    Command,
    Subscribe,
    Unsubscribe,
)
from .backoff import Backoff
from .errors import ClientClosed, HuddleClientError, UpgradeRefused
from .events import ClientEvent
from .inbox import Inbox
from .ops import Ops, workspace
from .sse import SseTransport
from .subscriptions import Subscriptions
from .transport import (
    Connections,
    Credentials,
    Options,
    TokenSource,
    Transport,
    TransportName,
)
from .ws import WsTransport

log = logging.getLogger("huddle.client")

TransportChoice = Literal["auto", "ws", "sse"]


class HuddleClient(Ops):
    """An async client of one Huddle node (or a load balancer in front of several).

    `token` is a JWT or an API key, or an async callable returning one (asked again on every
    connect, so an expired token is replaced instead of ending the client). `queue_size`
    bounds the events waiting for `events()`: when it is full the client drops its connection
    and resumes from its cursors once the reader has caught up, so memory stays bounded and
    nothing is lost. `timeout` bounds connecting, each request and each subscribe.

    Failures: a request refused by the server raises ClientError (LockHeldError for
    LOCK_HELD); one that got no answer raises ConnectionLost or TimeoutError. A close code of
    4500 or above (or `reconnect=False` and any drop) stops the client: `events()` and every
    request then raise ClientClosed, or AuthError when the credentials were refused. (An SSE
    stream ending at its server-side `timeout` is reopened even with `reconnect=False`: that
    is the protocol, not a drop.)
    """

    def __init__(
        self,
        base_url: str,
        token: str | TokenSource,
        *,
        transport: TransportChoice = "auto",
        codec: Codec = "json",
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.1, 5.0),
        queue_size: int = 1000,
        timeout: float = 10.0,
    ) -> None:
        if transport not in ("auto", "ws", "sse"):
            raise ValueError(f"transport must be auto, ws or sse, got {transport!r}")
        if codec not in ("json", "msgpack"):
            raise ValueError(f"codec must be json or msgpack, got {codec!r}")
        self._choice = transport
        self._inbox = Inbox(queue_size)
        self._subs = Subscriptions(self._inbox)
        self._options = Options(
            base_url=base_url.rstrip("/"),
            credentials=Credentials(token),
            subscriptions=self._subs,
            codec=codec,
            reconnect=reconnect,
            backoff=Backoff(*backoff),
            timeout=timeout,
        )
        self._transport: Transport | None = None
        self._runner: asyncio.Task[None] | None = None
        self._error: HuddleClientError | None = None
        self._closed = False

    # --- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> HuddleClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Open the first connection; raises ConnectionLost (UpgradeRefused with
        transport="ws") or AuthError. Later drops are retried, never raised here."""
        if self._runner is not None or self._closed:
            raise RuntimeError("a HuddleClient connects once")
        self._transport = await self._first_transport()
        self._runner = asyncio.create_task(self._run(), name="huddle-client")

    async def _first_transport(self) -> Transport:
        if self._choice != "sse":
            ws = WsTransport(self._options, fall_back=self._choice == "auto")
            try:
                await ws.start()
                return ws
            except UpgradeRefused as exc:
                if self._choice == "ws":
                    raise
                log.warning("WebSocket refused (%s): using SSE and REST", exc)
        sse = SseTransport(self._options)
        try:
            await sse.start()
        except BaseException:
            await sse.aclose()
            raise
        return sse

    async def _run(self) -> None:
        try:
            while True:
                assert self._transport is not None
                try:
                    await self._transport.run()
                    return
                except UpgradeRefused as exc:  # only raised in "auto" mode
                    log.warning("WebSocket refused on reconnect (%s): using SSE and REST", exc)
                    self._transport = SseTransport(self._options)
        except HuddleClientError as exc:
            self._error = exc
            log.warning("huddle client stopped: %s", exc)
        except Exception as exc:
            self._error = ClientClosed(f"the client crashed: {exc!r}")
            raise
        finally:
            for sub in self._subs:  # a subscribe() still waiting raises `_error`
                self._subs.remove(sub.workspace)
            self._inbox.close(self._error)

    async def aclose(self) -> None:
        """Close the connection and end `events()`; idempotent. Subscriptions end with it."""
        if self._closed:
            return
        self._closed = True
        if self._transport is not None:
            await self._transport.aclose()
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.wait([runner])
        for sub in self._subs:
            self._subs.remove(sub.workspace)
        self._inbox.close(self._error)
        if runner is not None and not runner.cancelled() and runner.exception() is not None:
            raise ClientClosed("the client crashed") from runner.exception()

    def _check_open(self) -> Transport:
        if self._error is not None:
            raise self._error
        if self._closed or self._transport is None:
            raise ClientClosed("the client is not connected (use `async with HuddleClient(...)`)")
        return self._transport

    # --- state -------------------------------------------------------------------------------

    @property
    def transport(self) -> TransportName | None:
        """The transport in use now (`ws`, or `sse` after a fallback); None before connect."""
        return None if self._transport is None else self._transport.name

    @property
    def reconnects(self) -> int:
        """Connections (over SSE: streams) opened again after one ended."""
        return 0 if self._transport is None else self._transport.reconnects

    @property
    def connection_id(self) -> str | None:
        """The WebSocket connection's id from the server's `hello` (None over SSE)."""
        hello = self._transport.hello if isinstance(self._transport, WsTransport) else {}
        found = hello.get("connection_id")
        return found if isinstance(found, str) else None

    @property
    def queue_overflows(self) -> int:
        """How often the event queue was full (each time, a connection or stream was dropped
        and resumed): a reader too slow for its `queue_size`."""
        return self._inbox.overflows

    @property
    def backoff(self) -> Backoff:
        return self._options.backoff

    @property
    def connections(self) -> Connections:
        return self._options.connections

    @property
    def subscriptions(self) -> list[WorkspaceKey]:
        return [sub.workspace for sub in self._subs]

    def cursor(self, org_id: str, workspace_id: str) -> str | None:
        """The id of the last event delivered for the workspace (where a reconnect resumes)."""
        sub = self._subs.get(workspace(org_id, workspace_id))
        return None if sub is None or sub.cursor is None else str(sub.cursor)

    # --- events ------------------------------------------------------------------------------

    async def subscribe(self, org_id: str, workspace_id: str, since: str | None = None) -> None:
        """Follow the workspace: its events after `since` (an event id), or from now. Returns
        once the server follows it; raises ClientError when refused (the subscription is then
        gone), TimeoutError after `timeout`. Subscribing again is a no-op."""
        transport = self._check_open()
        ws = workspace(org_id, workspace_id)
        try:
            cursor = None if since is None else parse_cursor(since)
        except BadCursor as exc:
            raise ValueError(exc.message) from None
        sub = self._subs.get(ws)
        if sub is None:
            sub = self._subs.add(ws, cursor)
            transport.attach(sub)
        try:
            async with asyncio.timeout(self._options.timeout):
                await asyncio.shield(sub.established)
        except TimeoutError:
            if self._subs.remove(ws) is not None:
                await transport.detach(sub)
            raise
        except asyncio.CancelledError:
            if sub.established.cancelled():  # unsubscribed, or the client stopped, meanwhile
                raise self._error or ClientClosed(f"the subscription to {ws.tag} ended") from None
            raise

    async def unsubscribe(self, org_id: str, workspace_id: str) -> None:
        """Stop following the workspace; its events still queued are delivered."""
        transport = self._check_open()
        sub = self._subs.remove(workspace(org_id, workspace_id))
        if sub is not None:
            await transport.detach(sub)

    async def events(self) -> AsyncIterator[ClientEvent]:
        """Events of every subscribed workspace in arrival order, each once; ends when the
        client is closed, raises ClientClosed/AuthError when it stopped, and ClientError for
        a subscription the server refused on a reconnect (iterate again to go on)."""
        while (event := await self._inbox.get()) is not None:
            yield event

    # --- requests ----------------------------------------------------------------------------

    async def request(self, command: Command) -> dict[str, Any]:
        """Send any command (its `id` is replaced) and return the reply's `result`, the same
        shape on every transport. Subscribe, unsubscribe and auth.refresh go through the
        methods of the same name, which also keep the client's state."""
        match command:
            case Subscribe():
                await self.subscribe(command.org_id, command.workspace_id, command.since)
                return {"workspace": command.workspace.tag}
            case Unsubscribe():
                await self.unsubscribe(command.org_id, command.workspace_id)
                return {"workspace": command.workspace.tag}
            case AuthRefresh():
                return await self.refresh_token(command.token)
        return await self._check_open().request(command)

    async def refresh_token(self, token: str) -> dict[str, Any]:
        """Present a new token now (WebSocket `auth.refresh`) and on every later connect."""
        result = await self._check_open().request(AuthRefresh(0, token))
        self._options.credentials.replace(token)
        return result

    # --- for tests and load harnesses ---------------------------------------------------------

    async def drop_connection(self, code: int = CloseCode.GOING_AWAY) -> None:
        """Close the current connection (every stream, over SSE) as if the server had closed
        it with `code`: 4000-4499 reconnects and resumes, 4500 and above stops the client."""
        await self._check_open().drop(int(code))
