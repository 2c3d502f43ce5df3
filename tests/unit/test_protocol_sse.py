"""SSE frames read back, through a reader that follows the WHATWG EventSource algorithm."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from huddle.ids import OrgId, WorkspaceId, WorkspaceKey
from huddle.models import Actor, Event
from huddle.protocol.sse import frame_event, sse_comment, sse_event, sse_retry


@dataclass(frozen=True)
class Message:
    type: str
    data: str
    last_event_id: str


@dataclass
class Stream:
    """What a browser's EventSource observes of a stream (plus comments, for the tests)."""

    messages: list[Message] = field(default_factory=list)
    last_event_id: str = ""
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


def read_stream(raw: bytes) -> Stream:
    """Interpret an event stream per https://html.spec.whatwg.org/#event-stream-interpretation."""
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    stream = Stream()
    data, event_type, id_buffer = "", "", ""
    # Only terminated lines count: a trailing partial line is what the stream has not sent yet.
    *lines, _partial = re.split(r"\r\n|\r|\n", text)
    for line in lines:
        if line == "":
            stream.last_event_id = id_buffer
            if data == "":
                event_type = ""
                continue
            stream.messages.append(
                Message(event_type or "message", data.removesuffix("\n"), id_buffer)
            )
            data, event_type = "", ""
            continue
        if line.startswith(":"):
            stream.comments.append(line[1:].removeprefix(" "))
            continue
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id":
            if "\0" not in value:
                id_buffer = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            stream.retry = int(value)
    return stream


def normalized(text: str) -> str:
    return re.sub(r"\r\n|\r", "\n", text)


def test_an_event_frame_carries_id_type_and_wire_json() -> None:
    """frame_event: id is the cursor, event is the type, data is the event's wire JSON."""
    event = Event(
        workspace=WorkspaceKey(OrgId("acme"), WorkspaceId("ws1")),
        epoch="e1",
        seq=7,
        type="deal.updated",
        actor=Actor("user", "ana", "Ana"),
        data={"text": "line one\nline two", "n": 1},
        ts_ms=1_700_000_000_000,
    )
    stream = read_stream(frame_event(event))
    assert [(m.type, m.last_event_id) for m in stream.messages] == [("deal.updated", "e1:7")]
    assert orjson.loads(stream.messages[0].data) == event.to_wire()


def test_the_usual_frame_is_three_lines_and_a_blank_one() -> None:
    """Compact JSON data gives exactly `id`, `event`, one `data` line and the blank line."""
    assert sse_event("e1:1", "x", b'{"a":1}') == b'id: e1:1\nevent: x\ndata: {"a":1}\n\n'


@pytest.mark.parametrize(
    "data",
    [
        "line one\nline two",
        "crlf\r\nand cr\rend",
        "trailing newline\n",
        "\n\nleading blank lines",
        " leading space kept",
        "",
        "\n",
        "a\r\n\r\nb",
    ],
)
def test_data_with_line_breaks_arrives_whole_with_lf_breaks(data: str) -> None:
    """Each data line is its own `data:` field; the reader joins them with LF."""
    [message] = read_stream(sse_event("e1:1", "x", data.encode())).messages
    assert message.data == normalized(data)


@given(st.text())
def test_any_text_payload_survives_framing(data: str) -> None:
    """Whatever the payload, one event arrives, with its text intact up to line-break style."""
    [message] = read_stream(sse_event("e1:1", "x", data.encode())).messages
    assert message == Message("x", normalized(data), "e1:1")


_FIELD_TEXT = st.text().filter(lambda s: "\r" not in s and "\n" not in s and "\0" not in s)


@given(event_id=_FIELD_TEXT, event_type=_FIELD_TEXT)
def test_any_id_and_type_without_line_breaks_survive(event_id: str, event_type: str) -> None:
    """Ids and types arrive exactly (an empty type reads as the default, `message`)."""
    stream = read_stream(sse_event(event_id, event_type, b"{}"))
    assert stream.messages == [Message(event_type or "message", "{}", event_id)]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\nb", "\n"])
def test_a_line_break_in_id_or_type_is_refused(bad: str) -> None:
    """A line break would end the field early and inject another: refused, not stripped."""
    with pytest.raises(ValueError, match="CR"):
        sse_event(bad, "x", b"{}")
    with pytest.raises(ValueError, match="CR"):
        sse_event("e1:1", bad, b"{}")


def test_a_nul_in_the_id_is_refused() -> None:
    """Readers ignore an id holding NUL, so such a frame could never be resumed from."""
    with pytest.raises(ValueError, match="NUL"):
        sse_event("e1\0", "x", b"{}")


def test_retry_sets_the_reconnection_time() -> None:
    """`retry: <ms>` is all digits, so the reader adopts it."""
    assert sse_retry(3000) == b"retry: 3000\n\n"
    stream = read_stream(sse_retry(3000) + sse_event("e1:1", "x", b"{}"))
    assert stream.retry == 3000
    assert len(stream.messages) == 1


@pytest.mark.parametrize("bad", [-1, True, 2.5, "3000"])
def test_retry_refuses_anything_but_a_non_negative_integer(bad: object) -> None:
    """Readers silently ignore a retry that is not all digits: refuse it at the source."""
    with pytest.raises(ValueError, match="retry"):
        sse_retry(bad)  # type: ignore[arg-type]  # the point: values outside the type


def test_a_comment_dispatches_nothing() -> None:
    """`: text` is ignored by readers; heartbeats use it."""
    assert sse_comment("ping") == b": ping\n\n"
    stream = read_stream(sse_comment("ping"))
    assert stream.messages == [] and stream.comments == ["ping"]


@given(st.text())
def test_a_comment_of_any_text_stays_a_comment(text: str) -> None:
    """Each line of the text becomes its own comment line: nothing leaks into fields."""
    stream = read_stream(sse_comment(text) + sse_event("e1:1", "x", b"{}"))
    assert stream.comments == normalized(text).split("\n")
    assert stream.messages == [Message("x", "{}", "e1:1")]
    assert stream.retry is None


def test_frames_concatenate_into_a_stream() -> None:
    """Frames are self-delimiting: a stream is their concatenation, in order."""
    raw = (
        sse_retry(1500)
        + sse_event("e1:1", "a", b"1")
        + sse_comment("heartbeat")
        + sse_event("e1:2", "b", b"2\n3")
    )
    stream = read_stream(raw)
    assert stream.messages == [Message("a", "1", "e1:1"), Message("b", "2\n3", "e1:2")]
    assert stream.last_event_id == "e1:2" and stream.retry == 1500


def test_a_real_sse_parser_reads_multi_line_data_ids_types_and_retry() -> None:
    """httpx-sse's decoder (what clients use) reads back our frames exactly."""
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    stream = (
        sse_retry(2500)
        + sse_event("e1:7", "note.added", b'{"a":1}\nsecond line\r\nthird')
        + sse_comment("heartbeat")
        + sse_event(None, "sync.reconnect", b'{"reason":"timeout"}')
    )
    decoder, lines = SSEDecoder(), SSELineDecoder()
    events = []
    for line in [*lines.decode(stream.decode()), *lines.flush()]:
        event = decoder.decode(line)
        if event is not None:
            events.append(event)
    # httpx-sse surfaces data-less blocks (the retry hint, the heartbeat) as empty messages;
    # an EventSource dispatches nothing for them.
    retry = events[0]
    note, closing = [e for e in events if e.data]
    assert retry.retry == 2500
    assert (note.id, note.event, note.data) == ("e1:7", "note.added", '{"a":1}\nsecond line\nthird')
    assert (closing.event, closing.data) == ("sync.reconnect", '{"reason":"timeout"}')
    assert closing.id == "e1:7", "an event without id: keeps the last event id"
