"""The framework ceiling: a bare Starlette app on uvicorn with Huddle's flags.

    python -m loadtests.baselines.bare_starlette --port P [--host H]

runs it exactly as `huddle serve` runs Huddle (uvloop, httptools, `websockets-sansio`, Huddle's
frame limit, no per-message deflate, uvicorn's default pings, access log on); the equivalent
command line is `loadtests.baselines.uvicorn_argv("loadtests.baselines.bare_starlette:app", ...)`.

Routes (a room is any path segment):

- `GET /healthz` -> `200 ok`.
- `WS /ws/<room>[?codec=json|msgpack]`: a subscriber. It receives each payload published to the
  room as `orjson.dumps(data)` in a text frame (json, the default) or
  `msgpack.packb(data)` in a binary frame; what it sends is read and dropped.
- `GET /sse/<room>`: `text/event-stream`; first `retry: 3000`, then per payload
  `id: <n>\\ndata: <json>\\n\\n`, and a `: hb` comment after 15 s without traffic (Huddle's
  heartbeat default); SIGTERM ends every stream (else uvicorn would wait for them forever).
- `WS /pub`: a publisher; frames `{"room": r, "data": d}` (JSON text or msgpack binary).
- `POST /pub/<room>`: body = `d` as JSON (or msgpack with `Content-Type: application/msgpack`);
  answers `{"id": n}`.
- `GET /events/<room>?after=<n>&limit=<k>&wait=<s>`: pollers; answers
  `{"events": [{"id": n, "data": d}, ...], "next": <last id or after>, "reset": bool}`; with
  `wait` (at most 30 s) and nothing after `after`, it waits for the next publish.

Event ids are per room, 1, 2, 3... The room keeps its last 10,000 events (Huddle's default
`event_log_length`) for pollers. Each publish encodes `d` once per encoding in use (JSON for
SSE, pollers and json subscribers; msgpack only when the room has msgpack subscribers) and
sends the same bytes to everyone: a plain loop of awaited sends (one event's loop at a time per
room, so events stay in order), no queue, no task per recipient. A send that fails drops that
subscriber; a subscriber whose socket buffer is full holds up its room, as a bare loop does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Final

import msgpack
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from . import (
    EVENT_LOG_LENGTH,
    HEALTH_PATH,
    SSE_HEARTBEAT,
    SSE_RETRY,
    BadPublish,
    parse_publish,
    run_uvicorn,
)

LOG_LENGTH: Final = EVENT_LOG_LENGTH
SSE_RETRY_MS: Final = int(SSE_RETRY * 1000)
POLL_WAIT_MAX: Final = 30.0
POLL_LIMIT_MAX: Final = 1000
_JSON: Final = "application/json"


class Room:
    """The subscribers and the recent events of one room."""

    __slots__ = (
        "changed",
        "first_id",
        "json_ws",
        "last_id",
        "log",
        "msgpack_ws",
        "sending",
        "sse",
    )

    def __init__(self) -> None:
        self.json_ws: set[WebSocket] = set()
        self.msgpack_ws: set[WebSocket] = set()
        self.sse: set[Send] = set()
        self.log: list[bytes] = []  # `{"id": n, "data": d}` of ids first_id, first_id + 1, ...
        self.first_id = 1
        self.last_id = 0
        self.changed = asyncio.Event()  # set (and replaced) at each publish: long polls
        # Held across one event's send loop: a send that waits on a full socket buffer must not
        # let the next event overtake it at the subscribers after it (free when uncontended).
        self.sending = asyncio.Lock()

    def append(self, item: bytes) -> int:
        self.last_id += 1
        self.log.append(item)
        if len(self.log) >= 2 * LOG_LENGTH:  # trim in chunks: amortised O(1) per publish
            drop = len(self.log) - LOG_LENGTH
            del self.log[:drop]
            self.first_id += drop
        return self.last_id

    def after(self, after: int, limit: int) -> tuple[list[bytes], bool]:
        """Logged events with ids above `after` (at most `limit`); True when some are gone."""
        start = after + 1 - self.first_id
        reset = start < 0
        start = max(start, 0)
        return self.log[start : start + limit], reset


ROOMS: dict[str, Room] = {}


def room_of(name: str) -> Room:
    room = ROOMS.get(name)
    if room is None:
        room = ROOMS[name] = Room()
    return room


async def publish(name: str, data: Any) -> int:
    """Log one event, then send it to every subscriber of the room; returns its id."""
    room = room_of(name)
    encoded = orjson.dumps(data)
    event_id = room.append(b'{"id":%d,"data":%b}' % (room.last_id + 1, encoded))
    changed, room.changed = room.changed, asyncio.Event()
    changed.set()
    async with room.sending:
        if room.json_ws:
            text = encoded.decode()
            for ws in tuple(room.json_ws):
                try:
                    await ws.send_text(text)
                except Exception:  # gone: its endpoint is ending too
                    room.json_ws.discard(ws)
        if room.msgpack_ws:
            packed: bytes = msgpack.packb(data, use_bin_type=True)
            for ws in tuple(room.msgpack_ws):
                try:
                    await ws.send_bytes(packed)
                except Exception:
                    room.msgpack_ws.discard(ws)
        if room.sse:
            body = {
                "type": "http.response.body",
                "body": b"id: %d\ndata: %b\n\n" % (event_id, encoded),
                "more_body": True,
            }
            for send in tuple(room.sse):
                try:
                    await send(body)
                except Exception:
                    room.sse.discard(send)
    return event_id


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def ws_subscriber(websocket: WebSocket) -> None:
    room = room_of(websocket.path_params["room"])
    members = room.msgpack_ws if websocket.query_params.get("codec") == "msgpack" else room.json_ws
    await websocket.accept()
    members.add(websocket)
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        members.discard(websocket)


async def ws_publisher(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        try:
            if text is not None:
                name, data = parse_publish(text, True)
            else:
                name, data = parse_publish(message.get("bytes") or b"", False)
        except BadPublish as exc:
            await websocket.close(1003, str(exc)[:120])
            return
        await publish(name, data)


async def rest_publish(request: Request) -> Response:
    body = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("application/msgpack"):
            data = msgpack.unpackb(body, raw=False)
        else:
            data = orjson.loads(body)
    except (orjson.JSONDecodeError, ValueError, TypeError, msgpack.ExtraData) as exc:
        return Response(orjson.dumps({"error": str(exc)}), 400, media_type=_JSON)
    event_id = await publish(request.path_params["room"], data)
    return Response(b'{"id":%d}' % event_id, media_type=_JSON)


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    return default if value is None else int(value)


async def rest_events(request: Request) -> Response:
    room = room_of(request.path_params["room"])
    try:
        after = _int_param(request, "after", 0)
        limit = min(max(_int_param(request, "limit", 100), 1), POLL_LIMIT_MAX)
        wait = min(max(float(request.query_params.get("wait", 0)), 0.0), POLL_WAIT_MAX)
    except ValueError:
        return Response(b'{"error":"after, limit and wait are numbers"}', 400, media_type=_JSON)
    items, reset = room.after(after, limit)
    if not items and not reset and wait > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await room.changed.wait()
        items, reset = room.after(after, limit)
    next_id = room.first_id - 1 + len(items) if reset else after + len(items)
    body = b'{"events":[%b],"next":%d,"reset":%b}' % (
        b",".join(items),
        next_id,
        b"true" if reset else b"false",
    )
    return Response(body, media_type=_JSON)


class SseStream:
    """`GET /sse/<room>` as a bare ASGI app: publishes write to its `send` directly."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        room = room_of(scope["path_params"]["room"])
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        await send(
            {
                "type": "http.response.body",
                "body": b"retry: %d\n\n" % SSE_RETRY_MS,
                "more_body": True,
            }
        )
        room.sse.add(send)
        try:
            while True:
                try:
                    async with asyncio.timeout(SSE_HEARTBEAT):
                        message = await receive()
                except TimeoutError:
                    if send not in room.sse:  # ended by `end_streams`
                        return
                    await send(_HEARTBEAT)
                    continue
                if message["type"] == "http.disconnect":
                    return
        finally:
            room.sse.discard(send)


_HEARTBEAT: Final = {"type": "http.response.body", "body": b": hb\n\n", "more_body": True}
_END: Final = {"type": "http.response.body", "body": b"", "more_body": False}


async def end_streams() -> None:
    """End every SSE response (on SIGTERM: uvicorn waits for open responses to complete)."""
    for room in ROOMS.values():
        streams, room.sse = room.sse, set()
        for send in streams:
            with contextlib.suppress(Exception):
                await send(_END)


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route(HEALTH_PATH, healthz),
            WebSocketRoute("/ws/{room}", ws_subscriber),
            WebSocketRoute("/pub", ws_publisher),
            Route("/sse/{room}", SseStream()),
            Route("/pub/{room}", rest_publish, methods=["POST"]),
            Route("/events/{room}", rest_events),
        ]
    )


app = create_app()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.baselines.bare_starlette")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    run_uvicorn(app, args.host, args.port, on_shutdown=end_streams)


if __name__ == "__main__":
    main()
