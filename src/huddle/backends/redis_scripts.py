"""The Redis backend's key names, Lua scripts and the one place its commands are sent.

Every script is a file in `scripts/`; the workspace scripts get `_lib.lua` (and a generated
line holding the msgpack of `models.SYSTEM`) prepended. Scripts are run by SHA (`EVALSHA`),
loaded with `SCRIPT LOAD` whenever the link opens a connection (a restarted or failed-over
Redis is a new connection), and again on a `NOSCRIPT` (a `SCRIPT FLUSH` under a live
connection), after which the commands that were refused are sent again, in their order; only
then can a later call overtake a refused one.

A Redis that cannot serve becomes `BackendUnavailable` (`unavailable`) within `redis_timeout`:
`Runner.execute` (every command and script, its deadline kept by the link) and the bus (its
own connection, under `guarded`). Redis being down is an expected state, and the next call
after it returns simply works again (the link reconnects).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Final

from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import BackendUnavailable
from ..ids import WorkspaceKey
from ..models import SYSTEM
from .redis_codec import pack
from .redis_link import Arg, RedisLink

#: Failures that mean "Redis cannot serve now" rather than a bug: a dead or hung connection, a
#: server still loading its data, a replica after a failover (READONLY, MASTERDOWN), a full
#: memory, a cluster moving slots (MOVED, ASK), a user the ACL does not allow (NOPERM).
UNAVAILABLE: Final = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ReadOnlyError,
    OutOfMemoryError,
    ClusterDownError,
    TryAgainError,
    NoPermissionError,
    BusyLoadingError,
    MasterDownError,
    AskError,
)

#: Scripts that run on the keys of one workspace, with `_lib.lua` prepended.
WORKSPACE_SCRIPTS: Final = (
    "publish",
    "broadcast",
    "read",
    "presence_join",
    "presence_view",
    "presence_leave",
    "presence_touch",
    "presence_viewers",
    "presence_roster",
    "presence_get",
    "presence_users",
    "lock_acquire",
    "lock_refresh",
    "lock_release",
    "lock_force_release",
    "locks_get",
    "locks_held_by",
    "sweep",
    "record_create",
    "record_update",
    "record_delete",
    "record_reserve",
    "record_batch",
    "records_find",
    "records_query",
    "records_count",
    "apikey_create",
    "apikey_revoke",
)
#: Workspace scripts that never write, run with EVALSHA_RO: Redis refuses any write in them,
#: and a replica may serve them.
READ_ONLY_SCRIPTS: Final = frozenset(
    {"records_query", "records_find", "records_count", "presence_users"}
)
#: Scripts on the prefix's global keys, self-contained.
GLOBAL_SCRIPTS: Final = ("active_touch", "active_settle", "apikey_update")

_PACKAGE: Final = __name__.rpartition(".")[0]

#: NOSCRIPT rounds before giving up: one is the normal case after a flush.
_LOAD_ROUNDS: Final = 3


@asynccontextmanager
async def guarded(seconds: float) -> AsyncIterator[None]:
    """Bound the block to `seconds` and raise `BackendUnavailable` for a Redis that
    cannot serve; anything else propagates.

    The deadline is ours, not redis-py's `socket_timeout`: redis-py bounds socket writes with
    `asyncio.wait_for`, which on Python 3.11 can swallow a cancellation (a sweeper that never
    stops); `asyncio.timeout` does not, and it bounds the whole round trip (pool, connect,
    write, read) at once. A command cut short leaves its connection closed, never out of step.
    """
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise BackendUnavailable(f"Redis did not answer within {seconds} s") from exc
    except UNAVAILABLE as exc:
        raise unavailable(exc) from exc


def unavailable(exc: BaseException) -> BackendUnavailable:
    """The 503 for one of `UNAVAILABLE`, saying what an operator should look at."""
    why = str(exc) or type(exc).__name__
    if isinstance(exc, OutOfMemoryError):
        return BackendUnavailable(f"Redis is out of memory (maxmemory): {why}")
    if isinstance(exc, RedisTimeoutError):
        return BackendUnavailable(why)
    if isinstance(exc, NoPermissionError):
        return BackendUnavailable(f"the Redis user may not do this (ACL): {why}")
    if isinstance(exc, ReadOnlyError | MasterDownError):
        return BackendUnavailable(f"Redis is a replica now (a failover?); reconnecting: {why}")
    if isinstance(exc, BusyLoadingError):
        return BackendUnavailable(f"Redis is loading its data; retry shortly: {why}")
    if isinstance(exc, AskError | ClusterDownError | TryAgainError):
        return BackendUnavailable(f"Redis Cluster is moving or missing slots: {why}")
    if isinstance(exc, ssl.SSLCertVerificationError) or "certificate verify failed" in why:
        return BackendUnavailable(
            f"Redis's TLS certificate is not trusted (name its CA with ?ssl_ca_certs=): {why}"
        )
    if "CERTIFICATE_REQUIRED" in why:  # the server's alert: `tls-auth-clients yes`
        return BackendUnavailable(
            "Redis requires a client certificate its CA signed "
            f"(name it with ?ssl_certfile=&ssl_keyfile=): {why}"
        )
    if isinstance(exc, ssl.SSLError) or "SSL" in why or "TLS" in why:
        return BackendUnavailable(f"Redis TLS failed (does the port serve TLS?): {why}")
    return BackendUnavailable(f"Redis is unreachable: {why}")


class KeySpace:
    """The names of every key and channel under one `redis_prefix`.

    A workspace's keys all start with `base(ws)` = `{prefix}:{org/ws}`: the hash tag puts them
    in one Redis Cluster slot, so each script stays single-slot. The suffixes are listed in
    `scripts/_lib.lua`.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.active = f"{prefix}:active"
        self.apikeys = f"{prefix}:apikeys"

    def base(self, ws: WorkspaceKey) -> str:
        return f"{self.prefix}:{{{ws.tag}}}"

    def channel(self, ws: WorkspaceKey) -> bytes:
        return f"{self.base(ws)}:ch".encode()

    def org_apikeys(self, org_id: str) -> str:
        return f"{self.prefix}:org:{org_id}:apikeys"


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: bytes
    sha: str
    read_only: bool = False

    @classmethod
    def load(cls, name: str, prelude: bytes = b"") -> Script:
        body = resources.files(_PACKAGE).joinpath("scripts", f"{name}.lua").read_bytes()
        source = prelude + body
        sha = hashlib.sha1(source, usedforsecurity=False).hexdigest()
        return cls(name, source, sha, read_only=name in READ_ONLY_SCRIPTS)


@dataclass(frozen=True, slots=True)
class Call:
    """One script invocation, or one plain command when `script` is None."""

    script: Script | None
    args: tuple[Arg, ...]

    def words(self) -> tuple[Arg, ...]:
        if self.script is None:
            return self.args
        command = "EVALSHA_RO" if self.script.read_only else "EVALSHA"
        return (command, self.script.sha, *self.args)


def load_scripts() -> dict[str, Script]:
    """Every script by name, read from the package and hashed."""
    system = "".join(f"\\{byte:03d}" for byte in pack(SYSTEM.to_dict()))
    prelude = (
        f"local SYSTEM_ACTOR = '{system}' -- generated: msgpack of huddle.models.SYSTEM\n".encode()
        + resources.files(_PACKAGE).joinpath("scripts", "_lib.lua").read_bytes()
    )
    scripts = {name: Script.load(name, prelude) for name in WORKSPACE_SCRIPTS}
    scripts.update({name: Script.load(name) for name in GLOBAL_SCRIPTS})
    return scripts


class Runner:
    """Builds Huddle's script calls and sends them over the node's one `RedisLink`.

    Calls made by different tasks in the same turn of the event loop go out in one write, and
    later ones follow while earlier replies are on their way (see `redis_link`): a node
    answering many clients at once pays one write and one read per loop turn, not one round
    trip per request. No command Huddle sends blocks in Redis, so no call waits behind a slow
    neighbour longer than that neighbour's script takes.

    A workspace script is called with KEYS = [the workspace base, *extra keys] and ARGV = [a
    candidate epoch, event_log_length, *args] (the conventions of `_lib.lua`; only the API key
    scripts name extra keys).
    """

    def __init__(
        self,
        link: RedisLink,
        scripts: dict[str, Script],
        keys: KeySpace,
        *,
        log_length: int,
        timeout: float,
    ) -> None:
        self.link = link
        self.keys = keys
        self.timeout = timeout
        self._log_length = log_length
        self._scripts = scripts
        self.closed = False

    # --- building calls ---------------------------------------------------------------------

    def ws_call(
        self, ws: WorkspaceKey, name: str, *args: Arg, extra_keys: Sequence[str] = ()
    ) -> Call:
        # The candidate epoch is used only by the event that creates the workspace's epoch.
        epoch = secrets.token_hex(4)
        keys: tuple[Arg, ...] = (1 + len(extra_keys), self.keys.base(ws), *extra_keys)
        return Call(self._scripts[name], (*keys, epoch, self._log_length, *args))

    def global_call(self, name: str, keys: Sequence[str], *args: Arg) -> Call:
        return Call(self._scripts[name], (len(keys), *keys, *args))

    def touch_active(self, ws: WorkspaceKey) -> Call:
        return self.global_call("active_touch", [self.keys.active], ws.tag)

    @staticmethod
    def command(*words: Arg) -> Call:
        return Call(None, words)

    # --- sending ----------------------------------------------------------------------------

    async def run(self, ws: WorkspaceKey, name: str, *args: Arg) -> object:
        """Call one workspace script; its reply."""
        return (await self.execute([self.ws_call(ws, name, *args)]))[0]

    async def run_tracked(self, ws: WorkspaceKey, name: str, *args: Arg) -> object:
        """Call a workspace script that may create sessions or locks, with `active_touch`
        before and after it in the same round trip: the workspace is in the index before its
        state exists, and touched again after, so a sweep that found it idle just before
        cannot drop it from the index (see `active_settle.lua`)."""
        touch = self.touch_active(ws)
        replies = await self.execute([touch, self.ws_call(ws, name, *args), touch])
        return replies[1]

    async def execute(self, calls: Sequence[Call]) -> list[object]:
        """Send `calls` together (not as a transaction) and return their replies in order.
        Scripts refused with NOSCRIPT are loaded, then those calls alone are sent again, in
        order. An error reply raises; a Redis that cannot serve raises BackendUnavailable,
        within `redis_timeout` per round trip (the link keeps the deadline: no timer per call
        here).
        """
        if self.closed:
            raise BackendUnavailable("the Redis backend is closed")
        try:
            return await self._execute(calls)
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    async def _execute(self, calls: Sequence[Call]) -> list[object]:
        replies: list[object] = [None] * len(calls)
        pending = list(range(len(calls)))
        for _ in range(_LOAD_ROUNDS):
            answers = await self.link.send([calls[i].words() for i in pending])
            refused: list[int] = []
            for i, answer in zip(pending, answers, strict=True):
                if isinstance(answer, NoScriptError):
                    refused.append(i)
                elif isinstance(answer, RedisError):
                    raise answer
                else:
                    replies[i] = answer
            if not refused:
                return replies
            await self._load({s for i in refused if (s := calls[i].script) is not None})
            pending = refused
        raise BackendUnavailable("Redis keeps forgetting the Lua scripts (SCRIPT FLUSH loop?)")

    async def _load(self, scripts: set[Script]) -> None:
        loading = sorted(scripts, key=lambda script: script.name)
        answers = await self.link.send([("SCRIPT", "LOAD", s.source) for s in loading])
        for script, sha in zip(loading, answers, strict=True):
            if isinstance(sha, RedisError):
                raise sha
            # the SHA is computed locally; Redis must agree
            if not isinstance(sha, bytes) or sha.decode() != script.sha:
                raise RuntimeError(f"{script.name}.lua: Redis answered SHA {sha!r}")
