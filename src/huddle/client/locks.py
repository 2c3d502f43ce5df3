"""`async with client.lock(...) as lock:` an edit lock held for the block, refreshed in the
background every `ttl / 3` seconds, released on exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import ClientClosed, ClientError, ConnectionLost, HuddleClientError

if TYPE_CHECKING:
    from .ops import Ops

log = logging.getLogger("huddle.client")


class HeldLock:
    """A lease on one entity while the `async with` block runs.

    Entering acquires it (LockHeldError names the holder when another user has it). While
    held, a background task refreshes it every `ttl / 3` seconds and right after every
    reconnect (which moves a connection-bound lease to the new connection before the node's
    release grace period ends); a refresh that got no answer (no connection, a backend
    outage) is retried with the client's backoff. If the lease
    is lost anyway (expired, force-released), `lost` says why and `held` turns False: the
    block should stop writing, and every write should carry `fencing_token` so that the
    server refuses a stale one. Leaving the block releases the lease — even one that was
    already the caller's before (acquire is re-entrant per user), so do not nest two helpers
    on one entity.
    """

    def __init__(
        self,
        client: Ops,
        org_id: str,
        workspace_id: str,
        entity_type: str,
        entity_id: str,
        ttl: float,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        self._client = client
        self._where = (org_id, workspace_id, entity_type, entity_id)
        self.ttl = ttl
        self.lock: dict[str, Any] = {}
        """The last answer of acquire or refresh (`fencingToken`, `expiresAt`, `holder`...)."""
        self.refreshes = 0
        self.lost: HuddleClientError | None = None
        """Why the lease was lost while the block ran (None while held, and after release)."""
        self._released = False
        self._keeper: asyncio.Task[None] | None = None

    @property
    def fencing_token(self) -> int:
        token = self.lock.get("fencingToken")
        if not isinstance(token, int):
            raise RuntimeError("the lock is not acquired")
        return token

    @property
    def expires_at(self) -> str | None:
        value = self.lock.get("expiresAt")
        return value if isinstance(value, str) else None

    @property
    def held(self) -> bool:
        return bool(self.lock) and self.lost is None and not self._released

    async def __aenter__(self) -> HeldLock:
        self.lock = await self._client.acquire(*self._where, ttl=self.ttl)
        self._keeper = asyncio.create_task(self._keep(), name=f"lock-refresh {self._where}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            await asyncio.wait([keeper])
            if not keeper.cancelled() and (crash := keeper.exception()) is not None:
                raise crash
        if self.lost is not None:
            return
        try:
            await self._client.release(*self._where)
        except (ClientClosed, ConnectionLost, TimeoutError) as error:
            # The lease ends by itself within `ttl`; an exception here would hide the block's.
            log.warning("could not release %s (%r); it expires by itself", self._where, error)
        self._released = True

    async def _keep(self) -> None:
        """Refresh until cancelled or the lease is lost."""
        interval = self.ttl / 3
        while True:
            seen = self._client.connections.count
            # A new connection refreshes at once: a lease taken over a WebSocket is released
            # a grace period after its connection dropped, unless refreshed from another.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._client.connections.after(seen)
            attempt = 0
            while True:
                try:
                    self.lock = await self._client.refresh(*self._where, ttl=self.ttl)
                    self.refreshes += 1
                    break
                except (ConnectionLost, TimeoutError, ClientError) as error:
                    if isinstance(error, ClientError) and not error.retryable:
                        log.warning("lost the lock on %s: %s", self._where, error)
                        self.lost = error
                        return
                    # The lease outlives a short outage: retry soon, well within `ttl`.
                    await asyncio.sleep(min(self._client.backoff.delay(attempt), interval))
                    attempt += 1
                except ClientClosed as error:
                    log.warning("lost the lock on %s: %s", self._where, error)
                    self.lost = error
                    return
