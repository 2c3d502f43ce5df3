"""python-socketio as users run it for rooms across nodes: `AsyncServer` + `AsyncRedisManager`.

    python -m loadtests.baselines.socketio_server --port P --redis redis://127.0.0.1:6379/0
        [--host H] [--channel socketio]

An ASGI app (`socketio.ASGIApp`) under uvicorn with Huddle's flags (`run_uvicorn`); Engine.IO
pings every 20 s with a 20 s timeout (as Huddle's WebSocket keepalive) and accepts packets up to
Huddle's frame limit. The Redis URL is checked (PING) before serving, so a wrong one fails the
start instead of every publish. Several processes on one Redis and `--channel` form one cluster.

Protocol (Socket.IO v5 over Engine.IO v4, default namespace `/`; the lean client is
`loadtests.baselines.engineio_client.SioClient`):

- `GET /healthz` -> `200 ok`; Socket.IO lives under `/socket.io/`
  (`ws://H:P/socket.io/?EIO=4&transport=websocket`).
- event `join` with the room name (one room per workspace): the server enters the client into
  the room and acknowledges with `true` once it is in (`421["join","w1"]` -> `431[true]`).
- event `pub` with `{"room": r, "data": d}`: the server emits event `event` with `d` to room
  `r` (`sio.emit("event", d, room=r)`: delivered here, published on Redis for the other nodes);
  each member receives `42["event",d]`. Sent with an ack id (`42<id>["pub",{...}]`) it is
  acknowledged with `43<id>[true]` after the emit; without one nothing comes back.

Handlers run with python-socketio's defaults (`async_handlers=True`: a task per event).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import redis
import socketio  # type: ignore[import-untyped]
from starlette.types import Receive, Scope, Send

from . import HEALTH_PATH, MAX_FRAME, run_uvicorn

PING_INTERVAL = 20
PING_TIMEOUT = 20


async def _health(scope: Scope, receive: Receive, send: Send) -> None:
    """Everything outside /socket.io/: /healthz, or 404 (lifespan is acknowledged)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    found = scope["path"] == HEALTH_PATH
    await send(
        {
            "type": "http.response.start",
            "status": 200 if found else 404,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok\n" if found else b"not found\n"})


def create_app(redis_url: str, channel: str = "socketio") -> Any:
    """The ASGI app: Socket.IO under /socket.io/, `_health` for the rest."""
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=socketio.AsyncRedisManager(redis_url, channel=channel),
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_FRAME,
        cors_allowed_origins="*",
    )

    @sio.event  # type: ignore[untyped-decorator]
    async def join(sid: str, room: Any) -> bool:
        if not isinstance(room, str):
            return False
        await sio.enter_room(sid, room)
        return True

    @sio.event  # type: ignore[untyped-decorator]
    async def pub(sid: str, message: Any) -> bool:
        if not isinstance(message, dict) or not isinstance(message.get("room"), str):
            return False
        await sio.emit("event", message.get("data"), room=message["room"])
        return True

    return socketio.ASGIApp(sio, other_asgi_app=_health)


def _check_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        sys.exit(f"socketio baseline: Redis at {url} does not answer PING: {exc}")
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.baselines.socketio_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True, help="redis://host:port/db")
    parser.add_argument("--channel", default="socketio", help="Redis pub/sub channel")
    args = parser.parse_args(argv)
    _check_redis(args.redis)
    run_uvicorn(create_app(args.redis, args.channel), args.host, args.port)


if __name__ == "__main__":
    main()
