"""An in-process app per test (memory:// or a real Redis) and a client that speaks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from huddle import Settings, create_app
from huddle.api.declared.module import Module
from huddle.auth import issue_token

SECRET = "test-secret-0123456789abcdef-0123456789"
OPERATOR_KEY = "op_test-operator-key-0123456789abcdef"


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings

    def token(
        self,
        user: str = "ana",
        *,
        org: str = "acme",
        workspace: str = "ws1",
        admin: bool = False,
        name: str | None = None,
        ttl: float = 600,
    ) -> str:
        return issue_token(
            SECRET,
            user_id=user,
            org_id=org,
            workspace_id=workspace,
            admin=admin,
            name=name,
            ttl=ttl,
        )

    def auth(self, user: str = "ana", **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, **kwargs)}"}

    async def head(self, org: str = "acme", workspace: str = "ws1") -> str | None:
        """The newest event id of a workspace: every state change appends one."""
        headers = self.auth("auditor", org=org, workspace=workspace, admin=True)
        url = f"/v1/orgs/{org}/workspaces/{workspace}/sync/events"
        cursor = None
        while True:
            params = {"limit": 1000} | ({"after": cursor} if cursor else {})
            page = (await self.client.get(url, params=params, headers=headers)).json()
            if not page["events"]:
                return page["next"]
            cursor = page["next"]

    @asynccontextmanager
    async def unchanged(self, org: str = "acme", workspace: str = "ws1") -> AsyncIterator[None]:
        """Assert that the block appends no event to the workspace: nothing changed."""
        before = await self.head(org, workspace)
        yield
        assert await self.head(org, workspace) == before, "a refused request changed state"


def app_settings(tmp_path: Path, backend_url: str = "memory://", **overrides: Any) -> Settings:
    return Settings(
        backend_url=backend_url,
        jwt_secret=SECRET,
        dev_secret_file=tmp_path / "dev-secret",
        redis_prefix=f"t{uuid4().hex[:12]}",
        **({"operator_key": OPERATOR_KEY} | overrides),
    )


@asynccontextmanager
async def running_api(settings: Settings, modules: Sequence[Module] = ()) -> AsyncIterator[Api]:
    app = create_app(settings, modules=modules)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://huddle.test"
        ) as client,
    ):
        yield Api(client, settings)


@pytest.fixture(params=["memory", "redis"])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    url = "memory://"
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url()
    async with running_api(app_settings(tmp_path, url)) as api:
        yield api


@pytest.fixture
async def memory_api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(app_settings(tmp_path)) as api:
        yield api
