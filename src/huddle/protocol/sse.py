"""Server-Sent Events framing, sans I/O: each frame is built once, as bytes, for every reader.

Line breaks (CR LF, LF or CR) end a field in the event-stream format, so:

- `data` may hold any of them: each line becomes its own `data:` field and the browser joins
  them with LF. CR LF and CR therefore arrive as LF; orjson output has no raw line breaks.
- an event id or type with CR or LF is refused with ValueError, never stripped: both come from
  validated sources (cursors, event type patterns), so a line break is a bug upstream, and a
  quietly altered id would be resumed from wrongly. An id holding NUL is refused too (browsers
  ignore such an id, so the stream could not be resumed from it).
- comment text is split into one comment line per line.

Every value field is written as `name: value`: the reader drops exactly one leading space, so
a value that starts with a space survives.
"""

from __future__ import annotations

import re
from typing import Final

import orjson

from ..models import Event

_LINE_BREAK: Final = re.compile(rb"\r\n|\r|\n")
_TEXT_LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")


def sse_event(event_id: str | None, event_type: str, data: bytes) -> bytes:
    """`id: <id>\\nevent: <type>\\ndata: <line>\\n...\\n`: one event, dispatched as a unit.

    Raises ValueError when the id or type holds CR or LF, or the id holds NUL.
    """
    if event_id is not None and ("\r" in event_id or "\n" in event_id or "\0" in event_id):
        raise ValueError(f"an SSE event id may not hold CR, LF or NUL: {event_id[:80]!r}")
    if "\r" in event_type or "\n" in event_type:
        raise ValueError(f"an SSE event type may not hold CR or LF: {event_type[:80]!r}")
    head = b"event: " + event_type.encode()
    if event_id is not None:  # None: no `id:` line, the reader's last event id is kept
        head = b"id: " + event_id.encode() + b"\n" + head
    if b"\n" not in data and b"\r" not in data:  # the usual case: compact JSON
        return head + b"\ndata: " + data + b"\n\n"
    lines = b"".join(b"data: " + line + b"\n" for line in _LINE_BREAK.split(data))
    return head + b"\n" + lines + b"\n"


def sse_position(event_id: str) -> bytes:
    """`id: <id>\n\n`: sets the reader's last event id without dispatching an event (a block
    with no data dispatches nothing, but its `id:` still counts). Raises ValueError like
    `sse_event` for an id holding CR, LF or NUL."""
    if "\r" in event_id or "\n" in event_id or "\0" in event_id:
        raise ValueError(f"an SSE event id may not hold CR, LF or NUL: {event_id[:80]!r}")
    return b"id: " + event_id.encode() + b"\n\n"


def sse_comment(text: str) -> bytes:
    """`: <text>\\n\\n`, one comment line per line of `text`; readers ignore it (heartbeats)."""
    return b"".join(b": " + line.encode() + b"\n" for line in _TEXT_LINE_BREAK.split(text)) + b"\n"


def sse_retry(ms: int) -> bytes:
    """`retry: <ms>\\n\\n`: the reconnection delay a browser uses from now on.

    Raises ValueError unless `ms` is a non-negative integer (readers ignore anything else).
    """
    if not isinstance(ms, int) or isinstance(ms, bool) or ms < 0:
        raise ValueError(f"an SSE retry is a non-negative integer of milliseconds, got {ms!r}")
    return b"retry: %d\n\n" % ms


def frame_event(event: Event) -> bytes:
    """The SSE frame of one event: id is its cursor, event its type, data its wire JSON. An
    ephemeral event has no `id:` line, so the browser's Last-Event-ID stays where it was."""
    return sse_event(
        None if event.ephemeral else event.id, event.type, orjson.dumps(event.to_wire())
    )
