"""The Python ceiling: a raw `websockets` server on uvloop that fans out with `broadcast()`.

    python -m loadtests.baselines.raw_ws --port P [--host H]

- `GET /healthz` (plain HTTP, answered in `process_request`): `200 ok`. `READY <url>` is
  printed once the socket is bound.
- `ws://H:P/sub/<room>`: a subscriber of `<room>`, in the room from the moment the server sends
  its `101` (so every publish handled after the client saw the `101` reaches it). It receives
  every payload published to the room, nothing else; whatever it sends is read and dropped.
- `ws://H:P/pub`: a publisher. Each frame is `{"room": r, "data": d}`, as JSON in a text frame
  or msgpack in a binary frame; the server encodes `d` once with that codec and broadcasts the
  bytes, in a frame of the same type, to the subscribers of `r` (see `loadtests.baselines`).
  A frame it cannot decode closes the publisher with 1003.
- Any other path is refused with 404 before the handshake.

Compression is off, frames are limited to Huddle's default (`MAX_FRAME`), pings are the library
default (every 20 s, 20 s timeout: uvicorn's, hence Huddle's). `broadcast()` writes each frame
to every connection without waiting: no task, no await per recipient.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

from . import HEALTH_PATH, MAX_FRAME, BadPublish, announce_ready, decode_publish

SUB_PREFIX = "/sub/"
PUB_PATH = "/pub"


class Rooms:
    """Room name -> the subscriber connections in it."""

    def __init__(self) -> None:
        self.members: dict[str, set[ServerConnection]] = {}

    def join(self, room: str, connection: ServerConnection) -> None:
        self.members.setdefault(room, set()).add(connection)

    def leave(self, room: str, connection: ServerConnection) -> None:
        members = self.members.get(room)
        if members is not None:
            members.discard(connection)
            if not members:
                del self.members[room]


def _route(path: str) -> str | None:
    """The room of a subscriber path, "" for the publisher path, None for anything else."""
    path = path.partition("?")[0]
    if path == PUB_PATH:
        return ""
    if path.startswith(SUB_PREFIX) and len(path) > len(SUB_PREFIX):
        return path[len(SUB_PREFIX) :]
    return None


def _process_request(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.partition("?")[0] == HEALTH_PATH:
        return connection.respond(HTTPStatus.OK, "ok\n")
    if _route(request.path) is None:
        return connection.respond(HTTPStatus.NOT_FOUND, "no such path\n")
    return None  # go on with the WebSocket handshake


def make_handler(rooms: Rooms) -> Callable[[ServerConnection], Awaitable[None]]:
    async def handler(connection: ServerConnection) -> None:
        room = _route(connection.request.path if connection.request else "")
        if room is None:  # refused in process_request already
            return
        if room == "":
            await _publisher(connection, rooms)
            return
        try:
            async for _ in connection:  # subscribers send nothing that matters
                pass
        finally:
            rooms.leave(room, connection)

    return handler


def make_process_response(
    rooms: Rooms,
) -> Callable[[ServerConnection, Request, Response], Response | None]:
    """Join a subscriber to its room as its `101` goes out, before the handler task starts:
    a client that has seen the `101` is in the room (the handler would join it later)."""

    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            room = _route(request.path)
            if room:
                rooms.join(room, connection)
        return None

    return process_response


async def _publisher(connection: ServerConnection, rooms: Rooms) -> None:
    async for frame in connection:
        is_text = isinstance(frame, str)
        try:
            room, payload = decode_publish(frame, is_text)
        except BadPublish as exc:
            await connection.close(1003, str(exc)[:120])
            return
        members = rooms.members.get(room)
        if members:
            broadcast(members, payload, text=is_text)


async def serve_forever(host: str, port: int) -> None:
    rooms = Rooms()
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_signal() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    async with serve(
        make_handler(rooms),
        host,
        port,
        process_request=_process_request,
        process_response=make_process_response(rooms),
        compression=None,
        max_size=MAX_FRAME,
        server_header=None,  # as Huddle (`server_header=False`)
    ):
        announce_ready(host, port)
        await stop


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.baselines.raw_ws")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvloop.run(serve_forever(args.host, args.port))


if __name__ == "__main__":
    main()
