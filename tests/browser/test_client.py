"""The JavaScript client (`/client/huddle.js`) in Chromium: it falls back from a blocked
WebSocket to SSE, and from blocked SSE to REST polling, and still receives every event; an
offline period loses nothing; a history that is gone reaches the page as a reset."""

from __future__ import annotations

from typing import Any, Final

import pytest
from playwright.async_api import Page

from tests.support.nodes import HuddleNode, NodeFactory, bearer
from tests.support.redis_server import free_port

from .conftest import Pages, publish, wait_for

pytestmark = pytest.mark.xdist_group("browser")

BASE: Final = "/v1/orgs/acme/workspaces/ws1"

CONNECT: Final = """
async (options) => {
  const { Huddle } = await import("/client/huddle.js");
  const client = new Huddle({
    url: location.origin,
    backoff: { initialMs: 100, maxMs: 1000 },
    openTimeoutMs: 4000,
    eventTypes: ["test.n"],
    ...options,
  });
  window.client = client;
  window.got = []; window.resets = []; window.states = [];
  client.on("state", (change) => window.states.push(change.state));
  const workspace = client.workspace("acme", "ws1");
  workspace.on("test.n", (event) => window.got.push(event.id));
  workspace.on("reset", (event) => window.resets.push(event.data.reason));
  await client.connect();
  await workspace.subscribe();
  return client.transport;
}
"""


def token(user: str = "ana") -> str:
    return bearer(user, name=user.title())["Authorization"].split()[1]


async def connect(page: Page, node: HuddleNode, **options: Any) -> str:
    await page.goto(f"{node.url}/")
    transport: str = await page.evaluate(CONNECT, {"token": token(), **options})
    return transport


async def received(page: Page, count: int, within: float = 30) -> list[str]:
    await wait_for(page, "(n) => window.got.length >= n", count, within)
    got: list[str] = await page.evaluate("window.got")
    return got


def closed_port() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("blocked", "expected"),
    [
        ("websocket", "sse"),
        ("websocket and sse", "poll"),
    ],
)
async def test_a_blocked_transport_falls_back_and_every_event_still_arrives(
    nodes: NodeFactory, pages: Pages, blocked: str, expected: str
) -> None:
    node = await nodes.start("memory://", name="a")
    options = {"wsUrl": f"ws://{closed_port()}/v1/ws"}
    if "sse" in blocked:
        options["sseUrl"] = f"http://{closed_port()}"
    page = await pages.open()
    assert await connect(page, node, **options) == expected
    published = await publish(node, 20)
    got = await received(page, 20)
    assert got == published


async def test_an_offline_period_loses_no_event(nodes: NodeFactory, pages: Pages) -> None:
    node = await nodes.start("memory://", name="a")
    page = await pages.open()
    assert await connect(page, node) == "websocket"
    published = await publish(node, 5)
    assert await received(page, 5) == published
    await page.context.set_offline(True)
    await wait_for(page, "() => window.client.state === 'offline'")
    published += await publish(node, 10, 5)
    await page.context.set_offline(False)
    await wait_for(page, "() => window.client.state === 'open'")
    published += await publish(node, 5, 15)
    got = await received(page, 20)
    assert got == published
    assert await page.evaluate("window.resets") == []


async def test_a_history_gone_while_offline_reaches_the_page_as_a_reset(
    nodes: NodeFactory, pages: Pages
) -> None:
    """The node keeps 10 events; 30 are published while the page is offline: the page is
    told (`reset`, `cursor_expired`) instead of being handed a partial history, and goes on
    receiving what comes after."""
    node = await nodes.start("memory://", name="a", event_log_length=10)
    page = await pages.open()
    await connect(page, node)
    first = await publish(node, 3)
    assert await received(page, 3) == first
    await page.context.set_offline(True)
    await wait_for(page, "() => window.client.state === 'offline'")
    await publish(node, 30, 3)
    await page.context.set_offline(False)
    resets = await wait_for(page, "() => window.resets.length > 0 && window.resets")
    assert resets == ["cursor_expired"]
    after = await publish(node, 3, 33)
    got = await received(page, 6)
    assert got == first + after
