"""The parts of redis-py below its public API that `RedisLink` and the bus use: a redis-py
release that changes them fails here, by name, instead of in production."""

from __future__ import annotations

import inspect

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection


def test_connections_are_made_and_spoken_to_as_the_link_does() -> None:
    client = Redis()
    assert callable(client.connection_pool.make_connection)
    for name in ("connect", "send_packed_command", "send_command", "read_response", "disconnect"):
        assert callable(getattr(AbstractConnection, name, None)), name
    read = inspect.signature(AbstractConnection.read_response).parameters
    assert {"disconnect_on_error", "push_request", "timeout"} <= set(read)
    assert "check_health" in inspect.signature(AbstractConnection.send_packed_command).parameters
    assert "nowait" in inspect.signature(AbstractConnection.disconnect).parameters
