"""Connection and publish limits: each refusal has its documented code, and the connections
already open go on undisturbed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from huddle import create_app
from huddle.auth import issue_token
from huddle.protocol.close_codes import CloseCode

from .conftest import SECRET, app_settings

STREAM = "/v1/orgs/acme/workspaces/ws1/sync/stream"
PUBLISH = "/v1/orgs/acme/workspaces/ws1/events"


def bearer(user: str, *, admin: bool = False) -> dict[str, str]:
    token = issue_token(SECRET, user_id=user, org_id="acme", workspace_id="ws1", admin=admin)
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def serving(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(tmp_path, **overrides))) as client:
        yield client


@contextmanager
def connected(client: TestClient, user: str) -> Iterator[WebSocketTestSession]:
    """A WebSocket whose hello was read: it passed the handshake and its limits."""
    with client.websocket_connect(
        "/v1/ws", subprotocols=["huddle.v1.json"], headers=bearer(user)
    ) as ws:
        assert ws.receive_json()["op"] == "hello"
        yield ws


def refused_code(client: TestClient, user: str) -> int:
    """Open a WebSocket that the server closes right after the handshake; its close code."""
    with (
        client.websocket_connect(
            "/v1/ws", subprotocols=["huddle.v1.json"], headers=bearer(user)
        ) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    return closed.value.code


def answer(ws: WebSocketTestSession, request: dict[str, Any]) -> dict[str, Any]:
    """Send one request and return its reply, skipping pushed events."""
    ws.send_json(request)
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message.get("id") == request["id"]:
            return message


def pong(ws: WebSocketTestSession) -> bool:
    return bool(answer(ws, {"id": 99, "op": "ping"})["ok"])


def publish(ws: WebSocketTestSession, request_id: int) -> dict[str, Any]:
    return answer(
        ws,
        {
            "id": request_id,
            "op": "publish",
            "org_id": "acme",
            "workspace_id": "ws1",
            "type": "note.added",
            "data": {"n": request_id},
        },
    )


def read_until(chunks: Iterator[bytes], marker: bytes) -> None:
    """Read an event stream until `marker` went by (the test's timeout bounds the wait)."""
    received = b""
    while marker not in received:
        received += next(chunks)


def test_a_websocket_over_the_node_limit_is_closed_4029(tmp_path: Path) -> None:
    """With `ws_max_connections` open, the next one is closed 4029; the others still work."""
    with serving(tmp_path, ws_max_connections=2) as client:
        with connected(client, "ana") as ana, connected(client, "ben") as ben:
            assert refused_code(client, "carl") == CloseCode.TOO_MANY_CONNECTIONS == 4029
            assert pong(ana) and pong(ben)
        with connected(client, "carl") as carl:  # the closed ones freed their places
            assert pong(carl)


def test_a_user_over_the_per_user_limit_is_closed_4029(tmp_path: Path) -> None:
    """A user's connection beyond `ws_max_connections_per_user` is closed 4029; another user
    connects, and the user's open connection still works."""
    with serving(tmp_path, ws_max_connections_per_user=1) as client:
        with connected(client, "ana") as ana:
            assert refused_code(client, "ana") == 4029
            with connected(client, "ben") as ben:
                assert pong(ben)
            assert pong(ana)
        with connected(client, "ana") as again:
            assert pong(again)


def test_publishing_faster_than_the_rate_is_answered_rate_limited(tmp_path: Path) -> None:
    """Past `publish_rate`, a publish gets RATE_LIMITED with the limit and is not stored; the
    connection stays open, and another connection's budget is its own."""
    with serving(tmp_path, publish_rate=0.001) as client:  # one publish, then none for 1000 s
        with connected(client, "ana") as first, connected(client, "ana") as second:
            assert publish(first, 1)["ok"]
            refused = publish(first, 2)
            assert refused["ok"] is False
            assert refused["error"]["code"] == "RATE_LIMITED"
            assert refused["error"]["details"] == {"limit": 0.001}
            assert pong(first)
            assert publish(second, 3)["ok"]
        events = client.get(
            "/v1/orgs/acme/workspaces/ws1/sync/events", headers=bearer("auditor", admin=True)
        ).json()["events"]
        assert [e["data"]["n"] for e in events if e["type"] == "note.added"] == [1, 3]


def test_an_sse_stream_over_the_per_user_limit_answers_429_before_streaming(
    tmp_path: Path,
) -> None:
    """A user's stream beyond `sse_max_streams_per_user` is a 429 envelope, not a stream; the
    open stream keeps delivering, other users stream, and a closed stream frees its place."""
    with serving(tmp_path, sse_max_streams_per_user=1) as client:
        with client.stream("GET", STREAM, headers=bearer("ana")) as open_stream:
            assert open_stream.status_code == 200
            chunks = open_stream.iter_bytes()
            read_until(chunks, b"event: presence.joined")  # following the workspace now
            refused = client.get(STREAM, headers=bearer("ana"))
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/json"
            assert refused.headers["retry-after"]
            body = refused.json()
            assert body["error"] == "TOO_MANY_CONNECTIONS" and body["status_code"] == 429
            assert body["details"] == {"limit": 1}
            with client.stream("GET", STREAM, headers=bearer("ben")) as other:
                assert other.status_code == 200
            posted = client.post(
                PUBLISH, json={"type": "note.added", "data": {}}, headers=bearer("root", admin=True)
            )
            assert posted.status_code == 201
            read_until(chunks, b"event: note.added")
        with client.stream("GET", STREAM, headers=bearer("ana")) as again:
            assert again.status_code == 200
