"""CredentialWatch (`hub.credentials`): the connections of a key that stops working — revoked,
or replaced under its id — are told at once, on every node sharing the store; the next key of
the same id, other keys and other orgs are not. On memory:// and on a real redis://."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Final

import pytest

from huddle.auth import key_fingerprint
from huddle.hub.credentials import Verdict
from huddle.hub.node import Node
from huddle.models import ApiKeyRecord, credentials_stream
from tests.support.backends import BackendFactory

from .test_key_store import record

WITHIN: Final = 5.0


class Told:
    """A watch's `notify`: records each verdict, and lets a test wait for the first."""

    def __init__(self) -> None:
        self.verdicts: list[Verdict] = []
        self._event = asyncio.Event()

    def __call__(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)
        self._event.set()

    async def first(self) -> list[Verdict]:
        async with asyncio.timeout(WITHIN):
            await self._event.wait()
        return self.verdicts


def fingerprint(key: ApiKeyRecord) -> str:
    return key_fingerprint(key.key_hash)


@pytest.fixture
async def nodes(make_backend: BackendFactory) -> AsyncIterator[tuple[Node, Node]]:
    """Two running nodes on one store (two Redis clients on redis://)."""
    backend = await make_backend.open()
    twin = await make_backend.twin(backend)
    async with AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(Node(x, make_backend.settings()).running())
            for x in (backend, twin)
        ]
        yield a, b


async def test_a_revoked_key_is_told_on_every_node(nodes: tuple[Node, Node]) -> None:
    """Watches of one key on two nodes are both told `revoked` when it is revoked."""
    a, b = nodes
    key = record("k1")
    await a.backend.keys.create(key)
    on_a, on_b = Told(), Told()
    async with (
        a.credentials.watch("acme", "k1", fingerprint(key), on_a),
        b.credentials.watch("acme", "k1", fingerprint(key), on_b),
    ):
        assert on_a.verdicts == on_b.verdicts == []
        await b.backend.keys.revoke("acme", "k1")
        assert await on_a.first() == ["revoked"]
        assert await on_b.first() == ["revoked"]


async def test_a_replaced_key_is_told_and_its_successor_is_not(nodes: tuple[Node, Node]) -> None:
    """A key replaced under its id (a user token issued again): the old key's watch is told,
    the watch of the new key, opened right after the replacement, is not."""
    a, b = nodes
    old = record("k1")
    new = dataclasses.replace(old, key_hash=hashlib.sha256(b"new").hexdigest())
    await a.backend.keys.create(old)
    told_old, told_new = Told(), Told()
    async with b.credentials.watch("acme", "k1", fingerprint(old), told_old):
        await a.backend.keys.create(new)
        async with b.credentials.watch("acme", "k1", fingerprint(new), told_new):
            assert await told_old.first() == ["revoked"]
            assert told_new.verdicts == [], "the replacement's own event ends the old key only"


async def test_a_key_that_already_stopped_is_told_when_the_watch_begins(
    nodes: tuple[Node, Node],
) -> None:
    """A key revoked or replaced between its authentication and its watch: told at once."""
    a, _ = nodes
    key = record("k1")
    await a.backend.keys.create(key)
    await a.backend.keys.create(
        dataclasses.replace(key, key_hash=hashlib.sha256(b"later").hexdigest())
    )
    replaced, revoked = Told(), Told()
    async with a.credentials.watch("acme", "k1", fingerprint(key), replaced):
        assert replaced.verdicts == ["revoked"]
    await a.backend.keys.revoke("acme", "k1")
    async with a.credentials.watch("acme", "k1", fingerprint(key), revoked):
        assert revoked.verdicts == ["revoked"]


async def test_other_keys_and_other_orgs_are_not_told(nodes: tuple[Node, Node]) -> None:
    """Revoking acme's k1 tells acme's k1 alone: not acme's k2, not globex's k1. Each org's
    marker (a key revoked after it, on the same stream) proves the revocation went by."""
    a, b = nodes
    keys = {(org, k): record(k, org) for org in ("acme", "globex") for k in ("k1", "k2", "k3")}
    for key in keys.values():
        await a.backend.keys.create(key)
    told = {name: Told() for name in keys}
    async with AsyncExitStack() as stack:
        for (org, k), key in keys.items():
            watch = b.credentials.watch(org, k, fingerprint(key), told[(org, k)])
            await stack.enter_async_context(watch)
        await a.backend.keys.revoke("acme", "k1")
        await a.backend.keys.revoke("acme", "k3")
        await a.backend.keys.revoke("globex", "k3")
        assert await told[("acme", "k3")].first() == ["revoked"]
        assert await told[("globex", "k3")].first() == ["revoked"]
        assert told[("acme", "k1")].verdicts == ["revoked"], "told before the later marker"
        assert told[("acme", "k2")].verdicts == []
        assert [told[("globex", k)].verdicts for k in ("k1", "k2")] == [[], []]


async def test_a_watch_ends_with_its_context_and_the_channel_with_the_last(
    nodes: tuple[Node, Node],
) -> None:
    """Once its context exits, a watch is told nothing; the org's channel closes with the
    node's last watch of that org."""
    a, b = nodes
    gone_key, marker_key = record("k1"), record("k2")
    for key in (gone_key, marker_key):
        await a.backend.keys.create(key)
    gone, marker = Told(), Told()
    async with b.credentials.watch("acme", "k1", fingerprint(gone_key), gone):
        pass
    async with b.credentials.watch("acme", "k2", fingerprint(marker_key), marker):
        await a.backend.keys.revoke("acme", "k1")
        await a.backend.keys.revoke("acme", "k2")
        assert await marker.first() == ["revoked"]
        assert len(b.credentials) == 1
    assert gone.verdicts == []
    assert len(b.credentials) == 0
    assert b.channels.get(credentials_stream("acme")) is None
