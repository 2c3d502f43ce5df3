"""What the client needs from a transport (WebSocket, or SSE with REST requests), and the
settings and credentials every transport shares."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..protocol.ws import Codec, Command
from .backoff import Backoff
from .errors import ConnectionLost
from .subscriptions import Subscription, Subscriptions

TokenSource = Callable[[], Awaitable[str]]
"""An async callable returning a valid token (a JWT or an API key), called on every connect."""

TransportName = Literal["ws", "sse"]


class Credentials:
    """The token to present: fixed, or fetched from a `TokenSource` on every connect."""

    def __init__(self, token: str | TokenSource) -> None:
        self._source: TokenSource | None = None
        self._token = ""
        self.replace(token)

    @property
    def renewable(self) -> bool:
        """True when an expired token can be replaced by asking the source again."""
        return self._source is not None

    def current(self) -> str:
        """The token last fetched (or given)."""
        return self._token

    async def fresh(self) -> str:
        """Ask the source for a token (the fixed one when there is no source). A source that
        fails raises ConnectionLost: the connect is retried like any other that failed."""
        if self._source is not None:
            try:
                token = await self._source()
            except Exception as exc:  # the caller's code: any failure means "no token now"
                raise ConnectionLost(f"the token source failed: {exc!r}") from exc
            if not isinstance(token, str) or not token:
                raise ConnectionLost(f"the token source returned {type(token).__name__}")
            self._token = token
        return self._token

    def replace(self, token: str | TokenSource) -> None:
        if isinstance(token, str):
            if not token:
                raise ValueError("the token must not be empty")
            self._source, self._token = None, token
        else:
            self._source = token


class Connections:
    """Counts the connections opened so far; a task may wait for the next one (a lock
    helper refreshes at once on a new connection, which moves its lease there)."""

    def __init__(self) -> None:
        self.count = 0
        self._next = asyncio.Event()

    def opened(self) -> None:
        self.count += 1
        self._next.set()
        self._next = asyncio.Event()

    async def after(self, count: int) -> None:
        """Return once more than `count` connections were opened."""
        while self.count <= count:
            await self._next.wait()


@dataclass(frozen=True)
class Options:
    base_url: str
    credentials: Credentials
    subscriptions: Subscriptions
    codec: Codec
    reconnect: bool
    backoff: Backoff
    timeout: float
    """Seconds to wait for a connection, a reply or a subscription."""
    connections: Connections = field(default_factory=Connections)


class Transport(Protocol):
    """One way to reach a node. `run()` serves until `aclose()`, reconnecting by itself, and
    raises ClientClosed (or AuthError) when it must stop; UpgradeRefused when the WebSocket
    handshake is refused and the client may fall back to SSE."""

    @property
    def name(self) -> TransportName: ...

    @property
    def reconnects(self) -> int:
        """Connections (or streams) opened again after one ended."""
        ...

    async def start(self) -> None:
        """Connect for the first time; raises ConnectionLost (UpgradeRefused) or AuthError."""
        ...

    async def run(self) -> None: ...

    def attach(self, sub: Subscription) -> None:
        """Follow `sub` on the current connection (or the next one); never waits."""
        ...

    async def detach(self, sub: Subscription) -> None:
        """Stop following `sub` (already removed from the subscriptions)."""
        ...

    async def request(self, command: Command) -> dict[str, Any]:
        """Send one command (any id: the transport numbers it) and return its result; raises
        ClientError for an error reply, ConnectionLost, or TimeoutError after `timeout`."""
        ...

    async def drop(self, code: int) -> None:
        """Close the current connection as if the server had closed it with `code`: a code
        that says reconnect resumes from the cursors, any other stops the client."""
        ...

    async def aclose(self) -> None: ...
