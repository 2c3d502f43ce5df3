"""What a browser is shown: the start page, the client, the demo and its tokens, the docs
with their own assets."""

from __future__ import annotations

from pathlib import Path

from huddle import Settings

from .conftest import Api, app_settings, running_api


async def test_the_start_page_links_the_demo_the_docs_and_the_client(memory_api: Api) -> None:
    page = await memory_api.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for link in ('href="/demo/"', 'href="/docs"', 'href="/client/huddle.js"'):
        assert link in page.text
    moved = await memory_api.client.get("/client")
    assert moved.status_code in (302, 307) and moved.headers["location"] == "/client/huddle.js"
    types = await memory_api.client.get("/client/huddle.d.ts")
    assert types.status_code == 200 and "export declare class Huddle" in types.text


async def test_the_docs_page_loads_its_assets_from_the_node(memory_api: Api) -> None:
    page = await memory_api.client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text and "//cdn" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        answer = await memory_api.client.get(f"/docs/assets/{asset}")
        assert answer.status_code == 200 and len(answer.content) > 10_000


async def test_without_docs_nothing_is_served_there(tmp_path: Path) -> None:
    async with running_api(app_settings(tmp_path, docs_enabled=False)) as api:
        for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui.css"):
            assert (await api.client.get(path)).status_code == 404, path


async def test_a_dev_node_mints_demo_tokens_and_makes_the_demo_cards(tmp_path: Path) -> None:
    settings = Settings(backend_url="memory://", dev_secret_file=tmp_path / "dev-secret")
    async with running_api(settings) as api:
        config = (await api.client.get("/demo/config")).json()
        assert config == {
            "mints_tokens": True,
            "org_id": "acme",
            "workspace_id": "ws1",
            "object": "card",
        }
        minted = await api.client.post("/demo/token", json={"name": "Ana María"})
        assert minted.status_code == 200, minted.text
        body = minted.json()
        assert (body["user_id"], body["name"], body["expires_in"]) == (
            "demo-ana-mar-a",
            "Ana María",
            3600,
        )
        auth = {"Authorization": f"Bearer {body['token']}"}
        cards = (await api.client.get("/v1/custom-objects/card/records", headers=auth)).json()
        assert len(cards["data"]) == 3
        again = await api.client.post("/demo/token", json={"name": "Ben"})
        assert again.status_code == 200
        cards = (await api.client.get("/v1/custom-objects/card/records", headers=auth)).json()
        assert len(cards["data"]) == 3, "the demo's cards are made once"
        for bad in ({}, {"name": ""}, {"name": "x" * 41}, {"name": "a\nb"}, {"name": 5}):
            assert (await api.client.post("/demo/token", json=bad)).status_code == 422, bad
        page = await api.client.get("/demo/")
        assert page.status_code == 200 and "demo.js" in page.text


async def test_a_node_with_a_configured_secret_mints_no_demo_token(memory_api: Api) -> None:
    assert (await memory_api.client.get("/demo/config")).json()["mints_tokens"] is False
    refused = await memory_api.client.post("/demo/token", json={"name": "Ana"})
    assert refused.status_code == 404
    assert refused.json()["error"] == "RESOURCE_NOT_FOUND"


async def test_without_the_demo_nothing_is_served_there(tmp_path: Path) -> None:
    settings = Settings(
        backend_url="memory://", dev_secret_file=tmp_path / "dev-secret", demo_enabled=False
    )
    async with running_api(settings) as api:
        for method, path in (("GET", "/demo/"), ("GET", "/demo/config"), ("POST", "/demo/token")):
            assert (await api.client.request(method, path)).status_code == 404, path
