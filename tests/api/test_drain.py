"""While a node drains (after SIGTERM), what still reaches it is turned away in a way that
makes clients go elsewhere: `/readyz` 503, a WebSocket closed 4002, a stream that ends at once
with `sync.reconnect` `shutdown` (a 200, so a browser retries), a long poll answered at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from huddle import create_app

from .conftest import app_settings
from .test_limits import PUBLISH, STREAM, bearer

EVENTS = "/v1/orgs/acme/workspaces/ws1/sync/events"


def test_a_draining_node_turns_new_work_away(tmp_path: Path) -> None:
    with TestClient(create_app(app_settings(tmp_path, poll_wait_max=200))) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert client.portal is not None
        assert client.get("/readyz").status_code == 200
        assert client.portal.call(runtime.services.node.sessions.drain, 1.0) == 0

        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"] == "SHUTTING_DOWN"
        assert ready.headers["retry-after"] == "1"

        streamed = client.get(STREAM, headers=bearer("ana"))
        assert streamed.status_code == 200
        assert streamed.text.startswith("retry: 3000\n\n")
        assert streamed.text.endswith('event: sync.reconnect\ndata: {"reason":"shutdown"}\n\n')

        polled = client.get(
            EVENTS, params={"after": "origin:0", "wait": 200}, headers=bearer("ana")
        )
        assert polled.status_code == 200 and polled.json()["events"] == []

        with (
            client.websocket_connect(
                "/v1/ws", subprotocols=["huddle.v1.json"], headers=bearer("ana")
            ) as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_json()
        assert closed.value.code == 4002

        assert (
            client.post(
                PUBLISH, json={"type": "x.y"}, headers=bearer("root", admin=True)
            ).status_code
            == 201
        ), "plain requests still work"
