"""`redis://`: the shared backend. Many nodes, one Redis; the same contract as `memory://`.

Every change is one Lua script (`scripts/*.lua`, run by SHA, reloaded on NOSCRIPT) on the keys
of one workspace, which share the `{org/ws}` hash tag; every time is Redis `TIME`; payloads are
msgpack. The events a script emits are appended to the workspace's Stream and published on its
channel inside the script, so log order is delivery order. The modules:

* `redis_scripts`: key names, script loading, the one place commands are sent and connection
  failures become `BackendUnavailable`;
* `redis_codec`: msgpack records and event blobs;
* `redis_log`, `redis_presence`, `redis_locks`: the facets; `redis_bus`: live delivery.

Here: API keys, the active-workspace index, sweeping, and the backend that ties them together.
"""

from __future__ import annotations

import secrets

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoPermissionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import Settings, mask_password
from ..errors import BackendUnavailable
from ..ids import OrgId, WorkspaceId, WorkspaceKey
from ..models import ApiKeyRecord, SweepResult, credentials_stream
from .base import Backend, EventLog, KeyStore, LockStore, PresenceStore, RecordStore
from .redis_bus import Bus
from .redis_codec import decode_api_key, encode_api_key, reply_list
from .redis_link import RedisLink
from .redis_locks import RedisLocks
from .redis_log import RedisEventLog
from .redis_presence import RedisPresence
from .redis_records import RedisRecords
from .redis_scripts import Call, KeySpace, Runner, guarded, load_scripts


class RedisKeys:
    """API key records by `key_hash` (`{prefix}:apikeys`), and per org by key id
    (`{prefix}:org:<org>:apikeys`); both written by one script, which emits a key's
    `credential.revoked` on the org's credential stream (`{prefix}:{<org>/~credentials}`).

    The two hashes carry no hash tag: on Redis Cluster they would need one in common, with
    the credential stream too."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._keys = runner.keys

    def _key_hashes(self, org_id: str) -> list[str]:
        return [self._keys.apikeys, self._keys.org_apikeys(org_id)]

    async def create(self, record: ApiKeyRecord) -> None:
        call = self._runner.ws_call(
            credentials_stream(record.org_id),
            "apikey_create",
            record.id,
            record.key_hash,
            encode_api_key(record),
            extra_keys=self._key_hashes(record.org_id),
        )
        await self._runner.execute([call])

    async def lookup(self, key_hash: str) -> ApiKeyRecord | None:
        call = self._runner.command("HGET", self._keys.apikeys, key_hash)
        [blob] = await self._runner.execute([call])
        return None if blob is None else decode_api_key(blob)

    async def get(self, org_id: str, key_id: str) -> ApiKeyRecord | None:
        call = self._runner.command("HGET", self._keys.org_apikeys(org_id), key_id)
        [blob] = await self._runner.execute([call])
        return None if blob is None else decode_api_key(blob)

    async def update(self, record: ApiKeyRecord) -> bool:
        call = self._runner.global_call(
            "apikey_update",
            self._key_hashes(record.org_id),
            record.id,
            record.key_hash,
            encode_api_key(record),
        )
        [updated] = await self._runner.execute([call])
        return updated == 1

    async def revoke(self, org_id: str, key_id: str) -> bool:
        call = self._runner.ws_call(
            credentials_stream(org_id), "apikey_revoke", key_id, extra_keys=self._key_hashes(org_id)
        )
        [revoked] = await self._runner.execute([call])
        return revoked == 1

    async def list(self, org_id: str) -> list[ApiKeyRecord]:
        call = self._runner.command("HVALS", self._keys.org_apikeys(org_id))
        [blobs] = await self._runner.execute([call])
        blobs = reply_list(blobs)
        records = (decode_api_key(blob) for blob in blobs)
        return sorted(records, key=lambda record: (record.created_at_ms, record.id))


class RedisBackend:
    """The contract over one Redis (a URL of `Settings.backend_url`), under `redis_prefix`.

    Opening connects nothing: the first call does, and every call fails with
    `BackendUnavailable` within about `redis_timeout` while Redis is unreachable, then works
    again by itself when it is back. `aclose` must be awaited."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        timeout = settings.redis_timeout
        # No retries inside redis-py: a script that timed out may have run, and running it
        # again would append its events twice. A caller sees BackendUnavailable and decides.
        # No socket_timeout either: every round trip runs under `guarded(redis_timeout)`.
        self._client = Redis.from_url(
            settings.backend_url,
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._keys = KeySpace(settings.redis_prefix)
        scripts = load_scripts()
        self._link = RedisLink(
            self._client,
            timeout=timeout,
            max_waiting=settings.redis_max_waiting,
            on_connect=[("SCRIPT", "LOAD", script.source) for script in scripts.values()],
        )
        self._runner = Runner(
            self._link,
            scripts,
            self._keys,
            log_length=settings.event_log_length,
            timeout=timeout,
        )
        self._bus = Bus(
            self._client,
            self._keys,
            queue_limit=settings.subscriber_queue_limit,
            timeout=timeout,
        )
        self.log: EventLog = RedisEventLog(self._runner, self._bus, settings.idempotency_window)
        self.presence: PresenceStore = RedisPresence(self._runner)
        self.locks: LockStore = RedisLocks(self._runner)
        self.records: RecordStore = RedisRecords(self._runner)
        self.keys: KeyStore = RedisKeys(self._runner)

    @property
    def url(self) -> str:
        return mask_password(self._settings.backend_url)

    async def ping(self) -> None:
        await self._runner.execute([self._runner.command("PING")])

    async def verify(self) -> None:
        try:
            await self.ping()  # a new connection loads every script first (SCRIPT LOAD)
        except BackendUnavailable as exc:
            if isinstance(exc.__cause__, NoPermissionError):
                raise BackendUnavailable(
                    f"this node cannot load its scripts: {exc.message}"
                ) from exc
            if self._settings.backend_url.startswith("rediss://") and isinstance(
                exc.__cause__, RedisTimeoutError | TimeoutError
            ):
                raise BackendUnavailable(
                    f"no answer to the TLS handshake within {self._settings.redis_timeout:g} s "
                    "(does the port serve TLS?)"
                ) from exc
            if self._settings.backend_url.startswith("rediss://") and _refused_client(exc):
                raise BackendUnavailable(
                    "Redis reset the TLS connection (does it require a client certificate? "
                    f"name it with ?ssl_certfile=&ssl_keyfile=): {exc.message}"
                ) from exc
            raise
        runner, prefix = self._runner, self._keys.prefix
        probe = WorkspaceKey(OrgId("huddle-probe"), WorkspaceId(secrets.token_hex(4)))
        key = f"{prefix}:probe:{probe.workspace_id}"
        steps: list[tuple[str, list[Call]]] = [
            (
                f"write and read keys under {prefix}:*",
                [
                    runner.command("SET", key, "1", "PX", 10_000),
                    runner.command("GET", key),
                    runner.command("DEL", key),
                ],
            ),
            ("run its scripts", [runner.ws_call(probe, "read", 0, 1)]),
            (
                "publish on its channels",
                [runner.command("PUBLISH", self._keys.channel(probe), b"")],
            ),
        ]
        for what, calls in steps:
            try:
                await runner.execute(calls)
            except BackendUnavailable as exc:
                raise BackendUnavailable(f"this node cannot {what}: {exc.message}") from exc
        try:
            await self._bus.probe(self._keys.channel(probe))
        except BackendUnavailable as exc:
            raise BackendUnavailable(
                f"this node cannot subscribe to its channels: {exc.message}"
            ) from exc

    async def active_workspaces(self) -> list[WorkspaceKey]:
        [tags] = await self._runner.execute(
            [self._runner.command("ZRANGE", self._keys.active, 0, -1)]
        )
        tags = reply_list(tags)
        return [WorkspaceKey.from_tag(tag.decode()) for tag in tags]

    async def sweep(self, ws: WorkspaceKey, limit: int) -> SweepResult:
        runner = self._runner
        # The index score is read before the sweep, in the same round trip: if the workspace
        # is idle, it leaves the index only if no operation touched it since (active_settle).
        score, reply = await runner.execute(
            [
                runner.command("ZSCORE", self._keys.active, ws.tag),
                runner.ws_call(ws, "sweep", limit),
            ]
        )
        reply = reply_list(reply)
        sessions, leases, idle = reply
        if idle == 1 and isinstance(score, bytes | float):
            settle = runner.global_call(
                "active_settle", [self._keys.active], ws.tag, int(float(score))
            )
            await runner.execute([settle])
        return SweepResult(sessions_expired=sessions, locks_expired=leases, idle=idle == 1)

    async def aclose(self) -> None:
        """Lose every subscription and close the connections; later calls raise
        BackendUnavailable. Idempotent."""
        self._runner.closed = True
        await self._link.aclose()
        await self._bus.aclose()
        async with guarded(self._settings.redis_timeout):
            await self._client.aclose()


def _refused_client(exc: BaseException) -> bool:
    """Whether the connection was reset under it, as a Redis with `tls-auth-clients yes`
    resets a client that sent no certificate when its TLS 1.3 alert loses the race."""
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, ConnectionResetError):
        cause = cause.__cause__
    return cause is not None


def _conforms(backend: RedisBackend) -> Backend:  # never called; mypy checks the contract
    return backend


__all__ = ["RedisBackend"]
