"""Error dialects are registered with routers: a route answers its errors in its router's
dialect wherever it is mounted; unrouted requests answer in the dialect claiming their path."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from huddle.api.base_v2_errors import BaseV2Dialect
from huddle.api.dialects import Dialects
from huddle.api.errors import HUDDLE, install_error_handlers
from huddle.errors import NotFound


class Body(BaseModel):
    n: int


def app_with_two_dialects() -> FastAPI:
    """`/shop/...` speaks Base v2 (no URL convention tells it), `/v1/...` Huddle's; `/v2/`
    is claimed by Base for unrouted requests."""
    base, huddle = APIRouter(prefix="/shop"), APIRouter(prefix="/v1/things")
    for router in (base, huddle):

        @router.get("/missing")
        async def missing() -> None:
            raise NotFound("No such thing", details={"id": 7})

        @router.post("/body")
        async def body(payload: Body) -> int:
            return payload.n

        @router.get("/boom")
        async def boom() -> None:
            raise RuntimeError("a bug")

    app = FastAPI()
    dialects = Dialects(default=HUDDLE)
    install_error_handlers(app, dialects)
    for router, dialect in ((base, BaseV2Dialect()), (huddle, HUDDLE)):
        app.include_router(router)
        dialects.register(router, dialect)
    dialects.claim("/v2/", BaseV2Dialect())
    return app


@pytest.fixture
def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app_with_two_dialects(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def is_base(answer: httpx.Response) -> bool:
    body = answer.json()
    return set(body) == {"errors", "meta"} and body["meta"]["type"] == "errors"


def is_huddle(answer: httpx.Response) -> bool:
    return set(answer.json()) == {"error", "message", "details", "timestamp", "status_code"}


async def test_a_routes_errors_speak_its_routers_dialect(client: httpx.AsyncClient) -> None:
    async with client:
        base = await client.get("/shop/missing")
        assert base.status_code == 404 and is_base(base), base.text
        assert base.json()["errors"][0]["error"]["code"] == "not_found"
        huddle = await client.get("/v1/things/missing")
        assert huddle.status_code == 404 and is_huddle(huddle), huddle.text
        assert huddle.json()["details"] == {"id": 7}


async def test_validation_and_bugs_speak_the_routes_dialect(client: httpx.AsyncClient) -> None:
    async with client:
        base = await client.post("/shop/body", json={"n": "x"})
        assert base.status_code == 422 and is_base(base), base.text
        assert base.json()["errors"][0]["error"]["field"] == "n"
        huddle = await client.post("/v1/things/body", json={"n": "x"})
        assert huddle.status_code == 422 and huddle.json()["detail"][0]["loc"] == ["body", "n"]
        assert is_base(await client.get("/shop/boom"))
        assert is_huddle(await client.get("/v1/things/boom"))


async def test_unrouted_requests_speak_the_dialect_claiming_their_path(
    client: httpx.AsyncClient,
) -> None:
    async with client:
        for path in ("/v2/nothing", "/shop/nothing"):
            answer = await client.get(path)
            assert answer.status_code == 404 and is_base(answer), (path, answer.text)
        for path in ("/v1/things/nothing", "/elsewhere"):
            answer = await client.get(path)
            assert answer.status_code == 404 and is_huddle(answer), (path, answer.text)
        wrong_method = await client.delete("/shop/missing")
        assert wrong_method.status_code == 405 and is_base(wrong_method)
        assert wrong_method.headers["Allow"] == "GET, OPTIONS"
