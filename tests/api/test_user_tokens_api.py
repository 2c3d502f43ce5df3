"""User tokens over HTTP: a UUID accepted wherever an API key is (`X-API-KEY`, `Bearer`, any
letter case), revoked by the API key route like any key, and the stream tickets minted from one
refused once it is replaced."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from huddle import create_app
from huddle.api.deps import Runtime, authenticate_stream
from huddle.errors import Unauthenticated
from huddle.services.apikeys import ApiKeyService, user_token_id

from .conftest import Api, app_settings
from .test_limits import bearer

BASE: Final = "/v1/orgs/acme/workspaces/ws1"
LOCK: Final = "/v1/collaboration/locks/deal/42"


@dataclass(frozen=True)
class Served:
    api: Api
    runtime: Runtime

    @property
    def keys(self) -> ApiKeyService:
        return self.runtime.services.apikeys

    async def issue(self, user: str = "wd-ana") -> str:
        _, token = await self.keys.issue_user_token(
            "acme", workspace_id="ws1", user_id=user, admin=False, created_by="workdrive"
        )
        return token


@pytest.fixture(params=["memory", "redis"])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Served]:
    """An in-process app (as `tests/api/conftest.running_api`) and its runtime, whose
    services issue user tokens: no route does."""
    url = "memory://"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url()
    settings = app_settings(tmp_path, url)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://huddle.test"
        ) as client,
    ):
        yield Served(Api(client, settings), app.state.runtime)


async def test_a_user_token_works_as_x_api_key_and_as_bearer_in_any_case(served: Served) -> None:
    http = served.api.client
    token = await served.issue()
    taken = await http.post(LOCK, headers={"X-API-KEY": token})
    assert taken.status_code == 200, taken.text
    assert taken.json()["holder"]["userId"] == "wd-ana"
    for header in ({"Authorization": f"Bearer {token.upper()}"}, {"X-API-KEY": token.upper()}):
        owned = await http.get(f"{LOCK}/owned", headers=header)
        assert owned.status_code == 200, owned.text
        assert owned.json()["owned"] is True
    other = await http.post(f"{BASE[:-3]}ws2/sync/presence/join", headers={"X-API-KEY": token})
    assert other.status_code == 403, "a member's token is limited to its workspace"


async def test_an_unknown_or_replaced_user_token_is_401(served: Served) -> None:
    http = served.api.client
    first = await served.issue()
    second = await served.issue()
    for refused in (first, "3080826c-1270-45c7-b40f-36ac317556fd"):
        answer = await http.get(f"{LOCK}/owned", headers={"X-API-KEY": refused})
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "AUTHENTICATION_FAILED"
    assert (await http.get(f"{LOCK}/owned", headers={"X-API-KEY": second})).status_code == 200


async def test_the_api_key_route_revokes_a_user_token_by_its_id(served: Served) -> None:
    http = served.api.client
    token = await served.issue()
    admin = served.api.auth("root", admin=True)
    listed = (await http.get("/v1/orgs/acme/api-keys", headers=admin)).json()["keys"]
    assert [(k["id"], k["user_id"]) for k in listed] == [
        (user_token_id("acme", "wd-ana"), "wd-ana")
    ]

    revoked = await http.delete(f"/v1/orgs/acme/api-keys/{listed[0]['id']}", headers=admin)

    assert revoked.status_code == 204
    assert (await http.get(f"{LOCK}/owned", headers={"X-API-KEY": token})).status_code == 401


async def test_a_ticket_of_a_replaced_user_token_stops_working(served: Served) -> None:
    """The ticket names the token's key id and fingerprint: the token issued again under the
    same id does not keep it alive."""
    http = served.api.client
    token = await served.issue()
    minted = await http.post(f"{BASE}/sync/ticket", headers={"X-API-KEY": token})
    assert minted.status_code == 200, minted.text
    ticket = minted.json()["ticket"]
    principal = await authenticate_stream(served.runtime, ticket, resuming=True)
    assert principal.key_id == user_token_id("acme", "wd-ana")

    await served.issue()

    with pytest.raises(Unauthenticated) as refused:
        await authenticate_stream(served.runtime, ticket, resuming=True)
    assert "revoked" in refused.value.reason
    reconnect = await http.get(
        f"{BASE}/sync/stream",
        params={"access_token": ticket, "presence": "false"},
        headers={"Last-Event-ID": "origin:0"},
    )
    assert reconnect.status_code == 401


def test_auth_refresh_to_a_jwt_stops_following_the_token(tmp_path: Path) -> None:
    """A WebSocket opened with a user token and refreshed (`auth.refresh`) to a JWT of the
    same user no longer ends with the token: replaced, it closes the connection that still
    uses it (4500) and not the refreshed one."""
    with TestClient(create_app(app_settings(tmp_path))) as client:
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert client.portal is not None
        issue = functools.partial(
            runtime.services.apikeys.issue_user_token,
            "acme",
            workspace_id="ws1",
            user_id="wd-ana",
            admin=False,
            created_by="workdrive",
        )
        _, token = client.portal.call(issue)
        headers = {"Authorization": f"Bearer {token}"}
        with (
            client.websocket_connect(
                "/v1/ws", subprotocols=["huddle.v1.json"], headers=headers
            ) as refreshed,
            client.websocket_connect(
                "/v1/ws", subprotocols=["huddle.v1.json"], headers=headers
            ) as kept,
        ):
            for ws in (refreshed, kept):
                assert ws.receive_json()["op"] == "hello"
                ws.send_json({"id": 1, "op": "ping"})
                assert ws.receive_json()["ok"]
            jwt = bearer("wd-ana")["Authorization"].split()[1]
            refreshed.send_json({"id": 2, "op": "auth.refresh", "token": jwt})
            assert refreshed.receive_json()["ok"]

            client.portal.call(issue)

            with pytest.raises(WebSocketDisconnect) as closed:
                kept.receive_json()
            assert (closed.value.code, closed.value.reason) == (4500, "credential revoked")
            refreshed.send_json({"id": 3, "op": "ping"})
            assert refreshed.receive_json() == {"id": 3, "ok": True, "result": {"pong": True}}
