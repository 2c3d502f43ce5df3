"""`/docs` renders every operation in Chromium when nothing but the node can be reached: its
Swagger UI assets come from the node (a maintained package), not a CDN."""

from __future__ import annotations

import pytest
from playwright.async_api import Route

from tests.support.nodes import NodeFactory

from .conftest import Pages, wait_for

pytestmark = pytest.mark.xdist_group("browser")


async def test_the_api_docs_render_with_no_network_but_the_node(
    nodes: NodeFactory, pages: Pages
) -> None:
    node = await nodes.start("memory://", name="a")
    elsewhere: list[str] = []

    async def only_the_node(route: Route) -> None:
        if route.request.url.startswith(node.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    async with node.client() as http:
        spec = (await http.get("/openapi.json")).json()
    expected = sum(len(methods) for methods in spec["paths"].values())
    page = await pages.open()
    await page.context.route("**/*", only_the_node)
    await page.goto(f"{node.url}/docs")
    await wait_for(
        page, "(n) => document.querySelectorAll('.opblock').length === n", expected, within=30
    )
    assert await page.locator(".information-container .title").first.inner_text() != ""
    assert elsewhere == [], f"the page asked for {elsewhere}"
