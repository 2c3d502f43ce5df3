"""Client frames in: decode one WebSocket frame and validate it into a typed Command.

Refusals are BadFrame, in two kinds. *Fatal* (the frame is oversized, or not JSON / msgpack at
all): the connection closes with CloseCode.BAD_FRAME, since the stream itself is suspect.
*Recoverable* (a decodable frame breaking a rule): the server answers an error reply with the
frame's `id` when it was usable, and the connection stays open.

Limits for untrusted input: the size is checked before decoding; orjson refuses nesting past
1024 levels; msgpack may not claim any length beyond the frame's own size (so it never
allocates more than the frame holds) and refuses nesting past its stack (1024); `Publish.data`
must be plain JSON values nested at most MAX_DATA_DEPTH levels, so every codec can re-encode it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, cast

import msgpack
import orjson

from ..errors import BadRequest
from ..ids import (
    ENTITY_ID_PATTERN,
    ENTITY_TYPE_PATTERN,
    SESSION_ID_PATTERN,
    TENANT_ID_PATTERN,
    OrgId,
    SessionId,
    WorkspaceId,
)
from ..models import Audience, audience_problem
from .commands import (
    AuthRefresh,
    Command,
    JsonValue,
    LockAcquire,
    LockRefresh,
    LockRelease,
    Ping,
    PresenceJoin,
    PresenceLeave,
    PresenceView,
    Publish,
    Subscribe,
    Unsubscribe,
)

Codec = Literal["json", "msgpack"]

#: Longest credential accepted, in `auth.refresh` and in a token subprotocol.
MAX_TOKEN_LENGTH: Final = 8192

# --- errors ----------------------------------------------------------------------------------


class BadFrame(BadRequest):
    """A client frame the protocol refuses; nothing happened.

    `fatal` frames (undecodable or oversized) close the connection with CloseCode.BAD_FRAME:
    the stream itself is suspect. The others get an error reply carrying `request_id` (None
    when the frame had no usable `id`) and the connection stays open. `code` names the case.
    """

    code = "BAD_FRAME"
    fatal: bool = False

    def __init__(
        self,
        message: str,
        *,
        request_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.request_id = request_id


class FrameTooLarge(BadFrame):
    code = "FRAME_TOO_LARGE"
    fatal = True


class UndecodableFrame(BadFrame):
    fatal = True


class InvalidJson(UndecodableFrame):
    code = "INVALID_JSON"


class InvalidMsgpack(UndecodableFrame):
    code = "INVALID_MSGPACK"


class InvalidFrame(BadFrame):
    """Decodable, but not a map with string keys."""

    code = "INVALID_FRAME"


class UnknownOp(BadFrame):
    code = "UNKNOWN_OP"


class MissingField(BadFrame):
    code = "MISSING_FIELD"


class InvalidField(BadFrame):
    code = "INVALID_FIELD"


# --- parsing ---------------------------------------------------------------------------------

#: Request ids are JSON integers a JavaScript client holds exactly.
MAX_REQUEST_ID: Final = 2**53
#: `Publish.data` nests at most this deep: orjson refuses to encode past 254 levels, and a
#: frame that parses must never become an event no transport can send.
MAX_DATA_DEPTH: Final = 64
_MAX_SINCE: Final = 64
# orjson and msgpack both hold integers in this range; the event must re-encode in either.
_MIN_INT: Final = -(2**63)
_MAX_INT: Final = 2**64 - 1

_TENANT: Final = re.compile(TENANT_ID_PATTERN)
_ENTITY_TYPE: Final = re.compile(ENTITY_TYPE_PATTERN)
_ENTITY_ID: Final = re.compile(ENTITY_ID_PATTERN)
_SESSION: Final = re.compile(SESSION_ID_PATTERN)
_EVENT_TYPE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$")
_IDEMPOTENCY_KEY: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def parse_command(frame: str | bytes, codec: Codec, *, max_bytes: int) -> Command:
    """Decode and validate one client frame. Raises BadFrame, never anything else.

    The size is checked first, in UTF-8 bytes. JSON frames may be text or bytes; msgpack
    frames must be bytes. Fields the op does not know are ignored (forward compatibility);
    an optional field sent as null counts as absent.
    """
    raw = _decode(frame, codec, max_bytes)
    if not isinstance(raw, dict):
        raise InvalidFrame(f"a frame must be a map, got {_kind(raw)}")
    request_id = _request_id(raw)
    if not all(isinstance(key, str) for key in raw):
        raise InvalidFrame("a frame's keys must all be strings", request_id=request_id)
    op = raw.get("op")
    if op is None:
        raise MissingField("`op` is required", request_id=request_id, details={"field": "op"})
    if not isinstance(op, str):
        raise InvalidField(
            f"`op` must be a string, got {_kind(op)}",
            request_id=request_id,
            details={"field": "op"},
        )
    build = _OPS.get(op)
    if build is None:
        raise UnknownOp(
            f"unknown op; expected one of {', '.join(_OPS)}",
            request_id=request_id,
            details={"op": op[:64]},
        )
    return build(_Args(raw, request_id))


def _decode(frame: str | bytes, codec: Codec, max_bytes: int) -> object:
    if _size(frame) > max_bytes:
        raise FrameTooLarge(
            f"frame larger than {max_bytes} bytes", details={"max_bytes": max_bytes}
        )
    if codec == "json":
        try:
            return orjson.loads(frame)
        except orjson.JSONDecodeError as exc:  # also invalid UTF-8 and nesting past 1024
            raise InvalidJson(f"frame is not JSON: {exc}") from None
    if isinstance(frame, str):
        raise InvalidMsgpack("a msgpack frame must be binary, got a text frame")
    size = len(frame)
    try:
        return msgpack.unpackb(
            frame,
            raw=False,  # strings must be UTF-8: they end up in JSON for other clients
            strict_map_key=False,  # a non-string key is refused below, with the request id
            max_str_len=size,  # the defaults, spelled out: no length may claim more bytes
            max_bin_len=size,  # than the frame holds, so nothing allocates beyond its size
            max_array_len=size,
            max_map_len=size,
            max_ext_len=size,
        )
    except (ValueError, msgpack.UnpackException) as exc:
        # ValueError covers ExtraData, FormatError, StackError (nesting), truncated input,
        # invalid UTF-8 and malformed timestamps.
        raise InvalidMsgpack(f"frame is not msgpack: {type(exc).__name__}") from None
    except TypeError:  # a map key that is itself a map or an array: unhashable in Python
        raise InvalidMsgpack("frame is not msgpack: a map key is an array or a map") from None


def _size(frame: str | bytes) -> int:
    if not isinstance(frame, str) or frame.isascii():
        return len(frame)
    # "surrogatepass": a lone surrogate is refused by the decoder, not by the size check
    return len(frame.encode("utf-8", "surrogatepass"))


def _request_id(raw: dict[Any, Any]) -> int:
    value = raw.get("id")
    if value is None:
        raise MissingField("`id` is required", details={"field": "id"})
    if not _is_int(value) or not 0 <= value <= MAX_REQUEST_ID:
        raise InvalidField(
            f"`id` must be an integer in 0..2**53, got {_kind(value)}", details={"field": "id"}
        )
    return cast(int, value)


class _Args:
    """One frame's fields, read with its request id at hand for every refusal."""

    __slots__ = ("_raw", "id")

    def __init__(self, raw: dict[str, object], request_id: int) -> None:
        self._raw = raw
        self.id = request_id

    def invalid(self, name: str, message: str) -> InvalidField:
        return InvalidField(message, request_id=self.id, details={"field": name})

    def present(self, name: str) -> object:
        value = self._raw.get(name)
        if value is not None:
            return value
        if name in self._raw:
            raise self.invalid(name, f"`{name}` is required and may not be null")
        raise MissingField(f"`{name}` is required", request_id=self.id, details={"field": name})

    def text(self, name: str, shape: re.Pattern[str]) -> str:
        return self._match(name, self.present(name), shape)

    def optional_text(self, name: str, shape: re.Pattern[str]) -> str | None:
        value = self._raw.get(name)
        return None if value is None else self._match(name, value, shape)

    def _match(self, name: str, value: object, shape: re.Pattern[str]) -> str:
        if not isinstance(value, str) or shape.fullmatch(value) is None:
            raise self.invalid(name, f"`{name}` must be a string matching {shape.pattern}")
        return value

    def bounded_text(self, name: str, max_len: int, *, required: bool) -> str | None:
        value = self.present(name) if required else self._raw.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not 0 < len(value) <= max_len:
            raise self.invalid(name, f"`{name}` must be a string of 1 to {max_len} characters")
        return value

    def org_id(self) -> OrgId:
        return OrgId(self.text("org_id", _TENANT))

    def workspace_id(self) -> WorkspaceId:
        return WorkspaceId(self.text("workspace_id", _TENANT))

    def session(self) -> SessionId | None:
        value = self.optional_text("session", _SESSION)
        return None if value is None else SessionId(value)

    def ttl(self) -> float | None:
        value = self._raw.get("ttl")
        if value is None:
            return None
        if _is_int(value) or isinstance(value, float):
            ttl = float(cast(int | float, value))  # ints stay below 2**64: no overflow
            if math.isfinite(ttl) and ttl > 0:
                return ttl
        raise self.invalid("ttl", "`ttl` must be a positive finite number of seconds")

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.invalid(name, f"`{name}` must be true or false")
        return value

    def audience(self) -> Audience | None:
        value = self._raw.get("audience")
        if value is None:
            return None
        problem = audience_problem(value)
        if problem is not None:
            raise self.invalid("audience", problem)
        raw = cast(dict[str, list[str]], value)
        return Audience.of(raw.get("users") or (), raw.get("members_of") or ())

    def data(self) -> dict[str, JsonValue]:
        value = self._raw.get("data")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.invalid("data", "`data` must be a map")
        problem = _json_problem(value, 1)
        if problem is not None:
            raise self.invalid("data", f"`data` must hold JSON values only: {problem}")
        return cast(dict[str, JsonValue], value)


def _json_problem(value: object, depth: int) -> str | None:
    """Why `value` cannot travel as JSON, or None. Maps and lists count one level each."""
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None if _MIN_INT <= value <= _MAX_INT else "an integer outside 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number that is not finite"
    if isinstance(value, list | dict):
        if depth > MAX_DATA_DEPTH:
            return f"nested deeper than {MAX_DATA_DEPTH} levels"
        items: Iterable[object] = value
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                return "a map key that is not a string"
            items = value.values()
        for item in items:
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"a value of msgpack type {_kind(value)}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: object) -> str:
    """The wire name of a decoded value's type, for messages (never the value: it may be a
    secret or huge)."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "a map"
        case bytes():
            return "binary"
    return "an extension type"


def _subscribe(a: _Args) -> Subscribe:
    since = a.bounded_text("since", _MAX_SINCE, required=False)
    return Subscribe(a.id, a.org_id(), a.workspace_id(), since)


def _unsubscribe(a: _Args) -> Unsubscribe:
    return Unsubscribe(a.id, a.org_id(), a.workspace_id())


def _presence_join(a: _Args) -> PresenceJoin:
    return PresenceJoin(a.id, a.org_id(), a.workspace_id(), a.session())


def _presence_leave(a: _Args) -> PresenceLeave:
    return PresenceLeave(a.id, a.org_id(), a.workspace_id(), a.session())


def _presence_view(a: _Args) -> PresenceView:
    org_id, workspace_id = a.org_id(), a.workspace_id()
    resource_type = a.optional_text("resource_type", _ENTITY_TYPE)
    resource_id = a.optional_text("resource_id", _ENTITY_ID)
    if (resource_type is None) != (resource_id is None):
        missing = "resource_id" if resource_id is None else "resource_type"
        raise a.invalid(
            missing, "`resource_type` and `resource_id` go together: both, or neither to stop"
        )
    return PresenceView(a.id, org_id, workspace_id, resource_type, resource_id, a.session())


def _lock_acquire(a: _Args) -> LockAcquire:
    org_id, workspace_id = a.org_id(), a.workspace_id()
    entity_type, entity_id = a.text("entity_type", _ENTITY_TYPE), a.text("entity_id", _ENTITY_ID)
    return LockAcquire(a.id, org_id, workspace_id, entity_type, entity_id, a.ttl())


def _lock_refresh(a: _Args) -> LockRefresh:
    org_id, workspace_id = a.org_id(), a.workspace_id()
    entity_type, entity_id = a.text("entity_type", _ENTITY_TYPE), a.text("entity_id", _ENTITY_ID)
    return LockRefresh(a.id, org_id, workspace_id, entity_type, entity_id, a.ttl())


def _lock_release(a: _Args) -> LockRelease:
    org_id, workspace_id = a.org_id(), a.workspace_id()
    entity_type, entity_id = a.text("entity_type", _ENTITY_TYPE), a.text("entity_id", _ENTITY_ID)
    return LockRelease(a.id, org_id, workspace_id, entity_type, entity_id)


def _publish(a: _Args) -> Publish:
    org_id, workspace_id = a.org_id(), a.workspace_id()
    return Publish(
        a.id,
        org_id,
        workspace_id,
        type=a.text("type", _EVENT_TYPE),
        data=a.data(),
        persist=a.flag("persist", True),
        idempotency_key=a.optional_text("idempotency_key", _IDEMPOTENCY_KEY),
        audience=a.audience(),
    )


def _ping(a: _Args) -> Ping:
    return Ping(a.id)


def _auth_refresh(a: _Args) -> AuthRefresh:
    return AuthRefresh(a.id, cast(str, a.bounded_text("token", MAX_TOKEN_LENGTH, required=True)))


_OPS: Final[dict[str, Callable[[_Args], Command]]] = {
    Subscribe.op: _subscribe,
    Unsubscribe.op: _unsubscribe,
    PresenceJoin.op: _presence_join,
    PresenceLeave.op: _presence_leave,
    PresenceView.op: _presence_view,
    LockAcquire.op: _lock_acquire,
    LockRefresh.op: _lock_refresh,
    LockRelease.op: _lock_release,
    Publish.op: _publish,
    Ping.op: _ping,
    AuthRefresh.op: _auth_refresh,
}
