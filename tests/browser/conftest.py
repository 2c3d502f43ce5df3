"""A real headless Chromium (Debian's `chromium` package) driven by Playwright.

Playwright's own browser download cannot work here, so it launches the system's binary with
`executable_path`; a missing binary fails the test (`make test` installs it). The flags keep
Chromium off the network it has no business with (updates, sync, Google's hosts) and let it run
as root in a container. Every page's uncaught errors fail the test that made the page.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.nodes import HuddleNode, bearer

CHROMIUM_FLAGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)
MISSING: Final = "chromium missing: `make test` installs Debian's chromium package"


def chromium_path() -> str:
    return shutil.which("chromium") or shutil.which("chromium-browser") or pytest.fail(MISSING)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        found = await playwright.chromium.launch(
            executable_path=chromium_path(), args=list(CHROMIUM_FLAGS)
        )
        try:
            yield found
        finally:
            await found.close()


class Pages:
    """Opens pages, each in a browser context of its own (a user, a window), records their
    uncaught errors and console output, and closes them all."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []
        self.console: list[str] = []

    async def open(self, url: str | None = None, **context: Any) -> Page:
        ctx = await self.browser.new_context(viewport={"width": 1280, "height": 800}, **context)
        self.contexts.append(ctx)
        page = await ctx.new_page()
        name = f"page{len(self.contexts)}"
        page.on("pageerror", lambda error: self.errors.append(f"{name}: {error}"))
        page.on("console", lambda msg: self.console.append(f"{name} {msg.type}: {msg.text}"))
        if url is not None:
            await page.goto(url)
        return page

    async def close(self) -> None:
        for ctx in self.contexts:
            await ctx.close()


@pytest.fixture
async def pages(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Pages]:
    found = Pages(browser)
    try:
        yield found
    finally:
        await found.close()
    if found.errors:
        pytest.fail("uncaught errors in a page:\n" + "\n".join(found.errors), pytrace=False)


async def wait_for(page: Page, expression: str, arg: Any = None, within: float = 20) -> Any:
    """Wait until `expression` (a JS function of `arg`) is truthy in the page; its value."""
    handle = await page.wait_for_function(expression, arg=arg, timeout=within * 1000)
    return await handle.json_value()


async def publish(node: HuddleNode, count: int, start: int = 0) -> list[str]:
    """Publish `test.n` events numbered from `start` through `node`, one after the other;
    their ids, in order."""
    async with node.client(bearer("svc", admin=True)) as http:
        ids = []
        for n in range(start, start + count):
            answer = await http.post(
                "/v1/orgs/acme/workspaces/ws1/events", json={"type": "test.n", "data": {"n": n}}
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
    return ids
