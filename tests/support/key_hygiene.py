"""Which Redis keys may live without an expiry (docs/architecture.md, "The Redis backend").

Two kinds do: the documented persistent ones (the log and its counters, the fencing counter,
records and their indexes, API keys), and the state whose expiry is a score rather than a
Redis TTL (presence sessions, leases and their indexes) — but only while the sweepers can reach
it, i.e. while `<prefix>:active` names its workspace: a node that runs sweeps it away once its
time has come. Anything else without an expiry would be there forever.
"""

from __future__ import annotations

import re
from typing import Final

from redis import Redis

#: Suffixes after `<prefix>:{org/ws}:` that may live without an expiry.
PERSISTENT: Final = re.compile(r"^(epoch|seq|log|fence|r:.+|rid:.+|rx:.+|ru:.+|rk:.+|rxs:.+)$")
#: Suffixes after `<prefix>:` that may live without an expiry.
GLOBAL_PERSISTENT: Final = re.compile(r"^(apikeys|org:[^:]+:apikeys)$")
#: Suffixes after `<prefix>:{org/ws}:` of state the sweepers end (sessions, leases).
SWEPT: Final = re.compile(r"^(ps|pexp|pv:.+|pu:.+|locks|lexp|ul:.+)$")
_WORKSPACE_KEY: Final = re.compile(r"^(?P<prefix>[^:{]+):\{(?P<tag>[^}]+)\}:(?P<suffix>.+)$")
_GLOBAL_KEY: Final = re.compile(r"^(?P<prefix>[^:{]+):(?P<suffix>[^{].*)$")


def undocumented_keys_without_expiry(port: int) -> list[str]:
    """Every key of the Redis on `port` that has no expiry and may not live without one."""
    with Redis(port=port, decode_responses=True) as raw:
        leaked = []
        for key in raw.scan_iter(count=1000):
            if raw.ttl(key) != -1:
                continue
            if match := _WORKSPACE_KEY.match(key):
                suffix = match["suffix"]
                if PERSISTENT.match(suffix):
                    continue
                if SWEPT.match(suffix) and raw.zscore(f"{match['prefix']}:active", match["tag"]):
                    continue
            elif (match := _GLOBAL_KEY.match(key)) and (
                GLOBAL_PERSISTENT.match(match["suffix"]) or match["suffix"] == "active"
            ):
                continue
            leaked.append(key)
        return sorted(leaked)
