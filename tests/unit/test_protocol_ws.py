"""WebSocket frames: every op parses on both codecs, every rule refuses with a typed BadFrame,
and no input whatsoever raises anything else."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Final, get_args

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from huddle.ids import EntityRef, OrgId, SessionId, WorkspaceId, WorkspaceKey
from huddle.models import Actor, Event
from huddle.protocol.ws import (
    MAX_DATA_DEPTH,
    MAX_REQUEST_ID,
    SUBPROTOCOLS,
    AuthRefresh,
    BadFrame,
    Codec,
    Command,
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
    choose_subprotocol,
    encode_command,
    encode_error,
    encode_event,
    encode_reply,
    is_binary,
    parse_command,
    token_from_subprotocols,
)

CODECS: Final[list[Codec]] = ["json", "msgpack"]
MAX: Final = 64 * 1024
ACME, WS1 = OrgId("acme"), WorkspaceId("ws1")
WS: Final = {"org_id": "acme", "workspace_id": "ws1"}
DEAL: Final = {**WS, "entity_type": "deal", "entity_id": "7"}

#: One valid frame per op (request id 1), and the command it must parse to.
VALID: Final[dict[str, tuple[dict[str, Any], Command]]] = {
    "subscribe": ({**WS, "since": "e1:41"}, Subscribe(1, ACME, WS1, "e1:41")),
    "unsubscribe": (WS, Unsubscribe(1, ACME, WS1)),
    "presence.join": ({**WS, "session": "tab-1"}, PresenceJoin(1, ACME, WS1, SessionId("tab-1"))),
    "presence.leave": (WS, PresenceLeave(1, ACME, WS1)),
    "presence.view": (
        {**WS, "resource_type": "deal", "resource_id": "7"},
        PresenceView(1, ACME, WS1, "deal", "7"),
    ),
    "lock.acquire": ({**DEAL, "ttl": 30}, LockAcquire(1, ACME, WS1, "deal", "7", 30.0)),
    "lock.refresh": ({**DEAL, "ttl": 2.5}, LockRefresh(1, ACME, WS1, "deal", "7", 2.5)),
    "lock.release": (DEAL, LockRelease(1, ACME, WS1, "deal", "7")),
    "publish": (
        {**WS, "type": "cursor.moved", "data": {"x": 1, "y": [2.5, None]}, "persist": False},
        Publish(1, ACME, WS1, "cursor.moved", {"x": 1, "y": [2.5, None]}, persist=False),
    ),
    "ping": ({}, Ping(1)),
    "auth.refresh": ({"token": "eyJ.a.b"}, AuthRefresh(1, "eyJ.a.b")),
}


def pack(message: object, codec: Codec) -> bytes:
    if codec == "json":
        return orjson.dumps(message)
    packed: bytes = msgpack.packb(message, use_bin_type=True)
    return packed


def unpack(frame: bytes, codec: Codec) -> Any:
    return orjson.loads(frame) if codec == "json" else msgpack.unpackb(frame, raw=False)


def frame_of(op: str, codec: Codec = "json", /, *, request_id: int = 1, **changes: Any) -> bytes:
    """The valid frame of `op` with fields changed (a value of `...` removes the field)."""
    message = {"id": request_id, "op": op, **VALID[op][0], **changes}
    return pack({k: v for k, v in message.items() if v is not ...}, codec)


def refusal(frame: str | bytes, codec: Codec = "json", max_bytes: int = MAX) -> BadFrame:
    with pytest.raises(BadFrame) as caught:
        parse_command(frame, codec, max_bytes=max_bytes)
    return caught.value


def outcome(frame: str | bytes, codec: Codec, max_bytes: int = MAX) -> Command | BadFrame:
    """The command a frame parses to, or the BadFrame it raises (anything else propagates)."""
    try:
        return parse_command(frame, codec, max_bytes=max_bytes)
    except BadFrame as refused:
        return refused


# --- every op, both codecs -------------------------------------------------------------------


def test_the_ops_are_exactly_the_documented_ones() -> None:
    """The wire names of DESIGN.md's ops, plus auth.refresh; each has a valid example here."""
    assert set(get_args(Op)) == set(VALID)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("op", list(VALID))
def test_every_op_parses_to_its_command(op: str, codec: Codec) -> None:
    """A valid frame of each op gives the matching frozen dataclass, on both codecs."""
    assert parse_command(frame_of(op, codec), codec, max_bytes=MAX) == VALID[op][1]


@pytest.mark.parametrize("op", list(VALID))
def test_json_frames_may_be_text_or_bytes(op: str) -> None:
    """Text frames arrive as str, but a JSON frame in bytes parses the same."""
    frame = frame_of(op)
    assert parse_command(frame.decode(), "json", max_bytes=MAX) == VALID[op][1]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("op", list(VALID))
def test_encode_command_round_trips(op: str, codec: Codec) -> None:
    """A client's frame built by encode_command parses back to an equal command."""
    command = VALID[op][1]
    assert parse_command(encode_command(command, codec), codec, max_bytes=MAX) == command


def test_unknown_fields_are_ignored() -> None:
    """Newer clients may send fields this server does not know: forward compatibility."""
    assert parse_command(frame_of("ping", future={"x": [1]}), "json", max_bytes=MAX) == Ping(1)


@pytest.mark.parametrize(
    ("op", "absent", "expected"),
    [
        ("subscribe", "since", Subscribe(1, ACME, WS1, None)),
        ("presence.join", "session", PresenceJoin(1, ACME, WS1, None)),
        ("lock.acquire", "ttl", LockAcquire(1, ACME, WS1, "deal", "7", None)),
        ("publish", "data", Publish(1, ACME, WS1, "cursor.moved", {}, persist=False)),
        ("publish", "persist", Publish(1, ACME, WS1, "cursor.moved", {"x": 1, "y": [2.5, None]})),
    ],
)
def test_optional_fields_default_when_absent_or_null(op: str, absent: str, expected: Any) -> None:
    """Leaving an optional field out and sending it as null mean the same."""
    for value in (..., None):
        changes: dict[str, Any] = {absent: value}
        assert parse_command(frame_of(op, **changes), "json", max_bytes=MAX) == expected


def test_presence_view_without_a_resource_means_stop_viewing() -> None:
    """Both resource fields absent: viewing nothing."""
    frame = frame_of("presence.view", resource_type=..., resource_id=...)
    command = parse_command(frame, "json", max_bytes=MAX)
    assert isinstance(command, PresenceView) and command.viewing is None


def test_commands_expose_their_workspace_and_entity() -> None:
    """The hub addresses by WorkspaceKey and EntityRef, not by loose strings."""
    acquire = VALID["lock.acquire"][1]
    assert isinstance(acquire, LockAcquire)
    assert acquire.workspace == WorkspaceKey(ACME, WS1)
    assert acquire.entity == EntityRef("deal", "7")
    view = VALID["presence.view"][1]
    assert isinstance(view, PresenceView) and view.viewing == EntityRef("deal", "7")


def test_a_token_never_shows_in_a_repr() -> None:
    """Commands get logged; the credential of auth.refresh must not be."""
    assert "eyJ" not in repr(AuthRefresh(1, "eyJ.a.b"))


@pytest.mark.parametrize("request_id", [0, MAX_REQUEST_ID])
def test_request_ids_span_0_to_2_pow_53(request_id: int) -> None:
    """Every integer a JavaScript client holds exactly is a valid request id."""
    assert parse_command(frame_of("ping", request_id=request_id), "json", max_bytes=MAX) == Ping(
        request_id
    )


def test_ttl_accepts_integers_and_fractions_as_float_seconds() -> None:
    """`ttl` is a number of seconds; an integer arrives as a float."""
    command = parse_command(frame_of("lock.acquire", ttl=0.25), "json", max_bytes=MAX)
    assert isinstance(command, LockAcquire) and command.ttl == 0.25
    command = parse_command(frame_of("lock.acquire", "msgpack", ttl=5), "msgpack", max_bytes=MAX)
    assert isinstance(command, LockAcquire) and type(command.ttl) is float


def test_a_token_of_8192_characters_is_accepted() -> None:
    """The bound on `token` is inclusive."""
    command = parse_command(frame_of("auth.refresh", token="t" * 8192), "json", max_bytes=MAX)
    assert command == AuthRefresh(1, "t" * 8192)


# --- refusals that keep the connection -------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"op": "ping"}, "MISSING_FIELD"),
        ({"id": None, "op": "ping"}, "MISSING_FIELD"),
        ({"id": True, "op": "ping"}, "INVALID_FIELD"),
        ({"id": 1.0, "op": "ping"}, "INVALID_FIELD"),
        ({"id": "1", "op": "ping"}, "INVALID_FIELD"),
        ({"id": -1, "op": "ping"}, "INVALID_FIELD"),
        ({"id": MAX_REQUEST_ID + 1, "op": "ping"}, "INVALID_FIELD"),
        ({"id": [1], "op": "ping"}, "INVALID_FIELD"),
    ],
)
@pytest.mark.parametrize("codec", CODECS)
def test_a_frame_without_a_usable_id_is_refused_without_one(
    message: dict[str, Any], code: str, codec: Codec
) -> None:
    """`id` must be an integer (not a boolean, not 1.0) in 0..2**53; the reply has id null."""
    refused = refusal(pack(message, codec), codec)
    assert (refused.code, refused.request_id, refused.fatal) == (code, None, False)
    assert refused.details == {"field": "id"}


@pytest.mark.parametrize("value", [[1, 2], 5, "ping", None, True])
@pytest.mark.parametrize("codec", CODECS)
def test_a_frame_that_is_not_a_map_is_refused(value: object, codec: Codec) -> None:
    """A decodable frame that is not a map gets an error reply; the connection stays."""
    refused = refusal(pack(value, codec), codec)
    assert (refused.code, refused.request_id, refused.fatal) == ("INVALID_FRAME", None, False)


def test_a_map_key_that_is_not_a_string_is_refused_with_the_request_id() -> None:
    """msgpack can carry integer or binary keys; frames are maps of named fields."""
    for key in (7, b"op"):
        refused = refusal(pack({"id": 4, "op": "ping", key: 1}, "msgpack"), "msgpack")
        assert (refused.code, refused.request_id, refused.fatal) == ("INVALID_FRAME", 4, False)


@pytest.mark.parametrize(
    ("op", "field", "value"),
    [
        ("ping", "op", 3),
        ("subscribe", "org_id", "a/b"),
        ("subscribe", "org_id", "-acme"),
        ("subscribe", "org_id", "a" * 65),
        ("subscribe", "org_id", "acme\n"),
        ("subscribe", "org_id", 12),
        ("subscribe", "org_id", None),
        ("subscribe", "workspace_id", "ws{1}"),
        ("subscribe", "workspace_id", ""),
        ("subscribe", "since", "x" * 65),
        ("subscribe", "since", ""),
        ("subscribe", "since", 41),
        ("presence.join", "session", "tab 1"),
        ("presence.leave", "session", "s" * 129),
        ("presence.view", "resource_type", "1deal"),
        ("presence.view", "resource_id", "a/b"),
        ("presence.view", "resource_id", ...),
        ("presence.view", "resource_type", ...),
        ("lock.acquire", "entity_type", "deal/x"),
        ("lock.acquire", "entity_id", ""),
        ("lock.acquire", "ttl", 0),
        ("lock.acquire", "ttl", -1.5),
        ("lock.acquire", "ttl", "30"),
        ("lock.acquire", "ttl", True),
        ("lock.refresh", "ttl", [30]),
        ("lock.release", "entity_id", "x" * 129),
        ("publish", "type", "1abc"),
        ("publish", "type", "a" * 129),
        ("publish", "type", "has space"),
        ("publish", "data", [1, 2]),
        ("publish", "data", "text"),
        ("publish", "persist", "yes"),
        ("publish", "persist", 1),
        ("publish", "idempotency_key", "k" * 129),
        ("publish", "idempotency_key", "a/b"),
        ("auth.refresh", "token", ""),
        ("auth.refresh", "token", "t" * 8193),
        ("auth.refresh", "token", 42),
    ],
)
@pytest.mark.parametrize("codec", CODECS)
def test_an_invalid_field_is_refused_with_the_request_id(
    op: str, field: str, value: object, codec: Codec
) -> None:
    """Each field has a type and a shape; a frame breaking one gets an error reply naming it."""
    refused = refusal(frame_of(op, codec, request_id=9, **{field: value}), codec)
    assert (refused.code, refused.request_id, refused.fatal) == ("INVALID_FIELD", 9, False)
    assert refused.details == {"field": field}


@pytest.mark.parametrize(
    ("op", "field"),
    [
        ("ping", "op"),
        ("subscribe", "org_id"),
        ("unsubscribe", "workspace_id"),
        ("lock.acquire", "entity_type"),
        ("lock.release", "entity_id"),
        ("publish", "type"),
        ("auth.refresh", "token"),
    ],
)
@pytest.mark.parametrize("codec", CODECS)
def test_a_missing_required_field_is_refused_with_the_request_id(
    op: str, field: str, codec: Codec
) -> None:
    """Required fields must be present; the error names the field."""
    refused = refusal(frame_of(op, codec, request_id=9, **{field: ...}), codec)
    assert (refused.code, refused.request_id, refused.fatal) == ("MISSING_FIELD", 9, False)
    assert refused.details == {"field": field}


@pytest.mark.parametrize("codec", CODECS)
def test_an_unknown_op_is_refused_with_the_request_id(codec: Codec) -> None:
    """Ops are a closed set; `event` is a server frame, not a request."""
    for op in ("event", "Subscribe", "lock"):
        refused = refusal(pack({"id": 3, "op": op}, codec), codec)
        assert (refused.code, refused.request_id, refused.fatal) == ("UNKNOWN_OP", 3, False)


@pytest.mark.parametrize(
    "value",
    [
        {"b": b"\x00"},
        {"ext": msgpack.ExtType(5, b"x")},
        {"when": msgpack.Timestamp(1)},
        {"n": math.nan},
        {"n": [math.inf]},
        {"nested": {1: "integer key"}},
        {"ok": 1, "deep": [[{"k": b"bin"}]]},
    ],
)
def test_publish_data_must_be_json_values_on_msgpack_too(value: dict[str, Any]) -> None:
    """Events fan out as JSON as well: binary, extensions, non-finite numbers and non-string
    keys are refused at the door, never at fan-out."""
    refused = refusal(frame_of("publish", "msgpack", request_id=5, data=value), "msgpack")
    assert (refused.code, refused.request_id, refused.details) == (
        "INVALID_FIELD",
        5,
        {"field": "data"},
    )


@pytest.mark.parametrize("codec", CODECS)
def test_publish_data_nests_at_most_max_data_depth(codec: Codec) -> None:
    """Deeper data could not be re-encoded (orjson stops at 254 levels): refused."""

    def nested(levels: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for _ in range(levels - 1):
            value = {"k": value}
        return value

    deep_enough = parse_command(
        frame_of("publish", codec, data=nested(MAX_DATA_DEPTH)), codec, max_bytes=MAX
    )
    assert isinstance(deep_enough, Publish)
    refused = refusal(frame_of("publish", codec, data=nested(MAX_DATA_DEPTH + 1)), codec)
    assert (refused.code, refused.fatal) == ("INVALID_FIELD", False)


@pytest.mark.parametrize("codec", CODECS)
def test_ttl_must_be_finite(codec: Codec) -> None:
    """msgpack can carry infinity and NaN; neither is a lease."""
    if codec == "json":  # JSON has no literal for them; orjson refuses 1e400 as a whole frame
        assert refusal(b'{"id":1,"op":"ping","x":1e400}').fatal
        return
    for ttl in (math.inf, math.nan):
        assert refusal(frame_of("lock.acquire", codec, ttl=ttl), codec).code == "INVALID_FIELD"


# --- refusals that close the connection ------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "{",
        '{"id": 1, "op": "ping"',
        "{'id': 1}",
        '{"id": NaN}',
        '{"id": 1} {"id": 2}',
        "\ud800",
        '{"id": 1, "op": "ping", "x": "\ud800"}',
        b'{"id": 1, "op": "\xff"}',
        "[" * 2000 + "]" * 2000,
    ],
)
def test_undecodable_json_closes_the_connection(frame: str | bytes) -> None:
    """Not JSON at all (or not UTF-8, or nested past orjson's limit): fatal, no request id."""
    refused = refusal(frame)
    assert (refused.code, refused.request_id, refused.fatal) == ("INVALID_JSON", None, True)


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xc1",
        b"\x81\xa2id",
        pack({"id": 1, "op": "ping"}, "msgpack") + b"\x00",
        b"\xa1\xff",
        b"\x81\x91\x01\x02",
        b"\x91" * 5000 + b"\xc0",
        b"\xdd\xff\xff\xff\xff",
        b"\xc7\x03\xff\x00\x00\x00",
        '{"id": 1, "op": "ping"}',
    ],
)
def test_undecodable_msgpack_closes_the_connection(frame: str | bytes) -> None:
    """Truncated, trailing bytes, bad UTF-8, unhashable keys, lengths past the frame, a text
    frame: fatal, no request id."""
    refused = refusal(frame, "msgpack")
    assert (refused.code, refused.request_id, refused.fatal) == ("INVALID_MSGPACK", None, True)


@pytest.mark.parametrize("codec", CODECS)
def test_a_frame_over_max_bytes_is_refused_before_decoding(codec: Codec) -> None:
    """The size comes first: an oversized frame is fatal even when it is valid."""
    frame = frame_of("ping", codec)
    assert parse_command(frame, codec, max_bytes=len(frame)) == Ping(1)
    refused = refusal(frame, codec, max_bytes=len(frame) - 1)
    assert (refused.code, refused.request_id, refused.fatal) == ("FRAME_TOO_LARGE", None, True)
    assert refused.details == {"max_bytes": len(frame) - 1}


def test_the_size_of_a_text_frame_is_counted_in_utf8_bytes() -> None:
    """`max_bytes` is bytes on the wire, not characters."""
    frame = orjson.dumps({"id": 1, "op": "ping", "note": "é" * 10}).decode()
    size = len(frame.encode())
    assert parse_command(frame, "json", max_bytes=size) == Ping(1)
    assert refusal(frame, max_bytes=size - 1).code == "FRAME_TOO_LARGE"
    assert refusal("\ud800" * 10, max_bytes=29).code == "FRAME_TOO_LARGE"


def test_bad_frames_are_bad_requests_with_their_own_code() -> None:
    """BadFrame fits the error tree: a BadRequest whose base code is BAD_FRAME."""
    from huddle.errors import BadRequest

    assert issubclass(BadFrame, BadRequest) and BadFrame.code == "BAD_FRAME"
    assert BadFrame("x").request_id is None and BadFrame("x").fatal is False


# --- fuzzing: anything in, Command or BadFrame out -------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
@given(frame=st.binary(max_size=512))
def test_any_bytes_give_a_command_or_bad_frame(codec: Codec, frame: bytes) -> None:
    """Random bytes never raise anything but BadFrame, on either codec."""
    outcome(frame, codec, max_bytes=256)


@pytest.mark.parametrize("codec", CODECS)
@given(frame=st.text(max_size=512))
def test_any_text_gives_a_command_or_bad_frame(codec: Codec, frame: str) -> None:
    """Random text never raises anything but BadFrame; on msgpack it is always fatal."""
    result = outcome(frame, codec, max_bytes=256)
    if codec == "msgpack":
        assert isinstance(result, BadFrame) and result.fatal


@pytest.mark.parametrize("codec", CODECS)
@given(op=st.sampled_from(list(VALID)), at=st.integers(0, 300), noise=st.binary(max_size=8))
def test_corrupted_valid_frames_give_a_command_or_bad_frame(
    codec: Codec, op: str, at: int, noise: bytes
) -> None:
    """Valid frames with bytes spliced in, overwritten or cut off still raise only BadFrame."""
    frame = frame_of(op, codec)
    at = min(at, len(frame))
    outcome(frame[:at] + noise + frame[at + len(noise) // 2 :], codec)
    outcome(frame[:at], codec)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
msgpack_scalars = (
    json_scalars
    | st.floats()
    | st.binary(max_size=8)
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4))
)
msgpack_values = st.recursive(
    msgpack_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=8) | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)
#: Values that pass some field's rule, so that random frames parse often enough to matter.
plausible = st.sampled_from(
    [
        "acme",
        "ws1",
        "deal",
        "7",
        "e1:3",
        "tab-1",
        "x.y",
        "key-1",
        30,
        0.5,
        True,
        False,
        {"a": 1},
        {},
        None,
    ]
)
field_names = st.sampled_from(
    sorted({name for fields, _ in VALID.values() for name in fields} | {"extra"})
)
ops = st.sampled_from(list(VALID)) | st.text(max_size=12)
request_ids = st.integers(-5, MAX_REQUEST_ID + 5) | st.sampled_from([0, 1, MAX_REQUEST_ID])


@st.composite
def structured_frames(draw: st.DrawFn, codec: Codec) -> dict[str, Any]:
    """A map with random op, id and fields: sometimes a valid frame with one field changed,
    sometimes arbitrary fields."""
    values = json_values if codec == "json" else msgpack_values
    anything = plausible | values
    if draw(st.booleans()):
        op = draw(st.sampled_from(list(VALID)))
        message: dict[str, Any] = {"op": op, **VALID[op][0]}
        message[draw(field_names)] = draw(anything)
    else:
        message = draw(st.dictionaries(field_names, anything, max_size=8))
        if draw(st.booleans()):
            message["op"] = draw(ops | anything)
    if draw(st.integers(0, 9)) > 0:
        message["id"] = draw(request_ids | anything)
    return message


@pytest.mark.parametrize("codec", CODECS)
@given(data=st.data())
def test_structured_frames_parse_sensibly_or_refuse_without_closing(
    codec: Codec, data: st.DataObject
) -> None:
    """A decodable map never closes the connection; a refusal carries its usable id; a
    command carries the frame's id and op and survives encode_command."""
    message = data.draw(structured_frames(codec))
    request_id = message.get("id")
    usable_id = (
        isinstance(request_id, int)
        and not isinstance(request_id, bool)
        and 0 <= request_id <= MAX_REQUEST_ID
    )
    command = outcome(pack(message, codec), codec)
    if isinstance(command, BadFrame):
        assert not command.fatal
        assert command.request_id == (request_id if usable_id else None)
        return
    assert usable_id and command.id == request_id and command.op == message["op"]
    assert parse_command(encode_command(command, codec), codec, max_bytes=MAX) == command
    for name in ("org_id", "workspace_id", "type", "entity_type", "entity_id", "token"):
        if hasattr(command, name):
            assert getattr(command, name) == message[name]


# --- building frames -------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_a_reply_has_the_documented_shape(codec: Codec) -> None:
    """`{"id": n, "ok": true, "result": {...}}`."""
    frame = encode_reply(12, {"lock": {"token": 3}}, codec)
    assert unpack(frame, codec) == {"id": 12, "ok": True, "result": {"lock": {"token": 3}}}


@pytest.mark.parametrize("codec", CODECS)
def test_an_error_reply_has_the_documented_shape(codec: Codec) -> None:
    """`{"id": n|null, "ok": false, "error": {"code", "message", "details"}}`, details {}
    when none are given."""
    assert unpack(encode_error(None, "INVALID_JSON", "no", codec), codec) == {
        "id": None,
        "ok": False,
        "error": {"code": "INVALID_JSON", "message": "no", "details": {}},
    }
    frame = encode_error(4, "LOCK_HELD", "held", codec, MappingProxyType({"holder": "ben"}))
    assert unpack(frame, codec)["error"]["details"] == {"holder": "ben"}


@pytest.mark.parametrize("codec", CODECS)
def test_an_event_frame_wraps_the_wire_event(codec: Codec) -> None:
    """`{"op": "event", "event": Event.to_wire()}`: what clients receive for every event."""
    event = Event(
        workspace=WorkspaceKey(ACME, WS1),
        epoch="e1",
        seq=3,
        type="lock.acquired",
        actor=Actor("user", "ana"),
        data={"entity_type": "deal", "n": [1, 2.5]},
        ts_ms=1_700_000_000_000,
    )
    frame = encode_event(event.to_wire(), codec)
    assert unpack(frame, codec) == {"op": "event", "event": event.to_wire()}


def test_json_frames_are_text_and_msgpack_frames_binary() -> None:
    """is_binary picks the WebSocket message kind; JSON frame bytes are valid UTF-8."""
    assert not is_binary("json") and is_binary("msgpack")
    assert (
        encode_reply(1, {"text": "héllo"}, "json").decode()
        == '{"id":1,"ok":true,"result":{"text":"héllo"}}'
    )


@given(data=json_values)
def test_a_reply_of_any_json_result_reads_back(data: Any) -> None:
    """Whatever JSON a result holds, both codecs carry it unchanged."""
    for codec in CODECS:
        assert unpack(encode_reply(1, {"v": data}, codec), codec) == {
            "id": 1,
            "ok": True,
            "result": {"v": data},
        }


# --- the handshake ---------------------------------------------------------------------------


def test_the_first_of_our_subprotocols_in_the_clients_order_is_chosen() -> None:
    """The client states its preference; the server honours it among what it speaks."""
    assert choose_subprotocol(["huddle.v1.msgpack", "huddle.v1.json"]) == "huddle.v1.msgpack"
    assert choose_subprotocol(["chat", "huddle.v1.json", "huddle.v1.msgpack"]) == "huddle.v1.json"
    assert set(SUBPROTOCOLS.values()) == {"json", "msgpack"}


def test_no_subprotocol_of_ours_chooses_none() -> None:
    """Nothing offered, or only foreign or token entries: the endpoint refuses (4503)."""
    assert choose_subprotocol([]) is None
    assert choose_subprotocol(["chat", "huddle.v2.json", "huddle.token.huddle.v1.json"]) is None


def test_a_token_subprotocol_is_read_but_never_chosen() -> None:
    """Browsers pass credentials as `huddle.token.<token>` beside the real subprotocol."""
    offered = ["huddle.token.eyJ.a.b", "huddle.v1.json"]
    assert choose_subprotocol(offered) == "huddle.v1.json"
    assert token_from_subprotocols(offered) == "eyJ.a.b"


@pytest.mark.parametrize(
    "offered", [[], ["huddle.v1.json"], ["huddle.token."], ["huddle.token." + "t" * 8193]]
)
def test_no_usable_token_subprotocol_gives_none(offered: list[str]) -> None:
    """Absent, empty or oversized: no credentials from the subprotocol list."""
    assert token_from_subprotocols(offered) is None
