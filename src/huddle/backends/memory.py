"""`memory://`: the embedded backend. One process, zero infrastructure, nothing survives a restart.

It implements `backends.base` with the same semantics as `redis://`. Every operation runs with no
`await` between its reads and writes, so it is atomic on the event loop; its events are appended
to the workspace's ring buffer and handed to the subscribers' bounded queues in that same step.
Time comes only from the injected `Clock`, so tests move it with `ManualClock`.

The state lives in `memory_state.Store`; each facet is its own module (`memory_log`,
`memory_presence`, `memory_locks`, `memory_records`), and the API keys and node-level calls are
here.
"""

from __future__ import annotations

from ..clock import Clock
from ..config import Settings
from ..ids import WorkspaceKey
from ..models import (
    CREDENTIAL_REVOKED,
    SYSTEM,
    ApiKeyRecord,
    SweepResult,
    credentials_stream,
)
from .base import Backend, EventLog, KeyStore, LockStore, PresenceStore, RecordStore
from .memory_locks import MemoryLocks
from .memory_log import MemoryEventLog
from .memory_presence import MemoryPresence
from .memory_records import MemoryRecords
from .memory_state import Store


class MemoryKeys:
    """API key records by `key_hash`, with a per-org index of key id to hash."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, record: ApiKeyRecord) -> None:
        store = self._store
        now = store.now()
        org = store.api_keys_by_org.setdefault(record.org_id, {})
        replaced = org.get(record.id)
        org[record.id] = record.key_hash
        store.api_keys[record.key_hash] = record
        if replaced is not None and replaced != record.key_hash:
            store.api_keys.pop(replaced, None)
            self._revoked(record.org_id, record.id, replaced, now)

    async def lookup(self, key_hash: str) -> ApiKeyRecord | None:
        self._store.check_open()
        return self._store.api_keys.get(key_hash)

    async def get(self, org_id: str, key_id: str) -> ApiKeyRecord | None:
        store = self._store
        store.check_open()
        key_hash = store.api_keys_by_org.get(org_id, {}).get(key_id)
        return None if key_hash is None else store.api_keys[key_hash]

    async def update(self, record: ApiKeyRecord) -> bool:
        store = self._store
        store.check_open()
        if store.api_keys_by_org.get(record.org_id, {}).get(record.id) != record.key_hash:
            return False
        store.api_keys[record.key_hash] = record
        return True

    async def revoke(self, org_id: str, key_id: str) -> bool:
        store = self._store
        now = store.now()
        org = store.api_keys_by_org.get(org_id)
        key_hash = None if org is None else org.pop(key_id, None)
        if org is None or key_hash is None:
            return False
        if not org:
            del store.api_keys_by_org[org_id]
        store.api_keys.pop(key_hash, None)
        self._revoked(org_id, key_id, key_hash, now)
        return True

    def _revoked(self, org_id: str, key_id: str, key_hash: str, now: int) -> None:
        store = self._store
        w = store.workspace(credentials_stream(org_id))
        store.emit(w, CREDENTIAL_REVOKED, SYSTEM, {"key_id": key_id, "key_hash": key_hash}, now)

    async def list(self, org_id: str) -> list[ApiKeyRecord]:
        store = self._store
        store.check_open()
        hashes = store.api_keys_by_org.get(org_id, {}).values()
        return sorted((store.api_keys[h] for h in hashes), key=lambda r: (r.created_at_ms, r.id))


class MemoryBackend:
    """The whole contract in one process. After `aclose` every call raises
    `BackendUnavailable` and every subscription is lost."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._store = Store(settings, clock)
        self.log: EventLog = MemoryEventLog(self._store)
        self.presence: PresenceStore = MemoryPresence(self._store)
        self.locks: LockStore = MemoryLocks(self._store)
        self.records: RecordStore = MemoryRecords(self._store)
        self.keys: KeyStore = MemoryKeys(self._store)

    @property
    def url(self) -> str:
        url = self._settings.backend_url
        return url if url.startswith("memory://") else "memory://"

    async def ping(self) -> None:
        self._store.check_open()

    async def verify(self) -> None:
        self._store.check_open()

    async def active_workspaces(self) -> list[WorkspaceKey]:
        self._store.check_open()
        return list(self._store.active)

    async def sweep(self, ws: WorkspaceKey, limit: int) -> SweepResult:
        store = self._store
        now = store.now()
        w = store.workspaces.get(ws)
        if w is None:
            return SweepResult(idle=True)
        sessions = store.sweep_sessions(w, limit, now)
        locks = store.sweep_leases(w, limit, now)
        store.settle(w)
        return SweepResult(sessions_expired=sessions, locks_expired=locks, idle=w.idle)

    async def aclose(self) -> None:
        """Lose every subscription and drop all state; idempotent."""
        store = self._store
        if store.closed:
            return
        store.closed = True
        for subscribers in store.subscribers.values():
            for subscriber in subscribers:
                subscriber.lose("the memory backend was closed")
        store.subscribers.clear()
        store.workspaces.clear()
        store.active.clear()
        store.api_keys.clear()
        store.api_keys_by_org.clear()


def _conforms(backend: MemoryBackend) -> Backend:  # never called; mypy checks the contract
    return backend


__all__ = ["MemoryBackend"]
