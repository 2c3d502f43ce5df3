"""Open connections by the API key (or user token) they authenticated with: each ends the
moment its key stops working, on every node.

REST needs nothing of this: a key is looked up on every request. A WebSocket or an SSE stream
authenticates once, so the backend announces every key that stops working — revoked, or
replaced by a new token under the same id — with a `credential.revoked` event on the org's
credential stream (`models.credentials_stream`, an internal workspace no client can name), in
the same step as the change. A node follows that stream while it holds connections of the
org's keys (one channel per org, shared by all of them, opened with the first and closed with
the last) and tells the matching ones at once: nothing polls, and nothing is sent to clients.

A revocation names the key by id and hash: a user token issued again keeps its id, and its
revocation must end the old token's connections, not those the new token has just opened.

The stream is a channel like any workspace's, so a node that lost its subscription catches up
from the log and misses no revocation. A gap the log can no longer fill (`sync.reset`: Redis
lost its data, or this node was cut off for longer than the log is long) may hide one: every
watched connection of that org is then told `unverified`, to authenticate again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Literal

from ..auth import Principal, key_fingerprint
from ..backends.base import KeyStore
from ..models import CREDENTIAL_REVOKED, RESET, Event, credentials_stream
from .channels import Channels

#: What a watch tells: the key stopped working (end for good), or the node can no longer
#: vouch for it (end, so that the client authenticates again).
Verdict = Literal["revoked", "unverified"]


class _Watch:
    __slots__ = ("fingerprint", "notify", "told")

    def __init__(self, fingerprint: str, notify: Callable[[Verdict], None]) -> None:
        self.fingerprint = fingerprint
        self.notify = notify
        self.told = False

    def tell(self, verdict: Verdict) -> None:
        if not self.told:
            self.told = True
            self.notify(verdict)


class CredentialWatch:
    def __init__(self, channels: Channels, keys: KeyStore) -> None:
        self._channels = channels
        self._keys = keys
        #: (org id, key id) -> the watches of connections authenticated with that key id
        self._watches: dict[tuple[str, str], dict[_Watch, None]] = {}

    def __len__(self) -> int:
        return sum(len(group) for group in self._watches.values())

    def following(
        self, principal: Principal, notify: Callable[[Verdict], None]
    ) -> AbstractAsyncContextManager[None]:
        """`watch` the key `principal` authenticated with; nothing for a JWT."""
        if principal.key_id is None or principal.key_fingerprint is None:
            return nullcontext()
        return self.watch(principal.org_id, principal.key_id, principal.key_fingerprint, notify)

    @asynccontextmanager
    async def watch(
        self, org_id: str, key_id: str, fingerprint: str, notify: Callable[[Verdict], None]
    ) -> AsyncIterator[None]:
        """Until the context exits, call `notify("revoked")` once the key `key_id` of `org_id`
        with this `fingerprint` stops working (right away if it already has, since it was
        authenticated), or `notify("unverified")` when the node can no longer tell; at most
        once, synchronously, from the channel's task: `notify` must neither raise nor await.
        Raises BackendUnavailable when the org's credential stream cannot be followed now."""
        watch = _Watch(fingerprint, notify)
        key = (org_id, key_id)
        group = self._watches.setdefault(key, {})
        group[watch] = None
        try:
            async with self._channels.watching(credentials_stream(org_id)) as channel:
                channel.observer = self._seen
                # A revocation the channel delivered before this watch was registered (or
                # before the channel had its observer) is in the store already.
                current = await self._keys.get(org_id, key_id)
                if current is None or key_fingerprint(current.key_hash) != fingerprint:
                    watch.tell("revoked")
                yield
        finally:
            del group[watch]
            if not group:
                del self._watches[key]

    def _seen(self, event: Event) -> None:
        """The credential streams' observer: tell the watches an event concerns."""
        org_id = event.workspace.org_id
        if event.type == CREDENTIAL_REVOKED:
            group = self._watches.get((org_id, str(event.data.get("key_id"))))
            if not group:
                return
            revoked = key_fingerprint(str(event.data.get("key_hash")))
            for watch in list(group):
                if watch.fingerprint == revoked:
                    watch.tell("revoked")
        elif event.type == RESET:
            for (org, _), group in list(self._watches.items()):
                if org == org_id:
                    for watch in list(group):
                        watch.tell("unverified")
