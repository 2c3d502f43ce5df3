"""The WebSocket protocol, sans I/O: subprotocols, client frames in, server frames out.

Client → server, one command per frame: `{"id": n, "op": "...", ...args}` where `n` is an
integer in 0..2**53 the reply repeats. Server → client: `{"id": n, "ok": true, "result": {...}}`,
`{"id": n | null, "ok": false, "error": {"code", "message", "details"}}`, and pushed events
`{"op": "event", "event": {...}}`. Frames are JSON text under `huddle.v1.json` and msgpack
binary under `huddle.v1.msgpack`; the shapes are the same.

Every builder returns bytes. `is_binary(codec)` says which WebSocket frame carries them: a JSON
frame is sent as text (decode the UTF-8 once, where the bytes are cached, not per recipient).
Parsing lives in `parsing.py`, the commands in `commands.py`; this module is the one to import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any, Final

import msgpack
import orjson

from ..models import Audience
from .commands import (
    AuthRefresh,
    Command,
    JsonValue,
    LockAcquire,
    LockRefresh,
    LockRelease,
    Op,
    Ping,
    PresenceJoin,
    PresenceLeave,
    PresenceView,
    Publish,
    Subscribe,
    Unsubscribe,
)
from .parsing import (
    MAX_DATA_DEPTH,
    MAX_REQUEST_ID,
    MAX_TOKEN_LENGTH,
    BadFrame,
    Codec,
    FrameTooLarge,
    InvalidField,
    InvalidFrame,
    InvalidJson,
    InvalidMsgpack,
    MissingField,
    UndecodableFrame,
    UnknownOp,
    parse_command,
)

__all__ = [
    "MAX_DATA_DEPTH",
    "MAX_REQUEST_ID",
    "MAX_TOKEN_LENGTH",
    "SUBPROTOCOLS",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "AuthRefresh",
    "BadFrame",
    "Codec",
    "Command",
    "FrameTooLarge",
    "InvalidField",
    "InvalidFrame",
    "InvalidJson",
    "InvalidMsgpack",
    "JsonValue",
    "LockAcquire",
    "LockRefresh",
    "LockRelease",
    "MissingField",
    "Op",
    "Ping",
    "PresenceJoin",
    "PresenceLeave",
    "PresenceView",
    "Publish",
    "Subscribe",
    "UndecodableFrame",
    "UnknownOp",
    "Unsubscribe",
    "choose_subprotocol",
    "encode_command",
    "encode_error",
    "encode_event",
    "encode_hello",
    "encode_reply",
    "is_binary",
    "parse_command",
    "token_from_subprotocols",
]

# --- handshake -------------------------------------------------------------------------------

SUBPROTOCOLS: Final[Mapping[str, Codec]] = {
    "huddle.v1.json": "json",
    "huddle.v1.msgpack": "msgpack",
}
#: Browsers cannot set headers on a WebSocket, so a client may offer `huddle.token.<token>`
#: beside `huddle.v1.json`. The server reads it and never selects it.
TOKEN_SUBPROTOCOL_PREFIX: Final = "huddle.token."


def choose_subprotocol(offered: Sequence[str]) -> str | None:
    """The first subprotocol of ours in the client's order of preference, or None (close with
    UNSUPPORTED_SUBPROTOCOL). Token-carrying entries are never chosen."""
    for name in offered:
        if name.strip() in SUBPROTOCOLS:
            return name.strip()
    return None


def token_from_subprotocols(offered: Sequence[str]) -> str | None:
    """The token of the first `huddle.token.<token>` entry, or None when there is none or it
    is empty or longer than 8192 characters."""
    for name in offered:
        name = name.strip()
        if name.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            token = name[len(TOKEN_SUBPROTOCOL_PREFIX) :]
            return token if 0 < len(token) <= MAX_TOKEN_LENGTH else None
    return None


def is_binary(codec: Codec) -> bool:
    """True when the codec's frames go in binary WebSocket messages (msgpack), False for text
    (JSON: send `frame.decode()`; the bytes are UTF-8)."""
    return codec == "msgpack"


# --- building frames -------------------------------------------------------------------------


def _encode(message: dict[str, Any], codec: Codec) -> bytes:
    if codec == "json":
        return orjson.dumps(message)
    packed: bytes = msgpack.packb(message, use_bin_type=True)
    return packed


def encode_hello(connection_id: str, user_id: str, expires_at: float | None, codec: Codec) -> bytes:
    """`{"op": "hello", ...}`: the server's first frame, once the connection is accepted."""
    message = {
        "op": "hello",
        "connection_id": connection_id,
        "user_id": user_id,
        "expires_at": expires_at,
    }
    return _encode(message, codec)


def encode_reply(request_id: int, result: Mapping[str, Any], codec: Codec) -> bytes:
    """`{"id": n, "ok": true, "result": {...}}`; `result` holds JSON values only."""
    return _encode({"id": request_id, "ok": True, "result": _plain(result)}, codec)


def encode_error(
    request_id: int | None,
    code: str,
    message: str,
    codec: Codec,
    details: Mapping[str, Any] | None = None,
) -> bytes:
    """`{"id": n | null, "ok": false, "error": {"code", "message", "details"}}`; `details` is
    `{}` when None."""
    error = {"code": code, "message": message, "details": _plain(details or {})}
    return _encode({"id": request_id, "ok": False, "error": error}, codec)


def encode_event(event: Mapping[str, Any], codec: Codec) -> bytes:
    """`{"op": "event", "event": {...}}` for an `Event.to_wire()` dict.

    The fan-out encodes each event once per codec and sends these same bytes to every
    recipient: a plain function of its arguments, no per-session state.
    """
    return _encode({"op": "event", "event": _plain(event)}, codec)


def encode_command(command: Command, codec: Codec) -> bytes:
    """The frame a client sends for `command` (fields that are None are left out);
    `parse_command` reads it back as an equal command."""
    message: dict[str, Any] = {"id": command.id, "op": command.op}
    for spec in fields(command):
        value = getattr(command, spec.name)
        if isinstance(value, Audience):
            value = {"users": sorted(value.users), "members_of": sorted(value.members_of)}
        if value is not None:
            message[spec.name] = value
    return _encode(message, codec)


def _plain(mapping: Mapping[str, Any]) -> dict[str, Any]:
    # orjson serializes dicts only; the common case costs an isinstance check.
    return mapping if isinstance(mapping, dict) else dict(mapping)
