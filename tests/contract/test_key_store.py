"""KeyStore: API key records stored by hash, listed per org, revoked or replaced at once, each
key that stops working announced on its org's credential stream in the same step."""

from __future__ import annotations

import dataclasses
import hashlib

from huddle.backends.base import Backend
from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.models import CREDENTIAL_REVOKED, SYSTEM, ApiKeyRecord, Event, credentials_stream
from tests.support.contract import log_of


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


def revocations(events: list[Event]) -> list[tuple[str, str]]:
    """(key_id, key_hash) of each `credential.revoked` among `events`, in log order."""
    return [(e.data["key_id"], e.data["key_hash"]) for e in events if e.type == CREDENTIAL_REVOKED]


async def test_get_answers_the_orgs_record_of_a_key_id(backend: Backend) -> None:
    """get(org, key id) answers that org's record now; None for another org or no key."""
    key = record("k1")
    await backend.keys.create(key)

    assert await backend.keys.get("acme", "k1") == key
    assert await backend.keys.get("globex", "k1") is None
    assert await backend.keys.get("acme", "k2") is None


async def test_a_key_replaced_under_its_id_stops_and_is_announced(backend: Backend) -> None:
    """create under an existing id with another hash: the old key looks up nothing, the new
    one its record, and one `credential.revoked` names the old key on the org's stream."""
    old = record("k1")
    new = dataclasses.replace(old, key_hash=hashlib.sha256(b"new").hexdigest(), admin=True)
    await backend.keys.create(old)
    assert await log_of(backend, credentials_stream("acme")) == []

    await backend.keys.create(new)

    assert await backend.keys.lookup(old.key_hash) is None
    assert await backend.keys.lookup(new.key_hash) == new
    assert await backend.keys.list("acme") == [new]
    events = await log_of(backend, credentials_stream("acme"))
    assert revocations(events) == [("k1", old.key_hash)]
    assert events[0].actor == SYSTEM


async def test_a_revoked_key_is_announced_on_its_orgs_stream_only(backend: Backend) -> None:
    """revoke emits one `credential.revoked` on the org's credential stream; a revoke that
    finds nothing emits nothing, and no other org's stream or workspace hears of it."""
    key = record("k1")
    await backend.keys.create(key)
    await backend.keys.create(record("k1", "globex"))

    assert await backend.keys.revoke("acme", "k1") is True
    assert await backend.keys.revoke("acme", "k1") is False

    assert revocations(await log_of(backend, credentials_stream("acme"))) == [("k1", key.key_hash)]
    assert await log_of(backend, credentials_stream("globex")) == []
    assert await log_of(backend, WorkspaceKey(OrgId("acme"), WorkspaceId("ws1"))) == []


async def test_rewriting_a_record_with_its_own_key_announces_nothing(backend: Backend) -> None:
    """create of the same id and hash (other fields changed) keeps the key working, silently."""
    key = record("k1")
    await backend.keys.create(key)
    renamed = dataclasses.replace(key, name="renamed")
    await backend.keys.create(renamed)

    assert await backend.keys.lookup(key.key_hash) == renamed
    assert await log_of(backend, credentials_stream("acme")) == []


async def test_update_rewrites_only_the_key_it_names(backend: Backend) -> None:
    """update is a compare-and-set on the hash: it rewrites the record of the same key (which
    keeps working, with no event), and refuses once another key holds the id, or none."""
    key = record("k1")
    await backend.keys.create(key)
    promoted = dataclasses.replace(key, admin=True)

    assert await backend.keys.update(promoted) is True
    assert await backend.keys.lookup(key.key_hash) == promoted
    assert await backend.keys.get("acme", "k1") == promoted

    successor = dataclasses.replace(key, key_hash=hashlib.sha256(b"successor").hexdigest())
    await backend.keys.create(successor)
    assert await backend.keys.update(dataclasses.replace(key, admin=False)) is False
    assert await backend.keys.lookup(key.key_hash) is None, "no key comes back to life"
    assert await backend.keys.get("acme", "k1") == successor

    await backend.keys.revoke("acme", "k1")
    assert await backend.keys.update(successor) is False
    assert await backend.keys.get("acme", "k1") is None
    assert revocations(await log_of(backend, credentials_stream("acme"))) == [
        ("k1", key.key_hash),
        ("k1", successor.key_hash),
    ]
