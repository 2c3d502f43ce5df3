"""`huddle serve`'s server: uvicorn, with deadlines for slow and hostile clients, and Huddle's
drain in front of uvicorn's own shutdown.

uvicorn has no deadline for a request that arrives slowly or never: a socket that sends
nothing, trickles a header byte now and then, or promises a body it never sends, stays open for
good, and a header is read whatever its size. Nor for a reader that stops reading: the node
keeps the connection and what it queued for it. The protocols here add, each a setting:

* `HUDDLE_HEADER_TIMEOUT`: a request's headers must be complete this long after the connection
  opened, or after their first byte on a kept-alive connection (408, then close);
* `HUDDLE_MAX_HEADER_BYTES`: larger request headers are refused (431, then close) before they
  are read further;
* `HUDDLE_BODY_TIMEOUT`: the longest pause while a request's body is incomplete (close);
* `HUDDLE_SEND_TIMEOUT`: the longest a peer may leave what the node writes unread (its
  buffer above the high-water mark): the connection is aborted, its queued bytes freed, and an
  SSE stream or WebSocket counted as a slow consumer.

On SIGTERM uvicorn stops accepting, then closes WebSockets with 1012 and waits, without a
bound by default, for every other connection — an SSE stream lasts up to an hour. Huddle first
drains (`hub/sessions.py`): each connection is told to reconnect elsewhere (4002, or the
stream's final event), presence the node held ends with reason `shutdown`, and the node waits at
most `HUDDLE_DRAIN_TIMEOUT`; uvicorn's shutdown then finds little left, and gives what remains
(plain requests) a short bound of its own.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode

from .api.deps import Runtime
from .config import Settings
from .hub.limits import Transport
from .hub.metrics import Metrics

log = logging.getLogger("huddle.server")

#: Seconds uvicorn waits for plain requests still running after the drain.
AFTER_DRAIN: Final = 2
_END_OF_HEADERS: Final = b"\r\n\r\n"
_STREAM_SUFFIX: Final = "/sync/stream"


@dataclass(frozen=True, slots=True)
class Deadlines:
    header_timeout: float
    max_header_bytes: int
    body_timeout: float
    send_timeout: float
    metrics: Callable[[], Metrics | None]
    """The serving node's metrics, once its lifespan started (None before)."""

    def slow_consumer(self, transport: Transport) -> None:
        metrics = self.metrics()
        if metrics is not None:
            metrics.slow_consumer(transport)


def _refusal(status: int, phrase: str) -> bytes:
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(phrase)}\r\nconnection: close\r\n\r\n{phrase}"
    ).encode()


class _AbortsStalledReaders:
    """The send deadline, for a uvicorn protocol (this class first among its bases): armed
    while the transport's write buffer is above its high-water mark, it aborts the connection
    — freeing what was queued for it — once the peer has read nothing for `send_timeout`."""

    deadlines: ClassVar[Deadlines]
    transport: Any
    _send_timer: asyncio.TimerHandle | None = None

    def pause_writing(self) -> None:
        super().pause_writing()  # type: ignore[misc]  # the uvicorn protocol beside this mixin
        if self._send_timer is None:
            loop = asyncio.get_running_loop()
            self._send_timer = loop.call_later(self.deadlines.send_timeout, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()  # type: ignore[misc]  # as above
        self._stop_send_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_send_deadline()
        super().connection_lost(exc)  # type: ignore[misc]  # as above

    def _stop_send_deadline(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _stalled_reader(self) -> tuple[Transport | None, str]:
        """What the stalled reader counts as (None: nothing), and what to call it in logs."""
        raise NotImplementedError

    def _stalled(self) -> None:
        self._send_timer = None
        kind, what = self._stalled_reader()
        if kind is not None:
            self.deadlines.slow_consumer(kind)
        log.info("%s: the peer read nothing for %.0f s; aborted", what, self.deadlines.send_timeout)
        self.transport.abort()


class GuardedHttp(_AbortsStalledReaders, HttpToolsProtocol):
    """uvicorn's httptools protocol with the header, body and send deadlines (`Deadlines`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        self._header_bytes: int | None = 0
        self._tail = b""
        self._reading: asyncio.TimerHandle | None = None
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_reading_deadline()
        super().connection_lost(exc)

    # --- reading a request ---------------------------------------------------------------

    def _await_headers(self) -> None:
        self._stop_reading_deadline()
        self._reading = self.loop.call_later(self.deadlines.header_timeout, self._headers_late)

    def _stop_reading_deadline(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None

    def _headers_late(self) -> None:
        if self.transport.is_closing():
            return
        if self._header_bytes:
            self.transport.write(_refusal(408, "Request Timeout"))
        self.transport.close()

    def _body_late(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._header_bytes is not None and self._headers_too_large(data):
            self._stop_reading_deadline()
            self.transport.write(_refusal(431, "Request Header Fields Too Large"))
            self.transport.close()
            return
        if self.cycle is not None and not self.cycle.response_complete and self.cycle.more_body:
            self._reading_body()
        super().data_received(data)

    def _headers_too_large(self, data: bytes) -> bool:
        """Count header bytes before the parser buffers them (it would take any size)."""
        counted = self._header_bytes or 0
        window = self._tail + data
        end = window.find(_END_OF_HEADERS)
        if end == -1:
            self._header_bytes = counted + len(data)
            self._tail = window[-3:]
            return self._header_bytes > self.deadlines.max_header_bytes
        size = counted + end - len(self._tail) + len(_END_OF_HEADERS)
        return size > self.deadlines.max_header_bytes

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._reading is None:  # a later request of a kept-alive connection
            self._await_headers()

    def on_headers_complete(self) -> None:
        self._header_bytes = None
        self._stop_reading_deadline()
        super().on_headers_complete()
        self._reading_body()

    def _reading_body(self) -> None:
        self._stop_reading_deadline()
        self._reading = self.loop.call_later(self.deadlines.body_timeout, self._body_late)

    def on_message_complete(self) -> None:
        self._stop_reading_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._header_bytes, self._tail = 0, b""
        super().on_response_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop_reading_deadline()
        self._stop_send_deadline()
        super().handle_websocket_upgrade()

    def _stalled_reader(self) -> tuple[Transport | None, str]:
        path = self.scope.get("path", "") if self.scope else ""
        return ("sse" if path.endswith(_STREAM_SUFFIX) else None), path or "HTTP"


class GuardedWebSocket(_AbortsStalledReaders, WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with the send deadline (`Deadlines`), and invalid
    UTF-8 treated as the client's error it is (close 1007, one info line) rather than logged
    with a traceback, as uvicorn does."""

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            self.frames = [data]  # joined once: uvicorn's own join is then free
            try:
                data.decode()
            except UnicodeDecodeError as exc:
                self.frames = []
                log.info("WebSocket: invalid UTF-8 in a text message; closed 1007")
                self.conn.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def _stalled_reader(self) -> tuple[Transport | None, str]:
        return "ws", "WebSocket"


def guarded_protocols(
    settings: Settings, app: FastAPI
) -> tuple[type[GuardedHttp], type[GuardedWebSocket]]:
    """The protocol classes of one server, bound to its settings and its node's metrics."""

    def metrics() -> Metrics | None:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        return None if runtime is None else runtime.services.node.metrics

    deadlines = Deadlines(
        header_timeout=settings.header_timeout,
        max_header_bytes=settings.max_header_bytes,
        body_timeout=settings.body_timeout,
        send_timeout=settings.send_timeout,
        metrics=metrics,
    )
    http: dict[str, Any] = {"deadlines": deadlines}
    return (
        type("HuddleHttp", (GuardedHttp,), http),
        type("HuddleWebSocket", (GuardedWebSocket,), dict(http)),
    )


class HuddleServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection while the open ones drain
        runtime: Runtime | None = getattr(self._app.state, "runtime", None)
        if runtime is not None:
            await runtime.services.node.sessions.drain(runtime.settings.drain_timeout)
        await super().shutdown(sockets)
