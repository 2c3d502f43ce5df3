"""KeyStore: API key records stored by hash, listed per org, revoked at once."""

from __future__ import annotations

import hashlib

from huddle.backends.base import Backend
from huddle.models import ApiKeyRecord


def record(
    key_id: str,
    org_id: str = "acme",
    *,
    created_at_ms: int = 1_700_000_000_000,
    user_id: str | None = "ana",
    admin: bool = False,
    name: str | None = "CRM sync",
) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=key_id,
        org_id=org_id,
        workspace_id="ws1",
        user_id=user_id,
        admin=admin,
        name=name,
        created_at_ms=created_at_ms,
        created_by="root",
        key_hash=hashlib.sha256(f"secret-{org_id}-{key_id}".encode()).hexdigest(),
    )


async def test_a_created_key_is_found_by_its_hash(backend: Backend) -> None:
    """lookup(key_hash) answers the stored record, every field equal."""
    key = record("k1", admin=True)
    service_key = record("k2", user_id=None, name=None)
    await backend.keys.create(key)
    await backend.keys.create(service_key)

    assert await backend.keys.lookup(key.key_hash) == key
    assert await backend.keys.lookup(service_key.key_hash) == service_key


async def test_an_unknown_hash_finds_nothing(backend: Backend) -> None:
    """lookup of a hash never stored answers None."""
    await backend.keys.create(record("k1"))
    assert await backend.keys.lookup(hashlib.sha256(b"other").hexdigest()) is None


async def test_a_revoked_key_is_gone_at_once(backend: Backend) -> None:
    """revoke answers True, and the key no longer looks up nor lists."""
    key = record("k1")
    await backend.keys.create(key)

    assert await backend.keys.revoke("acme", "k1") is True
    assert await backend.keys.lookup(key.key_hash) is None
    assert await backend.keys.list("acme") == []


async def test_revoking_an_unknown_key_is_false(backend: Backend) -> None:
    """revoke of a key the org does not have (never, or already revoked) answers False."""
    assert await backend.keys.revoke("acme", "nope") is False
    await backend.keys.create(record("k1"))
    await backend.keys.revoke("acme", "k1")
    assert await backend.keys.revoke("acme", "k1") is False


async def test_an_org_cannot_revoke_another_orgs_key(backend: Backend) -> None:
    """revoke names the org: another org's key id answers False and stays valid."""
    theirs = record("k1", "globex")
    await backend.keys.create(theirs)

    assert await backend.keys.revoke("acme", "k1") is False
    assert await backend.keys.lookup(theirs.key_hash) == theirs


async def test_keys_list_per_org_by_creation_time_then_id(backend: Backend) -> None:
    """list answers only the org's keys, ordered by created_at_ms, ties by id."""
    late = record("a-late", created_at_ms=3_000)
    early = record("z-early", created_at_ms=1_000)
    tie_b = record("b-tie", created_at_ms=2_000)
    tie_a = record("a-tie", created_at_ms=2_000)
    for key in (late, early, tie_b, tie_a, record("k9", "globex", created_at_ms=500)):
        await backend.keys.create(key)

    assert await backend.keys.list("acme") == [early, tie_a, tie_b, late]
    assert [k.id for k in await backend.keys.list("globex")] == ["k9"]
    assert await backend.keys.list("initech") == []
