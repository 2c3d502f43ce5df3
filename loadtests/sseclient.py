"""A lean Server-Sent Events reader on `asyncio.Protocol`: one raw HTTP/1.1 GET, no library.

The response body (chunked, `Content-Length` or until EOF) is parsed as an event stream per the
WHATWG HTML spec ("Interpreting an event stream"): lines end with CRLF, LF or CR; a line
starting with `:` is a comment; `event`, `data` (several lines joined with LF), `id` (ignored
when it holds NUL) and `retry` (digits only) fields; a blank line dispatches the event, unless
it has no data; a leading BOM is dropped; an unterminated last event is discarded.

`on_event(id, event, data)` is called inline from `data_received`. One deliberate difference
from EventSource: `id` is the block's own `id:` field, or None when the block had none (an
ephemeral Huddle event, `sync.reconnect`), so a receiver can tell them from duplicates; the
spec's persistent "last event ID" is kept in `last_event_id`, for resuming.

    reader = SseClient(on_event=lambda id, event, data: ...)
    await reader.connect(f"{node}/v1/orgs/acme/workspaces/ws1/sync/stream",
                         headers={"Authorization": f"Bearer {token}"})
    ...
    reader.close()
    await reader.closed
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable, Mapping
from typing import Final, cast
from urllib.parse import urlsplit

__all__ = ["EventCallback", "SseClient", "SseError"]

EventCallback = Callable[[str | None, str, str], None]
"""`on_event(id, event, data)`: `event` is "message" when the block named none."""

_EOL: Final = re.compile(rb"\r\n|\r|\n")
_MAX_HEAD: Final = 64 * 1024
_BOM: Final = b"\xef\xbb\xbf"


class SseError(Exception):
    """The stream could not be opened: `status` (0 when no answer) and the answer's `body`."""

    def __init__(self, message: str, status: int = 0, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _ignore(event_id: str | None, event: str, data: str) -> None:
    return None


class _Chunked:
    """Incremental `Transfer-Encoding: chunked` decoder."""

    __slots__ = ("_buf", "_left", "_state", "done")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._left = 0
        self._state = "size"  # size -> data -> crlf -> size ... -> trailer
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes that `data` completes (possibly empty)."""
        buf = self._buf
        buf += data
        out = bytearray()
        pos = 0
        while not self.done:
            if self._state == "data":
                take = min(self._left, len(buf) - pos)
                if take == 0:
                    break
                out += buf[pos : pos + take]
                pos += take
                self._left -= take
                if self._left == 0:
                    self._state = "crlf"
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if len(buf) - pos > 4096:
                    raise SseError("chunked framing: line too long")
                break
            line = bytes(buf[pos:end])
            pos = end + 2
            if self._state == "crlf":
                if line:
                    raise SseError("chunked framing: no CRLF after a chunk")
                self._state = "size"
            elif self._state == "size":
                size_text = line.split(b";", 1)[0].strip()
                try:
                    self._left = int(size_text, 16)
                except ValueError:
                    raise SseError(f"chunked framing: bad size {size_text!r}") from None
                self._state = "data" if self._left else "trailer"
            elif not line:  # end of the trailer section
                self.done = True
        del buf[:pos]
        return bytes(out)


class SseClient(asyncio.Protocol):
    """One event stream. Create it, set `on_event`, `await connect(url, headers)`."""

    __slots__ = (
        "_body_left",
        "_body_seen",
        "_chunked",
        "_data",
        "_error_body",
        "_event",
        "_event_id",
        "_fresh",
        "_head",
        "_lines",
        "_loop",
        "_skip_lf",
        "_started",
        "closed",
        "comments",
        "events",
        "headers",
        "last_event_id",
        "on_event",
        "retry",
        "status",
        "transport",
    )

    def __init__(self, on_event: EventCallback | None = None) -> None:
        self.on_event: EventCallback = on_event or _ignore
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.last_event_id = ""
        """The spec's "last event ID": the last `id:` field seen, kept across events."""
        self.retry: int | None = None
        """The last `retry:` hint, in milliseconds."""
        self.events = 0
        """Events dispatched to `on_event`."""
        self.comments = 0
        """Comment lines seen (Huddle's heartbeats)."""
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        """Resolves when the connection is gone (the stream ended or `close()` was called)."""
        self._started: asyncio.Future[None] = self._loop.create_future()
        self._head = bytearray()
        self._lines = bytearray()
        self._chunked: _Chunked | None = None
        self._body_left: int | None = None
        self._body_seen = False
        self._error_body = bytearray()
        self._skip_lf = False
        self._fresh = True
        self._data: list[str] = []
        self._event = ""
        self._event_id: str | None = None

    async def connect(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Send the GET and return once a `200 text/event-stream` answer has started.

        Raises `SseError` (with the status and body) for any other answer. Bound the wait
        with `asyncio.timeout`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise SseError(f"not an http:// or https:// URL: {url!r}")
        secure = parts.scheme == "https"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if secure else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = host if port == (443 if secure else 80) else f"{host}:{port}"
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host_header}",
            "Accept: text/event-stream",
            "Cache-Control: no-cache",
        ]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        ctx = (ssl_context or ssl.create_default_context()) if secure else None
        await self._loop.create_connection(lambda: self, host, port, ssl=ctx)
        assert self.transport is not None
        self.transport.write(request)
        await self._started

    def close(self) -> None:
        """End the stream (closes the connection); `await closed` for the end."""
        if self.transport is not None:
            self.transport.close()

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self._body_seen:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > _MAX_HEAD:
                    self._fail(SseError("response head too large"))
                return
            rest = bytes(self._head[end + 4 :])
            self._read_head(bytes(self._head[:end]).decode("latin-1"))
            self._head.clear()
            self._body_seen = True
            data = rest
        try:
            body = self._unframe(data)
        except SseError as exc:
            self._fail(exc)
            return
        if self.status != 200:
            self._error_body += body
            if self._body_complete():
                self._fail_status()
            return
        if body:
            self._feed(body)
        if self._body_complete() and self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._started.done():
            if self.status and self.status != 200:
                self._fail_status()
            else:
                self._started.set_exception(
                    SseError(f"connection lost before the stream started: {exc or 'closed'}")
                )
        if not self.closed.done():
            self.closed.set_result(None)

    # --- HTTP ------------------------------------------------------------------------------

    def _read_head(self, head: str) -> None:
        status_line, *header_lines = head.split("\r\n")
        fields = status_line.split(" ", 2)
        self.status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = _Chunked()
        elif "content-length" in self.headers:
            self._body_left = int(self.headers["content-length"])
        if self.status == 200:
            content_type = self.headers.get("content-type", "")
            if not content_type.startswith("text/event-stream"):
                self._fail(SseError(f"content type {content_type!r}", self.status))
            elif not self._started.done():
                self._started.set_result(None)

    def _unframe(self, data: bytes) -> bytes:
        if self._chunked is not None:
            return self._chunked.feed(data)
        if self._body_left is not None:
            data = data[: self._body_left]
            self._body_left -= len(data)
        return data

    def _body_complete(self) -> bool:
        if self._chunked is not None:
            return self._chunked.done
        return self._body_left == 0

    def _fail_status(self) -> None:
        body = bytes(self._error_body)
        self._fail(SseError(f"HTTP {self.status}: {body[:500]!r}", self.status, body))

    def _fail(self, exc: SseError) -> None:
        if not self._started.done():
            self._started.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    # --- event stream ----------------------------------------------------------------------

    def _feed(self, body: bytes) -> None:
        """Split the decoded body into lines (CRLF, LF or CR) and interpret each one."""
        lines = self._lines
        if self._skip_lf:
            self._skip_lf = False
            if body[:1] == b"\n":
                body = body[1:]
        lines += body
        if self._fresh:  # a BOM at the start of the stream, maybe split across reads
            if len(lines) < 3 and _BOM.startswith(lines):
                return
            self._fresh = False
            if lines.startswith(_BOM):
                del lines[:3]
        pos = 0
        if b"\r" not in lines:  # the usual case: LF only
            while (end := lines.find(b"\n", pos)) >= 0:
                self._line(bytes(lines[pos:end]))
                pos = end + 1
        else:
            size = len(lines)
            while (match := _EOL.search(lines, pos)) is not None:
                if match.end() == size and lines[size - 1] == 0x0D:
                    self._skip_lf = True  # a CR at the end: its LF may come next
                self._line(bytes(lines[pos : match.start()]))
                pos = match.end()
        del lines[:pos]

    def _line(self, raw: bytes) -> None:
        if not raw:
            self._dispatch()
            return
        if raw[0] == 0x3A:  # ":" comment
            self.comments += 1
            return
        line = raw.decode("utf-8", "replace")
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._event_id = value
                self.last_event_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self) -> None:
        data, event, event_id = self._data, self._event, self._event_id
        self._data = []
        self._event = ""
        self._event_id = None
        if not data:
            return
        self.events += 1
        self.on_event(event_id, event or "message", "\n".join(data))
