"""Baseline servers the harness measures Huddle against, all on the same machine in the same run.

Every baseline is a child process started with `python -m loadtests.baselines.<name> --port P`
from the repository root. Each one binds `--host` (default 127.0.0.1), answers `GET /healthz`
with `200 ok` once it accepts connections, and prints one line `READY <base url>` to stdout at
that moment; SIGTERM stops it.

- `raw_ws`: a raw `websockets` server on uvloop, `websockets.broadcast()`: the Python ceiling.
- `bare_starlette`: a bare Starlette app on uvicorn with Huddle's flags: the framework ceiling
  for WebSocket, SSE and REST.
- `socketio_server`: python-socketio `AsyncServer` + `AsyncRedisManager` on uvicorn with
  Huddle's flags; `engineio_client` is the lean client the harness drives it with.

The shared settings live here so that they follow Huddle's own: the largest frame is Huddle's
default `max_body_bytes`, per-message deflate is off, uvicorn runs with uvloop, httptools and
`websockets-sansio` exactly as `huddle serve` does (`src/huddle/cli.py`), pings at uvicorn's
defaults (Huddle sets none), access log and log level as Huddle's defaults.

Publish frames (raw_ws `/pub`, bare_starlette `/pub`) are `{"room": <str>, "data": <any>}`: a
text frame holds it as JSON, a binary frame as msgpack. The server decodes it, encodes `data`
once with the same codec and sends those bytes, in a frame of the same type, to every
subscriber of the room: a subscriber receives exactly `orjson.dumps(data)` (text) or
`msgpack.packb(data, use_bin_type=True)` (binary).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgpack
import orjson

# Huddle's defaults, copied rather than imported: `import huddle` loads the whole app (2 s, and
# its memory in every baseline process). tests/loadtests/test_baselines.py checks they match
# `huddle.config.Settings`.
#: Huddle's default WebSocket frame limit (`huddle serve` passes `max_body_bytes` to uvicorn).
MAX_FRAME: Final = 64 * 1024
#: Huddle's default log level (uvicorn's access log stays on, as in `huddle serve`).
LOG_LEVEL: Final = "info"
#: Huddle's `event_log_length`, `sse_heartbeat` and `sse_retry` defaults.
EVENT_LOG_LENGTH: Final = 10_000
SSE_HEARTBEAT: Final = 15.0
SSE_RETRY: Final = 3.0
READY_PREFIX: Final = "READY "
HEALTH_PATH: Final = "/healthz"

#: The keyword arguments `huddle serve` gives `uvicorn.run`, less the app, host and port.
UVICORN_KWARGS: Final[dict[str, Any]] = {
    "loop": "uvloop",
    "http": "httptools",
    "ws": "websockets-sansio",
    "ws_max_size": MAX_FRAME,
    "ws_per_message_deflate": False,
    "proxy_headers": True,
    "server_header": False,
    "log_level": LOG_LEVEL,
}


class BadPublish(ValueError):
    """A publish frame that is not `{"room": str, "data": ...}` in JSON or msgpack."""


def parse_publish(frame: str | bytes, is_text: bool) -> tuple[str, Any]:
    """`(room, data)` of one publish frame (JSON when `is_text`, else msgpack). Raises
    BadPublish."""
    try:
        message = orjson.loads(frame) if is_text else msgpack.unpackb(frame, raw=False)
    except (orjson.JSONDecodeError, ValueError, TypeError, msgpack.ExtraData) as exc:
        raise BadPublish(f"undecodable publish frame: {exc}") from None
    if not isinstance(message, dict):
        raise BadPublish("a publish frame is an object")
    room = message.get("room")
    if not isinstance(room, str):
        raise BadPublish("a publish frame names its `room` (a string)")
    return room, message.get("data")


def decode_publish(frame: str | bytes, is_text: bool) -> tuple[str, bytes]:
    """`(room, encoded data)` of one publish frame: `data` encoded once with the frame's codec
    (JSON for text frames, msgpack for binary ones). Raises BadPublish."""
    room, data = parse_publish(frame, is_text)
    if is_text:
        return room, orjson.dumps(data)
    packed: bytes = msgpack.packb(data, use_bin_type=True)
    return room, packed


def encode_publish(room: str, data: Any, *, binary: bool = False) -> str | bytes:
    """The publish frame for `data` to `room`: JSON text, or msgpack bytes when `binary`."""
    message = {"room": room, "data": data}
    if binary:
        packed: bytes = msgpack.packb(message, use_bin_type=True)
        return packed
    return orjson.dumps(message).decode()


def announce_ready(host: str, port: int) -> None:
    """Print the ready line the harness may wait for (it may poll /healthz instead)."""
    shown = f"[{host}]" if ":" in host else host
    print(f"{READY_PREFIX}http://{shown}:{port}", flush=True)


def run_uvicorn(
    app: Any,
    host: str,
    port: int,
    *,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve an ASGI app exactly as `huddle serve` serves Huddle's (same uvicorn arguments),
    printing the ready line once the socket is bound. `on_shutdown` runs first thing on
    SIGTERM, before uvicorn waits for open responses (an SSE stream must end there)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                announce_ready(self.config.host, self.config.port)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if on_shutdown is not None:
                await on_shutdown()
            await super().shutdown(sockets)

    config = uvicorn.Config(app, host=host, port=port, **UVICORN_KWARGS)
    server = AnnouncingServer(config)
    server.run()
    if not server.started:
        sys.exit(3)  # uvicorn logged why (a port in use, mostly)


def uvicorn_argv(app_ref: str, host: str, port: int) -> list[str]:
    """The `uvicorn` command line equivalent of `run_uvicorn` (for reference and reports)."""
    return [
        sys.executable, "-m", "uvicorn", app_ref,
        "--host", host, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
        "--ws-max-size", str(MAX_FRAME), "--ws-per-message-deflate", "false",
        "--proxy-headers", "--no-server-header", "--log-level", LOG_LEVEL,
    ]  # fmt: skip
