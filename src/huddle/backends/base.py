"""The backend contract: everything the hub and services may rely on, and nothing more.

A backend is five facets over one store — `log` (events), `presence`, `locks`, `records`,
`keys` — plus a few node-level calls. `memory://` and `redis://` implement it with the same
semantics; the contract suite in `tests/contract/` runs unchanged on both, and what it does not
pin down is not part of the contract.

Rules that hold for every operation:

* **Atomic.** Each operation is one indivisible step (one Lua script on Redis, no `await`
  between read and write in memory). The events an operation emits are appended to the log
  and published on the bus inside that same step, so log order is the order of state changes.
* **One clock.** Every time (`*_ms`) comes from the backend's clock: Redis `TIME` inside the
  scripts, or the injected `Clock` in memory. Node clocks never decide who holds a lease.
* **Expiry.** A session or lease whose `expires_at_ms` is at or before now is *expired*: reads
  never return it. It is removed, with exactly one `presence.left` (`reason: "timeout"`) or
  `lock.expired` event, by whichever operation meets it first: `sweep`, or a write on the same
  session or entity (which emits the expiry event before its own).
* **Failure.** Any operation may raise `BackendUnavailable`; then it did not happen or happened
  entirely (a Redis script is atomic), and a retry of an idempotent operation is safe.
* **Validation is not here.** Ids, TTL bounds and permissions are checked by the services.

Event data written by the backend (snake_case; times are integer epoch milliseconds):

=======================  =======================================================================
`presence.joined`        session_id, user_id, name, kind
`presence.viewing`       session_id, user_id, name, resource_type, resource_id (both null when the
                         session stopped viewing), previous ({resource_type, resource_id} or null)
`presence.left`          session_id, user_id, name, reason (`leave` or `timeout`)
`lock.acquired`          entity_type, entity_id, user_id, name, session_id, fencing_token,
                         acquired_at_ms, expires_at_ms
`lock.refreshed`         the same fields as `lock.acquired`
`lock.released`          entity_type, entity_id, user_id, name, fencing_token
`lock.expired`           the same fields as `lock.released`
`lock.force_released`    the fields of `lock.released`, plus released_by (the actor's id)
`credential.revoked`     key_id, key_hash (of the key that stopped working; on the org's
                         internal `credentials_stream` only, which no client can read)
=======================  =======================================================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ..ids import EntityRef, WorkspaceKey
from ..models import (
    Actor,
    ApiKeyRecord,
    Audience,
    EntityPresence,
    Event,
    EventDraft,
    Granted,
    Held,
    Holder,
    Joined,
    LeaveReason,
    Lock,
    LogSlice,
    NotHeld,
    PresenceSession,
    Released,
    SessionInfo,
    SweepResult,
    UserPresence,
)
from ..store import (
    BatchOp,
    BatchRefused,
    Cascade,
    CollectionCount,
    CreateOutcome,
    DeleteOutcome,
    Guard,
    Page,
    Query,
    RecordEvent,
    RecordWrite,
    StoredRecord,
    UniqueKey,
    UpdateOutcome,
)


class Subscription(Protocol):
    """Live events of one workspace, in log order, as they are published after subscribing."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def get(self) -> Event:
        """The next event. Raises `SubscriptionLost` when the subscriber fell more than
        `subscriber_queue_limit` events behind or the bus connection dropped: events may have
        been missed, and the caller reads the gap from the log (`EventLog.read`)."""
        ...


class EventLog(Protocol):
    async def publish(self, ws: WorkspaceKey, draft: EventDraft) -> Event:
        """Append one event and publish it, atomically.

        The event gets the next offset of the workspace (`seq`, dense: 1, 2, 3 ...) under the
        workspace's epoch (created, random, with the workspace's first event; a backend that
        lost its history starts a new epoch). The log keeps about `event_log_length` newest
        events. With `draft.idempotency_key`, a repeat of the key within `idempotency_window`
        returns the first event and appends nothing."""
        ...

    async def broadcast(self, ws: WorkspaceKey, draft: EventDraft) -> Event:
        """Publish an ephemeral event (cursor positions, typing) to live subscribers only:
        `seq` 0, the current epoch (or ""), never in the log, never replayed, no idempotency.
        Creates no state."""
        ...

    async def read(self, ws: WorkspaceKey, after: int, limit: int) -> LogSlice:
        """Retained events with `seq > after`, oldest first, at most `limit`, with the epoch,
        `oldest` retained offset and `head`, all from one consistent view. Reading never creates
        an epoch: an untouched workspace answers its would-be epoch lazily as `""`, head 0."""
        ...

    def subscribe(self, ws: WorkspaceKey) -> AbstractAsyncContextManager[Subscription]:
        """Live events of `ws` from the moment the context is entered until it exits."""
        ...


class PresenceStore(Protocol):
    """Sessions, what they view, and the users they make online.

    A user is online in a workspace while they have a session there. The first session of a
    user emits `user.online` (after its `presence.joined`); the end of their last one, by
    leave, shutdown or expiry, emits `user.offline` (after its `presence.left`, with the same
    reason and actor). Both happen in the store's atomic step, so across any number of nodes
    each transition is emitted exactly once. Before a user's new session, their sessions whose
    time is up are ended first, so an `online` always follows the `offline` it owes."""

    async def join(self, ws: WorkspaceKey, info: SessionInfo, ttl_ms: int) -> Joined:
        """Create the session (`presence.joined`) or, if it is live, refresh its expiry and
        name (no event). `new` tells which."""
        ...

    async def view(
        self,
        ws: WorkspaceKey,
        info: SessionInfo,
        entity: EntityRef | None,
        ttl_ms: int,
        audience: Audience | None = None,
    ) -> Joined:
        """Set what the session views (None: nothing) and refresh its expiry. Joins first if the
        session is not live (`presence.joined`, then `presence.viewing`). Viewing what it
        already views refreshes only, with no event; `viewing_since_ms` is kept.

        `audience` is the entity's (kept as the session's `viewing_audience`): the
        `presence.viewing` event goes to it. Moving between entities of different audiences
        is two events: leaving the previous entity (resource null, for the previous audience),
        then arriving at the new one (previous null, for its audience), so nobody learns of an
        entity outside their audience."""
        ...

    async def leave(self, ws: WorkspaceKey, session_id: str, reason: LeaveReason = "leave") -> bool:
        """End a live session (`presence.left` with `reason`: `leave`, by its user, or
        `shutdown`, by its node, whose actor is the system). False, and no event of its own,
        when the session is not live."""
        ...

    async def touch(self, ws: WorkspaceKey, session_ids: Sequence[str], ttl_ms: int) -> list[str]:
        """Extend the expiry of the live sessions among `session_ids` (a node's batch
        heartbeat). No events, and an expired or left session is not revived: returns those
        ids that were not live (distinct, in the order given), for the caller to announce
        again if their connections still live (after a partition, say)."""
        ...

    async def viewers(
        self, ws: WorkspaceKey, entities: Sequence[EntityRef]
    ) -> list[EntityPresence]:
        """For each entity, in order: its live viewing sessions (ordered by
        `viewing_since_ms`, then session id) and its live lock. One round trip."""
        ...

    async def roster(self, ws: WorkspaceKey) -> list[PresenceSession]:
        """Every live session of the workspace, ordered by `joined_at_ms`, then session id."""
        ...

    async def get(self, ws: WorkspaceKey, session_id: str) -> PresenceSession | None:
        """One live session, or None."""
        ...

    async def users(self, ws: WorkspaceKey, user_ids: Sequence[str]) -> list[UserPresence]:
        """For each user id, in order (repeats answered again): their live sessions. Costs
        O(ids x their sessions) in one round trip, never a scan of the workspace."""
        ...


class LockStore(Protocol):
    async def acquire(
        self,
        ws: WorkspaceKey,
        entity: EntityRef,
        holder: Holder,
        ttl_ms: int,
        audience: Audience | None = None,
    ) -> Granted | Held:
        """Grant a free entity (`lock.acquired`, a new fencing token larger than every earlier
        token of the workspace epoch), or extend the caller's own lease to now + ttl
        (`lock.refreshed`, same token, `fresh=False`; the session id becomes the caller's).
        Another user's live lease is an answer (`Held`), not an error; nothing changes.
        `audience` (the entity's) is kept with the lease: every event of the lease, its
        expiry included, goes to it."""
        ...

    async def refresh(
        self,
        ws: WorkspaceKey,
        entity: EntityRef,
        user_id: str,
        ttl_ms: int,
        session_id: str | None = None,
    ) -> Granted | Held | NotHeld:
        """Extend the caller's live lease to now + ttl (`lock.refreshed`, same token). With
        `session_id`, the lease's session becomes it (the refreshing connection owns it)."""
        ...

    async def release(
        self, ws: WorkspaceKey, entity: EntityRef, user_id: str, session_id: str | None = None
    ) -> Released | Held | NotHeld:
        """End the caller's live lease (`lock.released`). With `session_id`, only a lease
        whose session is that one: a lease re-taken or refreshed from another session answers
        `Held` and is left alone (how a dropped connection's locks are released safely)."""
        ...

    async def force_release(
        self, ws: WorkspaceKey, entity: EntityRef, by: Actor
    ) -> Released | NotHeld:
        """End whoever's live lease (`lock.force_released`, actor `by`)."""
        ...

    async def get(self, ws: WorkspaceKey, entities: Sequence[EntityRef]) -> list[Lock | None]:
        """The live lease of each entity, in order. One round trip."""
        ...

    async def held_by(self, ws: WorkspaceKey, user_id: str) -> list[Lock]:
        """The user's live leases in the workspace, ordered by entity. Reads only that user's
        index, never the whole workspace."""
        ...


class RecordStore(Protocol):
    """Records of named collections inside a workspace (see `huddle.store`).

    Each write is atomic with its `Guard` check, its version check, its unique keys, its
    references, its index entries and its event: either all of it happens or none of it, and
    the answer says why not. Record ids are integers from 1, per collection, never reused.
    Times are the backend's clock; `created_by`/`updated_by` are the actor ids of the writes.
    The event's data is the write's `event.data` plus `id`, `version`, `created_at_ms` and
    `updated_at_ms` of the record as written (as it was, for a delete).
    """

    async def create(self, ws: WorkspaceKey, collection: str, write: RecordWrite) -> CreateOutcome:
        """Insert a record with the collection's next id, version 1. `Taken` names the first
        unique key already held (and its holder); `Unresolved` the first missing reference."""
        ...

    async def update(
        self,
        ws: WorkspaceKey,
        collection: str,
        record_id: int,
        version: int,
        write: RecordWrite,
        guard: Guard | None = None,
        drop_indexes: Sequence[tuple[str, str]] = (),
    ) -> UpdateOutcome:
        """Replace the data of record `record_id` if it is still at `version` (else
        `VersionChanged` with the current record), as `version + 1`. Checks, in this order:
        the guard (`Locked`, `Stale`), existence (`Missing`), the version, unique keys
        (`Taken`; the record's own keys are not a conflict), references (`Unresolved`).
        `drop_indexes` ((collection, index) pairs, with their unique keys) are dropped with
        it: a custom object that loses a field loses that field's indexes in the same step."""
        ...

    async def delete(
        self,
        ws: WorkspaceKey,
        collection: str,
        record_id: int,
        version: int | None,
        event: RecordEvent | None,
        guard: Guard | None = None,
        cascade: Cascade | None = None,
    ) -> DeleteOutcome:
        """Remove a record with its index entries and unique keys, if still at `version`
        (None: any). Checks the guard, existence, the version, then `cascade.require_empty`;
        then drops `cascade.drop` collections and `cascade.drop_indexes`. Answers the record
        as it was."""
        ...

    async def reserve(self, ws: WorkspaceKey, collection: str, count: int) -> list[int]:
        """`count` (1 to `BATCH_LIMIT`) new ids of the collection, in increasing order, from
        the counter `create` uses: neither `create` nor another `reserve` hands them out
        again. No record is made; an id whose batch never came is simply never used. A
        `CreateOp` with `record_id` makes the record under one of them."""
        ...

    async def batch(
        self, ws: WorkspaceKey, ops: Sequence[BatchOp]
    ) -> tuple[StoredRecord, ...] | BatchRefused:
        """Apply `ops` (`CreateOp`, `UpdateOp`, `DeleteOp`, on any collections) as one atomic
        step: all of them, in order, or none.

        Each op is checked as its single-record call checks it (guard, existence, version,
        unique keys, references, in that order), against the store as the ops before it in
        the batch leave it: a unique value an earlier op claims is `Taken` (its holder the
        earlier op's record as it would be stored) and one it releases is free; a reference
        may name a record created earlier in the batch (under a reserved id) and one deleted
        earlier is `Unresolved`; a record created earlier may be updated (at version 1) or
        deleted. The first op that would fail refuses the whole batch: `BatchRefused` with
        its index and the outcome; nothing of the batch happened (a guard that met an
        expired lease has still ended it, with `lock.expired`, as any write does).

        On success the answer is one record per op, in order: as written (for a delete, as it
        was). Every op's event is appended to the log in op order, one after another with no
        other event between them; all carry the same time.

        `CreateOp.record_id` must be an id `reserve` handed out: one above the collection's
        counter is a caller's mistake (ValueError, checked for every op before any guard or
        refusal, nothing changed). A create under an id that holds a record (a reserved id
        used twice, or a batch retried after it was applied unanswered) is a compare-and-set
        from "no record" that failed: `VersionChanged` with that record. The store does not
        remember which reserved ids were used, so the caller uses each once: an id whose
        record was deleted would be created again.

        Mistakes raise ValueError before anything is read: no op, more than `BATCH_LIMIT`,
        or an op failing the single calls' checks (`check_batch`)."""
        ...

    async def get(
        self, ws: WorkspaceKey, collection: str, record_ids: Sequence[int]
    ) -> list[StoredRecord | None]:
        """The records with these ids, in order (None for a missing one). One round trip."""
        ...

    async def find(self, ws: WorkspaceKey, collection: str, key: UniqueKey) -> StoredRecord | None:
        """The record holding unique key `key`, or None."""
        ...

    async def query(self, ws: WorkspaceKey, collection: str, query: Query) -> Page:
        """One page and the number of all matching records, from one consistent view.

        Without filters, ranges, any-ofs or ids the page is read straight from the sort index
        (its cost grows with the offset and the page, not the collection). Otherwise the
        candidates of the most selective condition (an any-of counting the members of all its
        values) are checked against the others, each record once, and ordered by the sort
        index (cost grows with those candidates). A missing index is an empty one. ValueError
        (or TypeError for a value of the wrong type) for a mistaken query (`check_query`),
        before anything is read."""
        ...

    async def count(
        self, ws: WorkspaceKey, collections: Sequence[str], recent_ms: int
    ) -> list[CollectionCount]:
        """For each collection, in order: its record count, and how many of its records were
        created within the last `recent_ms` milliseconds (backend clock). One round trip."""
        ...


class KeyStore(Protocol):
    """API key records (64-hex keys and UUID user tokens alike), by hash and by org.

    A key that stops working — revoked, or replaced by `create` with another hash — is
    announced in the same atomic step by a `credential.revoked` event (`models`: data
    `key_id` and the stopped key's `key_hash`, actor the system) on the org's
    `credentials_stream`, so that nodes end the connections it opened (`hub.credentials`)."""

    async def create(self, record: ApiKeyRecord) -> None:
        """Store a key record under its `key_hash` and its org. A record of the same org and
        key id is replaced: its hash stops working at once (`credential.revoked` for it when
        it differs from the new one). Concurrent creates of one id leave exactly one."""
        ...

    async def lookup(self, key_hash: str) -> ApiKeyRecord | None:
        """The record with this hash, or None (unknown or revoked): read on every request, so a
        revocation is effective at once on every node."""
        ...

    async def get(self, org_id: str, key_id: str) -> ApiKeyRecord | None:
        """The org's record of key id `key_id` now, or None. One read."""
        ...

    async def update(self, record: ApiKeyRecord) -> bool:
        """Rewrite the org's record `record.id` in place if it still holds `record.key_hash`:
        the same key, new other fields; no event. False, and nothing changed, when the org has
        no such key or it holds another key now (a compare-and-set on the hash)."""
        ...

    async def revoke(self, org_id: str, key_id: str) -> bool:
        """Delete the org's key `key_id` (`credential.revoked`); False, and no event, if the
        org has no such key."""
        ...

    async def list(self, org_id: str) -> list[ApiKeyRecord]:
        """The org's keys, ordered by creation time, then id."""
        ...


class Backend(Protocol):
    log: EventLog
    presence: PresenceStore
    locks: LockStore
    records: RecordStore
    keys: KeyStore

    @property
    def url(self) -> str:
        """The URL it was opened with, any password masked."""
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise `BackendUnavailable` otherwise."""
        ...

    async def verify(self) -> None:
        """Return when the store lets this node do all it must — on Redis: load and run its
        scripts, write and read keys under its prefix, publish and subscribe on its channels
        (what an ACL may deny). Raise `BackendUnavailable` naming what is missing."""
        ...

    async def active_workspaces(self) -> list[WorkspaceKey]:
        """Workspaces that may hold sessions or locks (a superset: sweeping the others is a
        no-op). Never misses a workspace with live state."""
        ...

    async def sweep(self, ws: WorkspaceKey, limit: int) -> SweepResult:
        """Remove up to `limit` expired sessions and up to `limit` expired leases of `ws`,
        atomically, emitting one `presence.left` (`timeout`) or `lock.expired` each. When the
        workspace is left idle (no sessions, no locks) it may leave `active_workspaces`."""
        ...


class SubscriptionLost(Exception):
    """A subscription missed events (queue overflow or bus reconnect); read the log."""


__all__ = [
    "Backend",
    "EventLog",
    "Held",
    "KeyStore",
    "LockStore",
    "NotHeld",
    "PresenceStore",
    "RecordStore",
    "Subscription",
    "SubscriptionLost",
]
