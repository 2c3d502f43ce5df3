"""An async Python client for Huddle: WebSocket first, SSE and REST when upgrades are refused.

For services, mobile backends, the end-to-end tests and the load harness. It sits outside the
server's layers: it uses the sans-I/O `huddle.protocol` and the id types, nothing that serves.
"""

from .backoff import Backoff
from .client import HuddleClient, TransportChoice
from .errors import (
    AuthError,
    ClientClosed,
    ClientError,
    ConnectionLost,
    HuddleClientError,
    LockHeldError,
    ServerProtocolError,
    UpgradeRefused,
)
from .events import RESET, ClientEvent
from .locks import HeldLock
from .transport import TokenSource

__all__ = [
    "RESET",
    "AuthError",
    "Backoff",
    "ClientClosed",
    "ClientError",
    "ClientEvent",
    "ConnectionLost",
    "HeldLock",
    "HuddleClient",
    "HuddleClientError",
    "LockHeldError",
    "ServerProtocolError",
    "TokenSource",
    "TransportChoice",
    "UpgradeRefused",
]
